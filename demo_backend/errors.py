"""JSON errors everywhere: a helper, the JSON body parser, and the app-wide handlers."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge


def error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error response: ``{"error": code, "message": ..., **extra}``."""
    return jsonify({"error": code, "message": message, **extra}), status


class BodyError(Exception):
    """The request body cannot be used; carries the ready-made error response."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = error(status, code, message, **extra)


def read_body() -> bytes:
    """The request body, or 413 when it is larger than ``MAX_CONTENT_LENGTH``."""
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    # A chunked body is cut at the limit without an error; one more byte from
    # the raw input tells a body of exactly `limit` from a larger one.
    chunked = request.content_length is None
    if limit and chunked and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise too_large(int(limit))
    return data


def too_large(limit: int) -> BodyError:
    """The one 413 body, whichever layer finds the body too large."""
    return BodyError(413, "request_too_large", f"the body exceeds {limit} bytes", max_bytes=limit)


def header(name: str) -> str | None:
    """A request header with surrounding spaces and tabs stripped (RFC 9110, section 5.5)."""
    value = request.headers.get(name)
    return None if value is None else value.strip(" \t")


def json_body() -> Any:
    """Parse the JSON body; a missing or malformed body is a 400 (or 415), never a 500."""
    if not request.is_json:
        raise BodyError(415, "unsupported_media_type", "send Content-Type: application/json")
    raw = read_body()
    try:
        return json.loads(raw)
    # RecursionError: deeply nested arrays are valid JSON that Python refuses to build.
    except (ValueError, RecursionError):
        raise BodyError(400, "invalid_json", "body is not valid JSON") from None


def _snake(name: str) -> str:
    return name.lower().replace(" ", "_").replace("-", "_")


def init_app(app: Flask) -> None:
    """Turn every HTTP error and every unhandled exception into a JSON body."""

    @app.errorhandler(BodyError)
    def _body_error(exc: BodyError) -> Any:
        return exc.response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if exc.response is not None:  # e.g. the rate limiter's own 429 response
            return exc.response
        if isinstance(exc, RequestEntityTooLarge):  # werkzeug's own limit (form parsing)
            limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 0)
            return too_large(limit).response
        resp, status = error(exc.code or 500, _snake(exc.name), exc.description or exc.name)
        # Keep headers such as Allow (405) or WWW-Authenticate; the body is ours.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp, status

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception) -> Any:
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error(
            500,
            "internal_error",
            "the server hit an unexpected error",
            request_id=g.get("request_id"),
        )
