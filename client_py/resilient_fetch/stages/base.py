"""The stage protocol: one pipeline step, ``async def __call__(self, call, next)``.

A stage gets the ``Call`` (the request, its per-call options, the deadline and
the attempt number) and ``next``, the rest of the pipeline. It may act before
and after ``await next(call)``, call it several times (retry), not at all (a
cache hit, an open breaker), or raise a ``ResilienceError``. Stages keep their
own state (a breaker registry, a queue); the call carries only what one
request needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._models import Request, Response
    from ..config import RequestOptions

Next = Callable[["Call"], Awaitable["Response"]]


class Call:
    """One request on its way through the pipeline."""

    __slots__ = ("attempt", "deadline", "id", "options", "request", "sent_at", "started", "total")

    def __init__(self, request: Request, options: RequestOptions, id: int, started: float) -> None:
        self.request = request
        self.options = options
        self.id = id
        self.started = started
        # Set by the deadline stage: absolute clock time, and the total it came from.
        self.deadline: float | None = None
        self.total: float | None = None
        # Set by the retry stage: 1 for the first attempt.
        self.attempt = 0
        # Set when the transport is called, so a stage can tell "never sent" apart.
        self.sent_at: float | None = None

    def remaining(self, now: float) -> float | None:
        """Seconds left before the deadline (None without one); may be <= 0."""
        return None if self.deadline is None else self.deadline - now


@runtime_checkable
class Stage(Protocol):
    """A pipeline step. ``name`` must be unique within a pipeline."""

    name: str

    def __call__(self, call: Call, next: Next) -> Awaitable[Response]:
        """Handle ``call``, usually by awaiting ``next(call)`` once or more."""
        ...


def snapshot_of(stage: Any) -> dict[str, Any]:
    """What a stage adds to ``client.state()`` (a stage without ``snapshot`` adds nothing)."""
    snapshot = getattr(stage, "snapshot", None)
    return snapshot() if callable(snapshot) else {}
