"""Concurrency queue stage: each attempt holds a slot only while it is sent."""

from __future__ import annotations

from typing import Any

from .._errors import TimeoutError
from .._events import EventEmitter
from .._models import Response
from ..policies.queue import ConcurrencyQueue
from .base import Call, Next
from .timeout import emit_timeout


class QueueStage:
    """Waits for a slot by priority (bounded by the deadline); a 5xx counts as failed."""

    name = "queue"

    def __init__(self, queue: ConcurrencyQueue, events: EventEmitter) -> None:
        self.queue = queue
        self.events = events

    async def __call__(self, call: Call, next: Next) -> Response:
        try:
            slot = await self.queue.acquire(call.options.priority, deadline=call.deadline)
        except TimeoutError as exc:
            exc.request = call.request
            emit_timeout(self.events, call, exc)
            raise
        failed = True
        try:
            response = await next(call)
            failed = response.status >= 500
            return response
        finally:
            slot.release(failed=failed)

    def snapshot(self) -> dict[str, Any]:
        """``queue``: running, waiting, counters."""
        return {"queue": self.queue.stats()}
