"""One shared loop timer for every real-clock deadline.

Pyodide's WebLoop ignores ``TimerHandle.cancel()``: a cancelled ``call_at``
stays a pending ``setTimeout`` (holding its callback, and through it the task
and its result) until it would have fired. With ``asyncio.timeout`` every
request would leave its 30 s attempt and 120 s total timers behind, so a busy
page retains two minutes of responses. Here all deadlines share a heap and at
most a few armed timers: a new deadline arms a timer only when it is earlier
than every armed one (with one timeout setting, almost never), and a finished
request drops its task reference at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from typing import Any

_COMPACT_MIN = 256


class Deadline:
    """A task that should be cancelled at ``when`` (loop time) unless it finishes first."""

    __slots__ = ("fired", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[Any]) -> None:
        self.when = when
        self.task: asyncio.Task[Any] | None = task
        self.fired = False


class DeadlineTimer:
    """Cancels tasks at their deadlines using as few loop timers as possible."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._armed: set[float] = set()
        self.live = 0

    @property
    def armed(self) -> int:
        """Loop timers this scheduler has pending."""
        return len(self._armed)

    def add(self, when: float, task: asyncio.Task[Any]) -> Deadline:
        """Cancel ``task`` at loop time ``when`` unless ``done()`` is called first."""
        deadline = Deadline(when, task)
        heapq.heappush(self._heap, (when, next(self._seq), deadline))
        self.live += 1
        self._arm_for(when)
        return deadline

    def done(self, deadline: Deadline) -> None:
        """The work finished: forget its task (the heap entry is dropped lazily)."""
        if deadline.task is None:
            return
        deadline.task = None
        self.live -= 1
        if len(self._heap) > _COMPACT_MIN and len(self._heap) > 4 * self.live:
            self._heap = [item for item in self._heap if item[2].task is not None]
            heapq.heapify(self._heap)

    def _arm_for(self, when: float) -> None:
        if self._armed and min(self._armed) <= when:
            return  # an armed timer fires first and re-arms for what is left
        self._armed.add(when)
        # Relative and never negative: `when` may have passed since it was read
        # (call_at would raise "Can't schedule in the past" on Pyodide's WebLoop,
        # leaving `when` armed with no timer behind it, so no deadline fired again).
        self._loop.call_later(max(0.0, when - self._loop.time()), self._fire, when)

    def _fire(self, armed_for: float) -> None:
        self._armed.discard(armed_for)
        now = self._loop.time()
        heap = self._heap
        while heap and (heap[0][2].task is None or heap[0][0] <= now):
            _, _, deadline = heapq.heappop(heap)
            task = deadline.task
            if task is not None:
                deadline.task = None
                deadline.fired = True
                self.live -= 1
                task.cancel()
        if heap:
            self._arm_for(heap[0][0])


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineTimer] = (
    weakref.WeakKeyDictionary()
)


def timer_for(loop: asyncio.AbstractEventLoop) -> DeadlineTimer:
    """The loop's shared deadline timer."""
    timer = _TIMERS.get(loop)
    if timer is None:
        timer = _TIMERS[loop] = DeadlineTimer(loop)
    return timer
