"""The client's lifecycle: open -> closing -> closed, and the calls in flight.

Every call entering the client (``request``, ``send``, and so every shorthand,
query fetch, loader batch and outbox delivery) is counted here, with the task
that runs it, so ``close()`` can wait for them and abort what is still running
at its timeout. Once closing has begun a new call is refused with
``ClosedError``. A call that was already in, even one still waiting in the
queue, the limiter, a backoff or the network gate, is in flight: it may finish
within the timeout. Past it, its task is cancelled (the transport really aborts
the request) and that cancellation comes out of the call as ``ClosedError``
with ``in_flight=True``; a cancel from anyone else stays a ``CancelledError``.

Counting costs a dict update per call: no task, future or timer of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._clock import Clock, wait_done
from ._errors import ClosedError

if TYPE_CHECKING:
    from ._models import Request

OPEN, CLOSING, CLOSED = "open", "closing", "closed"


class Lifecycle:
    """Counts the calls in flight; drains them, and aborts the rest, on close."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.state = OPEN
        self.in_flight = 0
        self.aborted = 0  # calls cancelled at the close timeout
        self._tasks: dict[asyncio.Task[Any], int] = {}
        self._aborting: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Future[None] | None = None
        self._finished: asyncio.Future[None] | None = None
        self._timeout: float | None = None

    def check(self) -> None:
        """Raise ``ClosedError`` unless the client is open."""
        if self.state != OPEN:
            raise ClosedError(f"the client is {self.state}: it takes no new calls")

    def enter(self) -> asyncio.Task[Any] | None:
        """Count a call in (``ClosedError`` once closing began); returns its task."""
        self.check()
        task = asyncio.current_task()
        self.in_flight += 1
        if task is not None:
            self._tasks[task] = self._tasks.get(task, 0) + 1
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        """Count a call out (in a ``finally``)."""
        self.in_flight -= 1
        if task is not None:
            left = self._tasks.get(task, 1) - 1
            if left > 0:
                self._tasks[task] = left
            else:
                self._tasks.pop(task, None)
                self._aborting.discard(task)
        idle = self._idle
        if self.in_flight == 0 and idle is not None and not idle.done():
            idle.set_result(None)

    def closed_error(
        self, task: asyncio.Task[Any] | None, request: Request | None
    ) -> ClosedError | None:
        """For a call that caught ``CancelledError``: a ClosedError if close() cancelled it.

        None means the cancel was someone else's (a caller's abort, an outer
        timeout): re-raise it.
        """
        if task is None or task not in self._aborting:
            return None
        self._aborting.discard(task)
        task.uncancel()
        if task.cancelling():
            return None  # cancelled by someone else as well: that cancel stands
        return ClosedError(
            f"the client was closed before this call finished (close timeout {self._timeout}s)",
            in_flight=True,
            timeout=self._timeout,
            request=request,
        )

    async def close(
        self,
        timeout: float | None,
        before: Callable[[], None],
        after: Callable[[], Awaitable[None]],
    ) -> None:
        """Close once: refuse new calls, ``before()``, drain (abort past ``timeout``), ``after()``.

        A second call waits for the first to finish; its ``timeout`` is ignored.
        """
        if self._finished is not None:
            await asyncio.shield(self._finished)
            return
        self._finished = asyncio.get_running_loop().create_future()
        self.state = CLOSING
        self._timeout = timeout
        try:
            before()
            if not await self._drained(timeout):
                self._abort_all()
                # Cancelled calls unwind in a few loop turns (the transports abort
                # at once); a stage that swallowed the cancel must not hang close.
                await self._drained(1.0)
            await after()
        finally:
            self.state = CLOSED
            self._finished.set_result(None)

    async def _drained(self, timeout: float | None) -> bool:
        """Wait until no call is in flight, at most ``timeout`` clock seconds."""
        if self.in_flight == 0:
            return True
        self._idle = idle = asyncio.get_running_loop().create_future()
        return await wait_done(idle, self.clock, timeout)

    def _abort_all(self) -> None:
        for task in list(self._tasks):
            if not task.done() and task not in self._aborting:
                self._aborting.add(task)
                self.aborted += 1
                task.cancel()

    def snapshot(self) -> dict[str, Any]:
        """``lifecycle``: state, calls in flight, calls aborted by close."""
        return {"state": self.state, "inFlight": self.in_flight, "abortedAtClose": self.aborted}


