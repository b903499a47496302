"""Items CRUD, batch reads, JSON validation, size limit, JSON errors and health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from demo_backend import create_app

from .conftest import LiveServer


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True}).test_client()


def create(client: FlaskClient, name: str, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/items", json={"name": name, **extra})
    assert resp.status_code == 201, resp.json
    body: dict[str, Any] = resp.json  # type: ignore[assignment]
    return body


def test_crud_round_trip(client: FlaskClient) -> None:
    resp = client.post("/api/items", json={"name": " milk ", "done": True})
    assert resp.status_code == 201 and resp.headers["Location"] == "/api/items/1"
    assert resp.json == {"id": 1, "name": "milk", "done": True}
    create(client, "eggs")
    assert client.get("/api/items/2").json == {"id": 2, "name": "eggs", "done": False}

    put = client.put("/api/items/1", json={"name": "oat milk"})
    assert put.status_code == 200 and put.json == {"id": 1, "name": "oat milk", "done": False}
    patch = client.patch("/api/items/2", json={"done": True})
    assert patch.json == {"id": 2, "name": "eggs", "done": True}

    assert client.delete("/api/items/1").status_code == 204
    assert client.get("/api/items").json == {"items": [{"id": 2, "name": "eggs", "done": True}]}
    for method in ("get", "put", "patch", "delete"):
        kwargs = {"json": {"name": "x"}} if method in ("put", "patch") else {}
        resp = getattr(client, method)("/api/items/1", **kwargs)
        assert resp.status_code == 404 and resp.json == {
            "error": "not_found", "message": "item 1 does not exist", "id": 1
        }, method  # fmt: skip
    assert create(client, "bread")["id"] == 3  # ids are never reused


@pytest.mark.parametrize(
    ("method", "body", "status", "error", "field"),
    [
        ("put", {"done": True}, 422, "invalid_field", "name"),
        ("put", {"name": "x", "extra": 1}, 422, "unknown_field", "extra"),
        ("patch", {}, 422, "missing_field", "name"),
        ("patch", {"name": "  "}, 422, "invalid_field", "name"),
        ("patch", {"name": "x" * 201}, 422, "invalid_field", "name"),
        ("patch", {"done": "yes"}, 422, "invalid_field", "done"),
        ("patch", [1], 400, "invalid_json", None),
        ("put", None, 400, "invalid_json", None),
    ],
)
def test_update_validation(
    client: FlaskClient, method: str, body: Any, status: int, error: str, field: str | None
) -> None:
    create(client, "keep me")
    resp = getattr(client, method)(
        "/api/items/1", data=json.dumps(body), content_type="application/json"
    )
    assert resp.status_code == status and resp.json["error"] == error
    assert resp.json.get("field") == field
    assert client.get("/api/items/1").json["name"] == "keep me"  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{bad", "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),  # too deep for Python
        (b'{"name": "x"}', "text/plain", 415),
    ],
)
def test_unparseable_bodies_are_4xx_never_500(
    client: FlaskClient, data: bytes, content_type: str, status: int
) -> None:
    for method, url in (("post", "/api/items"), ("put", "/api/items/1"), ("post", "/api/batch")):
        resp = getattr(client, method)(url, data=data, content_type=content_type)
        assert resp.status_code == status, (method, url, resp.json)
        assert resp.is_json


def test_batch_get_and_post(client: FlaskClient) -> None:
    for name in ("a", "b", "c"):
        create(client, name)
    resp = client.get("/api/items/batch?ids=3, 1,9,3")
    assert resp.json == {
        "items": [{"id": 3, "name": "c", "done": False}, {"id": 1, "name": "a", "done": False}],
        "missing": [9],
    }
    assert client.post("/api/batch", json={"ids": [2, 7]}).json == {
        "items": [{"id": 2, "name": "b", "done": False}],
        "missing": [7],
    }


@pytest.mark.parametrize("query", ["", "ids=", "ids=1,x", "ids=0", "ids=-1", "ids=1.5"])
def test_batch_get_rejects_bad_ids(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/api/items/batch?{query}")
    assert resp.status_code == 422 and resp.json["field"] == "ids"  # type: ignore[index]


@pytest.mark.parametrize(
    "body", [{}, {"ids": "1,2"}, {"ids": []}, {"ids": [1, True]}, {"ids": [1], "x": 1}]
)
def test_batch_post_rejects_bad_bodies(client: FlaskClient, body: Any) -> None:
    resp = client.post("/api/batch", json=body)
    assert resp.status_code == 422, resp.json
    assert resp.json["field"] in ("ids", "x")  # type: ignore[index]


def test_batch_size_is_limited() -> None:
    client = create_app({"TESTING": True, "BATCH_MAX_IDS": 3}).test_client()
    assert client.post("/api/batch", json={"ids": [1, 2, 3]}).status_code == 200
    resp = client.post("/api/batch", json={"ids": [1, 2, 3, 4]})
    assert resp.status_code == 422 and resp.json["max"] == 3  # type: ignore[index]


def test_request_size_limit_is_413_json(live_server: LiveServer) -> None:
    big = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    resp = requests.post(
        live_server.url + "/api/items",
        data=big,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 413 and resp.json()["error"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: werkzeug stops at the limit
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    resp = requests.post(
        live_server.url + "/api/items",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 413 and resp.headers["Content-Type"] == "application/json"
    assert requests.get(live_server.url + "/api/items", timeout=5).json() == {"items": []}


def test_unhandled_exception_is_500_json() -> None:
    app: Flask = create_app({"TESTING": True})

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("secret detail")

    resp = app.test_client().get("/boom", headers={"X-Request-ID": "req-42"})
    assert resp.status_code == 500
    assert resp.json == {
        "error": "internal_error",
        "message": "the server hit an unexpected error",
        "request_id": "req-42",
    }
    assert b"secret" not in resp.data


def test_method_not_allowed_is_json_with_allow(client: FlaskClient) -> None:
    resp = client.post("/health")
    assert resp.status_code == 405 and resp.json["error"] == "method_not_allowed"  # type: ignore[index]
    assert "GET" in resp.headers["Allow"]


def test_health_endpoints(client: FlaskClient) -> None:
    assert client.get("/health").json == {"status": "ok", "service": "resilient-fetch-demo"}
    assert client.get("/health/live").json == {"status": "ok", "service": "resilient-fetch-demo"}
    assert client.get("/health/ready").json == {
        "status": "ready", "service": "resilient-fetch-demo", "storage": "memory"
    }  # fmt: skip


def test_ready_is_503_when_redis_is_unreachable() -> None:
    from .processes import free_port

    app = create_app({"TESTING": True, "STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0"})
    resp = app.test_client().get("/health/ready")
    assert resp.status_code == 503 and resp.json["status"] == "unavailable"  # type: ignore[index]
    assert app.test_client().get("/health/live").status_code == 200
