"""Timeouts on the injected clock: the timed-out work is cancelled, not abandoned.

``run_with_timeout`` races the work against ``clock.sleep`` with ``asyncio.wait``
rather than ``asyncio.wait_for``, because ``wait_for`` measures ``loop.time()``
and would ignore a FakeClock. On expiry the work's task is cancelled and awaited
until it has finished cancelling, so a transport gets to abort its fetch
(BrowserTransport aborts its AbortController on CancelledError).

On the real clock the same contract is met more cheaply: the work runs in the
caller's task and a shared deadline timer (``deadlines.py``) cancels that task,
instead of two extra tasks and their loop turns (the benchmarks showed the task
race costing most of the pipeline's per-call time; each loop turn is a browser
task under Pyodide).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._clock import Clock, SystemClock
from .._errors import ConfigError, TimeoutError
from .deadlines import timer_for

if TYPE_CHECKING:
    from .._models import Request

T = TypeVar("T")


async def run_with_timeout(
    fn: Callable[[], Awaitable[T]],
    timeout: float | None,
    *,
    clock: Clock,
    kind: str = "attempt",
    request: Request | None = None,
    reported: float | None = None,
) -> T:
    """Await ``fn()``; past ``timeout`` seconds cancel it and raise TimeoutError(kind=kind).

    ``reported`` is the timeout the error names when it differs from the limit
    applied (an attempt clipped by the total deadline reports the total).
    """
    if timeout is None:
        return await fn()
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or math.isnan(timeout):
        raise ConfigError(f"timeout.{kind}", timeout, "seconds, or None for no timeout")
    label = timeout if reported is None else reported
    if timeout <= 0:
        # Nothing left of the deadline: do not start work that must be cancelled at once.
        raise _timeout_error(kind, label, request)
    if type(clock) is SystemClock:
        return await _on_loop_time(fn, timeout, kind, request, label)
    until = clock.now() + timeout
    task: asyncio.Future[T] = asyncio.ensure_future(fn())
    timer = asyncio.ensure_future(_sleep_until(clock, until))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the caller was cancelled: take the work down with it
        timer.cancel()
        await _cancel_and_wait(task)
        raise
    timer.cancel()
    if task.done():
        return task.result()
    await _cancel_and_wait(task)
    if not task.cancelled() and task.exception() is None:
        return task.result()  # it finished instead of cancelling: keep the response
    cause = None if task.cancelled() else task.exception()
    raise _timeout_error(kind, label, request) from cause


async def _on_loop_time(
    fn: Callable[[], Awaitable[T]],
    timeout: float,
    kind: str,
    request: Request | None,
    label: float,
) -> T:
    """The real-clock path: the shared deadline timer cancels the current task.

    Same bookkeeping as ``asyncio.timeout``: only our own cancel becomes a
    TimeoutError; a caller's cancel (or an outer timeout's) stays a CancelledError.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("run_with_timeout must be awaited inside an asyncio task")
    timers = timer_for(loop)
    baseline = task.cancelling()
    deadline = timers.add(loop.time() + timeout, task)
    try:
        result = await fn()
    except asyncio.CancelledError:
        if deadline.fired and task.uncancel() <= baseline:
            raise _timeout_error(kind, label, request) from None
        raise
    finally:
        timers.done(deadline)
    if deadline.fired:
        task.uncancel()  # the work finished instead of cancelling: keep its result
    return result


async def _sleep_until(clock: Clock, until: float) -> None:
    await clock.sleep(until - clock.now())


async def _cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has finished; a second cancel of ours propagates."""
    task.cancel()
    try:
        await asyncio.wait((task,))
    except BaseException:
        task.cancel()
        raise
    if not task.cancelled():
        task.exception()  # mark it retrieved; the caller reports the outcome


def _timeout_error(kind: str, timeout: float, request: Request | None) -> TimeoutError:
    return TimeoutError(
        f"{kind} timeout after {timeout}s", kind=kind, timeout=timeout, request=request
    )
