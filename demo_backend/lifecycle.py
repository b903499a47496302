"""Process lifecycle: the draining flag that ``/health/ready`` reports during a graceful stop.

The server (waitress in :mod:`serving`, or gunicorn through
:mod:`gunicorn_conf`) flips it from its SIGTERM handler, so it must be safe to
set from a signal handler: one attribute assignment, no lock.
"""

from __future__ import annotations

import time

from flask import Flask

KEY = "lifecycle"


class Lifecycle:
    """Whether this app's process is draining, and since when (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.draining_since: float | None = None

    @property
    def draining(self) -> bool:
        """True once a stop was asked for: in-flight requests finish, new work goes elsewhere."""
        return self.draining_since is not None

    def start_draining(self) -> None:
        """Signal-safe; a second call keeps the first time."""
        if self.draining_since is None:
            self.draining_since = time.monotonic()


def of(app: Flask) -> Lifecycle:
    """The app's lifecycle, created on first use (``dict.setdefault`` is atomic)."""
    found = app.extensions.get(KEY)
    if found is None:
        found = app.extensions.setdefault(KEY, Lifecycle())
    assert isinstance(found, Lifecycle)
    return found
