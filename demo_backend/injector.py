"""Applies registered faults to each request, and counts requests for ``/_stats``.

Before the view, every fault the request can see (its ``X-Fault-Scope`` plus
global ones) that matches its method and path is rolled against ``toxicity``
(seeded RNG, ``FAULT_SEED``) and counted against ``count``, oldest first; the
first one that answers ends the request. ``rate_limit`` faults are enforced by
flask-limiter, keyed by the fault's id so each fault has its own counter and
(with ``redis://``) one counter for all workers. After the view, ``slow_body``
throttles the body and the request is counted; it stays "in flight" for
``/_stats`` until the request is torn down.
"""

from __future__ import annotations

import math
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RequestLimit

from .errors import error, header
from .faults import HTTP_METHODS, FaultSpecError, RateLimit, check_scope, fault_response
from .registry import FaultRegistry
from .stats import Stats
from .storage import Storage, limiter_uri

SCOPE_HEADER = "X-Fault-Scope"
_SOCKET_KEYS = ("waitress.socket", "werkzeug.socket", "gunicorn.socket")


def is_admin_path(path: str) -> bool:
    """The fault API and ``/metrics`` are never faulted nor counted."""
    return path in ("/_faults", "/_stats", "/metrics") or path.startswith(("/_faults/", "/_stats/"))


class Waker:
    """Lets ``POST /_faults/reset`` release requests held by latency, hang or slow_body here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()

    def current(self) -> threading.Event:
        """The event the next wait should watch."""
        with self._lock:
            return self._event

    def wake_all(self) -> None:
        """End every wait in progress in this process."""
        with self._lock:
            old, self._event = self._event, threading.Event()
        old.set()


class Injector:
    """Per-app fault state: registry, stats, seeded RNG, waker and the limiter."""

    def __init__(self, app: Flask, storage: Storage) -> None:
        self.registry = FaultRegistry(
            storage,
            max_faults=int(app.config["FAULTS_MAX"]),
            max_per_scope=int(app.config["FAULTS_MAX_PER_SCOPE"]),
        )
        self.stats = Stats(storage, max_scopes=int(app.config["STATS_MAX_SCOPES"]))
        self.waker = Waker()
        self.hang_max_s = float(app.config["HANG_MAX_S"])
        self.slow_body_max_s = float(app.config["SLOW_BODY_MAX_S"])
        self._rng = random.Random(app.config["FAULT_SEED"])
        self._rng_lock = threading.Lock()
        self.limiter = Limiter(
            key_func=_rate_fault_key,
            application_limits=[
                ApplicationLimit(
                    limit_provider=_rate_fault_limit,
                    key_function=_rate_fault_key,
                    scope="fault",
                    exempt_when=lambda: g.get("rf_rate_fault") is None,
                    on_breach=_on_breach,
                )
            ],
            headers_enabled=True,
            strategy="fixed-window",
            storage_uri=limiter_uri(storage),
            key_prefix=str(app.config["STORAGE_PREFIX"]) + "limiter",
        )

    def roll(self) -> float:
        """A uniform number in [0, 1) from the seeded RNG."""
        with self._rng_lock:
            return self._rng.random()

    def uniform(self, low: float, high: float) -> float:
        """A uniform number in [low, high] from the seeded RNG."""
        if low == high:
            return low
        with self._rng_lock:
            return self._rng.uniform(low, high)


def _rate_fault_key() -> str:
    fault = g.get("rf_rate_fault")
    return fault.id if fault is not None else "none"


def _rate_fault_limit() -> str:
    fault = g.get("rf_rate_fault")
    return fault.limit if fault is not None else ""


def _on_breach(limit: RequestLimit) -> Response:
    fault: RateLimit = g.rf_rate_fault
    for applied in g.rf_faults:
        if applied["name"] == fault.name:
            applied["limited"] = True
    return fault_response(fault, 429, f"rate limit {fault.limit} exceeded (fault '{fault.name}')")


class RequestFaults:
    """What faults may do to the current request (the ``FaultContext`` of :mod:`faults`)."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector
        self._event = injector.waker.current()
        self.hang_max_s = injector.hang_max_s

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._event.wait(seconds)

    def uniform(self, low: float, high: float) -> float:
        return self._injector.uniform(low, high)

    def first_seen(self, fault: Any) -> int:
        return self._injector.registry.first_seen(fault)

    def drop_connection(self) -> Response:
        # waitress (through serving.SocketTask), werkzeug's dev server and gunicorn
        # expose the client socket. Shutting it down (with SO_LINGER 0, so the
        # final close sends RST) leaves the client with a dropped connection and
        # no status line; the server's own write of the placeholder response
        # below then fails quietly.
        environ = request.environ
        sock = next((environ[k] for k in _SOCKET_KEYS if environ.get(k) is not None), None)
        if sock is None:
            resp, status = error(
                501, "reset_unsupported", "this server does not expose the client socket"
            )
            resp.status_code = status
            return resp
        g.rf_dropped = True
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=502, headers={"Connection": "close"})

    def throttle_body(self, bytes_per_s: int) -> None:
        g.rf_throttle = min(g.get("rf_throttle") or bytes_per_s, bytes_per_s)

    def rate_limit(self, fault: RateLimit) -> None:
        # One rate_limit fault per request: the oldest matching one.
        if g.get("rf_rate_fault") is None:
            g.rf_rate_fault = fault

    def note(self, **info: Any) -> None:
        g.rf_faults[-1].update(info)


def request_scope() -> str | None:
    """The validated ``X-Fault-Scope`` of this request (empty means none)."""
    return check_scope(header(SCOPE_HEADER) or None)


def scope_error(exc: FaultSpecError, field: str) -> Any:
    """The one 400 for a bad scope, naming where it came from."""
    return error(400, "invalid_scope", exc.message, field=field, allowed=exc.allowed)


def _method() -> str:
    # Any token is a valid method; counting each as its own route would grow without bound.
    return request.method if request.method in HTTP_METHODS else "OTHER"


def _before() -> Any:
    g.rf_faults = []
    if is_admin_path(request.path):
        return None
    try:
        scope = request_scope()
    except FaultSpecError as exc:
        return scope_error(exc, SCOPE_HEADER)
    g.rf_scope = scope
    injector: Injector = current_app.extensions["fault_injector"]
    # In flight from here (faults included) until teardown, even if a fault drops it.
    injector.stats.enter(scope)
    g.rf_inflight = True
    ctx = RequestFaults(injector)
    for fault in injector.registry.visible_to(scope):
        if not fault.matches(request.method, request.path):
            continue
        if fault.toxicity < 1 and (fault.toxicity == 0 or injector.roll() >= fault.toxicity):
            continue
        if not fault.wants(ctx) or not injector.registry.take_hit(fault):
            continue
        g.rf_faults.append({"name": fault.name, "type": fault.type})
        resp = fault.act(ctx)
        if resp is not None:
            return resp
    return None


def _throttled(
    source: Iterable[bytes], bytes_per_s: int, max_s: float, event: threading.Event
) -> Iterator[bytes]:
    """Yield ``source`` at ``bytes_per_s``; after ``max_s`` (or a reset) the rest goes at once."""
    step = max(1, bytes_per_s // 20)
    start = time.monotonic()
    sent = 0
    try:
        for chunk in source:
            i = 0
            while i < len(chunk):
                if event.is_set() or time.monotonic() - start >= max_s:
                    yield chunk[i:]
                    break
                piece = chunk[i : i + step]
                yield piece
                i += len(piece)
                sent += len(piece)
                # Pace against the schedule, so slow writes do not add up.
                event.wait(max(0.0, start + sent / bytes_per_s - time.monotonic()))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _ietf_rate_headers(resp: Response, limiter: Limiter) -> None:
    # flask-limiter writes X-RateLimit-* (reset as a timestamp); clients that
    # follow the IETF draft read RateLimit-* with reset in seconds.
    current = limiter.current_limit
    if current is None:
        return
    resp.headers["RateLimit-Limit"] = str(current.limit.amount)
    resp.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
    # window[0] is when the window ends (flask-limiter's reset_at adds a second).
    resp.headers["RateLimit-Reset"] = str(max(0, math.ceil(current.window[0] - time.time())))
    resp.headers["RateLimit-Policy"] = f"{current.limit.amount};w={current.limit.get_expiry()}"


def _after(resp: Response) -> Response:
    if is_admin_path(request.path):
        return resp
    injector: Injector = current_app.extensions["fault_injector"]
    if g.get("rf_rate_fault") is not None:
        _ietf_rate_headers(resp, injector.limiter)
        if resp.status_code < 400:
            # flask-limiter adds Retry-After to every limited response; on a
            # success it would tell a client to back off for no reason.
            resp.headers.pop("Retry-After", None)
    bytes_per_s = g.get("rf_throttle")
    if bytes_per_s and not g.get("rf_dropped"):
        source: Iterable[bytes] = (
            resp.response if resp.direct_passthrough else resp.iter_encoded()  # type: ignore[assignment]
        )
        resp.response = _throttled(
            source, bytes_per_s, injector.slow_body_max_s, injector.waker.current()
        )
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    status = "dropped" if g.get("rf_dropped") else str(resp.status_code)
    injector.stats.record(f"{_method()} {rule}", status, g.get("rf_scope"))
    return resp


def _teardown(_: BaseException | None) -> None:
    if g.pop("rf_inflight", False):
        injector: Injector = current_app.extensions["fault_injector"]
        injector.stats.leave(g.get("rf_scope"))


def init_app(app: Flask, storage: Storage) -> Injector:
    """Install the fault hooks; the limiter's hooks go after ours so it sees ``g.rf_rate_fault``."""
    injector = Injector(app, storage)
    app.extensions["fault_injector"] = injector
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
    injector.limiter.init_app(app)
    return injector
