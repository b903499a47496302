"""gunicorn settings for the demo backend: graceful drain and multi-process metrics.

    gunicorn -c python:demo_backend.gunicorn_conf --workers 4 --worker-class gthread \\
        --threads 8 --bind 127.0.0.1:8000 'demo_backend:create_app()'

- ``graceful_timeout`` is ``DEMO_DRAIN_TIMEOUT_S`` (rounded up: gunicorn takes
  whole seconds). On SIGTERM the master closes its listeners and sends SIGTERM
  to each worker; a gthread worker stops accepting, finishes its requests in
  flight (a request arriving on a kept-alive connection meanwhile is answered
  with ``Connection: close``) and exits; the master SIGKILLs whatever is left
  after ``graceful_timeout``.
- ``post_worker_init`` wraps the worker's SIGTERM handler so ``/health/ready``
  answers 503 ``draining`` from the moment the signal arrives. If the worker
  is still busy just before ``graceful_timeout`` it logs an error saying its
  requests are about to be cut (the master still exits 0).
- Prometheus multi-process mode: ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
  temporary directory unless set) is set here, in the master, before any
  worker imports ``prometheus_client``; stale files are removed at start and
  a dead worker's live gauges are dropped in ``child_exit``.

Only drain and metrics live here; pick workers, threads and the bind address
on the command line.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from demo_backend import config as _config
from demo_backend import lifecycle

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Fails at start-up, naming the variable, like create_app() would.
_settings = _config.load(None)

graceful_timeout = max(1, math.ceil(float(_settings["DRAIN_TIMEOUT_S"])))

_own_dir = not os.environ.get(MULTIPROC_ENV)
if _own_dir:
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="rf-demo-metrics-")


def on_starting(server: Any) -> None:
    """Counters of an earlier run would be added to this one's: start from empty files."""
    for stale in Path(os.environ[MULTIPROC_ENV]).glob("*.db"):
        stale.unlink(missing_ok=True)


# The watchdog speaks this long before the master's SIGKILL.
_WARN_BEFORE_S = 0.25


def post_worker_init(worker: Any) -> None:
    """Turn readiness to draining when the worker gets SIGTERM, then let gunicorn stop it."""
    app = worker.wsgi
    previous = signal.getsignal(signal.SIGTERM)
    asked = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        if hasattr(app, "extensions"):
            lifecycle.of(app).start_draining()
        asked.set()
        if callable(previous):
            previous(signum, frame)

    def watchdog() -> None:
        # A worker that drained has exited, and this daemon thread with it.
        asked.wait()
        limit = worker.cfg.graceful_timeout
        if limit <= _WARN_BEFORE_S:
            return
        threading.Event().wait(limit - _WARN_BEFORE_S)
        worker.log.error(
            "drain timed out after %ss: worker %s still has %s connection(s) open; "
            "gunicorn kills it now and they are cut",
            limit,
            worker.pid,
            getattr(worker, "nr_conns", "some"),
        )

    # Started here, not in the handler: starting a thread takes locks.
    threading.Thread(target=watchdog, name="drain-watchdog", daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its in-flight gauge must not count any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the metrics directory this module created."""
    if _own_dir:
        shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
