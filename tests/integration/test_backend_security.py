"""Security headers, X-Request-ID, the JSON access log, the admin guard and CORS."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from demo_backend import create_app

from .conftest import LiveServer

REMOTE = {"REMOTE_ADDR": "192.0.2.10"}


def check_security_headers(headers: Any) -> None:
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Request-ID"]


def test_security_headers_on_every_kind_of_response(app_factory: Callable[..., Flask]) -> None:
    app = app_factory()

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("x")

    client = app.test_client()
    client.post("/_faults", json={"type": "status", "code": 503, "match": "/health"})
    responses = [
        client.get("/api/items"),  # 200
        client.post("/api/items", json={"name": "a"}),  # 201
        client.get("/api/items/99"),  # 404
        client.get("/nowhere"),  # 404 without a route
        client.post("/api/items", data="{", content_type="application/json"),  # 400
        client.get("/boom"),  # 500
        client.get("/health"),  # injected 503
        client.get("/_faults"),  # admin
        client.get("/_faults", environ_base=REMOTE),  # refused admin
    ]
    assert [r.status_code for r in responses] == [200, 201, 404, 404, 400, 500, 503, 200, 403]
    for resp in responses:
        check_security_headers(resp.headers)
    # Item reads carry an ETag: a client may keep them but must revalidate (issue 11).
    assert responses[0].headers["Cache-Control"] == "no-cache" and responses[0].headers["ETag"]
    for resp in responses[1:]:
        assert resp.headers["Cache-Control"] == "no-store"


def test_site_pages_get_the_csp_too(tmp_path: Any) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    client = create_app({"TESTING": True, "DIST_DIR": str(tmp_path)}).test_client()
    resp = client.get("/")
    assert resp.status_code == 200
    check_security_headers(resp.headers)
    assert resp.headers.get("Cache-Control") != "no-store"  # static files may be cached


def test_extra_connect_sources_can_be_configured() -> None:
    app = create_app({"TESTING": True, "CSP_CONNECT_SRC": "https://api.example.com"})
    csp = app.test_client().get("/health").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://api.example.com" in csp


def test_request_id_is_echoed_or_generated() -> None:
    client = create_app({"TESTING": True}).test_client()
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )
    generated = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    # Anything that could forge log lines or headers is replaced, not echoed.
    for bad in ("a b", "x" * 129, 'x"}{"status":200'):
        rid = client.get("/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert rid != bad and len(rid) == 32


def test_one_json_log_line_per_request(
    app_factory: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = app_factory().test_client()
    client.post("/_faults", json={"type": "status", "code": 502, "match": "/health", "name": "f"})
    caplog.clear()
    with caplog.at_level("INFO", logger="demo_backend.access"):
        client.get("/api/items", headers={"X-Request-ID": "r1"})
        client.get("/health", headers={"X-Request-ID": "r2", "X-Fault-Scope": "s"})
        client.post("/api/items", data="{", content_type="application/json")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "demo_backend.access"]
    assert len(lines) == 3
    first, second, third = lines
    assert first["request_id"] == "r1" and first["status"] == 200
    assert first["method"] == "GET" and first["path"] == "/api/items"
    assert first["route"] == "/api/items" and first["duration_ms"] >= 0
    assert second["status"] == 502 and second["scope"] == "s"
    assert second["faults"] == [{"name": "f", "type": "status"}]
    assert third["status"] == 400 and third["request_id"]


def test_admin_open_on_loopback_refused_elsewhere_without_token(
    app_factory: Callable[..., Flask],
) -> None:
    client = app_factory().test_client()
    assert client.get("/_faults").status_code == 200
    assert client.get("/_faults", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    for path in ("/_faults", "/_stats"):
        resp = client.get(path, environ_base=REMOTE)
        assert resp.status_code == 403 and resp.json["error"] == "forbidden"  # type: ignore[index]
    resp = client.post("/_faults", json={"type": "down"}, environ_base=REMOTE)
    assert resp.status_code == 403
    assert client.get("/_faults").json == {"faults": []}  # nothing was added
    # Through a local reverse proxy every client looks like 127.0.0.1: not trusted.
    assert client.get("/_faults", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 403
    # The application API stays open to everyone.
    assert client.get("/api/items", environ_base=REMOTE).status_code == 200


def test_admin_token_is_required_everywhere_once_configured(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_ADMIN_TOKEN", "s3cret-token")
    client: FlaskClient = app_factory().test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        resp = client.get("/_faults", headers=headers)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    good = {"Authorization": "Bearer s3cret-token"}
    assert client.get("/_faults", headers=good, environ_base=REMOTE).status_code == 200
    assert client.post("/_faults", json={"type": "down"}, headers=good).status_code == 201
    assert client.get("/_stats", headers=good).status_code == 200


def _preflight(url: str, origin: str) -> requests.Response:
    return requests.options(
        url + "/api/items",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key, x-fault-scope",
        },
        timeout=5,
    )


def test_cors_exposes_the_headers_the_client_reads(serve: Callable[[Flask], LiveServer]) -> None:
    server = serve(
        create_app({"TESTING": True, "FAULTS": True, "CORS_ORIGINS": "https://site.example"})
    )
    pre = _preflight(server.url, "https://site.example")
    assert pre.headers["Access-Control-Allow-Origin"] == "https://site.example"
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "idempotency-key", "x-fault-scope"} <= allowed

    server.add_fault(type="rate_limit", limit="1/minute", match="/api/items")
    origin = {"Origin": "https://site.example"}
    requests.get(server.url + "/api/items", headers=origin, timeout=5)
    limited = requests.get(server.url + "/api/items", headers=origin, timeout=5)
    assert limited.status_code == 429
    exposed = {h.strip() for h in limited.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
            "X-Request-ID", "Idempotent-Replayed"} <= exposed  # fmt: skip
    for name in ("Retry-After", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-ID"):
        assert name in limited.headers

    other = _preflight(server.url, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers


def test_cors_is_off_by_default(live_server: LiveServer) -> None:
    resp = requests.get(
        live_server.url + "/api/items", headers={"Origin": "https://site.example"}, timeout=5
    )
    assert "Access-Control-Allow-Origin" not in resp.headers
