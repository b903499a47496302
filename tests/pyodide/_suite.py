"""What the two in-Pyodide runs of the unit suite share (Node: test_unit_suite_in_pyodide,
Chromium: test_unit_suite_in_chromium): the wheels to install, the pytest arguments, the
CPython test count and the verdict on pytest's output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYODIDE_WHEELS = ROOT / ".cache" / "pyodide-wheels"
# Runs pytest inside Pyodide; both runners execute this file, then `main(args)`.
PYTEST_MAIN = Path(__file__).with_name("pytest_main.py")
# Relative to /work, where both runners put tests/ (conftest.py + unit/).
PYTEST_ARGS = ["tests/unit", "-q", "-p", "no:randomly"]


def suite_wheels() -> list[Path]:
    """The pure-Python test wheels (``make pyodide-wheels``) and the client wheel from dist/."""
    wheels = sorted((ROOT / "dist").glob("resilient_fetch-*.whl"))
    if not wheels:
        pytest.fail("dist/ has no client wheel: run `python build.py` (make test does)")
    if not any(PYODIDE_WHEELS.glob("pytest-*.whl")):
        pytest.fail(".cache/pyodide-wheels has no pytest wheel: run `make pyodide-wheels`")
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.fail("node_modules/pyodide is missing: run `npm ci`")
    return [*sorted(PYODIDE_WHEELS.glob("*.whl")), wheels[-1]]


def count_cpython_unit_tests() -> int:
    """How many tests pytest collects from tests/unit under this CPython."""
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


def assert_suite_passed(exit_code: int, output: str) -> None:
    """pytest ran inside Pyodide and passed as many tests as CPython collects; none failed
    or was skipped."""
    assert exit_code == 0, output[-5000:]
    assert "platform emscripten" in output
    passed = re.search(r"(\d+) passed", output)
    assert passed, output[-2000:]
    got, want = int(passed.group(1)), count_cpython_unit_tests()
    assert got == want, f"{got} passed inside Pyodide, but CPython collects {want}"
    assert not re.search(r"\d+ (failed|skipped|error)", output), output[-2000:]
