"""CORS, off unless ``CORS_ORIGINS`` lists origins (comma-separated, or ``*``).

Cross-origin pages must be able to read the headers the client acts on
(``Retry-After``, ``RateLimit-*``, ``X-Request-ID``, ``Idempotent-Replayed``,
the tus upload headers) and to send ``Idempotency-Key``, ``X-Fault-Scope`` and
the tus request headers.
"""

from __future__ import annotations

from flask import Flask, Response, request

EXPOSED = (
    "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-ID, "
    "Idempotent-Replayed, Location, "
    "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
    "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Upload-State, Upload-Limit"
)
ALLOWED_HEADERS = (
    "Content-Type, Idempotency-Key, X-Request-ID, X-Fault-Scope, Authorization, "
    "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, "
    "Upload-Defer-Length, Upload-Concat, X-HTTP-Method-Override"
)


def init_app(app: Flask) -> None:
    """Add CORS headers for the configured origins (nothing when none are)."""
    raw = str(app.config.get("CORS_ORIGINS") or "")
    origins = {o.strip() for o in raw.split(",") if o.strip()}
    if not origins:
        return

    @app.after_request
    def _cors(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        # Vary on every response: a cache must not serve one origin's answer to another.
        resp.headers.add("Vary", "Origin")
        if origin and ("*" in origins or origin in origins):
            resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
            resp.headers["Access-Control-Expose-Headers"] = EXPOSED
            if request.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, PUT, PATCH, DELETE"
                resp.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                resp.headers["Access-Control-Max-Age"] = "600"
        return resp
