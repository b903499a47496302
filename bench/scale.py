"""Scale: how the cost per operation grows with the size of what a policy tracks.

* queue: one enqueue + dequeue with 10 vs 10,000 requests waiting
  (``bench/queue_scale.py``'s ``measure``; heap-based, so it should stay flat);
* limiter: one ``RateLimiter.acquire`` (an admission that never waits) when the
  limiter tracks 1 vs 1,000 keys (origins), for both counter kinds;
* breaker: the breaker step of one attempt (``client.breaker(url)``: URL ->
  origin key -> registry, then ``acquire`` and ``success``) with 1 vs 1,000
  breakers (origins).

Every key needs a URL of its own, and CPython's ``urlsplit`` keeps an LRU
cache of 128 results: 1,000 URLs in rotation miss it on every call. The
control cases "1 key, 1,000 URLs" (same origin, different paths) and the bare
``urlsplit`` hit vs miss tell that cost apart from the cost of more keys.

There is no query cache yet, so nothing is measured for it (the issue asks for
cache hit cost and memory at 100,000 entries once the cache exists).

Each sample is the mean over a batch; the cases alternate, order reversed
every other round.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from resilient_fetch import Client
from resilient_fetch.policies.limiter import RateLimiter, Rule

from . import queue_scale
from .common import log, machine_info, ratio, summary
from .cpython_overhead import NullTransport

QUEUE_SIZES = (10, 10_000)
N = 1000  # the "large" number of keys / URLs


def _urls(variant: str) -> list[str]:
    """'1': one URL; 'urls': N paths on one origin; 'keys': N origins."""
    if variant == "1":
        return ["http://h0.bench.test/api/items"]
    if variant == "urls":
        return [f"http://h0.bench.test/api/items/{i}" for i in range(N)]
    return [f"http://h{i}.bench.test/api/items" for i in range(N)]


def _limiter_batch(kind: str, variant: str, ops: int) -> Callable[[], float]:
    if kind == "token_bucket":
        rule = Rule(kind=kind, rate=1e12, burst=10**12)
    else:
        rule = Rule(kind=kind, limit=10**9, window=1.0)
    limiter = RateLimiter(default=rule)
    urls = _urls(variant)

    async def batch() -> float:
        acquire = limiter.acquire
        for url in urls:  # create every key first: steady state, not first-use cost
            await acquire(url)
        n = len(urls)
        started = time.perf_counter_ns()
        for i in range(ops):
            await acquire(urls[i % n])
        return (time.perf_counter_ns() - started) / ops

    return lambda: asyncio.run(batch())


def _breaker_batch(variant: str, ops: int) -> Callable[[], float]:
    client = Client(transport=NullTransport())
    breaker_for = client.breaker  # public: URL -> key (origin) -> registry, created on first use
    urls = _urls(variant)
    for url in urls:
        breaker_for(url)
    n = len(urls)

    def batch() -> float:
        started = time.perf_counter_ns()
        for i in range(ops):
            permit = breaker_for(urls[i % n]).acquire()
            permit.success(0.001)
        return (time.perf_counter_ns() - started) / ops

    return batch


def _urlsplit_batch(variant: str, ops: int) -> Callable[[], float]:
    urls = _urls(variant)
    n = len(urls)

    def batch() -> float:
        started = time.perf_counter_ns()
        for i in range(ops):
            urlsplit(urls[i % n])
        return (time.perf_counter_ns() - started) / ops

    return batch


CASES: dict[str, tuple[str, Callable[[int], Callable[[], float]]]] = {
    "limiter_sw_1": (
        "limiter (sliding window) acquire: 1 key, 1 URL",
        lambda ops: _limiter_batch("sliding_window", "1", ops),
    ),
    "limiter_sw_urls": (
        f"limiter (sliding window) acquire: 1 key, {N:,} URLs",
        lambda ops: _limiter_batch("sliding_window", "urls", ops),
    ),
    "limiter_sw_keys": (
        f"limiter (sliding window) acquire: {N:,} keys",
        lambda ops: _limiter_batch("sliding_window", "keys", ops),
    ),
    "limiter_tb_1": (
        "limiter (token bucket) acquire: 1 key, 1 URL",
        lambda ops: _limiter_batch("token_bucket", "1", ops),
    ),
    "limiter_tb_keys": (
        f"limiter (token bucket) acquire: {N:,} keys",
        lambda ops: _limiter_batch("token_bucket", "keys", ops),
    ),
    "breaker_1": ("breaker step: 1 breaker, 1 URL", lambda ops: _breaker_batch("1", ops)),
    "breaker_urls": (
        f"breaker step: 1 breaker, {N:,} URLs",
        lambda ops: _breaker_batch("urls", ops),
    ),
    "breaker_keys": (f"breaker step: {N:,} breakers", lambda ops: _breaker_batch("keys", ops)),
    "urlsplit_hit": ("urllib urlsplit, cache hit (1 URL)", lambda ops: _urlsplit_batch("1", ops)),
    "urlsplit_miss": (
        f"urllib urlsplit, cache miss ({N:,} URLs in rotation)",
        lambda ops: _urlsplit_batch("urls", ops),
    ),
}


def _alternate(cases: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for name in names:
        cases[name]()  # warm-up
    for r in range(reps):
        gc.collect()
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(cases[name]())
    return samples


def run(*, quick: bool = False) -> dict[str, Any]:
    """Queue, limiter and breaker cost per operation at a small and a large size."""
    reps, ops, queue_reps, queue_ops = (5, 2000, 1, 1000) if quick else (15, 5000, 3, 3000)

    log(f"scale: queue with {QUEUE_SIZES} waiting, {queue_reps} alternating run(s)")
    queue_scale.measure(10, 300)  # warm up
    queue_runs: dict[int, list[dict[str, Any]]] = {n: [] for n in QUEUE_SIZES}
    for r in range(queue_reps):
        for n in QUEUE_SIZES if r % 2 == 0 else reversed(QUEUE_SIZES):
            queue_runs[n].append(queue_scale.measure(n, queue_ops))

    log(f"scale: limiter, breaker, urlsplit: {reps} alternating batches of {ops}")
    samples = _alternate({name: make(ops) for name, (_, make) in CASES.items()}, reps)

    contenders: dict[str, Any] = {}
    for n in QUEUE_SIZES:
        runs = queue_runs[n]
        contenders[f"queue_{n}"] = {
            "label": f"queue: enqueue + dequeue, {n:,} waiting",
            "unit": "ns/op (best round of each run)",
            "summary": summary([x["ns_per_op"] for x in runs], 1),
            "release_ns_per_op": summary([x["release_ns_per_op"] for x in runs], 1),
            "runs": runs,
        }
    for name, values in samples.items():
        contenders[name] = {"label": CASES[name][0], "unit": "ns/op", "summary": summary(values, 1)}

    def grow(small: str, large: str) -> float | None:
        return ratio(contenders[large]["summary"]["median"], contenders[small]["summary"]["median"])

    ratios = {
        "queue_10000_vs_10": grow("queue_10", "queue_10000"),
        "queue_release_10000_vs_10": ratio(
            contenders["queue_10000"]["release_ns_per_op"]["median"],
            contenders["queue_10"]["release_ns_per_op"]["median"],
        ),
        "limiter_sw_keys_vs_1": grow("limiter_sw_1", "limiter_sw_keys"),
        "limiter_sw_urls_vs_1": grow("limiter_sw_1", "limiter_sw_urls"),
        "limiter_sw_keys_vs_urls": grow("limiter_sw_urls", "limiter_sw_keys"),
        "limiter_tb_keys_vs_1": grow("limiter_tb_1", "limiter_tb_keys"),
        "breaker_keys_vs_1": grow("breaker_1", "breaker_keys"),
        "breaker_urls_vs_1": grow("breaker_1", "breaker_urls"),
        "breaker_keys_vs_urls": grow("breaker_urls", "breaker_keys"),
        "urlsplit_miss_vs_hit": grow("urlsplit_hit", "urlsplit_miss"),
        "urlsplit_miss_minus_hit_ns": round(
            contenders["urlsplit_miss"]["summary"]["median"]
            - contenders["urlsplit_hit"]["summary"]["median"],
            1,
        ),
    }
    return {
        "benchmark": "scale",
        "title": "Scale: queue, limiter and breaker cost as they grow",
        "quick": quick,
        "machine": machine_info(),
        "config": {
            "queue": f"bench/queue_scale.py measure(n, ops={queue_ops}), {queue_reps} run(s) per "
            "size alternating; each run reports its fastest of 7 rounds",
            "limiter": f"{reps} alternating batches of {ops} acquires spread round-robin over "
            "the URLs (every key created before timing); limits high enough never to wait",
            "breaker": f"{reps} alternating batches of {ops}: client.breaker(url) (URL -> "
            "origin key -> registry lookup), acquire(), permit.success()",
            "urls": f"'1 URL': one URL; '{N:,} URLs': {N:,} paths on one origin (one key); "
            f"'{N:,} keys': {N:,} origins",
            "cache": "not measured: the client has no query cache yet",
        },
        "contenders": contenders,
        "ratios": ratios,
    }
