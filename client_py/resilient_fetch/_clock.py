"""Time and sleeping, behind one protocol so every policy can be tested with FakeClock.

This is the only module allowed to touch ``time`` or ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Protocol


class Clock(Protocol):
    """Monotonic seconds, wall-clock seconds and an awaitable sleep."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (for HTTP dates such as Retry-After)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch (for HTTP dates in Retry-After)."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when a test calls ``advance``; sleepers wake in time order."""

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The fake monotonic time."""
        return self._now

    def wall(self) -> float:
        """Fake epoch seconds, moving with ``now``."""
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Wait until the fake time has advanced by ``seconds``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep (cancelled ones included until they would wake)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def jump(self, seconds: float) -> None:
        """Move time forward without running the loop, for synchronous code under test.

        Refuses to skip past a sleeper's deadline: use ``advance`` to wake tasks.
        """
        target = self._now + seconds
        if any(when <= target and not fut.done() for when, _, fut in self._sleepers):
            raise RuntimeError("a sleeper is due before the jump target: use advance()")
        self._now = target

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its deadline and letting it run."""
        target = self._now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not fut.done():
                fut.set_result(None)
                await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Give ready tasks a few turns of the loop so woken sleepers can act."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_done(fut: asyncio.Future[Any], clock: Clock, timeout: float | None) -> bool:
    """Wait for ``fut`` at most ``timeout`` clock seconds (None: no limit); True if it is done.

    ``fut`` is never cancelled here: the caller decides what a timeout means.
    """
    if fut.done():
        return True
    if timeout is None:
        await asyncio.wait({fut})
        return True
    if timeout <= 0:
        return False
    sleeper = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait({fut, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
    return fut.done()
