"""In-flight dedupe: identical GET/HEAD requests in flight at once share one request.

Identical means the same method, URL, headers and per-call options.

The first caller's request runs in a task of its own; later identical callers
(same method, URL and headers) wait on that task. A caller that is cancelled
(the page aborted it) stops waiting without touching the others; the shared
request is cancelled, and so really aborted by the transport, only when its
last caller has left. Every caller gets a response it can read: the
same immutable bytes in Python, or its own ``clone()`` of fetch's Response in
the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from .base import Call, Next

if TYPE_CHECKING:
    from .._models import Request, Response

_METHODS = frozenset({"GET", "HEAD"})

Key = tuple[str, str, tuple[tuple[str, str], ...]]
FlightKey = tuple[Any, ...]


def flight_key(request: Request) -> Key:
    """Method, URL and every header (any of them may vary the response)."""
    headers = tuple(sorted((name.lower(), value) for name, value in request.headers.pairs()))
    return request.method, request.url, headers


class _Flight:
    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[Response]) -> None:
        self.task = task
        self.waiters: list[asyncio.Future[Response]] = []

    def settle(self, task: asyncio.Future[Response]) -> None:
        """Hand every waiter its own response, all at once.

        In the page a response may hold fetch's own ``Response``, whose body
        can be read once: the first waiter gets it, every other waiter a
        ``clone()``, made here before anyone can start reading.
        """
        first = True
        for waiter in self.waiters:
            if waiter.done():
                continue
            if task.cancelled():
                waiter.cancel()
            elif (exc := task.exception()) is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(task.result() if first else own_copy(task.result()))
                first = False


def own_copy(response: Response) -> Response:
    """A response another caller can read: a clone of fetch's Response, or the same bytes."""
    raw = getattr(response, "raw", None)
    if raw is None:
        return response  # immutable bytes: every caller can read them
    return dataclasses.replace(response, raw=raw.clone())  # type: ignore[call-arg,unused-ignore]


class DedupeStage:
    """Shares one request among identical GET/HEAD calls in flight (``resilience.dedupe``)."""

    name = "dedupe"

    def __init__(self) -> None:
        self._flights: dict[FlightKey, _Flight] = {}
        self.shared = 0  # callers that joined a request already in flight

    async def __call__(self, call: Call, next: Next) -> Response:
        request = call.request
        if request.method not in _METHODS or call.options.dedupe is False:
            return await next(call)
        # Callers with other per-call options (deadline, retries, priority) do not share.
        key = (*flight_key(request), call.options)
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(next(call)))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, flight, task))
        else:
            self.shared += 1
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        flight.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not flight.task.done():
                # This caller gave up; the request goes on while anyone else waits.
                flight.waiters.remove(waiter)
                if not flight.waiters:
                    self._forget(key, flight)
                    flight.task.cancel()
            raise

    def _landed(self, key: FlightKey, flight: _Flight, task: asyncio.Future[Response]) -> None:
        self._forget(key, flight)
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have left
        flight.settle(task)

    def _forget(self, key: FlightKey, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def snapshot(self) -> dict[str, Any]:
        """Requests in flight and callers that shared one."""
        return {"dedupe": {"inflight": len(self._flights), "shared": self.shared}}
