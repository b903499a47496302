"""``client.metrics_text()``: ``state()`` in the Prometheus text exposition format 0.0.4.

A page (or a process) ships this text to its own backend, which re-exposes or
stores it. Every family is named ``resilient_fetch_*``; a family with no
sample (a stage that is off, no breaker made yet) is left out. Label values
are escaped (backslash, double quote, line feed); the label sets are bounded:
``route`` by the metrics' 200 routes (least recently used out), ``key`` by
``breaker.max_keys`` and ``limiter.max_keys``, the rest by fixed lists.

Latency is a summary per route: the p50/p95/p99 of the log-bucketed
histograms (about 4 % relative error) in seconds, with ``_sum`` and
``_count``. Counters count from the client's start; gauges are as of now.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .metrics import Metrics

PREFIX = "resilient_fetch_"
QUANTILES = (("0.5", 50.0), ("0.95", 95.0), ("0.99", 99.0))
BREAKER_STATES = ("closed", "open", "half_open", "isolated")
NETWORK_STATES = ("online", "offline", "unreachable")
LIFECYCLE_STATES = ("open", "closing", "closed")
QUEUE_RESULTS = (
    ("completed", "completed"),
    ("failed", "failed"),
    ("rejected", "rejected"),
    ("timed_out", "timedOut"),
    ("cancelled", "cancelled"),
)

Labels = Mapping[str, str]
Sample = tuple[str, Labels, float | int | None]


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Text:
    """Collects families; each is written once, HELP and TYPE first."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
        rows = [s for s in samples if s[2] is not None]
        if not rows:
            return
        full = PREFIX + name
        self.lines.append(f"# HELP {full} {_escape_help(help)}")
        self.lines.append(f"# TYPE {full} {kind}")
        for suffix, labels, value in rows:
            assert value is not None
            label_text = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in labels.items())
            braces = f"{{{label_text}}}" if label_text else ""
            self.lines.append(f"{full}{suffix}{braces} {_number(value)}")

    def gauge(self, name: str, help: str, value: float | int | None) -> None:
        self.family(name, "gauge", help, [("", {}, value)])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def metrics_text(state: Mapping[str, Any], metrics: Metrics) -> str:
    """The Prometheus text for a ``client.state()`` snapshot and its latency histograms."""
    out = _Text()
    outcomes = state.get("metrics", {}).get("outcomes", {})
    out.family(
        "requests_total",
        "counter",
        "Calls finished, by outcome.",
        [("", {"outcome": k}, v) for k, v in sorted(outcomes.items())],
    )
    _latency(out, metrics)
    life = state.get("lifecycle")
    if life is not None:
        out.family(
            "client_state",
            "gauge",
            "1 for the client's state: open, closing or closed.",
            [("", {"state": s}, int(life["state"] == s)) for s in LIFECYCLE_STATES],
        )
        out.gauge("calls_in_flight", "Calls inside the client now.", life["inFlight"])
        out.family(
            "calls_aborted_at_close_total",
            "counter",
            "Calls aborted at the close timeout.",
            [("", {}, life["abortedAtClose"])],
        )
    breakers = state.get("breakers") or {}
    out.family(
        "breaker_state",
        "gauge",
        "1 for each breaker's state, per key.",
        [
            ("", {"key": key, "state": s}, int(b["state"] == s))
            for key, b in sorted(breakers.items())
            for s in BREAKER_STATES
        ],
    )
    _limiter(out, state.get("limiter") or {})
    _queue(out, state.get("queue"))
    budget = state.get("budget")
    if budget is not None:
        out.gauge("retry_budget_balance", "Retries the budget allows now.", budget["balance"])
        out.gauge(
            "retry_budget_requests", "Calls counted in the budget's window.", budget["requests"]
        )
        out.gauge(
            "retry_budget_retries", "Retries counted in the budget's window.", budget["retries"]
        )
    _stores(out, state)
    network = state.get("network")
    if network is not None:
        out.family(
            "network_state",
            "gauge",
            "1 for the network state: online, offline or unreachable.",
            [("", {"state": s}, int(network["state"] == s)) for s in NETWORK_STATES],
        )
        out.gauge("network_paused", "Calls waiting for the network now.", network["paused"])
        out.family(
            "network_probes_total", "counter", "Health probes sent.", [("", {}, network["probes"])]
        )
    return out.text()


def _latency(out: _Text, metrics: Metrics) -> None:
    samples: list[Sample] = []
    for route, hist in list(metrics.routes.items()):
        method, _, path = route.partition(" ")
        labels = {"method": method, "route": path}
        for quantile, q in QUANTILES:
            value = hist.percentile(q)
            samples.append(("", {**labels, "quantile": quantile}, _seconds(value)))
        samples.append(("_sum", labels, round(hist.total / 1000, 6)))
        samples.append(("_count", labels, hist.count))
    out.family(
        "request_duration_seconds",
        "summary",
        "Call latency, retries included, by route.",
        samples,
    )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 6)


def _limiter(out: _Text, keys: Mapping[str, Any]) -> None:
    rows = sorted(keys.items())
    out.family(
        "limiter_used",
        "gauge",
        "Admissions in the sliding window now, per key.",
        [("", {"key": k}, v.get("used")) for k, v in rows],
    )
    out.family(
        "limiter_limit",
        "gauge",
        "Admissions a sliding window allows, per key.",
        [("", {"key": k}, v.get("limit")) for k, v in rows],
    )
    out.family(
        "limiter_tokens",
        "gauge",
        "Tokens left in a token bucket, per key.",
        [("", {"key": k}, v.get("tokens")) for k, v in rows],
    )
    out.family(
        "limiter_cooldown_seconds",
        "gauge",
        "Seconds left of a server's cooldown, per key.",
        [("", {"key": k}, v.get("cooldown")) for k, v in rows],
    )
    out.family(
        "limiter_waiting",
        "gauge",
        "Calls waiting for an admission, per key.",
        [("", {"key": k}, v.get("waiting")) for k, v in rows],
    )


def _queue(out: _Text, queue: Mapping[str, Any] | None) -> None:
    if queue is None:
        return
    out.gauge("queue_running", "Calls holding a concurrency slot now.", queue["running"])
    out.family(
        "queue_waiting",
        "gauge",
        "Calls waiting for a slot now, by priority.",
        [("", {"priority": p}, n) for p, n in queue["waiting"].items()],
    )
    out.gauge("queue_concurrency", "Slots (queue.concurrency).", queue["concurrency"])
    out.gauge("queue_max_waiting", "Waiting room (queue.max_waiting).", queue["maxWaiting"])
    out.family(
        "queue_calls_total",
        "counter",
        "Calls through the queue, by result.",
        [("", {"result": name}, queue[field]) for name, field in QUEUE_RESULTS],
    )


def _stores(out: _Text, state: Mapping[str, Any]) -> None:
    outbox = state.get("outbox")
    if outbox is not None:
        out.family(
            "outbox_entries",
            "gauge",
            "Stored outbox writes, pending or dead.",
            [("", {"state": s}, outbox[s]) for s in ("pending", "dead")],
        )
        out.gauge("outbox_bytes", "Bytes the stored outbox writes take.", outbox["bytes"])
        out.gauge("outbox_leader", "1 when this client replays the outbox.", outbox["leader"])
    dedupe = state.get("dedupe")
    if dedupe is not None:
        out.gauge("dedupe_inflight", "Shared requests in flight now.", dedupe["inflight"])
        out.family(
            "dedupe_shared_total",
            "counter",
            "Calls answered by sharing a request already in flight.",
            [("", {}, dedupe["shared"])],
        )
    cache = state.get("cache")
    if cache is not None:
        out.gauge("cache_entries", "Query cache entries.", cache["entries"])
        out.gauge("cache_bytes", "Query cache bytes.", cache["bytes"])
        out.gauge("cache_max_bytes", "Query cache bound (cache.max_bytes).", cache["maxBytes"])
        out.gauge("cache_subscribed", "Query keys with subscribers.", cache["subscribed"])
        for name, field, help in (
            ("cache_hits_total", "hits", "Query cache hits."),
            ("cache_misses_total", "misses", "Query cache misses."),
            ("cache_evictions_total", "evictions", "Query cache entries evicted by the bound."),
        ):
            out.family(name, "counter", help, [("", {}, cache[field])])
    revalidation = state.get("revalidation")
    if revalidation is not None:
        out.gauge(
            "revalidation_entries", "Responses kept for revalidation.", revalidation["entries"]
        )
        out.gauge("revalidation_bytes", "Bytes of the kept responses.", revalidation["bytes"])
        out.family(
            "revalidated_total",
            "counter",
            "304 answers served from a kept response.",
            [("", {}, revalidation["revalidated"])],
        )
