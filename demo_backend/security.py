"""Security: response headers, ``X-Request-ID``, the request size limit and the admin guard."""

from __future__ import annotations

import hmac
import ipaddress
import re
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request

from .errors import error, header, too_large

REQUEST_ID = "X-Request-ID"
# Echo only ids that are safe in headers and logs; anything else gets a fresh one.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


# PyScript builds its hook functions with ``Function()`` on start-up (even with no
# worker), which needs ``'unsafe-eval'``: granted to its demo page only, never to
# the main page or any other file.
EVAL_PAGES = frozenset({"/pyscript.html"})


def content_security_policy(extra_connect: str = "", *, allow_eval: bool = False) -> str:
    """The CSP: own scripts only, plus ``'wasm-unsafe-eval'`` so Pyodide can compile its wasm."""
    connect = " ".join(["'self'", *extra_connect.split()])
    script = "script-src 'self' 'wasm-unsafe-eval'" + (" 'unsafe-eval'" if allow_eval else "")
    return "; ".join(
        [
            "default-src 'self'",
            script,
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _request_id() -> None:
    given = header(REQUEST_ID) or ""
    g.request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex


def _size_limit() -> Any:
    # Checked before anything reads the body; werkzeug also stops chunked bodies
    # at MAX_CONTENT_LENGTH, and that 413 gets the same JSON via the error handler.
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is not None and request.content_length > limit:
        return too_large(int(limit)).response
    return None


def _headers(resp: Response) -> Response:
    resp.headers[REQUEST_ID] = g.get("request_id") or uuid.uuid4().hex
    resp.headers.setdefault(
        "Content-Security-Policy",
        content_security_policy(
            str(current_app.config.get("CSP_CONNECT_SRC") or ""),
            allow_eval=request.blueprint == "site" and request.path in EVAL_PAGES,
        ),
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.blueprint != "site":
        # Dynamic answers must never be reused from a cache.
        resp.headers.setdefault("Cache-Control", "no-store")
    elif resp.status_code >= 400 or g.get("rf_faults"):
        # Nor may a site file's error or an injected failure outlive the fault.
        resp.headers["Cache-Control"] = "no-store"
    return resp


def is_loopback(addr: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback."""
    if not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def admin_origins() -> set[str]:
    """Origins besides the page's own that may drive the admin API: CORS_ORIGINS, minus ``*``."""
    raw = str(current_app.config.get("CORS_ORIGINS") or "")
    return {o.strip().lower().rstrip("/") for o in raw.split(",") if o.strip() not in ("", "*")}


def _browser_check() -> Any:
    # A page on another site can make a loopback browser POST here. Browsers
    # send Origin with every POST/DELETE (``null`` from opaque origins), so a
    # foreign one is refused; and requiring application/json forces a CORS
    # preflight, which a foreign page cannot pass. Tools such as curl send no
    # Origin, and a body-less call from them (``POST /_faults/reset``) passes.
    origin = header("Origin")
    if origin is not None:
        own = request.host_url.rstrip("/").lower()
        if origin.lower() != own and origin.lower() not in admin_origins():
            return error(
                403,
                "forbidden_origin",
                "the fault API answers pages of its own origin and of DEMO_CORS_ORIGINS only",
                field="Origin",
            )
    if request.method in ("GET", "HEAD"):
        return None
    has_body = bool(request.content_length) or "chunked" in (
        request.headers.get("Transfer-Encoding") or ""
    )
    if (origin is not None or has_body) and not request.is_json:
        return error(
            415,
            "unsupported_media_type",
            "admin calls from a browser, and any with a body, must send "
            "Content-Type: application/json",
            field="Content-Type",
        )
    return None


def admin_guard() -> Any:
    """Open to loopback clients when no token is set; otherwise ``Bearer <ADMIN_TOKEN>``."""
    if request.method == "OPTIONS":
        return None  # CORS preflights carry no credentials and change nothing
    refused = _browser_check()
    if refused is not None:
        return refused
    token = str(current_app.config.get("ADMIN_TOKEN") or "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
        resp, status = error(401, "unauthorized", "send Authorization: Bearer <DEMO_ADMIN_TOKEN>")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="resilient-fetch-demo faults"'
        return resp, status
    # A reverse proxy on the same host makes every client look local: a request
    # that went through one is not trusted as loopback.
    proxied = any(h in request.headers for h in _PROXY_HEADERS)
    if is_loopback(request.remote_addr) and not proxied:
        return None
    return error(
        403,
        "forbidden",
        "the admin API (faults, stats, metrics) is open to loopback clients only; "
        "set DEMO_ADMIN_TOKEN to allow others",
    )


def init_app(app: Flask) -> None:
    """Request id and size limit first of all hooks; headers on every response."""
    app.before_request(_request_id)
    app.before_request(_size_limit)
    app.after_request(_headers)
