"""``GET /metrics``: exact Prometheus counts from a live server, the guard, and gunicorn workers.

The output is parsed with ``prometheus_client.parser.text_string_to_metric_families``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from demo_backend import create_app
from demo_backend.metrics import BUCKETS

from .conftest import LiveServer
from .demo_processes import start_gunicorn_conf
from .processes import RedisServer, stop

pytestmark = pytest.mark.timeout(60)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str, **kw: Any) -> Samples:
    resp = requests.get(url + "/metrics", timeout=5, **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    return parse(resp.text)


def pick(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {k[1]: v for k, v in samples.items() if k[0] == name and want <= k[1]}


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def requests_by_route(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (d["method"], d["route"], d["status"]): v
        for labels, v in pick(samples, "rf_http_requests_total").items()
        for d in [dict(labels)]
    }


@pytest.fixture
def metrics_app() -> Flask:
    return create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": 7, "ACCESS_LOG": False})


def test_exact_counts_after_a_known_sequence(
    serve: Callable[[Flask], LiveServer], metrics_app: Flask
) -> None:
    server = serve(metrics_app)
    url = server.url
    for _ in range(3):
        assert requests.get(url + "/api/items", timeout=5).status_code == 200
    for item in ("999999", "888888"):
        assert requests.get(f"{url}/api/items/{item}", timeout=5).status_code == 404
    assert requests.get(url + "/no/such/path-123", timeout=5).status_code == 404
    keyed = {"Idempotency-Key": "metrics-1"}
    first = requests.post(url + "/api/items", json={"name": "a"}, headers=keyed, timeout=5)
    again = requests.post(url + "/api/items", json={"name": "a"}, headers=keyed, timeout=5)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    server.add_fault(type="rate_limit", limit="1/minute", match="/health")
    codes = [requests.get(url + "/health", timeout=5).status_code for _ in range(3)]
    assert codes == [200, 429, 429]

    samples = scrape(url)
    assert requests_by_route(samples) == {
        ("GET", "/api/items", "200"): 3,
        ("GET", "/api/items/<int:item_id>", "404"): 2,
        ("GET", "<unmatched>", "404"): 1,
        ("POST", "/api/items", "201"): 2,
        ("POST", "/_faults", "201"): 1,
        ("GET", "/health", "200"): 1,
        ("GET", "/health", "429"): 2,
    }
    assert pick(samples, "rf_rate_limited_total") == {
        frozenset({("method", "GET"), ("route", "/health")}): 2
    }
    assert pick(samples, "rf_idempotent_replays_total") == {
        frozenset({("method", "POST"), ("route", "/api/items")}): 1
    }
    assert one(samples, "rf_http_requests_in_flight") == 0
    active = {dict(k)["type"]: v for k, v in pick(samples, "rf_faults_active").items()}
    assert active["rate_limit"] == 1 and sum(active.values()) == 1 and "latency" in active
    # Raw paths never become label values.
    labels = {v for key in samples for _, v in key[1]}
    assert not {"999999", "/api/items/999999", "/no/such/path-123"} & labels
    # Scrapes are not counted: a second one sees the same numbers.
    assert requests_by_route(scrape(url)) == requests_by_route(samples)

    # Control: one more request moves exactly one count, and a fresh app
    # (its own registry) has none of these.
    requests.get(url + "/api/items", timeout=5)
    after = requests_by_route(scrape(url))
    assert after[("GET", "/api/items", "200")] == 4
    assert {k: v for k, v in after.items() if k != ("GET", "/api/items", "200")} == {
        k: v for k, v in requests_by_route(samples).items() if k != ("GET", "/api/items", "200")
    }
    fresh = serve(create_app({"TESTING": True, "FAULTS": True, "ACCESS_LOG": False}))
    assert requests_by_route(scrape(fresh.url)) == {}


def test_latency_histogram_buckets(
    serve: Callable[[Flask], LiveServer], metrics_app: Flask
) -> None:
    server = serve(metrics_app)
    assert requests.get(server.url + "/api/items", timeout=5).status_code == 200
    server.add_fault(type="latency", ms=300, match="/api/items", count=2)
    for _ in range(2):
        assert requests.get(server.url + "/api/items", timeout=5).status_code == 200
    samples = scrape(server.url)
    buckets = {
        dict(k)["le"]: v
        for k, v in pick(
            samples, "rf_http_request_duration_seconds_bucket", method="GET", route="/api/items"
        ).items()
    }
    assert list(buckets) == [*(str(float(b)) for b in BUCKETS), "+Inf"]
    assert buckets["0.25"] == 1  # the fast one
    assert buckets["0.1"] == 1
    assert buckets["0.5"] == 3 and buckets["+Inf"] == 3  # plus the two held 300 ms
    route = {"method": "GET", "route": "/api/items"}
    assert one(samples, "rf_http_request_duration_seconds_count", **route) == 3
    assert 0.6 <= one(samples, "rf_http_request_duration_seconds_sum", **route) < 1.5


def test_in_flight_counts_requests_held_by_a_fault(
    serve: Callable[[Flask], LiveServer], metrics_app: Flask
) -> None:
    server = serve(metrics_app)
    server.add_fault(type="latency", ms=1500, match="/api/items")
    get = {"target": requests.get, "args": (server.url + "/api/items",), "kwargs": {"timeout": 10}}
    threads = [threading.Thread(**get) for _ in range(3)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 5
        seen = 0.0
        while time.monotonic() < deadline and seen != 3:
            seen = one(scrape(server.url), "rf_http_requests_in_flight")
            time.sleep(0.05)
        assert seen == 3
    finally:
        for thread in threads:
            thread.join(10)
    assert one(scrape(server.url), "rf_http_requests_in_flight") == 0


def test_metrics_are_not_faulted(serve: Callable[[Flask], LiveServer], metrics_app: Flask) -> None:
    server = serve(metrics_app)
    server.add_fault(type="down")
    assert requests.get(server.url + "/api/items", timeout=5).status_code == 503  # control
    samples = scrape(server.url)
    assert requests_by_route(samples)[("GET", "/api/items", "503")] == 1


def test_openmetrics_when_the_scraper_asks(
    serve: Callable[[Flask], LiveServer], metrics_app: Flask
) -> None:
    server = serve(metrics_app)
    resp = requests.get(
        server.url + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5
    )
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")


def test_admin_guard_off_loopback() -> None:
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 200  # loopback
    assert client.get("/health", environ_base=remote).status_code == 200  # control: not guarded
    refused = client.get("/metrics", environ_base=remote)
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"  # type: ignore[index]
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403

    token_app = create_app({"TESTING": True, "ACCESS_LOG": False, "ADMIN_TOKEN": "s3cret"})
    tc = token_app.test_client()
    missing = tc.get("/metrics", environ_base=remote)
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert tc.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = tc.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200 and b"rf_http_requests_in_flight" in good.data


def _slow_pair(url: str) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=requests.get, args=(url + "/api/items",), kwargs={"timeout": 10})
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("multiprocess", [True, False], ids=["gunicorn_conf", "control_no_conf"])
def test_gunicorn_workers_add_up(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str, multiprocess: bool
) -> None:
    """Three sync workers: two hold a slow request each, the third answers the scrape.

    With the config module (multi-process mode) the scrape adds up every
    worker's counts; the control, without it, sees only the scraping worker's.
    """
    env = {
        "DEMO_STORAGE_URI": redis_server.uri,
        "DEMO_STORAGE_PREFIX": redis_prefix,
        "DEMO_FAULTS": "1",
        "DEMO_DRAIN_TIMEOUT_S": "2",
    }
    served = start_gunicorn_conf(
        tmp_path, env, 3, "--worker-class", "sync", "--timeout", "30", conf=multiprocess
    )
    try:
        fault = {"type": "latency", "ms": 1500, "match": "/api/items", "count": 2}
        assert requests.post(served.url + "/_faults", json=fault, timeout=5).status_code == 201
        threads = _slow_pair(served.url)
        time.sleep(0.5)  # both held by a worker each; a sync worker takes one at a time
        during = scrape(served.url)
        for thread in threads:
            thread.join(10)
        for _ in range(6):
            assert requests.get(served.url + "/health/live", timeout=5).status_code == 200
        samples = scrape(served.url)
    finally:
        stop(served.proc, signal.SIGTERM, timeout=10)
    # The access log says which worker answered each request.
    lines = [json.loads(x) for x in served.output().splitlines() if x.startswith("{")]
    slow_pids = {x["pid"] for x in lines if x["route"] == "/api/items"}
    assert len(slow_pids) == 2, lines
    counts = requests_by_route(samples)
    if multiprocess:
        assert one(during, "rf_http_requests_in_flight") == 2
        assert counts[("GET", "/api/items", "200")] == 2
        assert counts[("POST", "/_faults", "201")] == 1
        assert counts[("GET", "/health/live", "200")] == 6
    else:
        # The scraping worker held neither slow request: it sees none of them.
        assert one(during, "rf_http_requests_in_flight") == 0
        assert ("GET", "/api/items", "200") not in requests_by_route(during)
