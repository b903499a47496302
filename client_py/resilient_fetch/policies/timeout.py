"""Timeouts on the injected clock: the timed-out work is cancelled, not abandoned.

``run_with_timeout`` races the work against ``clock.sleep`` with ``asyncio.wait``
rather than ``asyncio.wait_for``, because ``wait_for`` measures ``loop.time()``
and would ignore a FakeClock. On expiry the work's task is cancelled and awaited
until it has finished cancelling, so a transport gets to abort its fetch
(BrowserTransport aborts its AbortController on CancelledError).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._clock import Clock
from .._errors import ConfigError, TimeoutError

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
) -> T:
    """Await ``fn()``; past ``timeout`` seconds cancel it and raise TimeoutError(kind=kind)."""
    if timeout is None:
        return await fn()
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or math.isnan(timeout):
        raise ConfigError(f"timeout.{kind}", timeout, "seconds, or None for no timeout")
    if timeout <= 0:
        # Nothing left of the deadline: do not start work that must be cancelled at once.
        raise _timeout_error(kind, timeout, request)
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
    raise _timeout_error(kind, timeout, request) from cause


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


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point on the clock (None: no deadline)."""

    at: float | None = None

    @classmethod
    def after(cls, now: float, seconds: float | None) -> Deadline:
        """The deadline ``seconds`` from ``now`` (None seconds: no deadline)."""
        return cls(None if seconds is None else now + seconds)

    def remaining(self, now: float) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self.at is None else max(0.0, self.at - now)

    def expired(self, now: float) -> bool:
        """True once ``now`` has reached the deadline."""
        return self.at is not None and now >= self.at

    @staticmethod
    def min(*deadlines: Deadline | None) -> Deadline:
        """The earliest of the given deadlines (no deadline if none has one)."""
        times = [d.at for d in deadlines if d is not None and d.at is not None]
        return Deadline(min(times) if times else None)
