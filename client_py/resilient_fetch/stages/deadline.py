"""Total deadline stage: stamps the call with when it must be done.

It starts no timer. Every built-in stage below that can wait bounds the wait
by ``call.deadline``: retry refuses a backoff that would pass it, the limiter
and the queue give up at it, and the timeout stage clips each attempt to what
is left, raising ``TimeoutError(kind="total")`` when the deadline cut it. So
the attempt that a deadline cuts is seen as a timed-out attempt by the breaker
(a hung server trips it even when the total is shorter than the attempt
timeout). A custom stage that waits must bound its wait by ``call.remaining()``.
"""

from __future__ import annotations

from collections.abc import Awaitable

from .._clock import Clock
from .._models import Response
from .base import Call, Next


class DeadlineStage:
    """Sets ``call.deadline`` from the per-call ``total_timeout`` or ``timeout.total``."""

    name = "deadline"

    def __init__(self, total: float | None, clock: Clock) -> None:
        self.total = total
        self.clock = clock

    def __call__(self, call: Call, next: Next) -> Awaitable[Response]:
        total = call.options.total_timeout
        if total is None:
            total = self.total
        if total is not None:
            call.total = total
            call.deadline = self.clock.now() + total
        return next(call)
