"""Run every benchmark, write ``bench/results/<name>.json``, regenerate docs/BENCHMARKS.md.

    python -m bench.run [--quick] [--only NAME[,NAME...]] [--results-dir DIR] [--docs-dir DIR]

Benchmarks: ``cpython_overhead``, ``scale`` (CPython only, a few seconds),
``browser_overhead`` and ``startup`` (Playwright + Debian Chromium + the demo
backend in its own process on 127.0.0.1; need ``dist/``, i.e. ``make build``),
``query`` (``bench/query_bench.py``: query cache, loader and dedupe vs TanStack
Query, DataLoader and cockatiel + p-queue in one page, plus 100,000 entries).
``--quick`` takes fewer samples (about a minute; for smoke tests); the numbers
it writes say ``"quick": true``, the report flags them, and unless
``--results-dir``/``--docs-dir`` say otherwise they go to a temporary directory,
never over the committed results.

Benchmarks are measurements, not tests: nothing here fails for being slow. It
fails (non-zero exit) only when a benchmark cannot run, e.g. a request errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import DOCS_DIR, RESULTS_DIR, ROOT, log, write_result

ALL = ("cpython_overhead", "scale", "browser_overhead", "startup", "backend_memory", "query")
QUICK_DIR = Path(tempfile.gettempdir()) / "resilient-fetch-bench-quick"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples (~1 minute)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(ALL)} (default: all)"
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help=f"JSON files go here [{RESULTS_DIR.relative_to(ROOT)}; "
        f"with --quick: {QUICK_DIR}/results]",
    )
    parser.add_argument(
        "--docs-dir",
        type=Path,
        default=None,
        help=f"BENCHMARKS.md and bench/*.png go here [{DOCS_DIR.relative_to(ROOT)}; "
        f"with --quick: {QUICK_DIR}/docs]",
    )
    parser.add_argument("--no-report", action="store_true", help="write the JSON files only")
    args = parser.parse_args(argv)
    # A quick run never overwrites the committed results and report unless asked to.
    if args.results_dir is None:
        args.results_dir = QUICK_DIR / "results" if args.quick else RESULTS_DIR
    if args.docs_dir is None:
        args.docs_dir = QUICK_DIR / "docs" if args.quick else DOCS_DIR
    only = {name.strip() for name in args.only.split(",") if name.strip()} or set(ALL)
    unknown = only - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(ALL)}")

    started = time.monotonic()
    results: list[dict[str, Any]] = []
    if "cpython_overhead" in only:
        from . import cpython_overhead

        results.append(cpython_overhead.run(quick=args.quick))
    if "scale" in only:
        from . import scale

        results.append(scale.run(quick=args.quick))
    if "backend_memory" in only:
        from . import backend_memory

        results.append(backend_memory.run(2_000 if args.quick else 10_000))
    if only & {"browser_overhead", "startup"}:
        from . import browser

        results.extend(browser.run(quick=args.quick, only=only & {"browser_overhead", "startup"}))
    if "query" in only:
        from . import query_bench

        results.append(query_bench.run(quick=args.quick))
    elapsed = time.monotonic() - started
    for result in results:
        result["run_duration_s"] = round(elapsed, 1)  # the whole `bench.run`, all benchmarks
        log(f"wrote {write_result(result, args.results_dir)}")
    if not args.no_report:
        from . import report

        written = report.generate(args.results_dir, args.docs_dir)
        for path in written:
            log(f"wrote {path}")
    log(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
