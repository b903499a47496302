"""Shared helpers: sample summaries, machine facts, result files.

Every benchmark writes one ``bench/results/<name>.json`` with the same outline::

    {"benchmark", "title", "quick", "machine": {...}, "config": {...},
     "contenders": {name: {"label", "unit", "summary": {n, min, median, p95, max, mean}}},
     "ratios": {...}, ...benchmark-specific extras}

Timings are only ever compared within one run (ratios, differences), never
against fixed thresholds: the machine is shared and its speed varies.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
DOCS_DIR = ROOT / "docs"
PY_PACKAGES = (
    "resilient-fetch",
    "tenacity",
    "pybreaker",
    "aiolimiter",
    "matplotlib",
    "playwright",
    "flask",
    "werkzeug",
)
NPM_PACKAGES = ("pyodide", "cockatiel", "p-queue")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Iterable[float], digits: int = 4) -> dict[str, float]:
    """n, min, median, p95, max and mean of the samples."""
    data = [float(v) for v in values]
    return {
        "n": len(data),
        "min": round(min(data), digits),
        "median": round(percentile(data, 50), digits),
        "p95": round(percentile(data, 95), digits),
        "max": round(max(data), digits),
        "mean": round(sum(data) / len(data), digits),
    }


def ratio(a: float, b: float, digits: int = 3) -> float | None:
    """a / b, or None when b is zero."""
    return round(a / b, digits) if b else None


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _npm_version(name: str) -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(
            json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
        )
    return None


def _py_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _client_modified() -> bool | None:
    """Whether client_py/ differs from HEAD (read-only: no index refresh, no lock)."""
    cmd = ["git", "--no-optional-locks", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--"]
    try:
        done = subprocess.run([*cmd, "client_py"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: False, 1: True}.get(done.returncode)


def machine_info() -> dict[str, Any]:
    """CPU, OS, interpreter and package versions, load average: what the numbers depend on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "node": _run(["node", "--version"]),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "git_commit": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "client_py_modified_since_commit": _client_modified(),
        "python_packages": {name: _py_version(name) for name in PY_PACKAGES},
        "npm_packages": {name: _npm_version(name) for name in NPM_PACKAGES},
    }


def write_result(result: dict[str, Any], results_dir: Path) -> Path:
    """Write ``<results_dir>/<benchmark>.json`` atomically (a .tmp file, then rename)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{result['benchmark']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def log(message: str) -> None:
    """Progress on stderr (stdout stays free for the final summary)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
