"""``/api``: items CRUD and batch reads, JSON in and out, 4xx JSON errors."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from .errors import BodyError, error, json_body
from .idempotency import idempotent
from .items import items

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_NAME = 200
FIELDS = ("name", "done")
# Ids are ASCII digits and fit in 63 bits; anything longer is not an id (and
# int() of thousands of digits is slow, then refused by Python's digit limit).
MAX_ID_DIGITS = 18
MAX_ID = 10**MAX_ID_DIGITS - 1
ID_PATTERN = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ItemIdConverter(BaseConverter):
    """``<int:...>`` here: 1 to 18 ASCII digits (werkzeug's own takes any Unicode digit)."""

    regex = f"[0-9]{{1,{MAX_ID_DIGITS}}}"
    weight = 50

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def _ascii_id(part: str) -> Any:
    return int(part) if ID_PATTERN.fullmatch(part) else part


class Invalid(Exception):
    """A field failed validation; becomes a 422 naming it."""

    def __init__(self, code: str, message: str, field: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = error(422, code, message, field=field, **extra)


def validate_item(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Checked item fields; ``partial`` (PATCH) makes every field optional but one."""
    if not isinstance(data, dict):
        raise BodyError(400, "invalid_json", "body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise Invalid(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}", unknown[0], allowed=FIELDS
        )
    if partial and not data:
        raise Invalid("missing_field", "send at least one of: name, done", "name", allowed=FIELDS)
    fields: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("invalid_field", "name must be a non-empty string", "name")
        if len(name) > MAX_NAME:
            raise Invalid("invalid_field", f"name must be at most {MAX_NAME} characters", "name")
        fields["name"] = name.strip()
    if "done" in data or not partial:
        done = data.get("done", False)
        if not isinstance(done, bool):
            raise Invalid("invalid_field", "done must be true or false", "done")
        fields["done"] = done
    return fields


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid) -> Any:
    return exc.response


def _not_found(item_id: int) -> Any:
    return error(404, "not_found", f"item {item_id} does not exist", id=item_id)


def _validated(resp: Any) -> Any:
    """A strong ETag on a read; a matching If-None-Match gets 304 with no body.

    ``no-cache`` rather than the API's usual ``no-store``: a client may keep the
    answer, but must revalidate it before every use (that is what the ETag is for).
    """
    resp.headers["Cache-Control"] = "no-cache"
    resp.add_etag()
    return resp.make_conditional(request)


@bp.get("/items")
def list_items() -> Any:
    return _validated(jsonify({"items": items().list()}))


@bp.post("/items")
@idempotent
def create_item() -> Any:
    fields = validate_item(json_body())
    limit = int(current_app.config["ITEMS_MAX"])
    item = items().create(fields, limit=limit)
    if item is None:
        return error(
            409, "too_many_items", f"the store holds at most {limit} items: delete some", max=limit
        )
    resp = jsonify(item)
    resp.headers["Location"] = url_for("api.get_item", item_id=item["id"])
    return resp, 201


@bp.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    item = items().get(item_id)
    return _validated(jsonify(item)) if item else _not_found(item_id)


@bp.put("/items/<int:item_id>")
@idempotent
def replace_item(item_id: int) -> Any:
    item = items().update(item_id, validate_item(json_body()), replace=True)
    return jsonify(item) if item else _not_found(item_id)


@bp.patch("/items/<int:item_id>")
@idempotent
def patch_item(item_id: int) -> Any:
    item = items().update(item_id, validate_item(json_body(), partial=True), replace=False)
    return jsonify(item) if item else _not_found(item_id)


@bp.delete("/items/<int:item_id>")
@idempotent
def delete_item(item_id: int) -> Any:
    return ("", 204) if items().delete(item_id) else _not_found(item_id)


def _check_ids(raw: list[Any]) -> list[int]:
    """Positive integer ids, duplicates dropped, order kept, at most BATCH_MAX_IDS.

    The size is checked first, so a huge list costs one len() before the 422.
    """
    limit = int(current_app.config["BATCH_MAX_IDS"])
    if not raw:
        raise Invalid("invalid_field", "ids must list at least one id", "ids")
    if len(raw) > limit:
        raise Invalid("invalid_field", f"at most {limit} ids per batch", "ids", max=limit)
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            shown = value if isinstance(value, int | str) and len(str(value)) <= 40 else "..."
            raise Invalid(
                "invalid_field",
                f"ids must be integers from 1 to {MAX_ID}, got {shown!r}",
                "ids",
            )
    return list(dict.fromkeys(raw))


def _batch(ids: list[int]) -> Any:
    found, missing = items().get_many(ids)
    return jsonify({"items": found, "missing": missing})


@bp.get("/items/batch")
def batch_get() -> Any:
    """``?ids=1,2,3``: many items in one response; unknown ids are listed in ``missing``."""
    parts = [p.strip() for p in request.args.get("ids", "").split(",")]
    # Not-a-number stays a string so _check_ids names it in the error; only
    # ASCII digits are ids (str.isdecimal() also accepts e.g. Arabic-Indic ones).
    raw: list[Any] = [_ascii_id(p) for p in parts if p]
    return _batch(_check_ids(raw))


@bp.post("/batch")
def batch_post() -> Any:
    """``{"ids": [1, 2, 3]}``: same as ``GET /api/items/batch`` for long id lists."""
    data = json_body()
    if not isinstance(data, dict):
        raise BodyError(400, "invalid_json", "body must be a JSON object")
    unknown = sorted(set(data) - {"ids"})
    if unknown:
        raise Invalid(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}", unknown[0], allowed=["ids"]
        )
    if not isinstance(data.get("ids"), list):
        raise Invalid("invalid_field", "ids must be a list of positive integers", "ids")
    return _batch(_check_ids(data["ids"]))


@bp.route("/items/<path:raw_id>", methods=ALL_METHODS)
def no_such_item(raw_id: str) -> Any:
    """Anything under /api/items/ that is not an id: JSON, never the static site."""
    allowed = _other_methods()
    if allowed:
        resp, status = error(405, "method_not_allowed", "method not allowed here", allowed=allowed)
        resp.headers["Allow"] = ", ".join(allowed)
        return resp, status
    shown = raw_id if len(raw_id) <= 40 else raw_id[:40] + "..."
    return error(
        404,
        "not_found",
        f"no item {shown!r}: ids are 1 to {MAX_ID_DIGITS} ASCII digits",
        field="id",
    )


@bp.route("/", defaults={"rest": ""}, methods=ALL_METHODS)
@bp.route("/<path:rest>", methods=ALL_METHODS)
def no_such_route(rest: str) -> Any:
    """Unknown /api paths are a JSON 404 (or 405), for every method."""
    allowed = _other_methods()
    if allowed:
        resp, status = error(405, "method_not_allowed", "method not allowed here", allowed=allowed)
        resp.headers["Allow"] = ", ".join(allowed)
        return resp, status
    return error(404, "not_found", f"no API route {request.path[:80]!r}")


def _other_methods() -> list[str]:
    # The methods another (real) route accepts on this path: then it is a 405.
    adapter = current_app.url_map.bind("localhost")
    allowed = []
    for method in ALL_METHODS:
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint not in _CATCH_ALL:
            allowed.append(method)
    return allowed


_CATCH_ALL = {"api.no_such_item", "api.no_such_route"}


def init_app(app: Flask) -> None:
    """Make ``<int:...>`` the ASCII id converter (before the blueprint's rules are added)."""
    app.url_map.converters["int"] = ItemIdConverter
