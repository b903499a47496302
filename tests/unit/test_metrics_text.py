"""client.metrics_text(): the exact Prometheus 0.0.4 text (the real parser's check is in
tests/cpython/test_metrics_exposition.py, as prometheus_client is not in Pyodide)."""

from __future__ import annotations

import re
from typing import Any

from resilient_fetch import Client, FakeClock, MockTransport, Response
from resilient_fetch.exposition import escape_label, metrics_text
from resilient_fetch.metrics import Metrics

STATE: dict[str, Any] = {
    "lifecycle": {"state": "closing", "inFlight": 2, "abortedAtClose": 0},
    "breakers": {"http://api.test": {"state": "open"}, 'odd "key"\\\n': {"state": "half_open"}},
    "limiter": {
        "http://api.test": {
            **{"kind": "sliding_window", "used": 3, "limit": 100, "window": 60.0},
            **{"resetIn": 1.5, "cooldown": 0.0, "waiting": 0},
        },
        "*/upload*": {
            **{"kind": "token_bucket", "tokens": 2.5, "rate": 1.0, "burst": 5},
            **{"cooldown": 4.25, "waiting": 1},
        },
    },
    "queue": {
        **{"running": 1, "waiting": {"high": 0, "normal": 2, "low": 0}, "waitingTotal": 2},
        **{"completed": 5, "failed": 1, "rejected": 0, "timedOut": 0, "cancelled": 1},
        **{"concurrency": 10, "maxWaiting": 1000},
    },
    "budget": {"balance": 10, "requests": 6, "retries": 1},
    "outbox": {"pending": 2, "dead": 1, "bytes": 420, "leader": True},
    "dedupe": {"inflight": 0, "shared": 3},
    "cache": {
        **{"entries": 1, "bytes": 300, "maxBytes": 10000000, "hits": 4, "misses": 1},
        **{"evictions": 0, "subscribed": 1},
    },
    "revalidation": {"entries": 1, "bytes": 120, "revalidated": 2},
    "network": {"state": "online", "paused": 0, "probes": 0},
}

EXPECTED = [
    '# HELP resilient_fetch_requests_total Calls finished, by outcome.',
    '# TYPE resilient_fetch_requests_total counter',
    'resilient_fetch_requests_total{outcome="CIRCUIT_OPEN"} 2',
    'resilient_fetch_requests_total{outcome="http_5xx"} 1',
    'resilient_fetch_requests_total{outcome="success"} 4',
    '# HELP resilient_fetch_request_duration_seconds Call latency, retries included, by route.',
    '# TYPE resilient_fetch_request_duration_seconds summary',
    'resilient_fetch_request_duration_seconds{method="GET",route="/api/items/:id"'
    ',quantile="0.5"} 0.031034',
    'resilient_fetch_request_duration_seconds{method="GET",route="/api/items/:id"'
    ',quantile="0.95"} 1.0',
    'resilient_fetch_request_duration_seconds{method="GET",route="/api/items/:id"'
    ',quantile="0.99"} 1.0',
    'resilient_fetch_request_duration_seconds_sum{method="GET",route="/api/items/:id"} 1.1',
    'resilient_fetch_request_duration_seconds_count{method="GET",route="/api/items/:id"} 5',
    "# HELP resilient_fetch_client_state 1 for the client's state: open, closing or closed.",
    '# TYPE resilient_fetch_client_state gauge',
    'resilient_fetch_client_state{state="open"} 0',
    'resilient_fetch_client_state{state="closing"} 1',
    'resilient_fetch_client_state{state="closed"} 0',
    '# HELP resilient_fetch_calls_in_flight Calls inside the client now.',
    '# TYPE resilient_fetch_calls_in_flight gauge',
    'resilient_fetch_calls_in_flight 2',
    '# HELP resilient_fetch_calls_aborted_at_close_total Calls aborted at the close timeout.',
    '# TYPE resilient_fetch_calls_aborted_at_close_total counter',
    'resilient_fetch_calls_aborted_at_close_total 0',
    "# HELP resilient_fetch_breaker_state 1 for each breaker's state, per key.",
    '# TYPE resilient_fetch_breaker_state gauge',
    'resilient_fetch_breaker_state{key="http://api.test",state="closed"} 0',
    'resilient_fetch_breaker_state{key="http://api.test",state="open"} 1',
    'resilient_fetch_breaker_state{key="http://api.test",state="half_open"} 0',
    'resilient_fetch_breaker_state{key="http://api.test",state="isolated"} 0',
    'resilient_fetch_breaker_state{key="odd \\"key\\"\\\\\\n",state="closed"} 0',
    'resilient_fetch_breaker_state{key="odd \\"key\\"\\\\\\n",state="open"} 0',
    'resilient_fetch_breaker_state{key="odd \\"key\\"\\\\\\n",state="half_open"} 1',
    'resilient_fetch_breaker_state{key="odd \\"key\\"\\\\\\n",state="isolated"} 0',
    '# HELP resilient_fetch_limiter_used Admissions in the sliding window now, per key.',
    '# TYPE resilient_fetch_limiter_used gauge',
    'resilient_fetch_limiter_used{key="http://api.test"} 3',
    '# HELP resilient_fetch_limiter_limit Admissions a sliding window allows, per key.',
    '# TYPE resilient_fetch_limiter_limit gauge',
    'resilient_fetch_limiter_limit{key="http://api.test"} 100',
    '# HELP resilient_fetch_limiter_tokens Tokens left in a token bucket, per key.',
    '# TYPE resilient_fetch_limiter_tokens gauge',
    'resilient_fetch_limiter_tokens{key="*/upload*"} 2.5',
    "# HELP resilient_fetch_limiter_cooldown_seconds Seconds left of a server's cooldown, per key.",
    '# TYPE resilient_fetch_limiter_cooldown_seconds gauge',
    'resilient_fetch_limiter_cooldown_seconds{key="*/upload*"} 4.25',
    'resilient_fetch_limiter_cooldown_seconds{key="http://api.test"} 0.0',
    '# HELP resilient_fetch_limiter_waiting Calls waiting for an admission, per key.',
    '# TYPE resilient_fetch_limiter_waiting gauge',
    'resilient_fetch_limiter_waiting{key="*/upload*"} 1',
    'resilient_fetch_limiter_waiting{key="http://api.test"} 0',
    '# HELP resilient_fetch_queue_running Calls holding a concurrency slot now.',
    '# TYPE resilient_fetch_queue_running gauge',
    'resilient_fetch_queue_running 1',
    '# HELP resilient_fetch_queue_waiting Calls waiting for a slot now, by priority.',
    '# TYPE resilient_fetch_queue_waiting gauge',
    'resilient_fetch_queue_waiting{priority="high"} 0',
    'resilient_fetch_queue_waiting{priority="normal"} 2',
    'resilient_fetch_queue_waiting{priority="low"} 0',
    '# HELP resilient_fetch_queue_concurrency Slots (queue.concurrency).',
    '# TYPE resilient_fetch_queue_concurrency gauge',
    'resilient_fetch_queue_concurrency 10',
    '# HELP resilient_fetch_queue_max_waiting Waiting room (queue.max_waiting).',
    '# TYPE resilient_fetch_queue_max_waiting gauge',
    'resilient_fetch_queue_max_waiting 1000',
    '# HELP resilient_fetch_queue_calls_total Calls through the queue, by result.',
    '# TYPE resilient_fetch_queue_calls_total counter',
    'resilient_fetch_queue_calls_total{result="completed"} 5',
    'resilient_fetch_queue_calls_total{result="failed"} 1',
    'resilient_fetch_queue_calls_total{result="rejected"} 0',
    'resilient_fetch_queue_calls_total{result="timed_out"} 0',
    'resilient_fetch_queue_calls_total{result="cancelled"} 1',
    '# HELP resilient_fetch_retry_budget_balance Retries the budget allows now.',
    '# TYPE resilient_fetch_retry_budget_balance gauge',
    'resilient_fetch_retry_budget_balance 10',
    "# HELP resilient_fetch_retry_budget_requests Calls counted in the budget's window.",
    '# TYPE resilient_fetch_retry_budget_requests gauge',
    'resilient_fetch_retry_budget_requests 6',
    "# HELP resilient_fetch_retry_budget_retries Retries counted in the budget's window.",
    '# TYPE resilient_fetch_retry_budget_retries gauge',
    'resilient_fetch_retry_budget_retries 1',
    '# HELP resilient_fetch_outbox_entries Stored outbox writes, pending or dead.',
    '# TYPE resilient_fetch_outbox_entries gauge',
    'resilient_fetch_outbox_entries{state="pending"} 2',
    'resilient_fetch_outbox_entries{state="dead"} 1',
    '# HELP resilient_fetch_outbox_bytes Bytes the stored outbox writes take.',
    '# TYPE resilient_fetch_outbox_bytes gauge',
    'resilient_fetch_outbox_bytes 420',
    '# HELP resilient_fetch_outbox_leader 1 when this client replays the outbox.',
    '# TYPE resilient_fetch_outbox_leader gauge',
    'resilient_fetch_outbox_leader 1',
    '# HELP resilient_fetch_dedupe_inflight Shared requests in flight now.',
    '# TYPE resilient_fetch_dedupe_inflight gauge',
    'resilient_fetch_dedupe_inflight 0',
    '# HELP resilient_fetch_dedupe_shared_total Calls answered by sharing a request'
    ' already in flight.',
    '# TYPE resilient_fetch_dedupe_shared_total counter',
    'resilient_fetch_dedupe_shared_total 3',
    '# HELP resilient_fetch_cache_entries Query cache entries.',
    '# TYPE resilient_fetch_cache_entries gauge',
    'resilient_fetch_cache_entries 1',
    '# HELP resilient_fetch_cache_bytes Query cache bytes.',
    '# TYPE resilient_fetch_cache_bytes gauge',
    'resilient_fetch_cache_bytes 300',
    '# HELP resilient_fetch_cache_max_bytes Query cache bound (cache.max_bytes).',
    '# TYPE resilient_fetch_cache_max_bytes gauge',
    'resilient_fetch_cache_max_bytes 10000000',
    '# HELP resilient_fetch_cache_subscribed Query keys with subscribers.',
    '# TYPE resilient_fetch_cache_subscribed gauge',
    'resilient_fetch_cache_subscribed 1',
    '# HELP resilient_fetch_cache_hits_total Query cache hits.',
    '# TYPE resilient_fetch_cache_hits_total counter',
    'resilient_fetch_cache_hits_total 4',
    '# HELP resilient_fetch_cache_misses_total Query cache misses.',
    '# TYPE resilient_fetch_cache_misses_total counter',
    'resilient_fetch_cache_misses_total 1',
    '# HELP resilient_fetch_cache_evictions_total Query cache entries evicted by the bound.',
    '# TYPE resilient_fetch_cache_evictions_total counter',
    'resilient_fetch_cache_evictions_total 0',
    '# HELP resilient_fetch_revalidation_entries Responses kept for revalidation.',
    '# TYPE resilient_fetch_revalidation_entries gauge',
    'resilient_fetch_revalidation_entries 1',
    '# HELP resilient_fetch_revalidation_bytes Bytes of the kept responses.',
    '# TYPE resilient_fetch_revalidation_bytes gauge',
    'resilient_fetch_revalidation_bytes 120',
    '# HELP resilient_fetch_revalidated_total 304 answers served from a kept response.',
    '# TYPE resilient_fetch_revalidated_total counter',
    'resilient_fetch_revalidated_total 2',
    '# HELP resilient_fetch_network_state 1 for the network state: online, offline or unreachable.',
    '# TYPE resilient_fetch_network_state gauge',
    'resilient_fetch_network_state{state="online"} 1',
    'resilient_fetch_network_state{state="offline"} 0',
    'resilient_fetch_network_state{state="unreachable"} 0',
    '# HELP resilient_fetch_network_paused Calls waiting for the network now.',
    '# TYPE resilient_fetch_network_paused gauge',
    'resilient_fetch_network_paused 0',
    '# HELP resilient_fetch_network_probes_total Health probes sent.',
    '# TYPE resilient_fetch_network_probes_total counter',
    'resilient_fetch_network_probes_total 0',
]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')


def sample_metrics() -> Metrics:
    metrics = Metrics()
    for ms in (10, 20, 30, 40, 1000):
        metrics.observe("GET /api/items/:id", ms)
    metrics.count("success", 4)
    metrics.count("http_5xx")
    metrics.count("CIRCUIT_OPEN", 2)
    return metrics


def test_the_exact_text_for_a_known_state() -> None:
    metrics = sample_metrics()
    state = {**STATE, "metrics": {"outcomes": dict(metrics.outcomes)}}
    assert metrics_text(state, metrics) == "\n".join(EXPECTED) + "\n"


def test_label_values_are_escaped_and_names_are_valid() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    metrics = sample_metrics()
    text = metrics_text({**STATE, "metrics": {"outcomes": dict(metrics.outcomes)}}, metrics)
    for line in text.splitlines():
        if line.startswith("#"):
            kind, name = line.split(" ")[1:3]
            assert kind in ("HELP", "TYPE") and _NAME.match(name), line
            continue
        name, _, rest = line.partition("{")
        if rest:
            labels, _, value = rest.rpartition("} ")
            assert _LABEL.sub("", labels).replace(",", "") == "", line
        else:
            name, value = line.split(" ")
        assert _NAME.match(name) and name.startswith("resilient_fetch_"), line
        float(value.replace("+Inf", "inf"))


async def test_a_live_client_exports_its_state_and_bounds_its_routes() -> None:
    transport = MockTransport(lambda r: Response(503 if "down" in r.url else 200))
    client = Client(
        "http://api.test/",
        transport=transport,
        clock=FakeClock(),
        retry={"max_retries": 0},
        limiter=False,  # 206 calls at one fake instant: the default limit would wait
    )
    for i in range(205):
        await client.get(f"r{i}/1")
    await client.get("down")
    text = client.metrics_text()
    assert 'resilient_fetch_requests_total{outcome="success"} 205' in text
    assert 'resilient_fetch_requests_total{outcome="http_5xx"} 1' in text
    assert 'resilient_fetch_client_state{state="open"} 1' in text
    assert 'resilient_fetch_breaker_state{key="http://api.test",state="closed"} 1' in text
    assert 'resilient_fetch_queue_calls_total{result="failed"} 1' in text
    counts = [line for line in text.splitlines() if "_seconds_count{" in line]
    assert len(counts) == 200  # the metrics keep 200 routes, least recently used out
    assert 'route="/down"' in text and 'route="/r0/:id"' not in text
    assert "outbox" not in text  # no outbox built: no family
