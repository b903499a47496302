"""Regression tests for what fuzzing and review found: each failed before its fix.

Every input-derived failure is a 4xx JSON error naming the field; admin calls
from foreign pages are refused; bounded state stays bounded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from demo_backend import create_app

from .conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(app_factory: Callable[..., Flask]) -> FlaskClient:
    return app_factory().test_client()


def field_error(resp: Any, status: int, field: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    body: dict[str, Any] = resp.json
    assert body["field"] == field, body
    return body


# --- ids and routes -------------------------------------------------------------------------


def test_batch_checks_the_size_before_the_ids(client: FlaskClient) -> None:
    started = time.monotonic()
    resp = client.post("/api/batch", json={"ids": list(range(1, 20_001))})
    assert time.monotonic() - started < 1.0  # was 3 s of quadratic de-duplication
    assert field_error(resp, 422, "ids")["max"] == 100


@pytest.mark.parametrize("ids", ["9" * 4301, "1," + "5" * 19, "\u0663", "1,\u0661\u0662"])
def test_batch_ids_are_short_ascii_digits(client: FlaskClient, ids: str) -> None:
    # 4,301 digits was a 500 (int-conversion limit); Arabic-Indic digits were read as ids.
    field_error(client.get(f"/api/items/batch?ids={ids}"), 422, "ids")


def test_item_ids_are_ascii_digits(client: FlaskClient) -> None:
    client.post("/api/items", json={"name": "three"})
    client.post("/api/items", json={"name": "x"})
    client.post("/api/items", json={"name": "y"})
    assert client.get("/api/items/3").status_code == 200
    field_error(client.get("/api/items/%D9%A3"), 404, "id")  # was item 3
    field_error(client.get("/api/items/" + "9" * 5000), 404, "id")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "GET"])
def test_api_paths_never_fall_through_to_the_site(tmp_path: Path, method: str) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    client = create_app({"TESTING": True, "DIST_DIR": str(tmp_path)}).test_client()
    resp = client.open("/api/items/abc", method=method, json={"name": "x"})
    assert resp.status_code == 404 and resp.json["error"] == "not_found"  # was 405 from the site
    resp = client.open("/api/nothing/here", method=method)
    assert resp.status_code == 404 and resp.is_json
    resp = client.put("/api/items/batch")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]


# --- fault specs ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [[], {}, 5, None, "x" * 500])
def test_fault_type_of_any_json_type_is_a_400(client: FlaskClient, kind: Any) -> None:
    resp = client.post("/_faults", json={"type": kind})
    assert resp.status_code == 400 and resp.json["field"] == "type"  # [] and {} were 500


@pytest.mark.parametrize(
    "limit",
    [
        "1/" + "9" * 300 + " second",
        "1/month",
        "1/year",
        "2/0 second",
        "0/second",
        "9999999/second",
        "1/25 hours",
        "5",
        "1/s;1/s;1/s;1/s;1/s",
    ],
)
def test_rate_limit_windows_are_documented_units_and_bounded(
    client: FlaskClient, limit: str
) -> None:
    resp = client.post("/_faults", json={"type": "rate_limit", "limit": limit})
    assert resp.status_code == 400 and resp.json["field"] == "limit", resp.json
    assert client.get("/health/live").status_code == 200  # a 300-digit window made this 500


@pytest.mark.parametrize("limit", ["5/second", "100 per 10 minutes", "1/day;10/hour", "2/24 hours"])
def test_rate_limit_accepts_the_documented_forms(client: FlaskClient, limit: str) -> None:
    assert client.post("/_faults", json={"type": "rate_limit", "limit": limit}).status_code == 201


def test_bad_scope_is_the_same_error_everywhere(client: FlaskClient) -> None:
    bad = {"X-Fault-Scope": "bad scope!"}
    for resp in (client.get("/api/items", headers=bad), client.get("/_faults", headers=bad)):
        assert field_error(resp, 400, "X-Fault-Scope")["error"] == "invalid_scope"
    assert field_error(client.get("/_faults?scope=a%20b"), 400, "scope")["error"] == "invalid_scope"


def test_header_values_are_stripped(client: FlaskClient) -> None:
    first = client.post("/api/items", json={"name": "a"}, headers={"Idempotency-Key": "abc "})
    assert first.status_code == 201  # was 400
    again = client.post("/api/items", json={"name": "a"}, headers={"Idempotency-Key": "abc"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/api/items", headers={"X-Fault-Scope": "abc\t"}).status_code == 200


# --- the admin API and browsers -------------------------------------------------------------


def test_cross_site_text_plain_post_cannot_reset(client: FlaskClient) -> None:
    client.post("/_faults", json={"type": "down"})
    # What a foreign page's "simple" fetch/form sends: no preflight.
    resp = client.post(
        "/_faults/reset",
        data="{}",
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
    )
    field_error(resp, 403, "Origin")
    for origin in ("null", "http://localhost.evil.example"):
        resp = client.post("/_faults/reset", headers={"Origin": origin})
        field_error(resp, 403, "Origin")
    assert len(client.get("/_faults").json["faults"]) == 1  # nothing was reset


def test_admin_from_a_browser_must_send_json(client: FlaskClient) -> None:
    own = {"Origin": "http://localhost"}  # the test client's host
    resp = client.post("/_faults/reset", data="{}", headers={**own, "Content-Type": "text/plain"})
    field_error(resp, 415, "Content-Type")
    resp = client.post("/_faults/reset", headers=own)  # no body, no type: still from a page
    field_error(resp, 415, "Content-Type")
    resp = client.post("/_faults/reset", headers={**own, "Content-Type": "application/json"})
    assert resp.status_code == 200  # what web/demo.js sends
    resp = client.post("/_faults", json={"type": "down"}, headers=own)
    assert resp.status_code == 201
    assert client.delete("/_faults/down-1", headers=own).status_code == 415
    assert (
        client.delete("/_faults/down-1", headers={**own, "Content-Type": "application/json"})
    ).status_code == 204
    # Tools send no Origin: a body-less reset (curl -X POST, the e2e fixture) still works.
    assert client.post("/_faults/reset").status_code == 200
    assert client.get("/_faults", headers=own).status_code == 200


def test_admin_allows_the_configured_site_origin() -> None:
    site = "https://site.example"
    client = create_app({"TESTING": True, "FAULTS": True, "CORS_ORIGINS": site}).test_client()
    resp = client.post("/_faults", json={"type": "down"}, headers={"Origin": site})
    assert resp.status_code == 201
    assert resp.headers["Access-Control-Allow-Origin"] == site
    wildcard = create_app({"TESTING": True, "FAULTS": True, "CORS_ORIGINS": "*"}).test_client()
    resp = wildcard.post("/_faults", json={"type": "down"}, headers={"Origin": site})
    assert resp.status_code == 403  # "*" opens the API, not the fault controls


# --- bodies, caching, logging ---------------------------------------------------------------


def test_chunked_body_over_the_limit_is_request_too_large(live_server: LiveServer) -> None:
    def chunks() -> Any:
        for _ in range(17):
            yield b"[" + b"1," * 32_000 + b"1]"

    resp = requests.post(
        live_server.url + "/api/items",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 413
    assert resp.json()["error"] == "request_too_large"  # was request_entity_too_large
    assert resp.json()["max_bytes"] == 1024 * 1024


def test_site_404s_and_injected_failures_are_not_cached(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    app = create_app({"TESTING": True, "FAULTS": True, "DIST_DIR": str(tmp_path)})
    client = app.test_client()
    assert client.get("/index.html").headers.get("Cache-Control") != "no-store"
    assert client.get("/missing.js").headers["Cache-Control"] == "no-store"
    client.post("/_faults", json={"type": "status", "code": 503, "match": "/index.html"})
    resp = client.get("/index.html")
    assert resp.status_code == 503 and resp.headers["Cache-Control"] == "no-store"
    assert client.get("/nowhere/at/all").headers["Cache-Control"] == "no-store"


def test_one_access_log_line_per_request() -> None:
    script = (
        "from demo_backend import create_app\n"
        "app = create_app({'TESTING': True})\n"
        "app.logger.info('flask logger in use')\n"  # Flask adds its handler on first use
        "app.test_client().get('/health')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    lines = [line for line in out.stderr.splitlines() if '"request_id"' in line]
    assert len(lines) == 1, out.stderr  # was 2: JSON, then again through Flask's handler
    assert json.loads(lines[0])["path"] == "/health"


# --- bounds ---------------------------------------------------------------------------------


def test_faults_are_capped_per_scope_and_in_all(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(FAULTS_MAX=5, FAULTS_MAX_PER_SCOPE=3).test_client()
    for _ in range(3):
        assert client.post("/_faults", json={"type": "down", "scope": "a"}).status_code == 201
    resp = client.post("/_faults", json={"type": "down", "scope": "a"})
    assert resp.status_code == 409 and resp.json["error"] == "too_many_faults"
    assert resp.json["max"] == 3
    for _ in range(2):
        assert client.post("/_faults", json={"type": "down", "scope": "b"}).status_code == 201
    resp = client.post("/_faults", json={"type": "down", "scope": "c"})
    assert resp.status_code == 409 and resp.json["max"] == 5
    client.post("/_faults/reset?scope=a")
    assert client.post("/_faults", json={"type": "down", "scope": "c"}).status_code == 201


def test_spent_fault_counters_are_dropped(app_factory: Callable[..., Flask]) -> None:
    from demo_backend import registry

    app = app_factory()
    client = app.test_client()
    storage = app.extensions["storage"]
    for _ in range(20):
        client.post("/_faults", json={"type": "status", "code": 500, "count": 1, "match": "/x"})
        client.get("/x")
    assert len(storage.hgetall("faults:hits")) == 20  # kept for a grace period
    old = registry.SPENT_GRACE_S
    registry.SPENT_GRACE_S = -1.0
    try:
        client.post("/_faults", json={"type": "down", "match": "/y"})
    finally:
        registry.SPENT_GRACE_S = old
    assert len(storage.hgetall("faults:hits")) == 0
    assert len(storage.hgetall("faults:spent")) == 0


def test_scope_counters_are_bounded_and_cleared_by_reset(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(STATS_MAX_SCOPES=5)
    client = app.test_client()
    stats = app.extensions["fault_injector"].stats
    for i in range(50):
        client.get("/health", headers={"X-Fault-Scope": f"s{i}"})
    assert stats.tracked_scopes() == 5
    assert sorted(client.get("/_stats").json["scopes"]) == [f"s{i}" for i in range(45, 50)]
    client.post("/_faults/reset")
    assert stats.tracked_scopes() == 0  # they survived a reset before
    storage = app.extensions["storage"]
    assert not [k for k in storage._hashes if k.startswith("stats:inflight:")]
    client.post("/_faults/reset?scope=never-used")  # used to create a counter
    assert not [k for k in storage._hashes if "never-used" in k]


def test_unknown_methods_share_one_counter(client: FlaskClient) -> None:
    for i in range(20):
        client.open("/health", method=f"FOO{i}")
    routes = client.get("/_stats").json["routes"]
    assert [r for r in routes if r.startswith("OTHER ")] and not [
        r for r in routes if r.startswith("FOO")
    ]


def test_idempotency_records_are_capped_oldest_first() -> None:
    app = create_app({"TESTING": True, "IDEMPOTENCY_MAX_KEYS": 5})
    client = app.test_client()
    for i in range(12):
        client.post("/api/items", json={"name": f"n{i}"}, headers={"Idempotency-Key": f"k{i}"})
    storage = app.extensions["storage"]
    assert len([k for k in storage._values if k.startswith("idem:")]) == 5
    assert app.extensions["idempotency"].tracked_keys() == 5
    newest = client.post("/api/items", json={"name": "n11"}, headers={"Idempotency-Key": "k11"})
    assert newest.headers.get("Idempotent-Replayed") == "true"
    oldest = client.post("/api/items", json={"name": "n0"}, headers={"Idempotency-Key": "k0"})
    assert oldest.status_code == 201 and "Idempotent-Replayed" not in oldest.headers


def test_items_are_capped() -> None:
    client = create_app({"TESTING": True, "ITEMS_MAX": 2}).test_client()
    assert [client.post("/api/items", json={"name": "x"}).status_code for _ in range(3)] == [
        201,
        201,
        409,
    ]
    assert client.post("/api/items", json={"name": "x"}).json["error"] == "too_many_items"
    client.delete("/api/items/1")
    assert client.post("/api/items", json={"name": "x"}).status_code == 201
