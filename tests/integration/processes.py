"""Real processes for the Redis-mode tests: a redis-server and gunicorn backends on 127.0.0.1.

Everything is bounded: start-up waits time out, and stop() escalates from a
quick shutdown to SIGKILL, so a stuck child never outlives the test session.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A port that was free a moment ago (the caller retries if someone takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Stop one child we started; SIGKILL if it does not go in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@dataclass
class RedisServer:
    """A throw-away redis-server; ``uri`` is ``redis://127.0.0.1:<port>/0``."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(workdir: Path) -> RedisServer:
    """Start redis-server on a free port; fail (never skip) when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server not found: `apt-get install redis-server` (make test installs it)",
            pytrace=False,
        )
    import redis

    last_error = ""
    for _ in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        args = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--loglevel", "warning",
        ]  # fmt: skip
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.ping():
                    client.close()
                    return RedisServer(proc, port)
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        stop(proc)
        last_error = (proc.stdout.read() if proc.stdout else b"").decode(errors="replace")
    pytest.fail(f"redis-server did not start: {last_error}", pytrace=False)


@dataclass
class Backend:
    """A gunicorn serving ``demo_backend:create_app()``."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path


def start_gunicorn(env: dict[str, str], workers: int, log: Path) -> Backend:
    """Run gunicorn with ``workers`` gthread workers on a port it picks; wait until ready."""
    cmd = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", "4",
        "--bind", "127.0.0.1:0", "--graceful-timeout", "1", "--timeout", "30",
        "--no-control-socket", "demo_backend:create_app()",
    ]  # fmt: skip
    out = log.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
    )
    out.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(rb"Listening at: (http://127\.0\.0\.1:\d+)", log.read_bytes())
        if found:
            url = found.group(1).decode()
            try:
                if requests.get(url + "/health/ready", timeout=1).status_code == 200:
                    return Backend(proc, url, log)
            except requests.RequestException:
                pass
        time.sleep(0.05)
    stop(proc, signal.SIGINT)
    pytest.fail(f"gunicorn did not become ready ({url}):\n{log.read_text()[-3000:]}", pytrace=False)
