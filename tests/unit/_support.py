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
