"""One structured JSON line per request on the ``demo_backend.access`` logger.

The record is built once per request, and also handed to the callables in
``app.extensions[OBSERVERS]`` (the metrics), with or without ``ACCESS_LOG``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from flask import Flask, Response, current_app, g, request

LOGGER_NAME = "demo_backend.access"
logger = logging.getLogger(LOGGER_NAME)
# app.extensions key: callables that receive each request's record.
OBSERVERS = "request_observers"


def _start() -> None:
    g.started = time.perf_counter()


def _record(resp: Response) -> dict[str, Any]:
    started = g.get("started")
    return {
        "ts": round(time.time(), 3),
        "request_id": g.get("request_id"),
        "method": request.method,
        "path": request.path,
        "route": request.url_rule.rule if request.url_rule is not None else None,
        "status": "dropped" if g.get("rf_dropped") else resp.status_code,
        # Until the headers are ready: a slow_body stream continues after this.
        "duration_ms": round((time.perf_counter() - started) * 1000, 3) if started else None,
        "remote_addr": request.remote_addr,
        # Which worker answered, when several gunicorn workers share one storage.
        "pid": os.getpid(),
        "scope": g.get("rf_scope"),
        "faults": g.get("rf_faults") or [],
        "idempotent_replay": resp.headers.get("Idempotent-Replayed") == "true",
    }


def _log(resp: Response) -> Response:
    record = _record(resp)
    for observe in current_app.extensions.get(OBSERVERS, ()):
        observe(record)
    if current_app.config.get("ACCESS_LOG"):
        logger.info(json.dumps(record, separators=(",", ":")))
    return resp


def init_app(app: Flask) -> None:
    """Install the hooks; give the logger a stderr handler unless someone configured one."""
    app.before_request(_start)
    app.after_request(_log)
    if not app.config.get("ACCESS_LOG"):
        return
    logger.setLevel(logging.INFO)
    # Handlers are process-wide while apps are many (tests): add ours once, and
    # only when neither this logger nor the root one has a handler already.
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        # Our handler prints the line; propagating would print it again through
        # the handler Flask puts on the app's logger ("demo_backend", our parent).
        logger.propagate = False
