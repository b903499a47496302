"""Redis mode: the storage contract on both backends, then real gunicorn processes sharing state.

The redis-server fixture fails (never skips) when the binary is missing.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from demo_backend import create_app
from demo_backend.storage import MemoryStorage, RedisStorage, Storage

from .processes import Backend, RedisServer, start_gunicorn, stop


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStorage(server.uri, redis_prefix)
    try:
        yield store
    finally:
        store.close()


def test_storage_contract(storage: Storage) -> None:
    assert storage.get("k") is None
    storage.set("k", "v")
    assert storage.get("k") == "v"
    assert storage.add("k", "other") is False and storage.get("k") == "v"
    assert storage.add("n", "1", ttl_s=0.15) is True
    time.sleep(0.25)
    assert storage.get("n") is None and storage.add("n", "2") is True
    assert [storage.incr("c") for _ in range(3)] == [1, 2, 3]
    storage.hset("h", "a", "1")
    assert storage.hsetnx("h", "a", "x") is False and storage.hsetnx("h", "b", "2") is True
    assert storage.hget("h", "a") == "1" and storage.hgetall("h") == {"a": "1", "b": "2"}
    assert storage.hincr("h", "n") == 1 and storage.hincr("h", "n", 4) == 5
    assert [storage.hincr_max("g", "cur", "top") for _ in range(3)] == [1, 2, 3]
    storage.hincr("g", "cur", -2)
    assert storage.hincr_max("g", "cur", "top") == 2 and storage.hget("g", "top") == "3"
    assert storage.hdel("h", "a", "zz") == 1
    storage.delete("k", "h", "c")
    assert storage.get("k") is None and storage.hgetall("h") == {} and storage.incr("c") == 1
    assert storage.ping() is True


def test_storage_lock_is_exclusive(storage: Storage) -> None:
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, overlaps
        for _ in range(5):
            with storage.lock("x", timeout_s=5):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert overlaps == 0


def test_redis_prefixes_keep_apps_apart(redis_server: RedisServer) -> None:
    one = RedisStorage(redis_server.uri, f"p1-{uuid.uuid4().hex}:")
    two = RedisStorage(redis_server.uri, f"p2-{uuid.uuid4().hex}:")
    one.set("k", "1")
    assert two.get("k") is None
    one.close()
    two.close()


def test_two_apps_on_one_redis_share_everything(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    config = {
        "TESTING": True, "FAULTS": True,
        "STORAGE_URI": redis_server.uri, "STORAGE_PREFIX": redis_prefix,
    }  # fmt: skip
    a = create_app(config).test_client()
    b = create_app(config).test_client()
    assert a.get("/health/ready").json["storage"] == "redis"  # type: ignore[index]
    item = a.post("/api/items", json={"name": "shared"}).json
    assert b.get(f"/api/items/{item['id']}").json == item  # type: ignore[index]
    a.post("/_faults", json={"type": "rate_limit", "limit": "2/minute", "match": "/health"})
    assert [c.get("/health").status_code for c in (a, b, a)] == [200, 200, 429]


# -- real processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Backend]]:
    """Two single-worker gunicorns and one with two workers, all on one Redis prefix."""
    logs = Path(tmp_path_factory.mktemp("gunicorn"))
    env = {
        "DEMO_STORAGE_URI": redis_server.uri,
        "DEMO_STORAGE_PREFIX": f"rf-cluster-{uuid.uuid4().hex[:8]}:",
        "DEMO_FAULTS": "1",
        "DEMO_HANG_MAX_S": "2",
    }
    backends: dict[str, Backend] = {}
    try:
        for name, workers in (("a", 1), ("b", 1), ("pair", 2)):
            backends[name] = start_gunicorn(env, workers, logs / f"{name}.log")
        yield backends
    finally:
        for backend in backends.values():  # signal all first: they shut down in parallel
            if backend.proc.poll() is None:
                backend.proc.send_signal(signal.SIGINT)
        for backend in backends.values():
            stop(backend.proc, signal.SIGINT)


@pytest.fixture
def scope() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def call(backend: Backend, method: str, path: str, **kwargs: Any) -> requests.Response:
    # A fresh connection per call (no Session): each one may land on another worker.
    return requests.request(method, backend.url + path, timeout=10, **kwargs)


def test_items_are_shared_between_processes(cluster: dict[str, Backend]) -> None:
    a, b = cluster["a"], cluster["b"]
    made_a = call(a, "POST", "/api/items", json={"name": "from a"}).json()
    assert call(b, "GET", f"/api/items/{made_a['id']}").json() == made_a
    made_b = call(b, "POST", "/api/items", json={"name": "from b"}).json()
    assert made_b["id"] > made_a["id"]  # one id sequence for all processes
    call(b, "PATCH", f"/api/items/{made_a['id']}", json={"done": True})
    assert call(a, "GET", f"/api/items/{made_a['id']}").json()["done"] is True
    batch = call(a, "GET", f"/api/items/batch?ids={made_a['id']},{made_b['id']}").json()
    assert [i["name"] for i in batch["items"]] == ["from a", "from b"]


def test_faults_added_in_one_process_apply_in_the_other(
    cluster: dict[str, Backend], scope: str
) -> None:
    a, b = cluster["a"], cluster["b"]
    headers = {"X-Fault-Scope": scope}
    spec = {"type": "flaky", "fail_first_n": 2, "code": 503, "match": "/health", "scope": scope}
    assert call(a, "POST", "/_faults", json=spec).status_code == 201
    statuses = [call(x, "GET", "/health", headers=headers).status_code for x in (b, a, b, a)]
    assert statuses == [503, 503, 200, 200]  # one counter for both processes
    assert call(b, "GET", "/health").status_code == 200  # other scopes unaffected
    call(b, "POST", "/_faults", json={"type": "status", "code": 502, "scope": scope})
    assert call(a, "GET", "/api/items", headers=headers).status_code == 502
    call(b, "POST", f"/_faults/reset?scope={scope}")
    assert call(a, "GET", "/api/items", headers=headers).status_code == 200


def test_rate_limit_counter_is_shared(cluster: dict[str, Backend], scope: str) -> None:
    a, b = cluster["a"], cluster["b"]
    headers = {"X-Fault-Scope": scope}
    call(a, "POST", "/_faults", json={"type": "rate_limit", "limit": "3/minute", "scope": scope})
    statuses = [call(x, "GET", "/health", headers=headers).status_code for x in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]


def test_reset_fault_drops_connections_under_gunicorn(
    cluster: dict[str, Backend], scope: str
) -> None:
    a = cluster["a"]
    call(a, "POST", "/_faults", json={"type": "reset", "match": "/health", "scope": scope})
    with pytest.raises(requests.ConnectionError):
        call(a, "GET", "/health", headers={"X-Fault-Scope": scope})
    assert call(a, "GET", "/health").status_code == 200


def test_idempotency_keys_are_shared(cluster: dict[str, Backend]) -> None:
    a, b = cluster["a"], cluster["b"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = call(a, "POST", "/api/items", json={"name": "idem"}, headers=key)
    again = call(b, "POST", "/api/items", json={"name": "idem"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    mismatch = call(b, "POST", "/api/items", json={"name": "other"}, headers=key)
    assert mismatch.status_code == 422


def test_concurrent_duplicates_across_processes_apply_once(cluster: dict[str, Backend]) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    name = f"race-{uuid.uuid4().hex[:8]}"
    targets = [cluster["a"], cluster["b"], cluster["pair"]] * 3
    barrier = threading.Barrier(len(targets))
    results: list[requests.Response] = []

    def post(backend: Backend) -> None:
        barrier.wait(timeout=5)
        results.append(call(backend, "POST", "/api/items", json={"name": name}, headers=key))

    threads = [threading.Thread(target=post, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(results) == len(targets)
    created = [r.json() for r in results if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in results)
    assert len({item["id"] for item in created}) == 1
    listed = call(cluster["a"], "GET", "/api/items").json()["items"]
    assert sum(item["name"] == name for item in listed) == 1


def test_stats_add_up_across_processes(cluster: dict[str, Backend], scope: str) -> None:
    headers = {"X-Fault-Scope": scope}
    call(cluster["a"], "POST", "/_faults", json={"type": "latency", "ms": 400, "scope": scope})
    backends = (cluster["a"], cluster["b"], cluster["b"], cluster["pair"])
    barrier = threading.Barrier(len(backends))

    def slow_get(backend: Backend) -> None:  # all four overlap, in three processes
        barrier.wait(timeout=5)
        call(backend, "GET", "/api/items", headers=headers)

    threads = [threading.Thread(target=slow_get, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    call(cluster["a"], "GET", "/api/items/999999", headers=headers)
    stats = call(cluster["b"], "GET", f"/_stats?scope={scope}").json()
    assert stats == {
        "scope": scope,
        "total": 5,
        "routes": {"GET /api/items": {"200": 4}, "GET /api/items/<int:item_id>": {"404": 1}},
        "inflight": {"current": 0, "max": 4},
    }


def _pids_serving(log: Path, marker: str) -> set[int]:
    pids = set()
    for line in log.read_text().splitlines():
        if line.startswith("{") and marker in line:
            pids.add(json.loads(line)["pid"])
    return pids


def test_two_gunicorn_workers_serve_one_shared_state(cluster: dict[str, Backend]) -> None:
    pair = cluster["pair"]
    marker = f"two-workers-{uuid.uuid4().hex[:8]}"
    ids: list[int] = []
    deadline = time.monotonic() + 20
    # Fresh connections until both workers have answered (the kernel picks the worker).
    while time.monotonic() < deadline:
        rid = {"X-Request-ID": f"{marker}-{len(ids)}"}  # logged with the worker's pid
        ids.append(
            call(pair, "POST", "/api/items", json={"name": marker}, headers=rid).json()["id"]
        )
        if len(ids) >= 6 and len(_pids_serving(pair.log, marker)) >= 2:
            break
    assert len(_pids_serving(pair.log, marker)) == 2, "only one worker ever answered"
    assert len(set(ids)) == len(ids)  # no id handed out twice by the two workers
    for _ in range(6):  # whichever worker answers, it sees every item
        names = [i["name"] for i in call(pair, "GET", "/api/items").json()["items"]]
        assert names.count(marker) == len(ids)


def _wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_readiness_reports_redis(cluster: dict[str, Backend]) -> None:
    ready = call(cluster["a"], "GET", "/health/ready").json()
    assert ready == {"status": "ready", "service": "resilient-fetch-demo", "storage": "redis"}
    assert _wait_until(lambda: call(cluster["pair"], "GET", "/health/live").status_code == 200)
