"""A failed browser test leaves its Playwright trace and a screenshot under --output.

Runs a deliberately failing test in a pytest subprocess with the options
`make test` uses (pyproject's addopts) and looks in the output folder; a
passing test, as the control, must leave nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
from e2e.conftest import browser_type_launch_args  # Debian's Chromium, as in e2e/
"""
TESTS = """
def test_fails(page):
    page.set_content("<h1>about to fail</h1>")
    assert page.text_content("h1") == "something else"

def test_passes(page):
    page.set_content("<h1>fine</h1>")
    assert page.text_content("h1") == "fine"
"""


def test_a_failed_browser_test_keeps_its_trace_and_screenshot(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_sample.py").write_text(TESTS)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path), "-c", os.devnull,
            "--tracing=retain-on-failure", "--screenshot=only-on-failure", f"--output={out}",
        ],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 1 and "test-fails" in folders[0], folders  # the passing test left nothing
    kept = out / folders[0]
    assert zipfile.is_zipfile(kept / "trace.zip")
    with zipfile.ZipFile(kept / "trace.zip") as trace:
        assert any(name.endswith(".trace") for name in trace.namelist())
    shots = list(kept.glob("*.png"))
    assert shots and shots[0].read_bytes().startswith(b"\x89PNG")
