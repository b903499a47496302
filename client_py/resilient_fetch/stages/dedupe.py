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
import sys
from typing import TYPE_CHECKING, Any

from .._errors import InternalError
from .._models import UNREAD
from .base import Call, Next

if TYPE_CHECKING:
    from .._models import Request, Response

_METHODS = frozenset({"GET", "HEAD"})
_EAGER_TASKS = sys.version_info >= (3, 12)
_Task: Any = asyncio.Task  # eager_start= is 3.12+ (Pyodide); typed for 3.11 here

Key = tuple[str, str, tuple[tuple[str, str], ...]]
FlightKey = tuple[Any, ...]


def flight_key(request: Request) -> Key:
    """Method, URL and every header (any of them may vary the response)."""
    headers = tuple(sorted((name.lower(), value) for name, value in request.headers.pairs()))
    return request.method, request.url, headers


class _Flight:
    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[Response]] = []

    def settle(
        self, response: Response | None, error: BaseException | None, cancelled: bool
    ) -> None:
        """Hand every waiter its own response, all at once.

        In the page a response may hold fetch's own ``Response``, whose body
        can be read once: the first waiter gets it, every other waiter a
        ``clone()``, made here before anyone can start reading.
        """
        first = True
        for waiter in self.waiters:
            if waiter.done():
                continue
            if cancelled:
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                assert response is not None
                if first:
                    waiter.set_result(response)
                    first = False
                    continue
                try:
                    waiter.set_result(own_copy(response))
                except Exception as exc:  # never leave the other waiters hanging
                    waiter.set_exception(
                        InternalError(f"could not share the response: {exc}")
                    )


def _start(coro: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """A task that runs at once up to its first real wait (3.12+), else a scheduled one."""
    if _EAGER_TASKS:
        return _Task(coro, loop=loop, eager_start=True)  # type: ignore[no-any-return]
    return asyncio.ensure_future(coro, loop=loop)


def own_copy(response: Response) -> Response:
    """A response another caller can read: a clone of fetch's Response, or the same bytes.

    A flight led by a Python caller in the page has already read fetch's body
    into ``content`` (a used body cannot be cloned): the others get those bytes
    without ``raw``, and the shim builds each page caller a Response of its own.
    """
    raw = getattr(response, "raw", None)
    if raw is None:
        return response  # immutable bytes: every caller can read them
    if response.content is not UNREAD:
        return dataclasses.replace(response, raw=None)  # type: ignore[call-arg,unused-ignore]
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
        loop = asyncio.get_running_loop()
        # Plain futures and an eager plain Task, not the loop's factories: under
        # Pyodide those add a bookkeeping callback each, and every callback is
        # a browser task. The flight settles its waiters itself, as it ends,
        # rather than from a done-callback (one more task).
        waiter: asyncio.Future[Response] = asyncio.Future(loop=loop)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            flight.waiters.append(waiter)
            flight.task = _start(self._fly(key, flight, call, next), loop)
        else:
            self.shared += 1
            flight.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            task = flight.task
            if task is not None and not task.done():
                # This caller gave up; the request goes on while anyone else waits.
                flight.waiters.remove(waiter)
                if not flight.waiters:
                    self._forget(key, flight)
                    task.cancel()
            raise

    async def _fly(self, key: FlightKey, flight: _Flight, call: Call, next: Next) -> None:
        try:
            response = await next(call)
        except asyncio.CancelledError:
            self._forget(key, flight)
            flight.settle(None, None, cancelled=True)
            raise
        except Exception as exc:  # handed to every waiter (the task itself ends quietly)
            self._forget(key, flight)
            flight.settle(None, exc, cancelled=False)
            return
        self._forget(key, flight)
        flight.settle(response, None, cancelled=False)

    def _forget(self, key: FlightKey, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def snapshot(self) -> dict[str, Any]:
        """Requests in flight and callers that shared one."""
        return {"dedupe": {"inflight": len(self._flights), "shared": self.shared}}
