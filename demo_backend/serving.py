"""Serve an app on 127.0.0.1 in a background thread (tests, e2e and benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serve_in_thread(app: Flask, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield the base URL (no trailing slash) of ``app`` served on a free port."""
    server = make_server(host, 0, app, threaded=True)
    # A short poll interval makes shutdown() quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
