"""The fault API: enabling, validation, listing, scopes, reset and stats (Flask test client)."""

from __future__ import annotations

import threading
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


def add(client: FlaskClient, **spec: Any) -> dict[str, Any]:
    resp = client.post("/_faults", json=spec)
    assert resp.status_code == 201, resp.json
    body: dict[str, Any] = resp.json  # type: ignore[assignment]
    return body


@pytest.fixture
def client(app_factory: Callable[..., Flask]) -> FlaskClient:
    return app_factory().test_client()


def test_fault_api_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_FAULTS", raising=False)
    plain = create_app({"TESTING": True}).test_client()
    assert plain.get("/_faults").status_code == 404
    assert plain.get("/_stats").status_code == 404
    assert plain.get("/_faults").json["error"] == "not_found"  # type: ignore[index]

    assert (
        create_app({"TESTING": True, "FAULTS": True}).test_client().get("/_faults").status_code
        == 200
    )
    assert create_app({"DEMO_MODE": True}).test_client().get("/_faults").status_code == 200
    monkeypatch.setenv("DEMO_FAULTS", "1")
    assert create_app({"TESTING": True}).test_client().get("/_faults").status_code == 200


def test_demo_command_runs_in_demo_mode_with_faults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from demo_backend import __main__ as cli

    (tmp_path / "index.html").write_text("<!doctype html>")
    seen: dict[str, Any] = {}

    class FakeServer:
        effective_port = 8123

        def serve(self) -> int:
            seen["ran"] = True
            return 0

        task_dispatcher = type("D", (), {"shutdown": lambda self, timeout: None})()

    def fake_server(app: Flask, host: str, port: int) -> FakeServer:
        seen["app"], seen["host"], seen["port"] = app, host, port
        return FakeServer()

    monkeypatch.delenv("DEMO_FAULTS", raising=False)
    # The demo command runs the hardened waitress server, not Flask's development server.
    monkeypatch.setattr(Flask, "run", lambda *a, **k: pytest.fail("app.run() is not used"))
    monkeypatch.setattr(cli, "make_guarded_server", fake_server)
    monkeypatch.setattr("sys.argv", ["demo_backend", "--port", "8123", "--dist", str(tmp_path)])
    cli.main()
    app = seen["app"]
    assert app.config["DEMO_MODE"] is True and seen["ran"]
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert app.test_client().get("/_faults").status_code == 200


def test_add_list_get_delete(client: FlaskClient) -> None:
    created = add(client, type="status", code=502, name="boom", match="/api/*", methods=["get"])
    assert created["name"] == "boom" and created["methods"] == ["GET"] and created["hits"] == 0
    assert created["toxicity"] == 1.0 and created["count"] is None and created["scope"] is None
    unnamed = add(client, type="down")
    assert unnamed["name"].startswith("down-")
    names = [f["name"] for f in client.get("/_faults").json["faults"]]  # type: ignore[index]
    assert names == ["boom", unnamed["name"]]  # oldest first
    assert client.get("/_faults/boom").json["code"] == 502  # type: ignore[index]
    assert client.delete("/_faults/boom").status_code == 204
    assert client.delete("/_faults/boom").status_code == 404
    assert client.get("/_faults/boom").status_code == 404
    types = client.get("/_faults/types").json
    assert types["types"]["rate_limit"] == ["limit"]  # type: ignore[index]
    assert set(types["types"]) == {  # type: ignore[index]
        "latency", "status", "flaky", "down", "hang", "reset", "slow_body", "rate_limit"
    }  # fmt: skip


def test_duplicate_name_in_a_scope_is_409_but_other_scopes_may_reuse_it(
    client: FlaskClient,
) -> None:
    add(client, type="down", name="x")
    dup = client.post("/_faults", json={"type": "down", "name": "x"})
    assert dup.status_code == 409 and dup.json["field"] == "name"  # type: ignore[index]
    add(client, type="down", name="x", scope="s1")
    assert client.get("/_faults/x?scope=s1").json["scope"] == "s1"  # type: ignore[index]


BAD_SPECS: list[tuple[Any, str]] = [
    ([1, 2], "body"),
    ({}, "type"),
    ({"type": "explode"}, "type"),
    ({"type": "status"}, "code"),
    ({"type": "status", "code": 200}, "code"),
    ({"type": "status", "code": "503"}, "code"),
    ({"type": "status", "code": 503, "retry_after": -1}, "retry_after"),
    ({"type": "latency"}, "ms"),
    ({"type": "latency", "ms": 60_001}, "ms"),
    ({"type": "latency", "ms": 10, "jitter_ms": 1.5}, "jitter_ms"),
    ({"type": "flaky", "code": 500}, "fail_first_n"),
    ({"type": "flaky", "fail_first_n": 0}, "fail_first_n"),
    ({"type": "slow_body", "bytes_per_s": 0}, "bytes_per_s"),
    ({"type": "rate_limit"}, "limit"),
    ({"type": "rate_limit", "limit": "lots"}, "limit"),
    ({"type": "rate_limit", "limit": "0/second"}, "limit"),
    ({"type": "down", "toxicity": 1.5}, "toxicity"),
    ({"type": "down", "toxicity": True}, "toxicity"),
    ({"type": "down", "count": 0}, "count"),
    ({"type": "down", "methods": ["FETCH"]}, "methods"),
    ({"type": "down", "methods": []}, "methods"),
    ({"type": "down", "match": "api"}, "match"),
    ({"type": "down", "scope": "bad scope!"}, "scope"),
    ({"type": "down", "name": "has space"}, "name"),
    ({"type": "down", "name": "reset"}, "name"),
    ({"type": "down", "ms": 5}, "ms"),
    ({"type": "latency", "ms": 5, "code": 500}, "code"),
]


@pytest.mark.parametrize(("spec", "field"), BAD_SPECS)
def test_bad_spec_is_400_naming_field_and_allowed(
    client: FlaskClient, spec: Any, field: str
) -> None:
    resp = client.post("/_faults", json=spec)
    assert resp.status_code == 400
    body = resp.json
    assert body["error"] == "invalid_fault" and body["field"] == field, body  # type: ignore[index]
    assert body["allowed"], body  # type: ignore[index]
    assert client.get("/_faults").json == {"faults": []}


def test_unknown_type_lists_every_type(client: FlaskClient) -> None:
    body = client.post("/_faults", json={"type": "nope"}).json
    assert body["allowed"] == sorted(  # type: ignore[index]
        ["down", "flaky", "hang", "latency", "rate_limit", "reset", "slow_body", "status"]
    )


def test_bad_json_to_fault_api_is_400(client: FlaskClient) -> None:
    resp = client.post("/_faults", data=b"{nope", content_type="application/json")
    assert resp.status_code == 400 and resp.json["error"] == "invalid_json"  # type: ignore[index]


def test_match_and_methods_select_requests(client: FlaskClient) -> None:
    add(client, type="status", code=500, match="/api/items/*", methods=["DELETE"])
    client.post("/api/items", json={"name": "a"})
    assert client.get("/api/items/1").status_code == 200
    assert client.get("/api/items").status_code == 200  # glob needs the trailing part
    assert client.delete("/api/items/1").status_code == 500
    # CORS preflights pass unless OPTIONS is listed.
    add(client, type="status", code=503, match="*")
    assert client.options("/api/items").status_code == 200
    assert client.get("/api/items").status_code == 503


def test_scopes_isolate_requests(client: FlaskClient) -> None:
    add(client, type="status", code=503, scope="alice", match="/api/*")
    assert client.get("/api/items").status_code == 200  # no header: global faults only
    assert client.get("/api/items", headers={"X-Fault-Scope": "bob"}).status_code == 200
    hit = client.get("/api/items", headers={"X-Fault-Scope": "alice"})
    assert hit.status_code == 503 and hit.json["fault"] == "status-1"  # type: ignore[index]

    add(client, type="status", code=502, match="/health")  # global: everyone sees it
    for headers in ({}, {"X-Fault-Scope": "alice"}, {"X-Fault-Scope": "bob"}):
        assert client.get("/health", headers=headers).status_code == 502


def test_admin_calls_take_scope_from_query_or_header(client: FlaskClient) -> None:
    add(client, type="down", name="mine", match="/health")
    resp = client.post(
        "/_faults", json={"type": "down", "name": "mine", "match": "/health"},
        headers={"X-Fault-Scope": "t1"},
    )  # fmt: skip
    assert resp.status_code == 201 and resp.json["scope"] == "t1"  # type: ignore[index]
    listed = client.get("/_faults?scope=t1").json["faults"]  # type: ignore[index]
    assert [(f["name"], f["scope"]) for f in listed] == [("mine", "t1")]
    assert len(client.get("/_faults").json["faults"]) == 2  # type: ignore[index]
    assert client.delete("/_faults/mine", headers={"X-Fault-Scope": "t1"}).status_code == 204
    assert client.get("/_faults/mine").json["scope"] is None  # type: ignore[index]


def test_invalid_scope_header_is_400(client: FlaskClient) -> None:
    resp = client.get("/api/items", headers={"X-Fault-Scope": "no spaces allowed"})
    assert resp.status_code == 400
    assert resp.json["field"] == "X-Fault-Scope"  # type: ignore[index]
    assert client.get("/_faults?scope=%20x").status_code == 400


def test_reset_clears_everything_or_one_scope(client: FlaskClient) -> None:
    add(client, type="down", match="/health", scope="a")
    add(client, type="down", match="/health", scope="b")
    add(client, type="down", match="/health")
    client.get("/api/items", headers={"X-Fault-Scope": "a"})
    client.get("/api/items", headers={"X-Fault-Scope": "b"})

    resp = client.post("/_faults/reset?scope=a")
    assert resp.json == {"reset": "a", "faults_removed": 1}
    left = {f["scope"] for f in client.get("/_faults").json["faults"]}  # type: ignore[index]
    assert left == {"b", None}
    stats = client.get("/_stats").json
    assert set(stats["scopes"]) == {"b"} and stats["total"] == 2  # type: ignore[index]

    assert client.post("/_faults/reset").json == {"reset": "all", "faults_removed": 2}
    assert client.get("/_faults").json == {"faults": []}
    assert client.get("/_stats").json == {
        "total": 0, "routes": {}, "inflight": {"current": 0, "max": 0}, "scopes": {}
    }  # fmt: skip
    assert client.get("/health").status_code == 200


def test_stats_count_routes_statuses_and_scopes(client: FlaskClient) -> None:
    add(client, type="flaky", fail_first_n=1, code=500, match="/api/items")
    client.get("/api/items", headers={"X-Fault-Scope": "s1"})  # 500 (flaky)
    client.get("/api/items", headers={"X-Fault-Scope": "s1"})  # 200
    client.get("/api/items")  # 200
    client.post("/api/items", json={"name": "x"}, headers={"X-Fault-Scope": "s2"})  # 201
    client.get("/api/items/99")  # 404 on a known route
    client.get("/nowhere")  # 404 on no route
    client.get("/_faults")  # admin calls are not counted

    stats = client.get("/_stats").json
    assert stats == {
        "total": 6,
        "routes": {
            "GET /api/items": {"200": 2, "500": 1},
            "GET /api/items/<int:item_id>": {"404": 1},
            "GET <unmatched>": {"404": 1},
            "POST /api/items": {"201": 1},
        },
        "inflight": {"current": 0, "max": 1},  # the test client sends one at a time
        "scopes": {
            "s1": {
                "total": 2,
                "routes": {"GET /api/items": {"200": 1, "500": 1}},
                "inflight": {"current": 0, "max": 1},
            },
            "s2": {
                "total": 1,
                "routes": {"POST /api/items": {"201": 1}},
                "inflight": {"current": 0, "max": 1},
            },
        },
    }
    assert client.get("/_stats?scope=s1").json == {
        "scope": "s1",
        "total": 2,
        "routes": {"GET /api/items": {"200": 1, "500": 1}},
        "inflight": {"current": 0, "max": 1},
    }
    listed = client.get("/_faults").json["faults"]  # type: ignore[index]
    assert listed[0]["hits"] == 1


def test_stats_track_requests_in_flight(fault_server: LiveServer) -> None:
    fault_server.add_fault(type="latency", ms=300, match="/api/items")
    scope = {"X-Fault-Scope": "conc"}
    barrier = threading.Barrier(4)

    def slow_get(headers: dict[str, str]) -> None:
        barrier.wait(timeout=5)
        requests.get(fault_server.url + "/api/items", headers=headers, timeout=10)

    threads = [threading.Thread(target=slow_get, args=(h,)) for h in (scope, scope, scope, {})]
    for t in threads:
        t.start()
    time.sleep(0.15)
    during = requests.get(fault_server.url + "/_stats", timeout=5).json()["inflight"]
    for t in threads:
        t.join(timeout=10)
    stats = requests.get(fault_server.url + "/_stats", timeout=5).json()
    assert during["current"] == 4
    assert stats["inflight"] == {"current": 0, "max": 4}
    assert stats["scopes"]["conc"]["inflight"] == {"current": 0, "max": 3}
    requests.post(fault_server.url + "/_faults/reset", timeout=5)
    after = requests.get(fault_server.url + "/_stats", timeout=5).json()["inflight"]
    assert after == {"current": 0, "max": 0}
