"""CORS, off unless ``CORS_ORIGINS`` lists origins (comma-separated, or ``*``)."""

from __future__ import annotations

from flask import Flask, Response, request

EXPOSED = (
    "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-ID"
)
ALLOWED_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID, X-Fault-Scope, Authorization"


def init_app(app: Flask) -> None:
    raw = str(app.config.get("CORS_ORIGINS") or "")
    origins = {o.strip() for o in raw.split(",") if o.strip()}
    if not origins:
        return

    @app.after_request
    def _cors(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and ("*" in origins or origin in origins):
            resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
            resp.headers["Access-Control-Expose-Headers"] = EXPOSED
            resp.headers.add("Vary", "Origin")
            if request.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
                resp.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                resp.headers["Access-Control-Max-Age"] = "600"
        return resp
