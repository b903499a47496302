"""Query cache, dedupe and batching in Chromium, side by side with TanStack Query and DataLoader.

One page (``bench/web/query.html``) holds every contender; the demo backend
serves it and the API from its own process (``bench/server.py``), and its
``/_stats`` counts the requests that reached it. Four measurements:

1. **cache hit**: ``client.query(key, url, undefined, {staleTime})`` vs
   ``@tanstack/query-core``'s ``QueryClient.fetchQuery({queryKey, queryFn,
   staleTime: Infinity})`` on a key both already hold (``GET /api/items``),
   sequential calls, mean per call over a round.
2. **batch loading**: 1,000 ``load(id)`` calls for distinct ids in one tick
   (and one ``loadMany`` of the same ids) through a fresh ``client.loader``
   vs a fresh ``DataLoader`` whose batch function is a raw ``fetch`` of the
   same ``GET /api/items/batch?ids=...``; both with at most 100 ids a batch
   (the backend's limit). Wall time until every load resolved, and batch
   requests counted by the server.
3. **page workload**: widgets that each show an overlapping window of items
   (``GET /api/items/<id>``), all rendering at once, several passes in a row;
   through the cockatiel + p-queue peer (``bench/web/peers.js``, every read a
   request), our ``client.fetch`` (in-flight dedupe + ETag revalidation),
   ``client.query`` with the default ``staleTime`` 0 (stale-while-revalidate:
   later passes are answered from the cache and refetched in the background)
   and ``client.query`` with a ``staleTime``. A fresh client (or peer) per
   round. Wall time until every widget has its data; server requests include
   the background refetches (counted after they settle).
4. **100,000 entries**: our ``QueryCache`` in CPython (tracemalloc bytes, hit
   cost, next to a plain dict of the same items) and in Pyodide (tracemalloc
   inside Pyodide, a Python loop of hits; plus ``client.query`` hits from the
   page on a client holding 100,000 entries); TanStack's ``QueryClient`` with
   100,000 ``setQueryData`` entries (JS heap from CDP ``Runtime.getHeapUsage``
   after ``HeapProfiler.collectGarbage``, before and after) and its
   ``fetchQuery`` hit cost at that size.

Contenders alternate in every round, first one rotated, after a warm-up.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

from .browser import CLIENT_OPTIONS, PEER_SETTINGS, READY_TIMEOUT_MS, environment, stage_site
from .common import ROOT, _npm_version, log, machine_info, ratio, summary

# The same client as the overhead benchmark's, but with the query cache, the
# revalidation store and dedupe on (what is measured here) and a byte bound
# large enough for 100,000 entries (the default 10 MB would evict).
QUERY_CLIENT_OPTIONS: dict[str, Any] = {
    "limiter": CLIENT_OPTIONS["limiter"],
    "cache": {"maxBytes": 1_000_000_000},
}
ITEM = {"name": "bench item", "done": False}
HIT_CONTENDERS = ("ours", "tanstack")
HIT_TARGETS = ("item", "list")  # one item (~60 bytes of JSON), the list of ~1,000 items
LOAD_CONTENDERS = ("ours_load", "dataloader_load", "ours_loadMany", "dataloader_loadMany")
WORKLOAD_CONTENDERS = ("peer", "ours_fetch", "ours_query", "ours_query_stale")
LABELS = {
    "ours": "client.query hit",
    "tanstack": "TanStack QueryClient.fetchQuery hit",
    "ours_load": "client.loader: 1,000 load(id)",
    "dataloader_load": "DataLoader + fetch: 1,000 load(id)",
    "ours_loadMany": "client.loader: loadMany(1,000 ids)",
    "dataloader_loadMany": "DataLoader + fetch: loadMany(1,000 ids)",
    "peer": "cockatiel + p-queue + fetch",
    "ours_fetch": "client.fetch (dedupe + ETag revalidation)",
    "ours_query": "client.query, staleTime 0 (stale-while-revalidate)",
    "ours_query_stale": "client.query, staleTime 30 s",
}
VENDOR_ESM = {"tanstack-query-core": "@tanstack/query-core/build/modern"}
VENDOR_CJS = {"dataloader": "dataloader/index.js"}


def _stage(into: Path) -> Path:
    """stage_site() plus TanStack's ESM build and DataLoader (CommonJS) wrapped as a module.

    ``process.env.NODE_ENV`` in TanStack's files becomes ``"production"``, as a
    bundler's production build makes it (the browser has no ``process``).
    """
    site = stage_site(into)
    vendor = site / "bench" / "vendor"
    for name, sub in VENDOR_ESM.items():
        src = ROOT / "node_modules" / sub
        if not src.is_dir():
            raise SystemExit(f"node_modules/{sub} is missing: run `npm ci`")
        shutil.copytree(src, vendor / name, ignore=shutil.ignore_patterns("*.map", "*.ts", "*.cjs"))
        # What a bundler does for a production build: the dev-only checks go.
        for js in (vendor / name).glob("*.js"):
            text = js.read_text()
            if "process.env.NODE_ENV" in text:
                js.write_text(text.replace("process.env.NODE_ENV", '"production"'))
    for name, sub in VENDOR_CJS.items():
        src = ROOT / "node_modules" / sub
        if not src.is_file():
            raise SystemExit(f"node_modules/{sub} is missing: run `npm ci`")
        (vendor / name).mkdir(parents=True, exist_ok=True)
        # No bundler: a CommonJS file in a module scope with its own `module`.
        (vendor / name / "index.js").write_text(
            "const module = { exports: {} };\nconst exports = module.exports;\n"
            + src.read_text()
            + "\nexport default module.exports;\n"
        )
    return site


def _rotated(names: tuple[str, ...], r: int) -> list[str]:
    shift = r % len(names)
    return list(names[shift:] + names[:shift])


# -- CPython: 100,000 entries ---------------------------------------------------------------


async def _cpython_big(n: int, hits: int) -> dict[str, Any]:
    from resilient_fetch._clock import SystemClock
    from resilient_fetch.query import QueryCache, key_hash

    def traced(build: Any) -> tuple[Any, int]:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        obj = build()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        return obj, used

    def fill() -> QueryCache:
        cache = QueryCache(clock=SystemClock(), max_bytes=10**12, gc_time=10**9)
        for i in range(n):
            cache.set_data(["item", i], dict(ITEM, id=i))
        return cache

    cache, cache_bytes = traced(fill)
    plain, plain_bytes = traced(lambda: {key_hash(["item", i]): dict(ITEM, id=i) for i in range(n)})

    async def fetcher() -> Any:
        raise RuntimeError("a hit must not fetch")

    keys = [["item", (i * 7919) % n] for i in range(hits)]
    started = time.perf_counter()
    for k in keys:
        await cache.fetch(k, fetcher, stale_time=1e9)
    hit_us = (time.perf_counter() - started) / hits * 1e6
    started = time.perf_counter()
    for k in keys:
        plain.get(key_hash(k))
    dict_us = (time.perf_counter() - started) / hits * 1e6
    assert cache.misses == 0 and len(cache._entries) == n
    return {"bytes": cache_bytes, "hitUs": hit_us, "dictBytes": plain_bytes, "dictUs": dict_us}


# -- the page --------------------------------------------------------------------------------


def _eval(page: Any, fn: str, *args: Any) -> Any:
    return page.evaluate(f"(a) => window.bench.{fn}(...a)", list(args))


def _heap(cdp: Any) -> int:
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("HeapProfiler.collectGarbage")
    return int(cdp.send("Runtime.getHeapUsage")["usedSize"])


def run(*, quick: bool = False) -> dict[str, Any]:
    """All four measurements in one page; returns the ``query`` result."""
    cfg = {
        "rounds": 2 if quick else 5,
        "hit_calls": 100 if quick else 1000,
        "hit_warmup": 50 if quick else 300,
        "loads": 1000,
        "max_batch": 100,
        "workload": {"widgets": 8, "perWidget": 25, "pool": 100, "passes": 5, "staleTimeS": 30},
        "big_entries": 10_000 if quick else 100_000,
        "big_hits": 2_000 if quick else 10_000,
    }
    n_big, big_hits = cfg["big_entries"], cfg["big_hits"]
    log(f"query: CPython QueryCache with {n_big} entries")
    cpython = asyncio.run(_cpython_big(n_big, big_hits))

    hits: dict[str, list[float]] = {}
    hit_requests: dict[str, int] = {}
    loads: dict[str, list[float]] = {}
    load_requests: dict[str, list[int]] = {}
    work: dict[str, list[dict[str, Any]]] = {}
    with environment(_stage, "rf-bench-query-") as (browser, base_url, facts):
        facts["npm_contenders"] = {
            name: _npm_version(name) for name in ("@tanstack/query-core", "dataloader")
        }
        log(f"query: Chromium {facts['chromium']}, backend {base_url}")
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(base_url + "bench/query.html")
            page.wait_for_selector("#status[data-state=ready]", timeout=READY_TIMEOUT_MS)
            info = _eval(
                page,
                "setup",
                {
                    "client": QUERY_CLIENT_OPTIONS,
                    "peer": PEER_SETTINGS,
                    "items": max(cfg["loads"], cfg["workload"]["pool"]),
                    "maxBatch": cfg["max_batch"],
                    "workload": cfg["workload"],
                },
            )
            log("query: warm-up")
            for name in HIT_CONTENDERS:
                for target in HIT_TARGETS:
                    _eval(page, "hitRound", name, target, cfg["hit_warmup"])
            for name in LOAD_CONTENDERS:
                _eval(page, "loadRound", name, cfg["loads"])
            for name in WORKLOAD_CONTENDERS:
                _eval(page, "workloadRound", name)
            log(f"query: {cfg['rounds']} rounds of hits, loads and the workload")
            for r in range(cfg["rounds"]):
                for target in HIT_TARGETS:
                    for name in _rotated(HIT_CONTENDERS, r):
                        out = _eval(page, "hitRound", name, target, cfg["hit_calls"])
                        key = f"{name}_{target}"
                        hits.setdefault(key, []).append(out["msPerCall"] * 1000)
                        hit_requests[key] = hit_requests.get(key, 0) + out["requests"]
                for name in _rotated(LOAD_CONTENDERS, r):
                    out = _eval(page, "loadRound", name, cfg["loads"])
                    loads.setdefault(name, []).append(out["wallMs"])
                    load_requests.setdefault(name, []).append(out["requests"])
                for name in _rotated(WORKLOAD_CONTENDERS, r):
                    work.setdefault(name, []).append(_eval(page, "workloadRound", name))

            log(f"query: {n_big} entries in the page")
            py_big = _eval(page, "pyBigCache", n_big, big_hits, ITEM)
            cdp = context.new_cdp_session(page)
            before = _heap(cdp)
            filled = _eval(page, "fillTanstack", n_big, ITEM)
            tanstack_bytes = _heap(cdp) - before
            tanstack_hit_us = _eval(page, "tanstackBigHit", n_big, big_hits)
            _eval(page, "dropTanstack")
            before = _heap(cdp)
            ours_state = _eval(page, "oursBigFill", n_big, ITEM)
            ours_js_heap = _heap(cdp) - before
            ours_hit_us = _eval(page, "oursBigHit", n_big, big_hits)
            small_hit_us = _eval(page, "oursBigHit", min(n_big, 100), big_hits)
            if errors:
                raise RuntimeError(f"page errors: {errors}")
        finally:
            context.close()

    contenders: dict[str, Any] = {}
    for key, values in hits.items():
        name, _, target = key.partition("_")
        contenders[f"hit_{key}"] = {
            "label": f"{LABELS[name]}, {'one item' if target == 'item' else 'the item list'}",
            "target": target,
            "unit": "µs/call (mean over a round)",
            "summary": summary(values, 2),
            "server_requests": hit_requests[key],
        }
    for name, values in loads.items():
        contenders[f"load_{name}"] = {
            "label": LABELS[name],
            "unit": "ms for 1,000 loads (wall)",
            "summary": summary(values, 2),
            "us_per_load": summary([v * 1000 / cfg["loads"] for v in values], 2),
            "server_requests": summary(load_requests[name], 0),
        }
    for name, samples in work.items():
        contenders[f"workload_{name}"] = {
            "label": LABELS[name],
            "unit": "ms wall, all widgets have their data",
            "summary": summary([s["wallMs"] for s in samples], 1),
            "reads": samples[0]["reads"],
            "server_requests": summary([s["requests"] for s in samples], 0),
            "dedupe_shared": [s["dedupeShared"] for s in samples],
            "cache_hits": [s["cacheHits"] for s in samples],
        }

    def med(key: str) -> float:
        return float(contenders[key]["summary"]["median"])

    def per_round(a: list[float], b: list[float]) -> list[float]:
        return [round(x / y, 3) for x, y in zip(a, b, strict=True)]

    big = {
        "entries": n_big,
        "hits_timed": big_hits,
        "cpython": {
            "query_cache_bytes": cpython["bytes"],
            "query_cache_bytes_per_entry": round(cpython["bytes"] / n_big, 1),
            "plain_dict_bytes_per_entry": round(cpython["dictBytes"] / n_big, 1),
            "hit_us": round(cpython["hitUs"], 3),
            "plain_dict_get_us": round(cpython["dictUs"], 3),
            "memory_source": "tracemalloc (CPython), after gc.collect()",
        },
        "pyodide": {
            "query_cache_bytes": py_big["bytes"],
            "query_cache_bytes_per_entry": round(py_big["bytes"] / n_big, 1),
            "hit_us_python_loop": round(py_big["hitUs"], 3),
            "client_query_hit_us": round(ours_hit_us, 2),
            "client_query_hit_us_100_entries": round(small_hit_us, 2),
            "client_state_cache": ours_state,
            "js_heap_delta_bytes_for_fill": ours_js_heap,
            "memory_source": "tracemalloc inside Pyodide (wasm linear memory, not the JS heap)",
        },
        "tanstack": {
            "entries": filled,
            "js_heap_bytes": tanstack_bytes,
            "js_heap_bytes_per_entry": round(tanstack_bytes / n_big, 1),
            "fetch_query_hit_us": round(tanstack_hit_us, 2),
            "memory_source": "CDP Runtime.getHeapUsage usedSize after HeapProfiler.collectGarbage",
        },
    }
    wl = {k: med(f"workload_{k}") for k in WORKLOAD_CONTENDERS}
    reqs = {
        k: contenders[f"workload_{k}"]["server_requests"]["median"] for k in WORKLOAD_CONTENDERS
    }
    ratios: dict[str, Any] = {
        **{
            f"hit_{t}_ours_vs_tanstack": ratio(med(f"hit_ours_{t}"), med(f"hit_tanstack_{t}"))
            for t in HIT_TARGETS
        },
        **{
            f"hit_{t}_ours_minus_tanstack_us": round(
                med(f"hit_ours_{t}") - med(f"hit_tanstack_{t}"), 2
            )
            for t in HIT_TARGETS
        },
        "hit_item_ours_vs_tanstack_per_round": per_round(hits["ours_item"], hits["tanstack_item"]),
        "load_ours_vs_dataloader": ratio(med("load_ours_load"), med("load_dataloader_load")),
        "load_ours_vs_dataloader_per_round": per_round(
            loads["ours_load"], loads["dataloader_load"]
        ),
        "loadmany_ours_vs_dataloader": ratio(
            med("load_ours_loadMany"), med("load_dataloader_loadMany")
        ),
        **{f"workload_{k}_vs_peer": ratio(wl[k], wl["peer"]) for k in WORKLOAD_CONTENDERS[1:]},
        **{f"workload_{k}_requests": reqs[k] for k in WORKLOAD_CONTENDERS},
        "big_bytes_per_entry_pyodide_vs_tanstack": ratio(
            big["pyodide"]["query_cache_bytes"], tanstack_bytes
        ),
        "big_hit_client_query_vs_tanstack": ratio(ours_hit_us, tanstack_hit_us),
    }
    return {
        "benchmark": "query",
        "title": "Query cache, dedupe and batching vs TanStack Query, DataLoader and the peer",
        "quick": quick,
        "machine": {**machine_info(), **facts, "page": info},
        "config": {
            **cfg,
            "client_options": QUERY_CLIENT_OPTIONS,
            "peer": PEER_SETTINGS,
            "order": "warm-up, then every round runs each contender once, first one rotated",
            "dataloader_batch_fn": "raw fetch of GET /api/items/batch?ids=... (no retries, "
            "no breaker, no queue); ours goes through the full pipeline",
            "workload_reads_per_round": cfg["workload"]["widgets"]
            * cfg["workload"]["perWidget"]
            * cfg["workload"]["passes"],
        },
        "contenders": contenders,
        "big": big,
        "ratios": ratios,
    }
