"""Graceful shutdown against real processes: ``python -m demo_backend`` and gunicorn.

Each test starts the server on 127.0.0.1, holds several requests in flight
with a ``latency`` fault, sends the signal, and checks that every one of them
is answered, that ``/health/ready`` turns 503 ``draining`` on a connection
that was already open, what a new connection gets, and the exit status. The
control cases give the drain less time than the work: the requests ARE cut.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from .demo_processes import Served, start_demo, start_gunicorn_conf
from .processes import RedisServer, stop

SLOW_MS = 2000
IN_FLIGHT = 4
pytestmark = pytest.mark.timeout(60)


class Slow:
    """``IN_FLIGHT`` GETs of ``/api/items``, each on its own connection, in threads."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.results: list[Any] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._one, args=(url, timeout_s)) for _ in range(IN_FLIGHT)
        ]
        for thread in self._threads:
            thread.start()

    def _one(self, url: str, timeout_s: float) -> None:
        try:
            resp = requests.get(url + "/api/items", timeout=timeout_s)
            outcome: Any = (resp.status_code, resp.json())
        except requests.RequestException as exc:
            outcome = exc
        with self._lock:
            self.results.append(outcome)

    def join(self, timeout_s: float) -> list[Any]:
        for thread in self._threads:
            thread.join(timeout_s)
        assert not any(t.is_alive() for t in self._threads)
        return self.results


def _hold_requests(served: Served, slow_ms: int, timeout_s: float) -> Slow:
    """Add the latency fault, start the slow requests and wait until all are in flight."""
    fault = {"type": "latency", "ms": slow_ms, "match": "/api/items"}
    assert requests.post(served.url + "/_faults", json=fault, timeout=5).status_code == 201
    slow = Slow(served.url, timeout_s)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stats = requests.get(served.url + "/_stats", timeout=5).json()
        if stats["inflight"]["current"] == IN_FLIGHT:
            return slow
        time.sleep(0.02)
    pytest.fail(f"the slow requests never were all in flight: {stats['inflight']}")


def _kept_alive(served: Served) -> requests.Session:
    session = requests.Session()
    assert session.get(served.url + "/health/ready", timeout=5).status_code == 200
    return session  # its connection stays open in the pool, idle


def _ready_while_draining(session: requests.Session, served: Served) -> None:
    resp = session.get(served.url + "/health/ready", timeout=5)
    assert resp.status_code == 503, resp.text
    assert resp.json()["status"] == "draining"
    # The last answer on that connection: the client reconnects, and is turned away.
    assert resp.headers.get("Connection", "").lower() == "close"


def _new_connection_error(served: Served) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        requests.get(served.url + "/health/ready", timeout=1)
    return caught.value


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_server_drains_in_flight_requests_then_exits_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    served = start_demo(tmp_path, {"DEMO_DRAIN_TIMEOUT_S": "10", "DEMO_ACCESS_LOG": "0"})
    try:
        session = _kept_alive(served)
        slow = _hold_requests(served, SLOW_MS, timeout_s=15)
        signalled = time.monotonic()
        served.proc.send_signal(sig)
        time.sleep(0.4)  # the serving loop looks at the stop flag every 0.2 s
        _ready_while_draining(session, served)
        refused = _new_connection_error(served)
        # The listening socket is closed at once: a new connection is refused.
        assert isinstance(refused, requests.ConnectionError) and "refused" in str(refused)
        results = slow.join(15)
        status = served.proc.wait(timeout=15)
        took = time.monotonic() - signalled
    finally:
        stop(served.proc, signal.SIGKILL)
    assert [r[0] if isinstance(r, tuple) else r for r in results] == [200] * IN_FLIGHT
    assert all("items" in r[1] for r in results)
    assert status == 0, served.output()
    assert 1.0 < took < 10.0, took  # waited for the work, not for the drain timeout
    assert "drained: every request in flight was answered" in served.output()


def _cut_short(served: Any) -> tuple[list[Any], int, float]:
    """Hold requests for 4 s, SIGTERM, and collect their outcomes, the exit status and the time."""
    try:
        slow = _hold_requests(served, 4000, timeout_s=15)
        signalled = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        results = slow.join(15)
        status = served.proc.wait(timeout=15)
        return results, status, time.monotonic() - signalled
    finally:
        stop(served.proc, signal.SIGKILL)


def test_demo_server_drain_timeout_cuts_requests_and_exits_1(tmp_path: Path) -> None:
    """Control: a drain shorter than the work cuts it, and the exit status says so."""
    served = start_demo(tmp_path, {"DEMO_DRAIN_TIMEOUT_S": "1", "DEMO_ACCESS_LOG": "0"})
    results, status, took = _cut_short(served)
    assert len(results) == IN_FLIGHT
    assert all(isinstance(r, requests.ConnectionError) for r in results), results
    assert status == 1, served.output()
    assert took < 3.5, took
    assert "drain cut short after 1 s: closing 4 connection(s) mid-request" in served.output()


def _gunicorn(tmp_path: Path, redis_server: RedisServer, prefix: str, drain_s: str) -> Served:
    env = {
        "DEMO_STORAGE_URI": redis_server.uri,  # the fault and the stats reach both workers
        "DEMO_STORAGE_PREFIX": prefix,
        "DEMO_FAULTS": "1",
        "DEMO_ACCESS_LOG": "0",
        "DEMO_DRAIN_TIMEOUT_S": drain_s,
    }
    return start_gunicorn_conf(tmp_path, env, 2, "--worker-class", "gthread", "--threads", "8")


def test_gunicorn_drains_in_flight_requests_then_exits_0(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    served = _gunicorn(tmp_path, redis_server, redis_prefix, "10")
    try:
        session = _kept_alive(served)
        slow = _hold_requests(served, SLOW_MS, timeout_s=15)
        signalled = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(0.4)
        _ready_while_draining(session, served)
        # The master closes its listener, but the workers hold the socket until
        # they exit: the kernel still completes the handshake and nobody answers.
        unanswered = _new_connection_error(served)
        assert isinstance(unanswered, requests.ReadTimeout), repr(unanswered)
        results = slow.join(15)
        status = served.proc.wait(timeout=15)
        took = time.monotonic() - signalled
    finally:
        stop(served.proc, signal.SIGKILL)
    assert [r[0] if isinstance(r, tuple) else r for r in results] == [200] * IN_FLIGHT
    assert status == 0, served.output()
    assert 1.0 < took < 10.0, took
    assert "drain timed out" not in served.output()


def test_gunicorn_drain_timeout_cuts_requests(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Control: graceful_timeout (DRAIN_TIMEOUT_S) shorter than the work cuts it."""
    served = _gunicorn(tmp_path, redis_server, redis_prefix, "1")
    results, status, took = _cut_short(served)
    assert len(results) == IN_FLIGHT
    assert all(isinstance(r, requests.ConnectionError) for r in results), results
    # gunicorn's master exits 0 either way; the worker's watchdog logs the cut.
    assert status == 0 and took < 3.5, (status, took)
    assert "drain timed out after 1s" in served.output(), served.output()
