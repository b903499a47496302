"""CPython overhead: the pipeline around a null transport vs a stack of Python peers.

A null transport answers every request with one canned ``Response`` at once, so
what is timed is the resilience machinery alone. Contenders, each called in a
tight sequential loop on one running event loop:

* ``floor``: ``await transport.handle(request)``, the null transport itself;
* ``ours_send``: ``await client.send(request)``, the full default pipeline
  (breaker, limiter, queue, retry + budget, attempt and total timeouts, metrics)
  on an already built request;
* ``ours_get``: ``await client.get(url)``, the public API (builds the request too);
* ``peers``: tenacity retry + pybreaker breaker + aiolimiter limiter +
  ``asyncio.Semaphore`` + ``asyncio.timeout`` for the attempt and the total,
  set up like our defaults;
* ablations of ``ours_send`` (timeouts off, limiter off, breaker off, all three
  off) that show where the time goes.

Each sample is the mean over a batch of calls; batches of all contenders are
interleaved (A B C ... then the reverse order) so machine drift hits all alike.
A cProfile run of ``client.get`` names the top costs.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiolimiter
import pybreaker
import tenacity

from resilient_fetch import Client, Headers, Request, Response

from .common import log, machine_info, ratio, summary

URL = "http://127.0.0.1:8000/api/items"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The default client-side limit is 100 requests per 60 s per origin: a benchmark
# would only measure sleeping. A huge sliding window keeps the limiter on the
# hot path (every call takes an admission) without ever making anyone wait.
GENEROUS_LIMITER = {"limit": 1_000_000_000, "window": 1.0}

Call = Callable[[], Awaitable[Any]]


class NullTransport:
    """A Transport whose ``handle`` returns one canned Response at once."""

    def __init__(self) -> None:
        self.response = Response(
            status=200,
            headers=Headers({"Content-Type": "application/json", "Content-Length": "12"}),
            content=b'{"items":[]}',
            url=URL,
        )

    async def handle(self, request: Request) -> Response:
        """The canned response."""
        return self.response

    async def close(self) -> None:
        """Nothing to release."""


class ServerError(Exception):
    """A 5xx response, raised inside the breaker so that pybreaker counts it."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def make_peer_stack(transport: NullTransport) -> Call:
    """tenacity + pybreaker + aiolimiter + Semaphore + asyncio.timeout, like our defaults."""
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    limiter = aiolimiter.AsyncLimiter(GENEROUS_LIMITER["limit"], GENEROUS_LIMITER["window"])
    slots = asyncio.Semaphore(10)
    request = Request("GET", URL)

    def retry_result(resp: Response) -> bool:
        return resp.status in RETRY_STATUSES

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(4),  # 1 try + 3 retries
        wait=tenacity.wait_random_exponential(multiplier=1, max=30),
        retry=tenacity.retry_if_exception_type((OSError, asyncio.TimeoutError, ServerError))
        | tenacity.retry_if_result(retry_result),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )
    async def attempt() -> Response:
        # pybreaker's own async support needs tornado; `calling()` is its
        # documented context manager and works around an await.
        with breaker.calling():
            async with limiter, slots, asyncio.timeout(30):
                resp = await transport.handle(request)
            if resp.status >= 500:
                raise ServerError(resp)
        return resp

    async def call() -> Response:
        async with asyncio.timeout(120):
            try:
                return await attempt()
            except ServerError as exc:  # retries spent: hand back the 5xx, as fetch (and we) do
                return exc.response

    return call


def make_contenders() -> tuple[dict[str, tuple[str, Call]], Client]:
    """name -> (label, zero-argument coroutine function), plus the default-pipeline client."""
    transport = NullTransport()
    request = Request("GET", URL)

    def client(**overrides: Any) -> Client:
        options: dict[str, Any] = {"limiter": GENEROUS_LIMITER, **overrides}
        return Client("http://127.0.0.1:8000/", transport=transport, **options)

    main = client()
    no_timeouts = client(timeout={"attempt": None, "total": None})
    no_limiter = client(limiter=False)
    no_breaker = client(breaker=False)
    bare = client(limiter=False, breaker=False, timeout={"attempt": None, "total": None})
    contenders: dict[str, tuple[str, Call]] = {
        "floor": ("null transport alone (floor)", lambda: transport.handle(request)),
        "ours_send": ("ours: client.send(), default pipeline", lambda: main.send(request)),
        "ours_get": ("ours: client.get(url), public API", lambda: main.get("api/items")),
        "peers": (
            "peers: tenacity + pybreaker + aiolimiter + Semaphore + asyncio.timeout",
            make_peer_stack(transport),
        ),
        "ours_no_timeouts": (
            "ours: send(), attempt/total timeouts off",
            lambda: no_timeouts.send(request),
        ),
        "ours_no_limiter": ("ours: send(), limiter off", lambda: no_limiter.send(request)),
        "ours_no_breaker": ("ours: send(), breaker off", lambda: no_breaker.send(request)),
        "ours_bare": (
            "ours: send(), limiter + breaker + timeouts off",
            lambda: bare.send(request),
        ),
    }
    return contenders, main


async def _batch(call: Call, n: int) -> float:
    """Microseconds per call, averaged over ``n`` sequential calls."""
    started = time.perf_counter_ns()
    for _ in range(n):
        await call()
    return (time.perf_counter_ns() - started) / n / 1000.0


async def _measure(rounds: int, batch: int, warmup: int) -> dict[str, list[float]]:
    contenders, _ = make_contenders()
    for _, call in contenders.values():
        await _batch(call, warmup)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        gc.collect()
        # Alternate the order so no contender always runs first (or right after GC).
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(await _batch(contenders[name][1], batch))
    return samples


async def _profile_target(n: int) -> None:
    _, client = make_contenders()
    for _ in range(200):
        await client.get("api/items")
    cached: Any = urlsplit  # an lru_cache wrapper; typeshed only knows the overloads
    before = cached.cache_info()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        await client.get("api/items")
    profiler.disable()
    after = cached.cache_info()
    _PROFILE.append(profiler)
    # urlsplit is an lru_cache wrapper (C): cProfile sees only its misses, so count here.
    _URLSPLITS.append((after.hits + after.misses - before.hits - before.misses) / n)


_PROFILE: list[cProfile.Profile] = []
_URLSPLITS: list[float] = []
_COUNTED = {"urljoin", "create_task", "_run_once", "call_soon", "call_later"}
_CUMULATIVE = {
    "request",
    "build_request",
    "build",
    "send",
    "_with_retries",
    "_attempt",
    "run_with_timeout",
    "acquire",
    "observe",
    "route_of",
}


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    path = Path(filename)
    if "resilient_fetch" in path.parts:
        idx = path.parts.index("resilient_fetch")
        return f"{'/'.join(path.parts[idx:])}:{line} {name}"
    if filename == "~":
        return name  # a builtin such as <built-in method time.monotonic>
    return f"{path.parent.name}/{path.name}:{line} {name}"


def _area(func: tuple[str, int, str]) -> str:
    filename = func[0]
    if "resilient_fetch" in filename:
        part = filename.split("resilient_fetch", 1)[1].strip("/")
        return "resilient_fetch/" + part
    if "asyncio" in filename:
        return "asyncio (stdlib)"
    if filename == "~":
        return "builtins"
    return Path(filename).name


def profile(n: int) -> dict[str, Any]:
    """cProfile ``client.get`` on the null transport: top own-time functions and areas."""
    _PROFILE.clear()
    _URLSPLITS.clear()
    asyncio.run(_profile_target(n))
    stats = pstats.Stats(_PROFILE[0])
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)
    top = [
        {
            "function": _where(func),
            "calls_per_request": round(entry[1] / n, 2),
            "own_us_per_request": round(entry[2] / n * 1e6, 3),
            "own_share": round(entry[2] / total, 4),
            "cumulative_us_per_request": round(entry[3] / n * 1e6, 3),
        }
        for func, entry in rows[:15]
    ]
    areas: dict[str, float] = {}
    for func, entry in raw.items():
        areas[_area(func)] = areas.get(_area(func), 0.0) + entry[2]
    by_area = [
        {
            "area": name,
            "own_share": round(t / total, 4),
            "own_us_per_request": round(t / n * 1e6, 3),
        }
        for name, t in sorted(areas.items(), key=lambda kv: kv[1], reverse=True)[:10]
    ]
    cumulative = {
        _where(func): round(entry[3] / n * 1e6, 3)
        for func, entry in raw.items()
        if func[2] in _CUMULATIVE and "resilient_fetch" in func[0]
    }
    calls = sum(entry[1] for entry in raw.values())
    selected: dict[str, float] = {}
    for func, entry in raw.items():
        if func[2] in _COUNTED:
            selected[func[2]] = selected.get(func[2], 0.0) + round(entry[1] / n, 2)
    selected["urlsplit"] = round(_URLSPLITS[0], 2)
    return {
        "requests": n,
        "function_calls_per_request": round(calls / n, 1),
        "profiled_us_per_request": round(total / n * 1e6, 2),
        "top_own_time": top,
        "own_time_by_area": by_area,
        "cumulative_us_per_request": cumulative,
        "calls_per_request": selected,
        "note": "cProfile inflates every call roughly evenly; read shares, not absolute times",
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure every contender and profile our pipeline; returns the result document."""
    rounds, batch, warmup, profiled = (8, 200, 200, 2000) if quick else (30, 500, 1000, 10000)
    log(f"cpython_overhead: {rounds} rounds x {batch} calls per contender")
    samples = asyncio.run(_measure(rounds, batch, warmup))
    labels = {name: label for name, (label, _) in make_contenders()[0].items()}
    contenders: dict[str, dict[str, Any]] = {
        name: {"label": labels[name], "unit": "us/call", "summary": summary(values, 3)}
        for name, values in samples.items()
    }
    med = {name: float(c["summary"]["median"]) for name, c in contenders.items()}
    # Per-round ratios (same round, back to back) are steadier than ratios of medians.
    per_round = {
        "ours_send/peers": [
            a / b for a, b in zip(samples["ours_send"], samples["peers"], strict=True)
        ],
        "ours_get/peers": [
            a / b for a, b in zip(samples["ours_get"], samples["peers"], strict=True)
        ],
        "peers/floor": [a / b for a, b in zip(samples["peers"], samples["floor"], strict=True)],
        "ours_send/floor": [
            a / b for a, b in zip(samples["ours_send"], samples["floor"], strict=True)
        ],
    }
    log("cpython_overhead: profiling client.get with cProfile")
    prof = profile(profiled)
    return {
        "benchmark": "cpython_overhead",
        "title": "CPython overhead: pipeline on a null transport vs Python peers",
        "quick": quick,
        "machine": machine_info(),
        "config": {
            "rounds": rounds,
            "calls_per_batch": batch,
            "warmup_calls": warmup,
            "sample": "mean microseconds per call over one batch",
            "order": "all contenders each round, order reversed every other round",
            "ours": "Client() defaults, limiter "
            f"{GENEROUS_LIMITER} (default 100/60s would only measure sleeping)",
            "peers": "tenacity.retry(stop_after_attempt(4), wait_random_exponential(max=30), "
            "retry on OSError/TimeoutError/5xx/408/429) > pybreaker.CircuitBreaker(fail_max=5, "
            "reset_timeout=60).calling() > aiolimiter.AsyncLimiter(1e9, 1) > Semaphore(10) "
            "> asyncio.timeout(30), all inside asyncio.timeout(120)",
        },
        "contenders": contenders,
        "ratios": {
            "ours_send_vs_peers": ratio(med["ours_send"], med["peers"]),
            "ours_get_vs_peers": ratio(med["ours_get"], med["peers"]),
            "ours_send_vs_floor": ratio(med["ours_send"], med["floor"]),
            "peers_vs_floor": ratio(med["peers"], med["floor"]),
            "per_round_median": {k: round(sorted(v)[len(v) // 2], 3) for k, v in per_round.items()},
        },
        "overhead_us": {
            "ours_send": round(med["ours_send"] - med["floor"], 3),
            "ours_get": round(med["ours_get"] - med["floor"], 3),
            "peers": round(med["peers"] - med["floor"], 3),
        },
        "ablation_us_saved": {
            "timeouts": round(med["ours_send"] - med["ours_no_timeouts"], 3),
            "limiter": round(med["ours_send"] - med["ours_no_limiter"], 3),
            "breaker": round(med["ours_send"] - med["ours_no_breaker"], 3),
            "all_three": round(med["ours_send"] - med["ours_bare"], 3),
        },
        "profile": prof,
    }
