"""Runs the whole unit suite inside real Pyodide (Node) and checks nothing was dropped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_in_pyodide.mjs")
PYODIDE_WHEELS = ROOT / ".cache" / "pyodide-wheels"


def _count_cpython_unit_tests() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", str(ROOT / "tests" / "unit")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    match = re.search(r"(\d+) tests? collected", out)
    assert match, out
    return int(match.group(1))


@pytest.mark.timeout(900)
def test_unit_suite_passes_inside_pyodide(tmp_path: Path) -> None:
    wheels = sorted((ROOT / "dist").glob("resilient_fetch-*.whl"))
    if not wheels:
        pytest.fail("dist/ has no client wheel: run `python build.py` (make test does)")
    if not any(PYODIDE_WHEELS.glob("pytest-*.whl")):
        pytest.fail(".cache/pyodide-wheels has no pytest wheel: run `make pyodide-wheels`")
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.fail("node_modules/pyodide is missing: run `npm ci`")
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    for whl in [*PYODIDE_WHEELS.glob("*.whl"), wheels[-1]]:
        shutil.copy2(whl, wheel_dir)
    proc = subprocess.run(
        [
            "node",
            "--experimental-wasm-stack-switching",
            str(RUNNER),
            str(wheel_dir),
            str(ROOT / "tests"),
            "tests/unit",
            "-q",
            "-p",
            "no:randomly",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    print(output[-5000:])
    assert proc.returncode == 0, output[-5000:]
    assert "platform emscripten" in output
    passed = re.search(r"(\d+) passed", output)
    assert passed, output[-2000:]
    assert int(passed.group(1)) == _count_cpython_unit_tests()
    assert not re.search(r"\d+ (failed|skipped|error)", output), output[-2000:]
