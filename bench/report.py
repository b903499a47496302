"""Regenerate docs/BENCHMARKS.md and docs/bench/*.png from bench/results/*.json.

    python -m bench.report [--results-dir DIR] [--docs-dir DIR]

Run by ``bench.run`` after every benchmark run; run it alone to redraw the
report from the JSON files without measuring again. Every sentence that
compares contenders is computed from the numbers, so it says who wins in
this run, whoever that is.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .common import DOCS_DIR, RESULTS_DIR

NAMES = ("browser_overhead", "cpython_overhead", "startup", "scale", "query")
COLORS = {
    "raw": "#8c8c8c",
    "floor": "#8c8c8c",
    "ours": "#1f77b4",
    "ours_light": "#9ecae1",
    "peer": "#ff7f0e",
    "pyodide": "#8c8c8c",
    "client": "#1f77b4",
}
Result = dict[str, Any]


# -- formatting -----------------------------------------------------------------------------


def f(value: float | None, digits: int = 2) -> str:
    """A number for a table cell ('n/a' for None)."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def x(value: float | None, digits: int = 2) -> str:
    """A ratio as '1.23x'."""
    return "n/a" if value is None else f"{value:.{digits}f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` is one char per column (l/r), default left then right."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def faster(a: float, b: float) -> str:
    """'2.0x faster' / '1.5x slower' / 'about as fast' for a cost a vs b (lower is better)."""
    if a <= 0 or b <= 0:
        return "n/a"
    r = b / a
    if 0.95 <= r <= 1.05:
        return "about as fast as"
    return f"{r:.1f}x faster than" if r > 1 else f"{1 / r:.1f}x slower than"


def _annotate(
    ax: Any,
    bars: Any,
    fmt: str = "{:.2f}",
    *,
    horizontal: bool = False,
    at: Sequence[float] | None = None,
) -> None:
    """Write each bar's value past its end (or past ``at[i]``, e.g. a whisker's end)."""
    for i, bar in enumerate(bars):
        if horizontal:
            value = bar.get_width()
            ax.annotate(
                fmt.format(value),
                (at[i] if at else value, bar.get_y() + bar.get_height() / 2),
                ha="left",
                va="center",
                fontsize=8,
                xytext=(3, 0),
                textcoords="offset points",
            )
        else:
            value = bar.get_height()
            ax.annotate(
                fmt.format(value),
                (bar.get_x() + bar.get_width() / 2, at[i] if at else value),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )


def _save(fig: Any, path: Path, title: str, quick: bool) -> Path:
    fig.suptitle(title + ("  [QUICK RUN: few samples]" if quick else ""), fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- browser overhead -----------------------------------------------------------------------


def plot_browser(r: Result, path: Path) -> Path:
    c, ratios = r["contenders"], r["ratios"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    names = ("raw", "ours", "peer")
    labels = ["raw fetch", "resilient-fetch", "cockatiel +\np-queue"]
    for ax, mode, title in (
        (axes[0][0], "seq", "Sequential: latency per request"),
        (axes[0][1], "c10", "Concurrency 10: latency per request"),
    ):
        p50 = [c[f"{n}_{mode}"]["summary"]["median"] for n in names]
        p95 = [c[f"{n}_{mode}"]["summary"]["p95"] for n in names]
        pos = range(len(names))
        b1 = ax.bar([p - 0.2 for p in pos], p50, 0.4, color=[COLORS[n] for n in names])
        b2 = ax.bar(
            [p + 0.2 for p in pos],
            p95,
            0.4,
            color=[COLORS[n] for n in names],
            alpha=0.45,
            hatch="//",
        )
        _annotate(ax, b1, "{:.1f}")
        _annotate(ax, b2, "{:.1f}")
        ax.set_xticks(list(pos), labels)
        ax.set_ylabel("ms per request (solid p50, hatched p95)")
        ax.set_title(title)
        ax.margins(y=0.15)
    ax = axes[1][0]
    groups = ("seq", "c10")
    for i, name in enumerate(("ours", "peer")):
        vals = [ratios[f"{name}_{m}"]["throughput_vs_raw"] for m in groups]
        bars = ax.bar(
            [g + (i - 0.5) * 0.35 for g in range(len(groups))],
            vals,
            0.35,
            color=COLORS[name],
            label="resilient-fetch" if name == "ours" else "cockatiel + p-queue",
        )
        _annotate(ax, bars, "{:.2f}")
    ax.axhline(1.0, color=COLORS["raw"], linestyle="--", linewidth=1, label="raw fetch = 1")
    ax.set_xticks(range(len(groups)), ["sequential", "concurrency 10"])
    ax.set_ylabel("requests/s relative to raw fetch (same round)")
    ax.set_title("Throughput relative to raw fetch (higher is better)")
    ax.set_ylim(0, 1.45)
    ax.legend(loc="upper center", fontsize=8, ncol=3)
    ax = axes[1][1]
    steps = r["breakdown"]["waterfall"]
    ys = list(range(len(steps)))[::-1]
    bars = ax.barh(
        ys,
        [s["mean_ms"] for s in steps],
        color=[COLORS["raw"]] + [COLORS["ours_light"]] * (len(steps) - 2) + [COLORS["ours"]],
    )
    for bar, s in zip(bars, steps, strict=True):
        step = s["step_ms"]
        text = f"{s['mean_ms']:.2f}" + (f"  ({step:+.2f})" if step is not None else "")
        ax.annotate(
            text,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(ys, [s["layer"] for s in steps], fontsize=8)
    ax.set_xlabel("mean ms per sequential request")
    ax.set_title("Where client.fetch's time goes (layer by layer)")
    ax.margins(x=0.3)
    return _save(fig, path, "Browser overhead over raw fetch (Chromium, 127.0.0.1)", r["quick"])


def section_browser(r: Result) -> str:
    c, ratios, cfg = r["contenders"], r["ratios"], r["config"]
    rows = []
    for mode, mode_label in (("seq", "sequential"), ("c10", "concurrency 10")):
        for name in ("raw", "ours", "peer"):
            key = f"{name}_{mode}"
            s = c[key]["summary"]
            add = ratios.get(key, {})
            rows.append(
                [
                    c[key]["label"],
                    mode_label,
                    f(s["median"]),
                    f(s["p95"]),
                    f(s["min"]),
                    f(s["max"]),
                    "-" if name == "raw" else f"{add['added_ms_p50']:+.2f}",
                    "-" if name == "raw" else f"{add['added_ms_p95']:+.2f}",
                    f(c[key]["throughput_rps"]["median"], 0),
                    "1.00x" if name == "raw" else x(add["throughput_vs_raw"]),
                ]
            )
    main = table(
        [
            "contender",
            "mode",
            "p50 ms",
            "p95 ms",
            "min ms",
            "max ms",
            "added p50 ms",
            "added p95 ms",
            "req/s (median round)",
            "throughput vs raw",
        ],
        rows,
        "ll" + "r" * 8,
    )
    wf = r["breakdown"]["waterfall"]
    wf_rows = [
        [s["layer"], f(s["mean_ms"]), "-" if s["step_ms"] is None else f"{s['step_ms']:+.2f}"]
        for s in wf
    ]
    null = r["breakdown"]["null_transport"]
    seq_o, seq_p = ratios["ours_seq"], ratios["peer_seq"]
    c10_o, c10_p = ratios["ours_c10"], ratios["peer_c10"]
    biggest = max(wf[1:], key=lambda s: s["step_ms"] or 0)
    lines = [
        "## Browser overhead (Chromium)",
        "",
        f"`GET /api/items` ({cfg['body_bytes']} bytes) from the demo backend on 127.0.0.1, no "
        f"faults, body read with `arrayBuffer()`; {cfg['requests_per_contender_and_mode']:,} "
        f"requests per contender sequentially and {cfg['requests_per_contender_and_mode']:,} "
        f"with 10 concurrent workers, in {cfg['rounds']} rounds of {cfg['requests_per_round']} "
        "that alternate the contenders (the first one rotates) after a warm-up of "
        f"{cfg['warmup_requests']} each. Added latency = the contender's percentile minus raw "
        "fetch's; throughput = requests/s over raw fetch's in the same round (median round).",
        "",
        f"- **resilient-fetch**: `createClient({json.dumps(cfg['client_options'])})`. "
        + cfg["limiter_note"],
        f"- **cockatiel + p-queue**: {cfg['peer_pipeline']}.",
        f"- Timer: {cfg['timer']}. Server: {cfg['server']}; it shares the machine's cores with "
        "Chromium, so at concurrency 10 CPU spent in the page is CPU the server does not get.",
        "",
        main,
        "",
        "![browser overhead](bench/browser_overhead.png)",
        "",
        f"Sequentially, resilient-fetch adds **{seq_o['added_ms_p50']:.2f} ms** at p50 "
        f"({seq_o['added_ms_p95']:.2f} ms at p95) per request over raw fetch; cockatiel + "
        f"p-queue adds {seq_p['added_ms_p50']:.2f} ms ({seq_p['added_ms_p95']:.2f} ms). "
        f"At concurrency 10 resilient-fetch reaches {x(c10_o['throughput_vs_raw'])} of raw "
        f"fetch's throughput and the peer {x(c10_p['throughput_vs_raw'])}. "
        + (
            "**The JS peer wins on overhead**: it runs in the page's own JS engine, while every "
            "request of ours crosses into Python compiled to WebAssembly and back."
            if seq_p["added_ms_p50"] < seq_o["added_ms_p50"]
            else "resilient-fetch wins on overhead against the JS peer in this run."
        ),
        "",
        "### Where the time goes",
        "",
        "The same sequential request, peeled layer by layer inside the page (mean ms per "
        "request, median of the rounds; each layer calls the one above it):",
        "",
        table(["layer", "mean ms", "step"], wf_rows),
        "",
        f"The largest step is **{biggest['layer']}** ({biggest['step_ms']:+.2f} ms). Without the "
        f"network, the Python pipeline on a null transport costs {null['py_pipeline_ms']:.3f} ms "
        f"per call inside Pyodide, and {null['py_pipeline_no_timeouts_ms']:.3f} ms with the "
        "attempt and total timeouts off: without them a null-transport call never has to wait "
        "for the event loop, with them it waits for several loop turns, and under Pyodide each "
        "turn is a browser task. A full `client.fetch()` through the shim on a null Python "
        f"transport takes {null['shim_null_ms']:.3f} ms (JS Request, call into Python, pipeline, "
        "conversion, new Response).",
    ]
    return "\n".join(lines)


# -- CPython overhead -----------------------------------------------------------------------


def plot_cpython(r: Result, path: Path) -> Path:
    c = r["contenders"]
    order = [
        "floor",
        "ours_bare",
        "ours_no_timeouts",
        "ours_no_breaker",
        "ours_no_limiter",
        "ours_send",
        "ours_get",
        "peers",
    ]
    color = {
        "floor": COLORS["floor"],
        "peers": COLORS["peer"],
        "ours_send": COLORS["ours"],
        "ours_get": COLORS["ours"],
    }
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    ys = list(range(len(order)))[::-1]
    med = [c[n]["summary"]["median"] for n in order]
    p95 = [c[n]["summary"]["p95"] for n in order]
    low = [c[n]["summary"]["min"] for n in order]
    bars = ax.barh(
        ys,
        med,
        color=[color.get(n, COLORS["ours_light"]) for n in order],
        xerr=[
            [m - lo for m, lo in zip(med, low, strict=True)],
            [p - m for m, p in zip(med, p95, strict=True)],
        ],
        error_kw={"elinewidth": 0.8, "capsize": 2},
    )
    _annotate(ax, bars, "{:.1f}", horizontal=True, at=p95)
    ax.set_yticks(ys, [c[n]["label"] for n in order], fontsize=8)
    ax.set_xlabel("microseconds per call (median; whiskers min..p95)")
    ax.set_title("Per-call cost on a null transport (lower is better)")
    ax.margins(x=0.15)
    areas = r["profile"]["own_time_by_area"][:8]
    ys2 = list(range(len(areas)))[::-1]
    bars2 = ax2.barh(ys2, [a["own_share"] * 100 for a in areas], color=COLORS["ours_light"])
    _annotate(ax2, bars2, "{:.0f}%", horizontal=True)
    ax2.set_yticks(ys2, [a["area"] for a in areas], fontsize=8)
    ax2.set_xlabel("% of own time (cProfile, client.get)")
    ax2.set_title("Where our per-call time goes")
    ax2.margins(x=0.2)
    return _save(fig, path, "CPython overhead: pipeline vs Python peers", r["quick"])


def _profile_lookup(r: Result, name: str) -> dict[str, Any] | None:
    for row in r["profile"]["top_own_time"]:
        if row["function"].endswith(" " + name):
            return dict(row)
    return None


def section_cpython(r: Result) -> str:
    c, ratios, cfg = r["contenders"], r["ratios"], r["config"]
    floor = c["floor"]["summary"]["median"]
    peers = c["peers"]["summary"]["median"]
    rows = []
    for name in (
        "floor",
        "ours_send",
        "ours_get",
        "peers",
        "ours_no_timeouts",
        "ours_no_limiter",
        "ours_no_breaker",
        "ours_bare",
    ):
        s = c[name]["summary"]
        rows.append(
            [
                c[name]["label"],
                f(s["median"]),
                f(s["p95"]),
                f(s["min"]),
                f(s["max"]),
                "-" if name == "floor" else f(s["median"] - floor),
                "-" if name in ("floor", "peers") else x(s["median"] / peers),
            ]
        )
    main = table(
        [
            "contender",
            "median us/call",
            "p95",
            "min",
            "max",
            "overhead over floor (us)",
            "vs peers",
        ],
        rows,
    )
    prof = r["profile"]
    top_rows = [
        [
            f"`{row['function']}`",
            f(row["calls_per_request"], 1),
            f(row["own_us_per_request"]),
            f"{row['own_share'] * 100:.1f}%",
            f(row["cumulative_us_per_request"]),
        ]
        for row in prof["top_own_time"][:10]
    ]
    cum = prof["cumulative_us_per_request"]
    timeout_cum = next((v for k, v in cum.items() if k.endswith("run_with_timeout")), None)
    get_cum = next((v for k, v in cum.items() if k.endswith(" request")), None)
    ab = r["ablation_us_saved"]
    send = c["ours_send"]["summary"]["median"]
    tasks = _profile_lookup(r, "create_task")
    loops = _profile_lookup(r, "_run_once")
    lines = [
        "## CPython overhead (null transport)",
        "",
        "Each call gets a canned `Response` from a transport that answers at once, so only the "
        f"resilience machinery is timed. {cfg['rounds']} rounds; in each, every contender runs a "
        f"batch of {cfg['calls_per_batch']} sequential calls (sample = mean us/call of the batch), "
        "the order reversed every other round.",
        "",
        f"- **ours**: {cfg['ours']}. `send()` takes a built `Request`; `get(url)` is the public "
        "API and also builds it (URL join, headers, per-call options).",
        f"- **peers**: {cfg['peers']}.",
        "",
        main,
        "",
        "![cpython overhead](bench/cpython_overhead.png)",
        "",
        f"Our default pipeline (`send`) is **{faster(send, peers)} the peer stack** "
        f"({send:.1f} vs {peers:.1f} us per call; same-round ratio "
        f"{x(ratios['per_round_median']['ours_send/peers'])}); through the public `get(url)` it "
        f"is {faster(c['ours_get']['summary']['median'], peers)} the peers. With the attempt and "
        f"total timeouts off it runs in {c['ours_no_timeouts']['summary']['median']:.1f} us: "
        f"**the two timeouts cost {ab['timeouts']:.1f} us of {send:.1f}**; the limiter costs "
        f"{ab['limiter']:.1f} us and the breaker {ab['breaker']:.1f} us.",
        "",
        f"cProfile of `client.get` ({prof['requests']:,} calls, "
        f"{prof['function_calls_per_request']:.0f} Python-level calls per request; a coroutine "
        "counts once per resumption; absolute times are inflated by the profiler, read the "
        "shares):",
        "",
        table(
            ["function", "calls/request", "own us/request", "own share", "cumulative us"], top_rows
        ),
        "",
        f"`run_with_timeout` accounts for {f(timeout_cum)} us cumulative per request "
        f"(of {f(get_cum)} for the whole `request`)"
        + (
            f"; asyncio's `create_task` runs {tasks['calls_per_request']:.0f} times per request"
            if tasks
            else ""
        )
        + (
            f" and the event loop turns {loops['calls_per_request']:.0f} times per request"
            if loops
            else ""
        )
        + ": every timeout wraps its work in a new task plus a timer task and waits on both "
        "with `asyncio.wait`.",
    ]
    return "\n".join(lines)


# -- start-up -------------------------------------------------------------------------------


STARTUP_MODES = ("client", "client_plain", "pyodide")
STARTUP_SHORT = {
    "client": "createClient()\nsnapshot",
    "client_plain": "createClient()\nplain boot",
    "pyodide": "bare\nloadPyodide()",
}


def plot_startup(r: Result, path: Path) -> Path:
    c = r["contenders"]
    goal = r["config"]["goal"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.38
    for ax, key, field, title, line in (
        (axes[0], "summary", "readyMs", "Navigation start -> ready", goal["ready_ms_warm"]),
        (
            axes[1],
            "longest_task_ms",
            "longestTaskMs",
            "Longest main-thread task before ready",
            goal["longest_task_ms"],
        ),
    ):
        top = 0.0
        for j, (cache, color) in enumerate((("cold", "#9ecae1"), ("warm", "#1f77b4"))):
            keys = [f"{m}_{cache}" for m in STARTUP_MODES]
            med = [c[k][key]["median"] for k in keys]
            lo = [c[k][key]["min"] for k in keys]
            hi = [c[k][key]["max"] for k in keys]
            pos = [i + (j - 0.5) * width for i in range(len(keys))]
            bars = ax.bar(
                pos,
                med,
                width,
                color=color,
                label=f"{cache} HTTP cache",
                yerr=[
                    [m - low for m, low in zip(med, lo, strict=True)],
                    [h - m for m, h in zip(med, hi, strict=True)],
                ],
                capsize=3,
            )
            for p_, k in zip(pos, keys, strict=True):
                pts = [s[field] for s in c[k]["samples"]]
                ax.scatter([p_] * len(pts), pts, s=8, color="black", zorder=3)
            _annotate(ax, bars, "{:.0f}", at=hi)
            top = max(top, *hi)
        ax.axhline(line, color="#d62728", linestyle="--", linewidth=1, label=f"goal {line} ms")
        ax.set_xticks(range(len(STARTUP_MODES)), [STARTUP_SHORT[m] for m in STARTUP_MODES])
        ax.set_ylabel("ms (median; whiskers min..max; dots = samples)")
        ax.set_title(title)
        ax.set_ylim(0, max(top, line) * 1.2)
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path, "Start-up in Chromium (fresh profile per mode and round)", r["quick"])


def section_startup(r: Result) -> str:
    c, ratios, cfg = r["contenders"], r["ratios"], r["config"]
    goal = cfg["goal"]
    rows = [
        [
            c[k]["label"],
            f(c[k]["summary"]["median"], 0),
            f(c[k]["summary"]["min"], 0),
            f(c[k]["summary"]["max"], 0),
            f(c[k]["longest_task_ms"]["median"], 0),
            f(c[k]["longest_task_ms"]["max"], 0),
            f(c[k]["long_task_total_ms"]["median"], 0),
            f(c[k]["long_tasks"]["median"], 0),
            f(c[k]["transferred_bytes"]["median"] / 1e6, 2),
        ]
        for cache in ("warm", "cold")
        for k in (f"{m}_{cache}" for m in STARTUP_MODES)
    ]
    snap = cfg.get("snapshot") or {}
    met, n = ratios["warm_samples_meeting_goal"], ratios["warm_samples"]
    verdict = "**met in every warm sample**" if met == n else f"met in {met} of {n} warm samples"
    lines = [
        "## Start-up (Chromium)",
        "",
        f"Goal: `createClient()` resolves within {goal['ready_ms_warm']:,} ms of navigation on a "
        f"warm HTTP cache, with no main-thread task over {goal['longest_task_ms']} ms "
        f"(Long Tasks API). Where we stand: {verdict}; warm median "
        f"{ratios['ready_warm_ms_median']:.0f} ms (max {ratios['ready_warm_ms_max']:.0f} ms), "
        f"longest task median {ratios['longest_task_warm_ms_median']:.0f} ms (max "
        f"{ratios['longest_task_warm_ms_max']:.0f} ms).",
        "",
        f"{cfg['rounds']} rounds after {cfg['warmup_rounds']} warm-up round, {cfg['order']}. "
        f"Sample: {cfg['sample']}. Long tasks: {cfg['long_tasks']}. Boot paths seen for "
        f"`createClient()` as built: {', '.join(cfg['boot_seen'])}.",
        "",
        table(
            [
                "page awaits",
                "median ms",
                "min",
                "max",
                "longest task ms (median)",
                "longest task max",
                "long tasks total ms",
                "long tasks",
                "MB over the network",
            ],
            rows,
        ),
        "",
        "![start-up](bench/startup.png)",
        "",
        "How: `build.py` boots the pinned Pyodide under Node, installs the wheel, imports "
        f"{', '.join(f'`{m}`' for m in snap.get('imports', []))} (and with them the stdlib "
        "modules a request uses), and saves the interpreter's memory as a content-addressed "
        f"file ({(snap.get('bytes') or 0) / 1e6:.1f} MB uncompressed, served "
        "`Cache-Control: max-age=31536000, immutable`). The shim hands it to "
        "`loadPyodide({_loadSnapshot})`, so the page neither initialises Python nor imports "
        "the client, then yields a turn before and after installing the wheel. The "
        "manifest records the wheel hash and Pyodide version it was made from; the shim boots "
        "plain when either differs or the file cannot be loaded. With the snapshot, "
        f"`createClient()` takes {x(ratios['client_vs_plain_warm'])} of the plain boot's time "
        f"on a warm cache and {x(ratios['client_vs_plain_cold'])} on a cold one (same run, "
        "same pages; plain = `loadRuntime({snapshot: false})`).",
    ]
    return "\n".join(lines)


# -- scale ----------------------------------------------------------------------------------


def plot_scale(r: Result, path: Path) -> Path:
    c, ratios = r["contenders"], r["ratios"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels = [
        (
            axes[0],
            f"Queue: enqueue + dequeue\ngrowth x{ratios['queue_10000_vs_10']:.2f}",
            [("10 waiting", "queue_10"), ("10,000 waiting", "queue_10000")],
        ),
        (
            axes[1],
            "Limiter acquire (sliding window)\n"
            f"1,000 keys: x{ratios['limiter_sw_keys_vs_1']:.2f}; "
            f"of which 1,000 URLs alone: x{ratios['limiter_sw_urls_vs_1']:.2f}",
            [
                ("1 key,\n1 URL", "limiter_sw_1"),
                ("1 key,\n1,000 URLs", "limiter_sw_urls"),
                ("1,000 keys", "limiter_sw_keys"),
            ],
        ),
        (
            axes[2],
            "Breaker step of one attempt\n"
            f"1,000 breakers: x{ratios['breaker_keys_vs_1']:.2f}; "
            f"of which 1,000 URLs alone: x{ratios['breaker_urls_vs_1']:.2f}",
            [
                ("1 breaker,\n1 URL", "breaker_1"),
                ("1 breaker,\n1,000 URLs", "breaker_urls"),
                ("1,000 breakers", "breaker_keys"),
            ],
        ),
    ]
    for ax, title, items in panels:
        med = [c[k]["summary"]["median"] for _, k in items]
        lo = [c[k]["summary"]["min"] for _, k in items]
        hi = [c[k]["summary"]["p95"] for _, k in items]
        shades = [COLORS["ours_light"], COLORS["ours_light"], COLORS["ours"]][-len(items) :]
        bars = ax.bar(
            range(len(items)),
            med,
            0.6,
            color=shades,
            yerr=[
                [m - low for m, low in zip(med, lo, strict=True)],
                [h - m for m, h in zip(med, hi, strict=True)],
            ],
            capsize=3,
        )
        _annotate(ax, bars, "{:,.0f}", at=hi)
        ax.set_xticks(range(len(items)), [label for label, _ in items], fontsize=8)
        ax.set_ylabel("ns per operation (median; whiskers min..p95)")
        ax.set_title(title, fontsize=10)
        ax.margins(y=0.2)
    return _save(fig, path, "Scale: cost per operation, small vs large", r["quick"])


def section_scale(r: Result) -> str:
    c, ratios, cfg = r["contenders"], r["ratios"], r["config"]
    groups = [
        ["queue_10", "queue_10000"],
        ["limiter_sw_1", "limiter_sw_urls", "limiter_sw_keys"],
        ["limiter_tb_1", "limiter_tb_keys"],
        ["breaker_1", "breaker_urls", "breaker_keys"],
        ["urlsplit_hit", "urlsplit_miss"],
    ]
    rows = []
    for keys in groups:
        base = c[keys[0]]["summary"]["median"]
        for k in keys:
            s = c[k]["summary"]
            rows.append(
                [
                    c[k]["label"],
                    f(s["median"], 0),
                    f(s["min"], 0),
                    f(s["p95"], 0),
                    f(s["max"], 0),
                    "" if k == keys[0] else x(s["median"] / base),
                ]
            )
    q10, q10k = c["queue_10"], c["queue_10000"]
    per_key_lim = (
        c["limiter_sw_keys"]["summary"]["median"] - c["limiter_sw_urls"]["summary"]["median"]
    )
    per_key_brk = c["breaker_keys"]["summary"]["median"] - c["breaker_urls"]["summary"]["median"]
    lines = [
        "## Scale",
        "",
        f"- Queue: {cfg['queue']}.",
        f"- Limiter: {cfg['limiter']}.",
        f"- Breaker: {cfg['breaker']}.",
        f"- URLs: {cfg['urls']}. CPython's `urllib.parse.urlsplit` keeps an LRU cache of 128 "
        "results, so 1,000 URLs in rotation miss it on every call: the '1 key, 1,000 URLs' "
        "rows separate that cost from the cost of tracking more keys.",
        "- The query cache's hit cost and its memory at 100,000 entries are measured with "
        "the query benchmark (\"Query cache, dedupe and batching\" below).",
        "",
        table(["operation", "median ns/op", "min", "p95", "max", "vs first row"], rows),
        "",
        "![scale](bench/scale.png)",
        "",
        f"Holding 10,000 waiting requests instead of 10 changes the cost of an enqueue + "
        f"dequeue by {x(ratios['queue_10000_vs_10'])} ({q10['summary']['median']:,.0f} -> "
        f"{q10k['summary']['median']:,.0f} ns; the heap pop and hand-over inside `release` "
        f"alone: {q10['release_ns_per_op']['median']:,.0f} -> "
        f"{q10k['release_ns_per_op']['median']:,.0f} ns, "
        f"{x(ratios['queue_release_10000_vs_10'])}), "
        + (
            "the slow growth O(log n) scheduling promises (log 10,000 / log 10 = 4); most of an "
            "operation is asyncio task switching, which does not depend on n."
            if ratios["queue_release_10000_vs_10"] <= 4
            else "more than O(log n) scheduling should cost (log 10,000 / log 10 = 4): "
            "worth a look."
        ),
        "",
        f"With 1,000 keys a limiter admission costs {x(ratios['limiter_sw_keys_vs_1'])} and a "
        f"breaker step {x(ratios['breaker_keys_vs_1'])} of the one-key case; 1,000 URLs on "
        f"**one** key already cost {x(ratios['limiter_sw_urls_vs_1'])} and "
        f"{x(ratios['breaker_urls_vs_1'])} (a `urlsplit` miss costs "
        f"{ratios['urlsplit_miss_minus_hit_ns']:,.0f} ns more than a hit). More keys add "
        f"{per_key_lim:+,.0f} ns (limiter) and {per_key_brk:+,.0f} ns (breaker) per call on top "
        "of that: "
        + (
            "the growth is URL parsing, not the number of keys (one dict lookup each, with a "
            "larger working set)."
            if max(per_key_lim, per_key_brk)
            < 0.5
            * min(
                c["limiter_sw_urls"]["summary"]["median"] - c["limiter_sw_1"]["summary"]["median"],
                c["breaker_urls"]["summary"]["median"] - c["breaker_1"]["summary"]["median"],
            )
            else "the number of keys itself costs a visible share: worth a look."
        ),
    ]
    return "\n".join(lines)


# -- the document ---------------------------------------------------------------------------


# -- query cache, dedupe and batching -------------------------------------------------------


def plot_query(r: Result, path: Path) -> Path:
    c, big = r["contenders"], r["big"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    panels = [
        (
            axes[0][0],
            "cache hit, one item (us/call, median)",
            [("hit_ours_item", "client.query", "ours"), ("hit_tanstack_item", "TanStack", "peer")],
            lambda k: c[k]["summary"]["median"],
        ),
        (
            axes[0][1],
            f"{r['config']['loads']:,} load(id) (ms wall, median)",
            [
                ("load_ours_load", "client.loader", "ours"),
                ("load_dataloader_load", "DataLoader", "peer"),
            ],
            lambda k: c[k]["summary"]["median"],
        ),
        (
            axes[1][0],
            "page workload (ms wall, median)",
            [
                ("workload_peer", "cockatiel +\np-queue", "peer"),
                ("workload_ours_fetch", "client.fetch", "ours_light"),
                ("workload_ours_query", "query\nstaleTime 0", "ours"),
                ("workload_ours_query_stale", "query\nstaleTime 30 s", "ours"),
            ],
            lambda k: c[k]["summary"]["median"],
        ),
        (
            axes[1][1],
            "page workload (requests reaching the server)",
            [
                ("workload_peer", "cockatiel +\np-queue", "peer"),
                ("workload_ours_fetch", "client.fetch", "ours_light"),
                ("workload_ours_query", "query\nstaleTime 0", "ours"),
                ("workload_ours_query_stale", "query\nstaleTime 30 s", "ours"),
            ],
            lambda k: c[k]["server_requests"]["median"],
        ),
    ]
    for ax, title, bars, value in panels:
        values = [value(k) for k, _, _ in bars]
        ax.barh([b[1] for b in bars], values, color=[COLORS[b[2]] for b in bars])
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(values):
            ax.text(v, i, f" {f(v, 1)}", va="center", fontsize=9)
        ax.set_xlim(0, max(values) * 1.25 or 1)
    return _save(
        fig,
        path,
        f"Query cache, batching, dedupe in Chromium ({big['entries']:,}-entry results in the text)",
        r["quick"],
    )


def section_query(r: Result) -> str:
    c, ratios, cfg, big = r["contenders"], r["ratios"], r["config"], r["big"]
    page = r["machine"].get("page", {})

    def row(key: str, digits: int = 2, extra: Sequence[Any] = ()) -> list[Any]:
        s = c[key]["summary"]
        return [c[key]["label"], f(s["median"], digits), f(s["p95"], digits), *extra]

    hit_rows = [
        row(f"hit_{who}_{t}", 2, [c[f"hit_{who}_{t}"]["server_requests"]])
        for t in ("item", "list")
        for who in ("ours", "tanstack")
    ]
    load_rows = [
        row(
            k,
            1,
            [f(c[k]["us_per_load"]["median"], 1), f(c[k]["server_requests"]["median"], 0)],
        )
        for k in (
            "load_ours_load",
            "load_dataloader_load",
            "load_ours_loadMany",
            "load_dataloader_loadMany",
        )
    ]
    work_rows = [
        row(
            k,
            0,
            [
                f(c[k]["server_requests"]["median"], 0),
                x(ratios.get(f"{k}_vs_peer")) if k != "workload_peer" else "1.00x",
            ],
        )
        for k in (
            "workload_peer",
            "workload_ours_fetch",
            "workload_ours_query",
            "workload_ours_query_stale",
        )
    ]
    cp, py, ts = big["cpython"], big["pyodide"], big["tanstack"]
    n = big["entries"]
    big_rows = [
        [
            "our QueryCache, CPython",
            f(cp["query_cache_bytes_per_entry"], 0),
            f"{cp['hit_us']:.2f} us (fetch() hit, Python loop)",
            cp["memory_source"],
        ],
        [
            "a plain dict of the same items, CPython (floor)",
            f(cp["plain_dict_bytes_per_entry"], 0),
            f"{cp['plain_dict_get_us']:.2f} us (key hash + get)",
            cp["memory_source"],
        ],
        [
            "our QueryCache, Pyodide in the page",
            f(py["query_cache_bytes_per_entry"], 0),
            f"{py['hit_us_python_loop']:.2f} us (Python loop); "
            f"{py['client_query_hit_us']:.1f} us via client.query from JS "
            f"({py['client_query_hit_us_100_entries']:.1f} us at 100 entries)",
            py["memory_source"],
        ],
        [
            "TanStack QueryClient, page",
            f(ts["js_heap_bytes_per_entry"], 0),
            f"{ts['fetch_query_hit_us']:.2f} us (fetchQuery hit)",
            ts["memory_source"],
        ],
    ]
    wl = cfg["workload"]
    return "\n".join(
        [
            "## Query cache, dedupe and batching vs TanStack Query, DataLoader and the peer",
            "",
            "![query](bench/query.png)",
            "",
            "One Chromium page holds every contender (`bench/web/query.js`); the demo backend's "
            "`/_stats` counts the requests that reached it. TanStack Query is "
            "`@tanstack/query-core`'s ESM build, DataLoader is the npm package with a raw-fetch "
            "batch function (no retries, breaker or queue; ours runs the whole pipeline). "
            f"Warm-up, then {cfg['rounds']} rounds, contenders rotated.",
            "",
            f"**Cache hit** ({cfg['hit_calls']:,} sequential calls a round; mean per call, "
            "median over rounds). Both hold the key with a staleTime that never expires; the "
            f"list is `GET /api/items` ({f(page.get('listBytes'), 0)} bytes of JSON), the item "
            "one `GET /api/items/<id>`. Our hit crosses from JS into Python and back, and the "
            "data comes back as JSON text parsed into a new object each call; TanStack hands "
            "back the object it holds. Requests: what reached the server during the hit rounds.",
            "",
            table(["contender", "us/call median", "p95", "requests"], hit_rows),
            "",
            f"**Batch loading**: {cfg['loads']:,} distinct ids in one tick through a fresh "
            f"loader each round, at most {cfg['max_batch']} ids a batch "
            "(`GET /api/items/batch?ids=...`).",
            "",
            table(["contender", "ms wall median", "p95", "us/load", "batch requests"], load_rows),
            "",
            f"**Page workload**: {wl['widgets']} widgets, each showing {wl['perWidget']} items "
            f"from a pool of {wl['pool']} (overlapping windows), all rendering at once, "
            f"{wl['passes']} passes in a row ({cfg['workload_reads_per_round']:,} item reads a "
            "round; a fresh client or peer per round). Wall time until every widget has its "
            "data; requests include background refetches, counted after they settle.",
            "",
            table(
                ["contender", "ms wall median", "p95", "server requests", "time vs peer"],
                work_rows,
            ),
            "",
            f'**{n:,} entries** (one item each, `["item", i]` keys). Memory per entry from '
            "the source named in each row; CPython and Pyodide bytes are Python allocations "
            "(tracemalloc), TanStack's the JS heap, so read them side by side, not as one "
            "scale. Hits are for random keys at that size.",
            "",
            table(["cache", "bytes/entry", "hit cost", "memory measured by"], big_rows, "lrll"),
            "",
        ]
    )


def _query_headlines(r: Result) -> list[list[str]]:
    c = r["contenders"]
    hi, ht = c["hit_ours_item"]["summary"]["median"], c["hit_tanstack_item"]["summary"]["median"]
    lo, ld = c["load_ours_load"], c["load_dataloader_load"]
    wp, wq = c["workload_peer"], c["workload_ours_query"]
    big = r["big"]
    return [
        [
            "Query cache hit, one item (client.query / TanStack fetchQuery)",
            f"{hi:.1f} us",
            f"{ht:.1f} us",
            "TanStack faster" if ht < hi else "ours faster",
        ],
        [
            f"{r['config']['loads']:,} load(id): per load, batch requests (loader / DataLoader)",
            f"{lo['us_per_load']['median']:.1f} us, {f(lo['server_requests']['median'], 0)}",
            f"{ld['us_per_load']['median']:.1f} us, {f(ld['server_requests']['median'], 0)}",
            "DataLoader faster"
            if ld["summary"]["median"] < lo["summary"]["median"]
            else "ours faster",
        ],
        [
            "Page workload with repeated reads: wall, server requests (query / peer)",
            f"{wq['summary']['median']:.0f} ms, {f(wq['server_requests']['median'], 0)}",
            f"{wp['summary']['median']:.0f} ms, {f(wp['server_requests']['median'], 0)}",
            f"ours {faster(wq['summary']['median'], wp['summary']['median'])} the peer",
        ],
        [
            f"{big['entries']:,} entries: bytes/entry (Pyodide QueryCache / TanStack JS heap)",
            f(big["pyodide"]["query_cache_bytes_per_entry"], 0),
            f(big["tanstack"]["js_heap_bytes_per_entry"], 0),
            f"hit via client.query {big['pyodide']['client_query_hit_us']:.0f} us vs "
            f"{big['tanstack']['fetch_query_hit_us']:.1f} us",
        ],
    ]


def _query_losses(r: Result) -> list[str]:
    c = r["contenders"]
    items = []
    hi, ht = c["hit_ours_item"]["summary"]["median"], c["hit_tanstack_item"]["summary"]["median"]
    hl, htl = c["hit_ours_list"]["summary"]["median"], c["hit_tanstack_list"]["summary"]["median"]
    if hi > ht:
        items.append(
            f"**Query cache hits from JS.** A fresh `client.query` hit costs {hi:.1f} us for one "
            f"item and {hl:.1f} us for the item list, TanStack's `fetchQuery` hit {ht:.1f} / "
            f"{htl:.1f} us. Fresh hits no longer cross into Python: the shim keeps the parsed "
            "data of each fresh entry and Python calls back once when that entry changes, so a "
            "hit is a map lookup, a clock read and a string compare of the URL, headers and "
            "options (a different URL under the same key goes to Python). What is left is that "
            "check plus the count of hits reported back to Python once per task. Stale hits "
            "and misses still cross."
        )
    lo, ld = (
        c["load_ours_load"]["summary"]["median"],
        c["load_dataloader_load"]["summary"]["median"],
    )
    many = c["load_ours_loadMany"]["summary"]["median"]
    if lo > ld:
        items.append(
            f"**Batch loading.** {r['config']['loads']:,} `load(id)` calls take {lo:.0f} ms "
            f"through our loader, {ld:.0f} ms through DataLoader, with the same number of "
            "batch requests. The `load` calls of one turn already cross into Python once, as "
            f"one `loadMany` (which takes {many:.0f} ms itself), so what is left is the "
            "per-item work in Python: a future per id, the item written into the query cache "
            "under `[name, id]` (key hash, size, recency, gc schedule), and the answer's JSON. "
            "Next: write a batch's items into the cache in one pass."
        )
    return items


def _machine(results: dict[str, Result]) -> str:
    any_r = next(iter(results.values()))
    m = any_r["machine"]
    browser = results.get("browser_overhead") or results.get("startup")
    bm = browser["machine"] if browser else {}
    pkgs = ", ".join(f"{k} {v}" for k, v in m["python_packages"].items() if v)
    npm = ", ".join(f"{k} {v}" for k, v in m["npm_packages"].items() if v)
    rows = [
        ["CPU", f"{m['cpu_model']} ({m['cpu_count']} logical, {m['cpus_usable']} usable)"],
        ["OS", m["platform"]],
        ["Python", m["python"]],
        ["Node", m["node"] or "n/a"],
        ["Chromium", bm.get("chromium", "n/a")],
        ["Pyodide (in page)", bm.get("pyodide_runtime", m["npm_packages"].get("pyodide"))],
        [
            "client wheel in dist/",
            f"{bm.get('wheel')} (sha256 {str(bm.get('wheel_sha256'))[:12]}...)",
        ],
        ["Python packages", pkgs],
        ["npm packages", npm],
        [
            "load average at start",
            "; ".join(f"{n}: {r['machine']['load_avg']}" for n, r in results.items()),
        ],
        [
            "commit",
            f"{m.get('git_commit') or 'n/a'}"
            + (
                " (client_py/ had uncommitted changes)"
                if m.get("client_py_modified_since_commit")
                else ""
            ),
        ],
    ]
    return table(["", ""], rows, "ll")


def _headlines(results: dict[str, Result]) -> str:
    rows = []
    b = results.get("browser_overhead")
    if b:
        ro, rp = b["ratios"]["ours_seq"], b["ratios"]["peer_seq"]
        rows.append(
            [
                "Browser, sequential: added latency over raw fetch, p50 / p95",
                f"{ro['added_ms_p50']:.2f} / {ro['added_ms_p95']:.2f} ms",
                f"{rp['added_ms_p50']:.2f} / {rp['added_ms_p95']:.2f} ms",
                "peer adds less" if rp["added_ms_p50"] < ro["added_ms_p50"] else "ours adds less",
            ]
        )
        co, cp = b["ratios"]["ours_c10"], b["ratios"]["peer_c10"]
        rows.append(
            [
                "Browser, concurrency 10: added latency p50 / p95",
                f"{co['added_ms_p50']:.2f} / {co['added_ms_p95']:.2f} ms",
                f"{cp['added_ms_p50']:.2f} / {cp['added_ms_p95']:.2f} ms",
                "peer adds less" if cp["added_ms_p50"] < co["added_ms_p50"] else "ours adds less",
            ]
        )
        for mode, label in (("seq", "sequential"), ("c10", "concurrency 10")):
            o, p = b["ratios"][f"ours_{mode}"], b["ratios"][f"peer_{mode}"]
            rows.append(
                [
                    f"Browser, {label}: throughput relative to raw fetch",
                    x(o["throughput_vs_raw"]),
                    x(p["throughput_vs_raw"]),
                    "peer faster"
                    if p["throughput_vs_raw"] > o["throughput_vs_raw"]
                    else "ours faster",
                ]
            )
    cp_ = results.get("cpython_overhead")
    if cp_:
        c = cp_["contenders"]
        o, p = c["ours_send"]["summary"]["median"], c["peers"]["summary"]["median"]
        rows.append(
            [
                "CPython, per call on a null transport (send / peers)",
                f"{o:.1f} us ({c['ours_get']['summary']['median']:.1f} us via get(url))",
                f"{p:.1f} us",
                "peer cheaper" if p < o else "ours cheaper",
            ]
        )
        rows.append(
            [
                "CPython, same pipeline with timeouts off",
                f"{c['ours_no_timeouts']['summary']['median']:.1f} us",
                f"{p:.1f} us",
                "peer cheaper"
                if p < c["ours_no_timeouts"]["summary"]["median"]
                else "ours cheaper",
            ]
        )
    s = results.get("startup")
    if s:
        sc, sr = s["contenders"], s["ratios"]
        goal = s["config"]["goal"]
        rows.append(
            [
                "Start-up, warm cache: navigation to createClient() resolved (median)",
                f"{sc['client_warm']['summary']['median']:.0f} ms (snapshot)",
                f"{sc['client_plain_warm']['summary']['median']:.0f} ms (plain boot)",
                f"goal {goal['ready_ms_warm']:,} ms: "
                + ("met" if sr["ready_warm_ms_max"] <= goal["ready_ms_warm"] else "not met"),
            ]
        )
        rows.append(
            [
                "Start-up, warm cache: longest main-thread task (max over samples)",
                f"{sc['client_warm']['longest_task_ms']['max']:.0f} ms",
                f"{sc['client_plain_warm']['longest_task_ms']['max']:.0f} ms",
                f"goal {goal['longest_task_ms']} ms: "
                + (
                    "met"
                    if sr["longest_task_warm_ms_max"] <= goal["longest_task_ms"]
                    else "not met"
                ),
            ]
        )
        rows.append(
            [
                "Start-up, cold cache: ready (median) / longest task (median)",
                f"{sc['client_cold']['summary']['median']:.0f} / "
                f"{sc['client_cold']['longest_task_ms']['median']:.0f} ms",
                f"{sc['client_plain_cold']['summary']['median']:.0f} / "
                f"{sc['client_plain_cold']['longest_task_ms']['median']:.0f} ms",
                "",
            ]
        )
    sc_ = results.get("scale")
    if sc_:
        rr = sc_["ratios"]
        rows.append(
            [
                "Scale: cost growth, queue 10 -> 10,000 waiting",
                x(rr["queue_10000_vs_10"]),
                "",
                "",
            ]
        )
        rows.append(
            [
                "Scale: cost growth, 1 -> 1,000 keys (limiter / breaker)",
                f"{x(rr['limiter_sw_keys_vs_1'])} / {x(rr['breaker_keys_vs_1'])}",
                f"1,000 URLs on 1 key: {x(rr['limiter_sw_urls_vs_1'])} / "
                f"{x(rr['breaker_urls_vs_1'])}",
                "",
            ]
        )
    q = results.get("query")
    if q:
        rows += _query_headlines(q)
    return table(["measure", "resilient-fetch", "peer / baseline", "verdict"], rows, "lrrl")


def _next_steps(results: dict[str, Result]) -> str:
    items: list[str] = []
    cp = results.get("cpython_overhead")
    b = results.get("browser_overhead")
    sc = results.get("scale")
    st = results.get("startup")
    if b:
        ro, rp = b["ratios"]["ours_seq"], b["ratios"]["peer_seq"]
        lead = (
            "**In the browser the JS peer wins**"
            if rp["added_ms_p50"] < ro["added_ms_p50"]
            else "**In the browser we beat the JS peer**"
        )
        items.append(
            f"{lead}: cockatiel + p-queue add "
            f"{rp['added_ms_p50']:.2f} ms per sequential request (p50) to raw fetch, we add "
            f"{ro['added_ms_p50']:.2f} ms; at concurrency 10 we keep "
            f"{x(b['ratios']['ours_c10']['throughput_vs_raw'])} of raw fetch's throughput, the "
            f"peer {x(b['ratios']['peer_c10']['throughput_vs_raw'])}. Part of that is the price "
            "of running the policies in Python (the same pipeline, one wheel, CPython and "
            "browser); the items below are the parts we can remove."
        )
    if cp:
        c = cp["contenders"]
        send, peers = c["ours_send"]["summary"]["median"], c["peers"]["summary"]["median"]
        saved = cp["ablation_us_saved"]["timeouts"]
        verdict = (
            f"the peer stack takes {peers:.1f} us per call, our pipeline {send:.1f} us"
            if peers < send
            else f"we already beat the peer stack, {send:.1f} vs {peers:.1f} us per call"
        )
        items.append(
            f"**Timeouts.** In CPython {verdict}. The attempt and total timeouts still cost "
            f"{saved:.1f} us of ours ({saved / send * 100:.0f}%): on the real clock "
            "`run_with_timeout` now runs the work in the caller's task and a shared "
            "deadline timer cancels it (it used to start the work and a timer as two extra "
            "tasks and wait on both, which made it most of the per-call cost). With the "
            f"timeouts off our pipeline takes {c['ours_no_timeouts']['summary']['median']:.1f} "
            f"us, {faster(c['ours_no_timeouts']['summary']['median'], peers)} the peers."
        )
    if b:
        null = b["breakdown"]["null_transport"]
        items.append(
            "**Task switches in the page.** Under Pyodide every `call_soon` is a browser task, "
            "so task switches cost far more than in CPython: the pipeline on a null transport "
            f"takes {null['py_pipeline_ms']:.3f} ms per call in Pyodide, and "
            f"{null['py_pipeline_no_timeouts_ms']:.3f} ms with the two timeouts off. (Pyodide's "
            "WebLoop ignores `TimerHandle.cancel()`, so real-clock deadlines share one armed "
            "timer, `policies/deadlines.py`, rather than leaving two pending `setTimeout`s per "
            "request.) Counted in the page (every `call_soon`/`call_later` of the WebLoop): "
            "a `client.fetch` with the settings above now takes no loop turn at all on the "
            "happy path, sequentially or at concurrency 10. With the defaults (revalidation "
            "cache and in-flight dedupe on) it takes one, down from five: the dedupe flight "
            "runs as an eager plain task and hands its result to the callers' plain futures "
            "itself (the loop's own futures and tasks add a bookkeeping callback each, and "
            "each callback is a browser task). That last turn is the hand-over from the shared "
            "flight to its caller; a 200 the cache keeps also waits for its `clone()` to be "
            "read."
        )
        wf = {s["key"]: s for s in b["breakdown"]["waterfall"]}
        pyfetch = wf["py_pyfetch_seq"]["step_ms"]
        transport = pyfetch + wf["py_transport_seq"]["step_ms"]
        items.append(
            "**The JS boundary.** `BrowserTransport` fetches through the shim's `fetchOnce`, "
            "which reports the outcome to one long-lived Python callback from the promise's "
            "own reaction; the transport awaits a small future-like object whose waiter is "
            "resumed right there, so the pipeline decides and the page's promise settles in "
            "the microtask in which the headers arrived (awaiting the JS promise from Python "
            "cost two browser tasks: the task's wake-up and the WebLoop's bookkeeping "
            "callback). From Python it also reads the body, and costs "
            f"{transport:+.2f} ms over the same fetch from JS (`pyfetch` + `bytes()`, which "
            f"await each step, cost {pyfetch:+.2f} ms). The pipeline adds "
            f"{wf['py_pipeline_net_seq']['step_ms']:+.2f} ms. Through the JS shim, "
            "`client.fetch` hands back fetch's own Response (no body crosses, no `Request` "
            "rebuilt, the call starts as an eager task), and costs "
            f"{wf['ours_seq']['step_ms']:+.2f} ms more than the Python caller that reads the "
            "body inside the helper: the page starts reading the body only once Python has "
            "decided. What is left per request is Python's CPU on the main thread (the shim "
            f"on a null Python transport takes {null['shim_null_ms']:.3f} ms per call), which "
            "at concurrency 10 competes with the server for the two cores. Not tried yet: "
            "reading a `clone()` in the helper while Python decides (the price is a copy)."
        )
        items.append(
            "**Pyodide without JSPI.** The shim now loads Pyodide with WebAssembly stack "
            "switching out of its sight (it crashed Chromium tabs in CI; see the README). "
            "With JSPI, Pyodide resumed Python on a switched stack, one browser task later, "
            "each time an awaited promise settled; without it Python runs in the promise's "
            "own reaction. Measured once, in three interleaved A/B runs of this benchmark "
            "before the change landed: at concurrency 10 0.876-0.886x of raw fetch without "
            "JSPI against 0.830-0.865x with it, and a sequential added p50 of 0.9-1.0 ms "
            "in both, so the crash fix costs nothing and the gap to the peer is not the "
            "stack switching. A CPU profile of 500 sequential `client.fetch` calls "
            "(Chrome's sampling profiler, 50 µs) put the main thread's extra work per "
            "request at about 0.25 ms of Python (wasm), 0.12 ms of Pyodide's JS glue and "
            "0.19 ms in the shim, beside the 0.33 ms that `fetch()` itself takes in both; "
            "part of it overlaps the wait for the server."
        )
    if cp and sc:
        per = cp["profile"].get("calls_per_request", {}).get("urlsplit")
        miss = sc["ratios"]["urlsplit_miss_minus_hit_ns"]
        items.append(
            "**Parse the URL once per request.** A `Request` now splits its URL once "
            "(`Request.parts`), and the breaker key and the metrics route read it. The "
            "limiter key and the network gate (which checks the origin twice) still call "
            f"`urlsplit` themselves, {f(per, 0)} times per `client.get` in the profile "
            "above. CPython caches the last 128 results, so within one request only the "
            "first parse of a new URL misses; with many distinct URLs (`/api/items/<id>`) a "
            f"miss costs {miss:,.0f} ns more than a hit, which is why 1,000 URLs on one key "
            f"make an isolated limiter admission {x(sc['ratios']['limiter_sw_urls_vs_1'])} "
            "dearer (see Scale). Next: let the limiter and the network monitor take the "
            "split parts too."
        )
    if st:
        sc, sr = st["contenders"], st["ratios"]
        cold = sc["client_cold"]
        items.append(
            "**Start-up.** From the memory snapshot `createClient()` is ready "
            f"{sr['ready_warm_ms_median']:.0f} ms after navigation on a warm cache (plain boot "
            f"{sc['client_plain_warm']['summary']['median']:.0f} ms), longest task "
            f"{sr['longest_task_warm_ms_max']:.0f} ms at most, so Python stays on the main "
            "thread (a module Worker would cost a message hop per request and forwarded "
            "online/offline events for no start-up gain here). Left: a cold cache still "
            f"takes {cold['summary']['median']:.0f} ms with a longest task of "
            f"{cold['longest_task_ms']['median']:.0f} ms (median; not profiled yet: the wasm "
            "is compiled without a code cache then, and the snapshot is downloaded), and "
            "hosts should compress the snapshot (4.5x with `gzip -1`), which the demo "
            "server sends raw."
        )
    if results.get("query"):
        items += _query_losses(results["query"])
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def generate(results_dir: Path = RESULTS_DIR, docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Read the JSON results, draw the plots and write BENCHMARKS.md; returns the written paths."""
    results: dict[str, Result] = {}
    for name in NAMES:
        path = results_dir / f"{name}.json"
        if path.is_file():
            results[name] = json.loads(path.read_text())
    if not results:
        raise SystemExit(f"no results in {results_dir}: run `python -m bench.run` first")
    img = docs_dir / "bench"
    written: list[Path] = []
    sections: list[str] = []
    builders = {
        "browser_overhead": (plot_browser, section_browser),
        "cpython_overhead": (plot_cpython, section_cpython),
        "startup": (plot_startup, section_startup),
        "scale": (plot_scale, section_scale),
        "query": (plot_query, section_query),
    }
    for name, (plot, section) in builders.items():
        if name in results:
            written.append(plot(results[name], img / f"{name}.png"))
            sections.append(section(results[name]))
    quick = [n for n, r in results.items() if r.get("quick")]
    stamps = sorted({r["machine"]["timestamp"] for r in results.values()})
    duration = max((r.get("run_duration_s") or 0) for r in results.values())
    header = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python -m bench.run); edit bench/report.py, not this "
        "file. -->",
        "",
        "How much resilient-fetch costs on top of `fetch`, measured side by side in one run "
        "against the physical limit (raw `fetch`) and against what a user would pick instead "
        "(cockatiel + p-queue in the page; tenacity + pybreaker + aiolimiter in CPython). "
        "Contenders alternate (A B A B ...) after a warm-up so that drift on this shared "
        "machine hits all of them alike; only ratios and differences from the same run are "
        "reported, never thresholds. Benchmarks are measurements, not tests: none fails for "
        "being slow.",
        "",
        f"Run at {', '.join(stamps)} (whole run {duration:.0f} s). Raw numbers: "
        "`bench/results/*.json`. Re-run: `make bench` (or `python -m bench.run [--quick] "
        "[--only NAME,...]`); redraw from the JSON: `python -m bench.report`.",
    ]
    if quick:
        header += [
            "",
            f"> **Quick run** ({', '.join(quick)}): few samples, for smoke tests only. Run "
            "`make bench` for numbers worth reading.",
        ]
    doc = [
        *header,
        "",
        "## Machine",
        "",
        _machine(results),
        "",
        "## Headlines",
        "",
        _headlines(results),
        "",
        "## Where we lose, and what to optimise next",
        "",
        _next_steps(results),
        "",
        *[s + "\n" for s in sections],
        "## Method notes",
        "",
        "- Sample summaries are min / median / p95 / max; the browser's latency summaries pool "
        "every request of every round, CPython's and the scale figures are per-batch means.",
        "- Two shared cores: other work on the machine (and, in the browser runs, the backend "
        "process and Chromium's own processes) competes for them. Interleaving spreads that "
        "noise over all contenders; the per-round ratios in the JSON show how much it moved.",
        "- The browser timer is `performance.now()`, coarsened by Chromium to 100 us on a page "
        "that is not cross-origin isolated; per-request latencies are milliseconds, and "
        "percentiles over 1,000 requests average the rounding out.",
        "- The in-page Python probes (waterfall, null transport) are timed in Python over a "
        "batch of sequential calls, so they are means, not per-request percentiles.",
        "",
    ]
    docs_dir.mkdir(parents=True, exist_ok=True)
    out = docs_dir / "BENCHMARKS.md"
    out.write_text("\n".join(doc))
    written.append(out)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR)
    args = parser.parse_args(argv)
    for path in generate(args.results_dir, args.docs_dir):
        print(path)


if __name__ == "__main__":
    main()
