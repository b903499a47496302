"""Browser benchmarks in Debian's Chromium via Playwright: overhead over raw fetch, start-up.

The built ``dist/`` is copied into a temporary site together with the bench
pages (``bench/web/``) and the peers' ES modules from ``node_modules``
(``cockatiel`` and ``p-queue`` ship plain ESM with relative imports only, so
they load in the browser as they are, no bundler). The demo backend serves that
site and ``/api/items`` from its own process on 127.0.0.1.

Overhead: the same ``GET /api/items`` (body read in full) through

* ``raw``: ``fetch`` itself, the physical limit;
* ``ours``: ``client.fetch`` from ``createClient()`` with the default pipeline
  (breaker, queue, retries + budget, attempt and total timeouts all on) and the
  limiter widened to 1,000,000 per second, because the default 100 per 60 s
  per origin would turn the benchmark into a measurement of waiting;
* ``peer``: cockatiel (total timeout > retry > circuit breaker > bulkhead) around
  p-queue (concurrency 10, rate limit 1,000,000 per second) around a cockatiel
  attempt timeout, with the same numbers as our defaults.

1,000 requests per contender sequentially and 1,000 at concurrency 10, in
rounds of 200 that alternate the contenders (rotating who goes first) after a
warm-up. Two in-page probes split our cost: the real shim with a null Python
transport (``shim_null``: JS <-> Python crossing + pipeline, no network) and
the Python pipeline alone inside Pyodide (``py_pipeline``).

Start-up: a page that awaits ``createClient()`` as built (from the memory
snapshot), ``createClient()`` with the snapshot refused (plain boot: the
before/after of the snapshot in one run), or a bare ``loadPyodide()``; each in
a fresh browser context whose first navigation is the cold-cache sample and a
second navigation the warm-cache one (a persistent profile: an incognito context's
memory cache does not keep the large files). Time from navigation start to resolved,
and the main-thread long tasks (PerformanceObserver ``longtask``, buffered)
until then.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .common import ROOT, log, machine_info, percentile, ratio, summary
from .server import BackendProcess

DIST = ROOT / "dist"
WEB = ROOT / "bench" / "web"
VENDOR = {"cockatiel": "cockatiel/dist", "p-queue": "p-queue/dist"}
READY_TIMEOUT_MS = 90_000

# What createClient() gets: defaults everywhere except the limiter (see module doc),
# and no response cache or in-flight dedupe, which the peer does not have: with
# them, sequential GETs of one URL become 304 revalidations answered from kept
# bytes and concurrent ones collapse into one request, so the comparison would
# measure fewer requests rather than the cost of each.
CLIENT_OPTIONS: dict[str, Any] = {
    "limiter": {"limit": 1_000_000, "window": 1},
    "cache": False,
    "dedupe": False,
}
# The same for the Python-only probe (snake_case: it is built in Python).
PY_CLIENT_OPTIONS: dict[str, Any] = dict(CLIENT_OPTIONS)
# The peer, with our defaults' numbers (RetryConfig, BreakerConfig, QueueConfig, TimeoutConfig).
PEER_SETTINGS: dict[str, Any] = {
    "concurrency": 10,
    "maxWaiting": 1000,
    "rateLimit": 1_000_000,
    "rateWindowMs": 1000,
    "maxRetries": 3,
    "baseDelayMs": 1000,
    "maxDelayMs": 30_000,
    "failureThreshold": 5,
    "openForMs": 60_000,
    "attemptTimeoutMs": 30_000,
    "totalTimeoutMs": 120_000,
}
CONTENDERS = ("raw", "ours", "peer")
# In-page Python probes (sequential, timed in Python per round): see overhead.js.
PY_PROBES = (
    "py_pyfetch",
    "py_transport",
    "py_pipeline_net",
    "py_pipeline",
    "py_pipeline_no_timeouts",
)
LABELS = {
    "raw": "raw fetch",
    "ours": "resilient-fetch client.fetch",
    "peer": "cockatiel + p-queue",
    "shim_null": "client.fetch via the shim, null Python transport (no network)",
    "py_pyfetch": "pyodide.http.pyfetch + bytes() called from Python",
    "py_transport": "BrowserTransport.handle() called from Python",
    "py_pipeline_net": "Client.send() on BrowserTransport, called from Python",
    "py_pipeline": "Client.send() on a null transport, in Pyodide",
    "py_pipeline_no_timeouts": "Client.send() on a null transport, timeouts off, in Pyodide",
}


def stage_site(into: Path) -> Path:
    """dist/ + bench pages + the peers' ESM files, in one directory the backend serves."""
    if not (DIST / "manifest.json").is_file() or not (DIST / "resilient-fetch.js").is_file():
        raise SystemExit("dist/ is not built: run `make build` (or .venv/bin/python build.py)")
    site = into / "site"
    shutil.copytree(DIST, site)
    shutil.copytree(WEB, site / "bench")
    for name, sub in VENDOR.items():
        src = ROOT / "node_modules" / sub
        if not src.is_dir():
            raise SystemExit(f"node_modules/{name} is missing: run `npm ci`")
        shutil.copytree(
            src, site / "bench" / "vendor" / name, ignore=shutil.ignore_patterns("*.map", "*.ts")
        )
    return site


@contextlib.contextmanager
def environment(
    stage: Callable[[Path], Path] | None = None, prefix: str = "rf-bench-"
) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """(browser, base URL, facts): Chromium from e2e's launcher settings, backend process.

    ``stage`` copies the site into a temporary folder (default: ``stage_site``).
    """
    import pytest
    from playwright.sync_api import sync_playwright

    from e2e.conftest import CHROMIUM_ARGS, chromium_path

    try:
        executable = chromium_path()
    except pytest.fail.Exception as exc:
        raise SystemExit(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        # A snapshot of dist/: a `make build` elsewhere mid-run cannot change what is served.
        site = (stage or stage_site)(Path(tmp))
        manifest = json.loads((site / "manifest.json").read_text())
        with BackendProcess(site) as backend, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                facts = {
                    "chromium": browser.version,
                    "chromium_path": executable,
                    "wheel": manifest.get("wheel"),
                    "wheel_sha256": manifest.get("wheelSha256"),
                    "snapshot": manifest.get("snapshot"),
                }
                yield browser, backend.url, facts
            finally:
                browser.close()


def _page(browser: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


# -- overhead -------------------------------------------------------------------------------


def _round(page: Any, name: str, n: int, concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate(
        "([name, n, c]) => window.bench.round(name, n, c)", [name, n, concurrency]
    )
    if out["errorCount"]:
        raise RuntimeError(f"{name}: {out['errorCount']} failed requests, e.g. {out['errors']}")
    return out


def _py_round(page: Any, name: str, n: int) -> float:
    return float(page.evaluate("([name, n]) => window.bench.pyRound(name, n)", [name, n]))


def overhead(browser: Any, base_url: str, facts: dict[str, Any], *, quick: bool) -> dict[str, Any]:
    """Per-request latency and throughput of raw fetch, our client and the peer."""
    rounds, per_round, warmup = (2, 50, 30) if quick else (5, 200, 100)
    modes = {"seq": 1, "c10": 10}
    seq_names = [*CONTENDERS, "shim_null", *PY_PROBES]
    context, page, errors = _page(browser)
    try:
        page.goto(base_url + "bench/overhead.html")
        # A selector, not wait_for_function: the site's CSP forbids the eval it needs.
        page.wait_for_selector("#status[data-state=ready]", timeout=READY_TIMEOUT_MS)
        info = page.evaluate(
            "s => window.bench.setup(s)",
            {"client": CLIENT_OPTIONS, "peer": PEER_SETTINGS, "pyClient": PY_CLIENT_OPTIONS},
        )
        log(f"browser_overhead: warm-up ({warmup} requests per contender and mode)")
        for mode, conc in modes.items():
            for name in seq_names if mode == "seq" else CONTENDERS:
                if name in PY_PROBES:
                    _py_round(page, name, warmup)
                else:
                    _round(page, name, warmup, conc)

        latencies: dict[str, list[float]] = {}
        means: dict[str, list[float]] = {}  # per round: mean ms per request/call
        rps: dict[str, list[float]] = {}
        log(f"browser_overhead: {rounds} rounds x {per_round} requests per contender and mode")
        for r in range(rounds):
            for mode, conc in modes.items():
                names = seq_names if mode == "seq" else list(CONTENDERS)
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:  # rotate who goes first
                    key = f"{name}_{mode}"
                    if name in PY_PROBES:
                        means.setdefault(key, []).append(_py_round(page, name, per_round))
                        continue
                    out = _round(page, name, per_round, conc)
                    latencies.setdefault(key, []).extend(out["latencies"])
                    means.setdefault(key, []).append(sum(out["latencies"]) / per_round)
                    rps.setdefault(key, []).append(per_round / out["wallMs"] * 1000)
        if errors:
            raise RuntimeError(f"page errors: {errors}")
    finally:
        context.close()

    contenders: dict[str, Any] = {}
    for key, values in means.items():
        name, _, mode = key.rpartition("_")
        entry: dict[str, Any] = {"label": LABELS[name], "mode": mode}
        if key in latencies:
            entry["unit"] = "ms/request"
            entry["summary"] = summary(latencies[key], 4)
            entry["throughput_rps"] = summary(rps[key], 1)
        else:
            entry["unit"] = "ms/call (mean over one round)"
            entry["summary"] = summary(values, 4)
        entry["round_mean_ms"] = summary(values, 4)
        contenders[key] = entry

    ratios: dict[str, Any] = {}
    for mode in modes:
        raw = latencies[f"raw_{mode}"]
        for name in ("ours", "peer"):
            mine = latencies[f"{name}_{mode}"]
            per_round_ratio = [
                a / b for a, b in zip(rps[f"{name}_{mode}"], rps[f"raw_{mode}"], strict=True)
            ]
            ratios[f"{name}_{mode}"] = {
                "added_ms_p50": round(percentile(mine, 50) - percentile(raw, 50), 4),
                "added_ms_p95": round(percentile(mine, 95) - percentile(raw, 95), 4),
                "latency_ratio_p50": ratio(percentile(mine, 50), percentile(raw, 50)),
                "throughput_vs_raw": round(percentile(per_round_ratio, 50), 3),
                "throughput_vs_raw_per_round": [round(x, 3) for x in per_round_ratio],
            }
        ours, peer = latencies[f"ours_{mode}"], latencies[f"peer_{mode}"]
        ratios[f"ours_vs_peer_{mode}_p50"] = ratio(percentile(ours, 50), percentile(peer, 50))

    # The client.fetch path peeled layer by layer (sequential, medians of round means).
    def med(key: str) -> float:
        return round(percentile(means[key], 50), 4)

    layers = [
        ("raw fetch (JS)", "raw_seq"),
        ("pyfetch + bytes() from Python", "py_pyfetch_seq"),
        ("BrowserTransport.handle()", "py_transport_seq"),
        ("Client.send() on BrowserTransport", "py_pipeline_net_seq"),
        ("client.fetch() via the JS shim", "ours_seq"),
    ]
    waterfall = []
    previous = None
    for label, key in layers:
        value = med(key)
        waterfall.append(
            {
                "layer": label,
                "key": key,
                "mean_ms": value,
                "step_ms": None if previous is None else round(value - previous, 4),
            }
        )
        previous = value
    breakdown = {
        "waterfall": waterfall,
        "null_transport": {
            "py_pipeline_ms": med("py_pipeline_seq"),
            "py_pipeline_no_timeouts_ms": med("py_pipeline_no_timeouts_seq"),
            "shim_null_ms": med("shim_null_seq"),
        },
    }

    return {
        "benchmark": "browser_overhead",
        "title": "Browser overhead: raw fetch vs client.fetch vs cockatiel + p-queue (Chromium)",
        "quick": quick,
        "machine": {**machine_info(), **facts, "pyodide_runtime": info["pyodideVersion"]},
        "config": {
            "requests_per_contender_and_mode": rounds * per_round,
            "rounds": rounds,
            "requests_per_round": per_round,
            "warmup_requests": warmup,
            "modes": {"seq": "sequential, one request at a time", "c10": "10 concurrent workers"},
            "order": "every round runs each contender once per mode, first contender rotated",
            "request": "GET /api/items on 127.0.0.1 (no faults), body read with arrayBuffer()",
            "body_bytes": info["bodyBytes"],
            "client_options": CLIENT_OPTIONS,
            "limiter_note": "the default limiter (100 per 60 s per origin) would make 1,000 "
            "requests wait ~10 minutes; widened to 1,000,000 per second so it stays on the "
            "path (every attempt takes an admission) but never waits. Breaker, queue "
            "(concurrency 10, 1,000 waiting), retries (3, decorrelated jitter, budget) and "
            "timeouts (30 s attempt, 120 s total) keep their defaults.",
            "peer_settings": PEER_SETTINGS,
            "peer_pipeline": "cockatiel wrap(timeout 120 s, retry 3x exponential decorrelated "
            "jitter on errors/408/429/5xx, circuitBreaker ConsecutiveBreaker(5) halfOpenAfter "
            "60 s, bulkhead(10, 1000)) > p-queue(concurrency 10, intervalCap 1e6 / 1 s) > "
            "cockatiel timeout 30 s > fetch(url, {signal}) with the body read inside the "
            "attempt (cockatiel aborts the attempt's signal on return)",
            "timer": "performance.now() (coarsened to 100 us: the page is not "
            "cross-origin isolated)"
            if not info["crossOriginIsolated"]
            else "performance.now() (cross-origin isolated, 5 us)",
            "server": "demo_backend.create_app(DEMO_MODE) in its own process, werkzeug threaded, "
            "HTTP/1.1 keep-alive",
        },
        "contenders": contenders,
        "ratios": ratios,
        "breakdown": breakdown,
    }


# -- start-up -------------------------------------------------------------------------------


STARTUP_MODES = ("client", "client_plain", "pyodide")
STARTUP_LABELS = {
    "client": "createClient(), as built (memory snapshot)",
    "client_plain": "createClient(), snapshot refused (plain boot)",
    "pyodide": "bare loadPyodide()",
}
CACHES = ("cold", "warm")
# The start-up goal (issue #9): ready within 1 s of navigation on a warm HTTP
# cache, no main-thread task over 50 ms (the Long Tasks API's own threshold).
READY_GOAL_MS = 1000
TASK_GOAL_MS = 50


def _startup_samples(
    browser: Any, base_url: str, facts: dict[str, Any], mode: str
) -> dict[str, dict[str, Any]]:
    """A fresh profile: its first load is the cold sample, a second navigation the warm one.

    A persistent profile, not ``browser.new_context()``: an incognito context keeps its
    HTTP cache in memory and does not store the large files (the 9.6 MB wasm, the 31 MB
    snapshot), so its "warm" loads download them again. A profile has the disk cache a
    returning visitor has.
    """
    from e2e.conftest import CHROMIUM_ARGS

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rf-profile-") as profile:
        context = browser.browser_type.launch_persistent_context(
            profile, executable_path=facts["chromium_path"], args=CHROMIUM_ARGS
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for cache in CACHES:
                page.goto(base_url + f"bench/startup.html?mode={mode}")
                page.wait_for_selector("#status[data-state=done]", timeout=READY_TIMEOUT_MS)
                result: dict[str, Any] = page.evaluate("() => window.benchStartup")
                if "error" in result or errors:
                    raise RuntimeError(
                        f"start-up ({mode}, {cache}) failed: {result.get('error')} {errors}"
                    )
                out[cache] = result
        finally:
            context.close()
    return out


def startup(browser: Any, base_url: str, facts: dict[str, Any], *, quick: bool) -> dict[str, Any]:
    """Navigation -> ready for createClient() (snapshot / plain) and bare loadPyodide()."""
    # Every sample launches its own profile: a quick run skips the warm-up round.
    rounds, warmup = (2, 0) if quick else (7, 1)
    log(f"startup: {warmup} warm-up + {rounds} rounds of {len(STARTUP_MODES)} modes, cold + warm")
    for mode in STARTUP_MODES * warmup:
        _startup_samples(browser, base_url, facts, mode)
    samples: dict[str, list[dict[str, Any]]] = {}
    for i in range(rounds):
        shift = i % len(STARTUP_MODES)
        for mode in STARTUP_MODES[shift:] + STARTUP_MODES[:shift]:  # rotate who goes first
            for cache, result in _startup_samples(browser, base_url, facts, mode).items():
                samples.setdefault(f"{mode}_{cache}", []).append(result)
    boots = {x["boot"] for x in samples["client_warm"] + samples["client_cold"]}
    contenders: dict[str, Any] = {}
    for key, s in samples.items():
        mode, _, cache = key.rpartition("_")
        contenders[key] = {
            "label": f"{STARTUP_LABELS[mode]}, {cache} cache",
            "mode": mode,
            "cache": cache,
            "unit": "ms from navigation start",
            "summary": summary([x["readyMs"] for x in s], 1),
            "longest_task_ms": summary([x["longestTaskMs"] for x in s], 1),
            "long_task_total_ms": summary([x["longTaskTotalMs"] for x in s], 1),
            "long_tasks": summary([x["longTasks"] for x in s], 1),
            "transferred_bytes": summary([x["transferredBytes"] for x in s], 0),
            "samples": [
                {k: (round(v, 1) if isinstance(v, float) else v) for k, v in x.items()} for x in s
            ],
        }

    def med(key: str, field: str = "summary") -> float:
        return float(contenders[key][field]["median"])

    warm = samples["client_warm"]
    return {
        "benchmark": "startup",
        "title": "Start-up in Chromium: createClient() from the snapshot vs plain boot",
        "quick": quick,
        "machine": {**machine_info(), **facts},
        "config": {
            "rounds": rounds,
            "warmup_rounds": warmup,
            "order": "every round runs each mode once, first mode rotated",
            "sample": "a new Chromium profile (empty disk cache) per mode and round: its first "
            "navigation is the cold sample, a second navigation to the same page the warm one; "
            "ready = performance.now() when the promise resolved, i.e. ms since navigation start",
            "long_tasks": "PerformanceObserver({type: 'longtask', buffered: true}) from a classic "
            "script in <head>; tasks starting before the promise resolved",
            "boot_seen": sorted(boots),
            "snapshot": facts.get("snapshot"),
            "goal": {"ready_ms_warm": READY_GOAL_MS, "longest_task_ms": TASK_GOAL_MS},
        },
        "contenders": contenders,
        "ratios": {
            "client_vs_plain_warm": ratio(med("client_warm"), med("client_plain_warm")),
            "client_vs_plain_cold": ratio(med("client_cold"), med("client_plain_cold")),
            "client_minus_pyodide_ms_warm": round(med("client_warm") - med("pyodide_warm"), 1),
            "ready_warm_ms_median": med("client_warm"),
            "ready_warm_ms_max": float(contenders["client_warm"]["summary"]["max"]),
            "longest_task_warm_ms_median": med("client_warm", "longest_task_ms"),
            "longest_task_warm_ms_max": float(contenders["client_warm"]["longest_task_ms"]["max"]),
            "warm_samples_meeting_goal": sum(
                1
                for x in warm
                if x["readyMs"] <= READY_GOAL_MS and x["longestTaskMs"] <= TASK_GOAL_MS
            ),
            "warm_samples": len(warm),
        },
    }


def run(*, quick: bool = False, only: set[str] | None = None) -> list[dict[str, Any]]:
    """Run the browser benchmarks (``browser_overhead``, ``startup``) in one browser."""
    wanted = only or {"browser_overhead", "startup"}
    results = []
    with environment() as (browser, url, facts):
        log(f"browser: Chromium {facts['chromium']}, backend {url}")
        if "browser_overhead" in wanted:
            results.append(overhead(browser, url, facts, quick=quick))
        if "startup" in wanted:
            results.append(startup(browser, url, facts, quick=quick))
    return results
