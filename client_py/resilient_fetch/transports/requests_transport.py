"""CPython transport: ``requests`` in worker threads the transport owns, errors mapped.

A thread cannot be interrupted, so an attempt whose awaiting task is cancelled (its
timeout fired, or the caller aborted) is stopped at the socket: every connection the
attempt checked out is registered with it, and cancelling shuts those sockets down
from the event loop's thread, so the worker's blocked ``recv``/``send`` returns at
once and its thread is free again. The workers form a bounded pool of
``max_workers`` threads (sized to the queue's concurrency by the client), so no more
than that many requests are ever really in flight, and a hung host cannot starve
another of threads for longer than it takes to cancel its attempts.

Limits: an attempt still resolving DNS or opening its TCP connection cannot be cut
short (urllib3 keeps that socket to itself until it is connected); it ends within
``socket_timeout``, and is shut the moment it connects. Connections made through a
SOCKS proxy are not tracked either.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import _validate
from .._errors import InvalidRequestError, NetworkError, TimeoutError
from .._models import Headers, Request, Response

# The attempt the current worker thread is running, for the connection hooks.
_local = threading.local()


class _Attempt:
    """The connections one attempt has checked out, so another thread can shut them."""

    __slots__ = ("_conns", "_done", "_lock", "aborted")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: list[Any] = []
        self._done = False
        self.aborted = False

    def checked_out(self, conn: Any) -> None:
        """Called on the worker thread when the attempt starts using ``conn``."""
        with self._lock:
            if self.aborted:
                _shutdown(conn)
            elif conn not in self._conns:
                self._conns.append(conn)

    def returned(self, conn: Any) -> None:
        """Called on the worker thread when ``conn`` goes back to the pool: not ours now."""
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    def finish(self) -> None:
        """The worker is done: from now on nothing of this attempt may be shut."""
        with self._lock:
            self._done = True
            self._conns.clear()

    def abort(self) -> None:
        """Shut every socket the attempt holds (and any it connects later)."""
        with self._lock:
            if self._done:
                return
            self.aborted = True
            for conn in self._conns:
                _shutdown(conn)


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _current() -> _Attempt | None:
    return getattr(_local, "attempt", None)


def _tracking_adapter(requests: Any, pool_maxsize: int) -> Any:
    """An ``HTTPAdapter`` whose connections report to the running attempt."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.poolmanager import ProxyManager

    class TrackedConnection:
        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            attempt = _current()
            if attempt is not None:
                attempt.checked_out(self)  # shuts it now if the attempt was aborted

        def request(self, *args: Any, **kwargs: Any) -> None:
            attempt = _current()
            if attempt is not None:
                attempt.checked_out(self)
            super().request(*args, **kwargs)  # type: ignore[misc]

    class TrackedPool:
        def _put_conn(self, conn: Any) -> None:
            attempt = _current()
            if attempt is not None and conn is not None:
                attempt.returned(conn)
            super()._put_conn(conn)  # type: ignore[misc]

    class TrackedHTTPConnection(TrackedConnection, HTTPConnection):
        pass

    class TrackedHTTPSConnection(TrackedConnection, HTTPSConnection):
        pass

    class TrackedHTTPPool(TrackedPool, HTTPConnectionPool):
        ConnectionCls = TrackedHTTPConnection

    class TrackedHTTPSPool(TrackedPool, HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPSConnection

    pools = {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}

    class TrackingAdapter(requests.adapters.HTTPAdapter):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if type(manager) is ProxyManager:  # not SOCKS: it has pool classes of its own
                manager.pool_classes_by_scheme = pools
            return manager

    return TrackingAdapter(pool_connections=10, pool_maxsize=pool_maxsize)


class RequestsTransport:
    """Sends each request with ``requests`` on a bounded pool of worker threads.

    ``max_workers`` bounds the requests really in flight; ``socket_timeout`` bounds
    each connect and each read. A ``session`` you pass gets the aborting adapter
    mounted for ``http://`` and ``https://``.
    """

    def __init__(
        self, *, socket_timeout: float = 30.0, session: Any = None, max_workers: int = 10
    ) -> None:
        import requests

        self._socket_timeout = _validate.number(
            "transport.socket_timeout", socket_timeout, low_inclusive=False
        )
        self.max_workers = _validate.integer("transport.max_workers", max_workers, low=1)
        self._requests = requests
        self._session = session if session is not None else requests.Session()
        adapter = _tracking_adapter(requests, self.max_workers)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._executor: ThreadPoolExecutor | None = None
        self._attempts: set[_Attempt] = set()
        self._running = 0
        self._running_lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests a worker thread is running right now (at most ``max_workers``)."""
        return self._running

    def _send(self, request: Request, attempt: _Attempt) -> Response:
        with self._running_lock:
            self._running += 1
        _local.attempt = attempt
        try:
            if attempt.aborted:  # cancelled while it waited for a thread
                raise NetworkError("request aborted before it was sent", request=request)
            return self._exchange(request)
        finally:
            _local.attempt = None
            attempt.finish()
            with self._running_lock:
                self._running -= 1

    def _exchange(self, request: Request) -> Response:
        exc_ = self._requests.exceptions
        try:
            r = self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers.pairs()),
                data=request.body,
                timeout=self._socket_timeout,
                allow_redirects=True,
            )
            content = r.content
        except exc_.Timeout as exc:  # ConnectTimeout and ReadTimeout
            raise self._timeout(request) from exc
        except (
            exc_.InvalidURL,  # and InvalidProxyURL
            exc_.MissingSchema,
            exc_.InvalidSchema,
            exc_.URLRequired,
            exc_.TooManyRedirects,
        ) as exc:
            raise InvalidRequestError(f"invalid request: {exc}", request=request) from exc
        except (exc_.InvalidHeader, exc_.InvalidJSONError, exc_.UnrewindableBodyError) as exc:
            raise InvalidRequestError(
                f"invalid request: {exc}", field="headers", request=request
            ) from exc
        except exc_.RequestException as exc:  # ConnectionError, SSLError, ProxyError, ...
            raise NetworkError(f"network error: {exc}", request=request) from exc
        except ValueError as exc:
            # What requests lets through from below: urllib3's LocationValueError, a
            # header http.client refuses (UnicodeEncodeError for non-Latin-1, ...).
            field = "headers" if isinstance(exc, UnicodeError) or "header" in str(exc) else "url"
            raise InvalidRequestError(
                f"invalid request: {exc}", field=field, request=request
            ) from exc
        except builtins.TimeoutError as exc:  # socket.timeout from below requests
            raise self._timeout(request) from exc
        except OSError as exc:
            raise NetworkError(f"network error: {exc}", request=request) from exc
        except Exception as exc:
            from urllib3 import exceptions as urllib3_exc

            # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError.
            timed_out = isinstance(exc, urllib3_exc.TimeoutError)
            if timed_out and not isinstance(exc, urllib3_exc.NewConnectionError):
                raise self._timeout(request) from exc
            if isinstance(exc, urllib3_exc.HTTPError):
                raise NetworkError(f"network error: {exc}", request=request) from exc
            raise
        return Response(
            status=r.status_code,
            headers=Headers(r.raw.headers.items() if r.raw is not None else r.headers.items()),
            content=content,
            url=r.url,
            reason=r.reason or "",
            request=request,
        )

    def _timeout(self, request: Request) -> TimeoutError:
        return TimeoutError(
            f"socket timeout after {self._socket_timeout:g}s",
            kind="attempt",
            timeout=self._socket_timeout,
            request=request,
        )

    async def handle(self, request: Request) -> Response:
        """Send the request on a worker thread; cancelling shuts its sockets down."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.max_workers, thread_name_prefix="resilient-fetch"
            )
        attempt = _Attempt()
        self._attempts.add(attempt)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._send, request, attempt)
        except asyncio.CancelledError:
            attempt.abort()  # a queued call never starts; a running one fails at once
            raise
        finally:
            self._attempts.discard(attempt)

    async def close(self) -> None:
        """Abort what is in flight, stop the worker threads and close the connections."""
        for attempt in list(self._attempts):
            attempt.abort()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._session.close()
