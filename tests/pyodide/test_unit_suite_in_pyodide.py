"""Runs the whole unit suite inside real Pyodide (Node) and checks nothing was dropped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ._suite import PYTEST_ARGS, ROOT, assert_suite_passed, suite_wheels

RUNNER = Path(__file__).with_name("run_in_pyodide.mjs")


@pytest.mark.timeout(900)
def test_unit_suite_passes_inside_pyodide(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    for whl in suite_wheels():
        shutil.copy2(whl, wheel_dir)
    proc = subprocess.run(
        [
            "node",
            "--experimental-wasm-stack-switching",
            str(RUNNER),
            str(wheel_dir),
            str(ROOT / "tests"),
            *PYTEST_ARGS,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    print(output[-5000:])
    assert_suite_passed(proc.returncode, output)
