"""The demo backend in its own process for the browser benchmarks.

    python -m bench.server --site DIR

serves ``create_app()`` (demo mode, no faults configured, ``DIR`` as the static
site) with werkzeug's threaded server on 127.0.0.1 and an OS-chosen port,
printing ``{"port": N}`` on stdout once it listens. A separate process keeps
the server's Python off the benchmark driver's GIL. HTTP/1.1 keeps connections
alive, as any production server would, so connection set-up does not drown
the per-request cost being measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from demo_backend import create_app

from .common import ROOT


class _KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No per-request log line: it would cost the server more than the request."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True, type=Path, help="directory served at /")
    args = parser.parse_args()
    app = create_app({"DEMO_MODE": True, "DIST_DIR": str(args.site), "ACCESS_LOG": False})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_KeepAliveHandler)
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


class BackendProcess:
    """Start ``python -m bench.server`` and stop it again (only the process we started)."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> BackendProcess:
        # stderr to a file, not a pipe nobody reads (a full pipe would stall the server).
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--site", str(self.site)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=5)
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:]
            self._stderr.close()
            raise RuntimeError(
                f"bench.server exited with {self.proc.returncode} before listening:\n{tail}"
            )
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}/"
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._stderr.close()


if __name__ == "__main__":
    main()
