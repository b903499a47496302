"""Each fault type does what it says: through the test client, or over a real socket."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from demo_backend import create_app
from resilient_fetch import Client, NetworkError, RequestsTransport

from .conftest import LiveServer

RAW_GET = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def add(client: FlaskClient, **spec: Any) -> dict[str, Any]:
    resp = client.post("/_faults", json=spec)
    assert resp.status_code == 201, resp.json
    body: dict[str, Any] = resp.json  # type: ignore[assignment]
    return body


def raw_exchange(url: str, timeout: float) -> tuple[bytes, float]:
    """Send one GET /health over a plain socket; return what came back and how long it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(RAW_GET)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    return data, time.monotonic() - started


@pytest.fixture
def client(app_factory: Callable[..., Flask]) -> FlaskClient:
    return app_factory().test_client()


def test_status_fault_answers_code_json_and_retry_after(client: FlaskClient) -> None:
    add(client, type="status", code=429, retry_after=7, match="/api/items", name="busy")
    resp = client.get("/api/items")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json == {
        "error": "injected_fault",
        "fault": "busy",
        "type": "status",
        "message": "injected HTTP 429 by fault 'busy'",
    }
    add(client, type="status", code=504, match="/health")
    resp = client.get("/health")
    assert resp.status_code == 504 and "Retry-After" not in resp.headers


def test_flaky_fails_the_first_n_then_passes(client: FlaskClient) -> None:
    add(client, type="flaky", fail_first_n=2, code=500, match="/api/items")
    assert [client.get("/api/items").status_code for _ in range(4)] == [500, 500, 200, 200]
    add(client, type="flaky", fail_first_n=1, match="/health")  # default code 503
    assert [client.get("/health").status_code for _ in range(2)] == [503, 200]


def test_down_answers_503_everywhere_including_health_but_not_admin(client: FlaskClient) -> None:
    add(client, type="down")
    for path in ("/health", "/health/live", "/health/ready", "/api/items", "/api/items/1"):
        resp = client.get(path)
        assert resp.status_code == 503, path
        assert resp.json["type"] == "down"  # type: ignore[index]
    assert client.post("/api/items", json={"name": "x"}).status_code == 503
    assert client.get("/_faults").status_code == 200
    assert client.post("/_faults/reset").status_code == 200
    assert client.get("/health").status_code == 200


def test_latency_delays_the_request(client: FlaskClient) -> None:
    add(client, type="latency", ms=150, match="/health")
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    client.get("/api/items")
    assert time.monotonic() - started < 0.15  # other paths are not delayed


def _delays(app: Flask, caplog: pytest.LogCaptureFixture) -> list[float]:
    client = app.test_client()
    add(client, type="latency", ms=10, jitter_ms=8, match="/health")
    caplog.clear()
    with caplog.at_level("INFO", logger="demo_backend.access"):
        for _ in range(6):
            client.get("/health")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "demo_backend.access"]
    return [line["faults"][0]["delay_ms"] for line in lines]


def test_latency_jitter_is_seeded(caplog: pytest.LogCaptureFixture) -> None:
    first = _delays(create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": 3}), caplog)
    again = _delays(create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": 3}), caplog)
    other = _delays(create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": 4}), caplog)
    assert len(first) == 6 and first == again and first != other
    assert all(2 <= d <= 18 for d in first) and len(set(first)) > 1


def _toxic_statuses(seed: int, toxicity: float, n: int = 200) -> list[int]:
    client = create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": seed}).test_client()
    add(client, type="status", code=503, match="/health", toxicity=toxicity)
    return [client.get("/health").status_code for _ in range(n)]


def test_toxicity_is_a_seeded_probability() -> None:
    statuses = _toxic_statuses(11, 0.3)
    hit = statuses.count(503)
    assert 30 <= hit <= 90, hit  # binomial(200, 0.3): mean 60, sd 6.5
    assert statuses == _toxic_statuses(11, 0.3)  # same seed, same sequence
    assert statuses != _toxic_statuses(12, 0.3)
    assert _toxic_statuses(11, 0.0, 50).count(503) == 0
    assert _toxic_statuses(11, 1.0, 50).count(503) == 50


def test_count_ends_the_fault_after_n_hits(client: FlaskClient) -> None:
    add(client, type="status", code=500, count=2, match="/health", name="twice")
    assert client.get("/_faults/twice").json["hits"] == 0  # type: ignore[index]
    assert [client.get("/health").status_code for _ in range(4)] == [500, 500, 200, 200]
    assert client.get("/_faults").json == {"faults": []}


def test_rate_limit_is_enforced_with_headers(client: FlaskClient) -> None:
    add(client, type="rate_limit", limit="3/minute", match="/api/items", name="rl")
    remaining = []
    for _ in range(3):
        resp = client.get("/api/items")
        assert resp.status_code == 200
        assert "Retry-After" not in resp.headers
        assert resp.headers["RateLimit-Limit"] == "3"
        remaining.append(resp.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    limited = client.get("/api/items")
    assert limited.status_code == 429
    assert limited.json["error"] == "injected_fault" and limited.json["fault"] == "rl"  # type: ignore[index]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(limited.headers["RateLimit-Reset"]) <= 60
    assert limited.headers["RateLimit-Policy"] == "3;w=60"
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert client.get("/health").status_code == 200  # not matched, not limited


def test_rate_limit_counters_are_per_fault_and_scope(client: FlaskClient) -> None:
    add(client, type="rate_limit", limit="1/minute", match="/health", scope="a")
    add(client, type="rate_limit", limit="1/minute", match="/health", scope="b")
    a, b = {"X-Fault-Scope": "a"}, {"X-Fault-Scope": "b"}
    assert client.get("/health", headers=a).status_code == 200
    assert client.get("/health", headers=a).status_code == 429
    assert client.get("/health", headers=b).status_code == 200
    assert client.get("/health").status_code == 200  # no scope: neither fault applies
    client.post("/_faults/reset")
    add(client, type="rate_limit", limit="1/minute", match="/health", scope="a")
    assert client.get("/health", headers=a).status_code == 200  # a new fault, a new counter


def test_reset_fault_without_a_socket_says_so(client: FlaskClient) -> None:
    add(client, type="reset", match="/health")
    resp = client.get("/health")  # the test client has no socket to close
    assert resp.status_code == 501 and resp.json["error"] == "reset_unsupported"  # type: ignore[index]


async def test_reset_fault_closes_the_connection_without_a_response(
    fault_server: LiveServer,
) -> None:
    fault_server.add_fault(type="reset", match="/health")
    with pytest.raises(requests.ConnectionError):
        requests.get(fault_server.url + "/health", timeout=5)
    data, _ = raw_exchange(fault_server.url, timeout=5)
    assert data == b""  # not even a status line
    # The client's own transport (no retry policy in the way) maps it to NetworkError.
    transport = RequestsTransport(socket_timeout=5)
    with pytest.raises(NetworkError):
        await transport.handle(Client(fault_server.url).build_request("GET", "/health"))
    await transport.close()
    assert requests.get(fault_server.url + "/api/items", timeout=5).status_code == 200
    stats = requests.get(fault_server.url + "/_stats", timeout=5).json()
    assert stats["routes"]["GET /health"] == {"dropped": 3}


def test_hang_fault_outlasts_the_client_and_is_bounded_server_side(
    fault_server: LiveServer,
) -> None:
    fault_server.add_fault(type="hang", match="/health")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(fault_server.url + "/health", timeout=(2, 0.3))
    assert time.monotonic() - started < 1.0
    # HANG_MAX_S is 1 s here: the server lets go of the connection, unanswered.
    data, took = raw_exchange(fault_server.url, timeout=10)
    assert data == b"" and 0.9 <= took < 5, took


def test_reset_releases_requests_held_by_hang(
    serve: Callable[[Flask], LiveServer], app_factory: Callable[..., Flask]
) -> None:
    server = serve(app_factory(HANG_MAX_S=20.0))
    server.add_fault(type="hang", match="/health")
    result: list[tuple[bytes, float]] = []
    worker = threading.Thread(target=lambda: result.append(raw_exchange(server.url, timeout=25)))
    worker.start()
    time.sleep(0.3)
    requests.post(server.url + "/_faults/reset", timeout=5)
    worker.join(timeout=10)
    assert result and result[0][0] == b"" and result[0][1] < 5


def test_slow_body_streams_at_the_given_rate(
    fault_server: LiveServer,
) -> None:
    for i in range(20):
        requests.post(fault_server.url + "/api/items", json={"name": f"item {i:02d}"}, timeout=5)
    expected = requests.get(fault_server.url + "/api/items", timeout=5).content
    assert 600 < len(expected) < 1200
    fault_server.add_fault(type="slow_body", bytes_per_s=2000, match="/api/items")
    started = time.monotonic()
    resp = requests.get(fault_server.url + "/api/items", stream=True, timeout=5)
    headers_after = time.monotonic() - started
    body = resp.raw.read()
    total = time.monotonic() - started
    assert body == expected and resp.headers["Content-Length"] == str(len(expected))
    assert headers_after < 0.25 < len(expected) / 2000 - 0.05 <= total, (headers_after, total)


def test_slow_body_is_bounded_server_side(
    serve: Callable[[Flask], LiveServer], app_factory: Callable[..., Flask]
) -> None:
    server = serve(app_factory(SLOW_BODY_MAX_S=0.3))
    requests.post(server.url + "/api/items", json={"name": "x" * 200}, timeout=5)
    server.add_fault(type="slow_body", bytes_per_s=20, match="/api/items")  # ~12 s unbounded
    started = time.monotonic()
    resp = requests.get(server.url + "/api/items", timeout=5)
    assert resp.json()["items"][0]["name"] == "x" * 200
    assert 0.3 <= time.monotonic() - started < 3


def test_faults_compose_in_order(client: FlaskClient) -> None:
    add(client, type="latency", ms=50, match="/health")
    add(client, type="status", code=502, match="/health")
    started = time.monotonic()
    assert client.get("/health").status_code == 502
    assert time.monotonic() - started >= 0.05
