"""The event emitter and the bounded-memory metrics."""

from __future__ import annotations

import json
import random

import pytest

from resilient_fetch import ConfigError
from resilient_fetch._events import EventEmitter
from resilient_fetch.metrics import Histogram, Metrics, route_of


def test_on_returns_unsubscribe_and_wildcard_gets_tagged_payloads() -> None:
    events = EventEmitter()
    seen: list[dict[str, object]] = []
    every: list[dict[str, object]] = []
    off = events.on("retry", seen.append)
    events.on("*", every.append)
    assert events.listening("retry") and events.listening("queue")
    events.emit("retry", {"attempt": 1})
    off()
    off()  # twice is harmless
    events.emit("retry", {"attempt": 2})
    assert seen == [{"attempt": 1}]
    assert every == [{"event": "retry", "attempt": 1}, {"event": "retry", "attempt": 2}]


def test_unknown_event_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="event"):
        EventEmitter().on("retried", lambda p: None)


def test_a_failing_listener_does_not_break_emit() -> None:
    events = EventEmitter()
    seen: list[object] = []

    def boom(payload: object) -> None:
        raise RuntimeError("listener bug")

    events.on("queue", boom)
    events.on("queue", seen.append)
    events.emit("queue", {"action": "enqueue"})
    assert seen == [{"action": "enqueue"}]


def test_route_folds_ids_and_drops_query() -> None:
    assert route_of("GET", "http://h:1/api/items/42?x=1") == "GET /api/items/:id"
    assert route_of("PUT", "http://h/api/items/3f2a9c1e-1111-2222-3333-444455556666") == (
        "PUT /api/items/:id"
    )
    assert route_of("GET", "http://h") == "GET /"


def test_histogram_percentiles_are_close_to_exact() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(3, 1) for _ in range(5000)]
    hist = Histogram()
    for s in samples:
        hist.record(s)
    ordered = sorted(samples)
    for q in (50, 95, 99):
        exact = ordered[int(q / 100 * len(ordered)) - 1]
        got = hist.percentile(q)
        assert got is not None and abs(got - exact) / exact < 0.05, (q, got, exact)
    assert len(hist.buckets) < 400  # bounded whatever the sample count
    assert Histogram().percentile(50) is None


def test_metrics_memory_is_bounded_in_routes() -> None:
    metrics = Metrics(max_routes=3)
    for i in range(10):
        metrics.observe(f"GET /r{i}", 1.0)
    metrics.count("success", 2)
    snap = metrics.snapshot()
    assert list(snap["latency"]) == ["GET /r7", "GET /r8", "GET /r9"]
    assert snap["outcomes"] == {"success": 2}
    json.dumps(snap, allow_nan=False)
