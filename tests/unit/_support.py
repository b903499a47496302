"""Helpers for unit tests that must run both under CPython and inside Pyodide."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

IN_PYODIDE = sys.platform == "emscripten"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code (e.g. inside a hypothesis test).

    CPython: a fresh event loop. Pyodide: ``run_sync`` on the WebLoop (JSPI).
    """
    if IN_PYODIDE:
        from pyodide.ffi import run_sync

        return run_sync(coro)  # type: ignore[no-any-return]
    return asyncio.run(coro)


def examples(n: int) -> int:
    """Hypothesis ``max_examples``: ``n`` under CPython, a fifth (at least 10) inside Pyodide.

    Each fake-clock step costs real event-loop turns, which are about a millisecond
    each on Pyodide's WebLoop; CPython runs the full count on every ``make test``.
    """
    return max(10, n // 5) if IN_PYODIDE else n
