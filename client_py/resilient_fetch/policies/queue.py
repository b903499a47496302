"""Concurrency queue: at most N running, a bounded priority queue for the rest.

Waiters sit in one heap keyed ``(priority rank, sequence)``, so scheduling is
O(log n) and FIFO within a priority. A waiter that leaves early (cancelled or
timed out) is only marked dead in the heap and skipped when popped; the
per-priority counts are kept exact, and the heap is compacted once dead
entries outnumber live ones, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from .. import _validate
from .._clock import Clock, SystemClock
from .._errors import ConfigError, QueueFullError, TimeoutError
from .._events import EventSink
from ..config import PRIORITIES

_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}

# Waiter states; anything but _WAITING is final.
_WAITING, _GRANTED, _CANCELLED, _TIMED_OUT = range(4)
# Compact the heap only past this many dead entries, so small queues never pay for it.
_COMPACT_MIN_DEAD = 64


class _Waiter:
    __slots__ = ("enqueued_at", "future", "priority", "state", "timer")

    def __init__(self, priority: str, future: asyncio.Future[Slot | None], now: float) -> None:
        self.priority = priority
        self.future = future
        self.enqueued_at = now
        self.state = _WAITING
        self.timer: asyncio.Future[None] | None = None


class Slot:
    """A held place among the running requests; release it exactly once (extra calls are no-ops)."""

    __slots__ = ("_queue", "_released", "priority", "started_at", "waited")

    def __init__(
        self, queue: ConcurrencyQueue, priority: str, started_at: float, waited: float
    ) -> None:
        self._queue = queue
        self._released = False
        self.priority = priority
        self.started_at = started_at
        self.waited = waited

    @property
    def released(self) -> bool:
        """True once the slot has been given back."""
        return self._released

    def release(self, *, failed: bool = False) -> None:
        """Give the slot back, counting the run as completed or failed, and wake the next waiter."""
        if not self._released:
            self._released = True
            self._queue._finish(self, "failed" if failed else "completed")

    def _abandon(self) -> None:
        # The task this slot was handed to was cancelled before it could run.
        if not self._released:
            self._released = True
            self._queue._finish(self, "cancelled")

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release(failed=exc_type is not None)


def _check_max_wait(max_wait: Mapping[str, float | None] | None) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys(PRIORITIES)
    if max_wait is None:
        return out
    if not isinstance(max_wait, Mapping):
        raise ConfigError("queue.max_wait", max_wait, f"a mapping of {list(PRIORITIES)} to seconds")
    for name, value in max_wait.items():
        if name not in _RANK:
            raise ConfigError("queue.max_wait", name, f"priorities among {list(PRIORITIES)}")
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigError(f"queue.max_wait.{name}", value, "seconds > 0, or None for no limit")
        out[name] = None if value is None else float(value)
    return out


class ConcurrencyQueue:
    """At most ``concurrency`` running; up to ``max_waiting`` more wait by priority, then FIFO."""

    def __init__(
        self,
        concurrency: int = 10,
        max_waiting: int = 1000,
        *,
        max_wait: Mapping[str, float | None] | None = None,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self._concurrency = _validate.integer("queue.concurrency", concurrency, low=1)
        self._max_waiting = _validate.integer("queue.max_waiting", max_waiting, low=0)
        self._max_wait = _check_max_wait(max_wait)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_event = on_event
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._dead = 0
        self._waiting = dict.fromkeys(PRIORITIES, 0)
        self._waiting_total = 0
        self._running = 0
        self._completed = self._failed = self._rejected = self._timed_out = self._cancelled = 0
        self._started = 0
        self._wait_sum = 0.0
        self._run_sum = 0.0

    @property
    def concurrency(self) -> int:
        """The most requests that may run at once."""
        return self._concurrency

    @property
    def max_waiting(self) -> int:
        """The most requests that may wait; one more is rejected."""
        return self._max_waiting

    @property
    def running(self) -> int:
        """Requests holding a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Requests waiting now, all priorities."""
        return self._waiting_total

    async def acquire(self, priority: str = "normal", *, deadline: float | None = None) -> Slot:
        """Wait for a slot; QueueFullError when full, TimeoutError(kind="queue") on expiry."""
        if priority not in _RANK:
            raise ConfigError("queue.priority", priority, f"one of {list(PRIORITIES)}")
        now = self._clock.now()
        if self._running < self._concurrency and self._waiting_total == 0:
            return self._start(priority, now, 0.0)
        if self._waiting_total >= self._max_waiting:
            self._rejected += 1
            if self._on_event is not None:
                self._emit("reject", priority)
            raise QueueFullError(
                f"queue full: {self._waiting_total} waiting (max_waiting={self._max_waiting})"
            )
        expires_at, allowed = _expiry(deadline, self._max_wait[priority], now)
        if expires_at is not None and expires_at <= now:
            self._timed_out += 1
            if self._on_event is not None:
                self._emit("timeout", priority, 0.0)
            raise _queue_timeout(priority, allowed)
        waiter = _Waiter(priority, asyncio.get_running_loop().create_future(), now)
        heapq.heappush(self._heap, (_RANK[priority], next(self._seq), waiter))
        self._waiting[priority] += 1
        self._waiting_total += 1
        if self._on_event is not None:
            self._emit("enqueue", priority)
        if expires_at is not None:
            waiter.timer = asyncio.ensure_future(self._expire(waiter, expires_at))
        try:
            slot = await waiter.future
        except BaseException:  # CancelledError, or GeneratorExit if the coroutine is closed
            self._abandon(waiter)
            raise
        if slot is None:
            raise _queue_timeout(priority, allowed)
        return slot

    def stats(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the queue."""
        finished = self._completed + self._failed
        return {
            "running": self._running,
            "waiting": dict(self._waiting),
            "waitingTotal": self._waiting_total,
            "completed": self._completed,
            "failed": self._failed,
            "rejected": self._rejected,
            "timedOut": self._timed_out,
            "cancelled": self._cancelled,
            "avgWaitMs": round(self._wait_sum * 1000 / self._started, 3) if self._started else 0.0,
            "avgRunMs": round(self._run_sum * 1000 / finished, 3) if finished else 0.0,
            "concurrency": self._concurrency,
            "maxWaiting": self._max_waiting,
        }

    # -- internals -------------------------------------------------------------------------

    def _start(self, priority: str, now: float, waited: float) -> Slot:
        self._running += 1
        self._started += 1
        self._wait_sum += waited
        if self._on_event is not None:
            self._emit("dequeue", priority, waited)
        return Slot(self, priority, now, waited)

    def _finish(self, slot: Slot, outcome: str) -> None:
        self._running -= 1
        if outcome == "cancelled":
            self._cancelled += 1
            if self._on_event is not None:
                self._emit("cancel", slot.priority, slot.waited)
        else:
            self._run_sum += max(0.0, self._clock.now() - slot.started_at)
            if outcome == "failed":
                self._failed += 1
            else:
                self._completed += 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._running < self._concurrency and self._waiting_total > 0:
            waiter = heapq.heappop(self._heap)[2]
            if waiter.state != _WAITING:
                self._dead -= 1
            elif waiter.future.done():
                # Its task was cancelled this very turn and has not run its handler yet.
                self._leave(waiter, _CANCELLED, in_heap=False)
            else:
                self._leave(waiter, _GRANTED, in_heap=False)
                now = self._clock.now()
                slot = self._start(waiter.priority, now, now - waiter.enqueued_at)
                waiter.future.set_result(slot)

    def _leave(self, waiter: _Waiter, state: int, *, in_heap: bool) -> None:
        waiter.state = state
        self._waiting[waiter.priority] -= 1
        self._waiting_total -= 1
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None
        if state == _GRANTED:
            return
        waited = self._clock.now() - waiter.enqueued_at
        if state == _CANCELLED:
            self._cancelled += 1
            action = "cancel"
        else:
            self._timed_out += 1
            action = "timeout"
        if self._on_event is not None:
            self._emit(action, waiter.priority, waited)
        if in_heap:
            self._dead += 1
            if self._dead > _COMPACT_MIN_DEAD and self._dead * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if entry[2].state == _WAITING]
                heapq.heapify(self._heap)
                self._dead = 0

    def _abandon(self, waiter: _Waiter) -> None:
        if waiter.state == _WAITING:
            self._leave(waiter, _CANCELLED, in_heap=True)
        elif waiter.state == _GRANTED:
            # The slot was handed over just before the cancel landed: pass it on.
            slot = waiter.future.result()
            if slot is not None:
                slot._abandon()

    async def _expire(self, waiter: _Waiter, at: float) -> None:
        await self._clock.sleep(at - self._clock.now())
        if waiter.state != _WAITING:
            return
        waiter.timer = None  # this task is finishing; nothing to cancel
        if waiter.future.done():
            self._leave(waiter, _CANCELLED, in_heap=True)
        else:
            self._leave(waiter, _TIMED_OUT, in_heap=True)
            waiter.future.set_result(None)

    def _emit(self, action: str, priority: str, waited: float | None = None) -> None:
        payload: dict[str, Any] = {
            "action": action,
            "priority": priority,
            "waiting": self._waiting_total,
            "running": self._running,
        }
        if waited is not None:
            payload["waitedMs"] = round(waited * 1000, 3)
        assert self._on_event is not None
        try:
            self._on_event("queue", payload)
        except Exception as exc:
            # A broken listener must not leave a slot handed out but never delivered.
            _report(exc)


def _expiry(
    deadline: float | None, max_wait: float | None, now: float
) -> tuple[float | None, float | None]:
    """When a new waiter must give up, and the wait it was allowed (for the error)."""
    if max_wait is not None and (deadline is None or now + max_wait <= deadline):
        return now + max_wait, max_wait
    if deadline is not None:
        return deadline, max(0.0, deadline - now)
    return None, None


def _report(exc: Exception) -> None:
    context = {"message": "queue event listener failed", "exception": exc}
    try:
        asyncio.get_running_loop().call_exception_handler(context)
    except RuntimeError:
        logging.getLogger(__name__).error("queue event listener failed", exc_info=exc)


def _queue_timeout(priority: str, allowed: float | None) -> TimeoutError:
    return TimeoutError(
        f"gave up waiting in the queue ({priority}) after {allowed}s",
        kind="queue",
        timeout=allowed,
    )
