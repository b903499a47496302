"""Real server processes for the shutdown and metrics tests, on 127.0.0.1 only.

``python -m demo_backend`` (waitress) and gunicorn with ``demo_backend.gunicorn_conf``,
each started on a port it picks, waited for with a bound, and stopped in the
caller's ``finally`` with :func:`processes.stop` (SIGKILL if it does not go).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .processes import ROOT, START_TIMEOUT_S, stop


@dataclass
class Served:
    """A server process, its base URL and its combined stdout/stderr log."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, pattern: bytes) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(pattern, log.read_bytes())
        if found:
            url = found.group(1).decode().rstrip("/")
            try:
                if requests.get(url + "/health/ready", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
        time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    pytest.fail(f"server did not become ready ({url}):\n{log.read_text()[-3000:]}", pytrace=False)


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def start_demo(tmp: Path, env: dict[str, str]) -> Served:
    """``python -m demo_backend --port 0`` with a one-file site, faults on (demo mode)."""
    dist = tmp / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "index.html").write_text("<!doctype html><title>t</title>")
    log = tmp / "demo.log"
    cmd = [sys.executable, "-m", "demo_backend", "--host", "127.0.0.1", "--port", "0",
           "--dist", str(dist)]  # fmt: skip
    proc = _spawn(cmd, env, log)
    try:
        url = _wait_ready(proc, log, rb"resilient-fetch demo: (http://127\.0\.0\.1:\d+)/")
    except BaseException:
        stop(proc, signal.SIGKILL)
        raise
    return Served(proc, url, log)


def start_gunicorn_conf(
    tmp: Path, env: dict[str, str], workers: int, *extra: str, conf: bool = True
) -> Served:
    """gunicorn with ``-c python:demo_backend.gunicorn_conf`` (``conf=False``: without it)."""
    log = tmp / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn"]
    if conf:
        cmd += ["-c", "python:demo_backend.gunicorn_conf"]
    cmd += ["--workers", str(workers), "--bind", "127.0.0.1:0", "--no-control-socket",
            *extra, "demo_backend:create_app()"]  # fmt: skip
    proc = _spawn(cmd, env, log)
    try:
        url = _wait_ready(proc, log, rb"Listening at: (http://127\.0\.0\.1:\d+)")
    except BaseException:
        stop(proc, signal.SIGKILL)
        raise
    return Served(proc, url, log)
