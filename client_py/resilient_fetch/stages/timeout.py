"""Per-attempt timeout stage, clipped to what is left of the total deadline.

The innermost built-in stage: it bounds the transport call. When the deadline
leaves less than the attempt timeout, the deadline's remainder is the limit and
expiry raises ``TimeoutError(kind="total", timeout=<the total>)``.
"""

from __future__ import annotations

from .._clock import Clock
from .._errors import TimeoutError
from .._events import EventEmitter
from .._models import Response
from ..policies.timeout import run_with_timeout
from .base import Call, Next


class TimeoutStage:
    """Cancels the rest of the attempt (the transport really aborts) at its limit."""

    name = "timeout"

    def __init__(self, attempt: float | None, clock: Clock, events: EventEmitter) -> None:
        self.attempt = attempt
        self.clock = clock
        self.events = events

    async def __call__(self, call: Call, next: Next) -> Response:
        limit = call.options.timeout
        if limit is None:
            limit = self.attempt
        kind, reported = "attempt", limit
        if call.deadline is not None:
            left = call.deadline - self.clock.now()
            if limit is None or left <= limit:
                limit, kind, reported = left, "total", call.total
        if limit is None:
            return await next(call)
        try:
            return await run_with_timeout(
                lambda: next(call),
                limit,
                clock=self.clock,
                kind=kind,
                request=call.request,
                reported=reported,
            )
        except TimeoutError as exc:
            emit_timeout(self.events, call, exc)
            raise


def emit_timeout(events: EventEmitter, call: Call, exc: TimeoutError) -> None:
    """The ``timeout`` event for a deadline that fired (attempt, total or queue)."""
    if events.listening("timeout"):
        events.emit(
            "timeout",
            {
                "method": call.request.method,
                "url": call.request.url,
                "kind": exc.kind,
                "timeout": exc.timeout,
            },
        )
