"""``Idempotency-Key``: replay, mismatch, concurrent duplicates, 5xx not stored, TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from demo_backend import create_app
from demo_backend.items import ItemStore

from .conftest import LiveServer


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True}).test_client()


def key(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


def test_same_key_same_body_replays_and_applies_once(client: FlaskClient) -> None:
    first = client.post("/api/items", json={"name": "milk"}, headers=key("k-1"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # Same JSON, different spelling: still the same request.
    again = client.post(
        "/api/items", data='{ "name" :"milk" }', content_type="application/json", headers=key("k-1")
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert len(client.get("/api/items").json["items"]) == 1  # type: ignore[index]
    other = client.post("/api/items", json={"name": "milk"}, headers=key("k-2"))
    assert other.json["id"] == 2  # type: ignore[index]


def test_same_key_different_request_is_422(client: FlaskClient) -> None:
    client.post("/api/items", json={"name": "milk"}, headers=key("k"))
    for resp in (
        client.post("/api/items", json={"name": "eggs"}, headers=key("k")),
        client.put("/api/items/1", json={"name": "milk"}, headers=key("k")),
    ):
        assert resp.status_code == 422
        assert resp.json["error"] == "idempotency_key_reused"  # type: ignore[index]
        assert resp.json["field"] == "Idempotency-Key"  # type: ignore[index]
    assert len(client.get("/api/items").json["items"]) == 1  # type: ignore[index]


def test_updates_and_deletes_honour_the_key(client: FlaskClient) -> None:
    client.post("/api/items", json={"name": "a"})
    assert client.patch("/api/items/1", json={"done": True}, headers=key("p")).status_code == 200
    client.put("/api/items/1", json={"name": "changed"})
    replay = client.patch("/api/items/1", json={"done": True}, headers=key("p"))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == {"id": 1, "name": "a", "done": True}  # the first response
    assert client.get("/api/items/1").json["name"] == "changed"  # type: ignore[index]
    assert client.delete("/api/items/1", headers=key("d")).status_code == 204
    replay = client.delete("/api/items/1", headers=key("d"))
    assert replay.status_code == 204 and replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("bad", ["", "x" * 256, "has space", "caf\u00e9"])
def test_invalid_key_is_400(client: FlaskClient, bad: str) -> None:
    resp = client.post("/api/items", json={"name": "a"}, headers={"Idempotency-Key": bad})
    assert resp.status_code == 400 and resp.json["field"] == "Idempotency-Key"  # type: ignore[index]
    assert client.get("/api/items").json == {"items": []}


def test_validation_errors_are_replayed_too(client: FlaskClient) -> None:
    first = client.post("/api/items", json={"name": "x", "bad": 1}, headers=key("v"))
    again = client.post("/api/items", json={"name": "x", "bad": 1}, headers=key("v"))
    assert first.status_code == again.status_code == 422
    assert again.headers["Idempotent-Replayed"] == "true"


def test_server_errors_are_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app({"TESTING": True})
    client = app.test_client()
    store: ItemStore = app.extensions["items"]
    real_create = store.create
    calls = {"n": 0}

    def failing_once(fields: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real_create(fields, **kwargs)

    monkeypatch.setattr(store, "create", failing_once)
    assert client.post("/api/items", json={"name": "a"}, headers=key("r")).status_code == 500
    retry = client.post("/api/items", json={"name": "a"}, headers=key("r"))
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers


def test_keys_expire_after_their_ttl() -> None:
    client = create_app({"TESTING": True, "IDEMPOTENCY_TTL_S": 0.2}).test_client()
    client.post("/api/items", json={"name": "a"}, headers=key("t"))
    time.sleep(0.3)
    resp = client.post("/api/items", json={"name": "b"}, headers=key("t"))
    assert resp.status_code == 201 and resp.json["name"] == "b"  # type: ignore[index]


def test_default_ttl_is_24_hours() -> None:
    assert create_app({"TESTING": True}).extensions["idempotency"].ttl_s == 24 * 60 * 60


def _slow_creates(app: Flask, delay: float) -> dict[str, int]:
    """Make ItemStore.create slow so duplicates really overlap; count real applications."""
    store: ItemStore = app.extensions["items"]
    real_create = store.create
    applied = {"n": 0}

    def slow(fields: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        applied["n"] += 1
        time.sleep(delay)
        return real_create(fields, **kwargs)

    store.create = slow  # type: ignore[method-assign]
    return applied


def _concurrent_posts(url: str, n: int, idem_key: str) -> list[requests.Response]:
    barrier = threading.Barrier(n)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait(timeout=5)
        resp = requests.post(
            url + "/api/items", json={"name": "once"}, headers=key(idem_key), timeout=10
        )
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert len(results) == n
    return results


def test_concurrent_duplicates_wait_and_replay(serve: Callable[[Flask], LiveServer]) -> None:
    app = create_app({"TESTING": True})
    applied = _slow_creates(app, 0.4)
    server = serve(app)
    results = _concurrent_posts(server.url, 6, "same")
    assert applied["n"] == 1
    assert {r.status_code for r in results} == {201}
    assert {r.json()["id"] for r in results} == {1}
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 5
    assert len(requests.get(server.url + "/api/items", timeout=5).json()["items"]) == 1


def test_concurrent_duplicate_gets_409_when_it_cannot_wait(
    serve: Callable[[Flask], LiveServer],
) -> None:
    app = create_app({"TESTING": True, "IDEMPOTENCY_WAIT_S": 0})
    applied = _slow_creates(app, 0.4)
    server = serve(app)
    results = _concurrent_posts(server.url, 4, "busy")
    assert applied["n"] == 1
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert conflict.json()["error"] == "idempotency_in_progress"
    assert conflict.headers["Retry-After"] == "1"
    # Once the first has finished, the retry replays it.
    replay = requests.post(
        server.url + "/api/items", json={"name": "once"}, headers=key("busy"), timeout=5
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
