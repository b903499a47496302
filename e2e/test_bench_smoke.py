"""`make bench` stays runnable: the quick mode runs every benchmark end to end.

Checks shape, not speed: benchmarks never fail CI for being slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("browser_overhead", "cpython_overhead", "startup", "scale")


@pytest.mark.timeout(400)
def test_bench_quick_writes_results_plots_and_report(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--results-dir",
            str(results),
            "--docs-dir",
            str(docs),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=380,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for name in BENCHMARKS:
        data = json.loads((results / f"{name}.json").read_text())
        assert data["quick"] is True and data["ratios"], name
        for contender in data["contenders"].values():
            s = contender["summary"]
            assert s["min"] <= s["median"] <= s["p95"] <= s["max"], (name, s)
        assert (docs / "bench" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    report = (docs / "BENCHMARKS.md").read_text()
    assert all(name in report or name.replace("_", " ") in report.lower() for name in BENCHMARKS)
