"""Network awareness: is the device online, and is the server reachable?

Three states: ``online``; ``offline`` (the browser says so: ``navigator.onLine``
and its ``online``/``offline`` events); ``unreachable`` (the browser says online,
or there is no browser, but requests to the origin fail at the network level
and a probe of the health URL fails too: a captive portal, a VPN drop, the
server host down). Inputs:

- browser events, through a ``watch(callback) -> unsubscribe`` the transport
  offers (``BrowserTransport.watch_network``); attached when the first
  subscriber arrives and detached when the last one leaves (TanStack's
  onlineManager);
- request outcomes: a network error or timeout to the watched origin (or a
  502/503/504) is a doubt, any other HTTP response is proof of reachability;
- the probe: ``failures_to_unreachable`` doubts in a row start a probe, a
  failed probe makes the server unreachable, and from then on the probe is
  repeated with exponential backoff and jitter until it succeeds.

Changes are debounced: the state moves only when the assessment has held for
``debounce`` seconds, so a shorter flap changes nothing (the ``usable`` flag,
which the gate uses, follows the raw assessment at once). Time is the injected
clock's and randomness the injected rng's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._clock import Clock, wait_done
from ._errors import ClosedError, NetworkError, OfflineError, TimeoutError

if TYPE_CHECKING:
    from ._models import Headers
    from .config import NetworkConfig
    from .transports.base import Transport

ONLINE, OFFLINE, UNREACHABLE = "online", "offline", "unreachable"
STATES = (ONLINE, OFFLINE, UNREACHABLE)
# Answers a proxy or a sick gateway gives when the origin itself is not there.
DOUBTFUL_STATUSES = frozenset({502, 503, 504})

Listener = Callable[[dict[str, Any]], None]
# ``watch(callback)`` calls ``callback(online: bool)`` on each browser event and
# returns a function that detaches the listeners.
Watch = Callable[[Callable[[bool], None]], Callable[[], None]]
Probe = Callable[[], Awaitable[bool]]
_MARK = "_resilient_fetch_network_seen"
log = logging.getLogger("resilient_fetch")


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of an absolute URL, else None."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def default_probe_url(base_url: str, relative_ok: bool) -> str | None:
    """The base URL's origin + ``/health/live``; ``/health/live`` when the page resolves it."""
    origin = origin_of(base_url) if base_url else None
    if origin is not None:
        return origin + "/health/live"
    return "/health/live" if relative_ok else None


class HttpProbe:
    """GET the health URL straight through the transport (no stage), bounded in time.

    Reachable means any answer below 500: a 404 still proves the server is
    there, while a 502/503/504 or a 511 (captive portal) does not. Only a
    network error or a timeout counts as no answer.
    """

    def __init__(
        self, transport: Transport, url: str, headers: Headers, timeout: float, clock: Clock
    ) -> None:
        self.transport = transport
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.clock = clock
        self.sent = 0

    async def __call__(self) -> bool:
        """True when the server answered below 500 within the timeout."""
        from ._models import Request

        self.sent += 1
        headers = self.headers.copy()
        headers.set("Cache-Control", "no-cache")
        request = Request("GET", self.url, headers, None)
        task = asyncio.ensure_future(self.transport.handle(request))
        try:
            answered = await wait_done(task, self.clock, self.timeout)
        finally:
            if not task.done():
                task.cancel()  # the transport really aborts a cancelled request
        if not answered:
            return False
        try:
            return task.result().status < 500
        except (NetworkError, TimeoutError):
            return False
        except Exception:
            # Anything else is a bug below us (a transport, a test double), not
            # evidence about the network: it must not pause all traffic.
            log.warning("resilient_fetch: the network probe raised", exc_info=True)
            return True


class NetworkMonitor:
    """Tracks online / offline / unreachable; subscribable, debounced, probing with backoff."""

    def __init__(
        self,
        config: NetworkConfig,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        probe: Probe | None = None,
        probe_url: str | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.probe = probe
        self.probe_url = probe_url
        self.origin = origin_of(probe_url) if probe_url else None
        self._watch = watch
        self._unwatch: Callable[[], None] | None = None
        self._listeners: list[Listener] = []
        self._browser_online = True
        self._reachable = True
        self._failures = 0
        self._state = ONLINE
        self._since = clock.wall()
        self._reason = "start"
        self._assessed = ONLINE
        self._waiters: list[asyncio.Future[None]] = []
        self._commit_task: asyncio.Task[None] | None = None
        self._probe_loop: asyncio.Task[None] | None = None
        self._probing: asyncio.Future[bool] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._last_probe: float | None = None
        self._probe_round = 0
        self._next_probe_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.paused = 0  # calls the gate holds right now
        self.probes = 0

    # -- what callers read -------------------------------------------------------

    @property
    def state(self) -> str:
        """``online``, ``offline`` or ``unreachable`` (debounced)."""
        return self._state

    @property
    def since(self) -> float:
        """When the state last changed (epoch seconds, from ``clock.wall()``)."""
        return self._since

    @property
    def next_probe_in(self) -> float | None:
        """Seconds until the next scheduled probe; None when none is scheduled."""
        if self._next_probe_at is None:
            return None
        return max(0.0, self._next_probe_at - self.clock.now())

    @property
    def assessed(self) -> str:
        """The raw (not yet debounced) assessment."""
        return self._assessed

    def blocks(self, url: str) -> bool:
        """Whether a call to ``url`` should wait: offline blocks all, unreachable its origin."""
        if self._assessed == ONLINE:
            return False
        return self._assessed == OFFLINE or self.watches(url)

    @property
    def usable(self) -> bool:
        """The raw assessment is online (no debounce): the gate lets calls through."""
        return self._assessed == ONLINE

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: state, since, reason, nextProbeIn, paused calls, probes sent."""
        return {
            "state": self._state,
            "since": self._since,
            "reason": self._reason,
            "nextProbeIn": self.next_probe_in,
            "paused": self.paused,
            "probes": self.probes,
            "probeUrl": self.probe_url,
        }

    # -- the subscribable --------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener({from, to, reason})`` on every state change; returns an unsubscribe.

        The first subscriber attaches the browser listeners, the last one to
        leave detaches them.
        """
        self._listeners.append(listener)
        if len(self._listeners) == 1 and self._watch is not None and self._unwatch is None:
            self._unwatch = self._watch(self._on_browser)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
                if not self._listeners and self._unwatch is not None:
                    unwatch, self._unwatch = self._unwatch, None
                    unwatch()

        return unsubscribe

    @property
    def watching(self) -> bool:
        """True while browser listeners are attached."""
        return self._unwatch is not None

    # -- inputs ------------------------------------------------------------------

    def set_browser_online(self, online: bool, reason: str | None = None) -> None:
        """What the browser says (``navigator.onLine`` and its events)."""
        online = bool(online)
        if online == self._browser_online:
            return
        self._browser_online = online
        if online:
            # Trust the browser's word again; outcomes and the probe may say otherwise.
            self._reachable, self._failures, self._probe_round = True, 0, 0
        self._assess(reason or ("browser-online" if online else "browser-offline"))

    def _on_browser(self, online: bool) -> None:
        self.set_browser_online(online)

    def watches(self, url: str) -> bool:
        """Whether outcomes for ``url`` say anything about the watched origin."""
        if self.origin is None:
            return True
        other = origin_of(url)
        return other is None or other == self.origin

    def record_response(self, url: str, status: int) -> None:
        """An HTTP answer came back (502/503/504 are doubts, anything else proof)."""
        if not self.watches(url):
            return
        if status in DOUBTFUL_STATUSES:
            self._doubt()
            return
        self._failures = 0
        if not self._reachable:
            self._reachable = True
            self._assess("response")

    def record_failure(self, url: str, exc: BaseException) -> None:
        """An attempt got no HTTP answer (network error or timeout); once per exception."""
        if getattr(exc, _MARK, False) or not self.watches(url):
            return
        with contextlib.suppress(AttributeError):
            setattr(exc, _MARK, True)
        if isinstance(exc, OfflineError) and self._unwatch is not None:
            # The browser said offline when the fetch failed; its event follows.
            self.set_browser_online(False, "request-offline")
            return
        self._doubt()

    async def settled(self) -> bool:
        """Wait for a probe in flight (if any); True when calls may go out."""
        if self._probing is not None:
            await asyncio.shield(self._probing)
        return self.usable

    async def excuses(self, url: str, exc: BaseException) -> bool:
        """For the breaker: whether the failure is the network's, not the server's."""
        if isinstance(exc, OfflineError):
            return True
        if not isinstance(exc, NetworkError | TimeoutError) or not self.watches(url):
            return False
        self.record_failure(url, exc)
        if isinstance(exc, TimeoutError):
            return not self.usable  # a timeout does not wait for the probe (see the gate)
        return not await self.settled()

    async def probe_now(self) -> str:
        """Probe at once (sharing one in flight); returns the raw assessment afterwards."""
        if self._closed:
            raise ClosedError("the client is closed: no more probes")
        if self.probe is None:
            return self._assessed
        await self._run_probe()
        return self._assessed

    async def wait_change(self, timeout: float | None) -> bool:
        """Wait until the raw assessment changes, at most ``timeout`` seconds; True if it did."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await wait_done(fut, self.clock, timeout)
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)
            if not fut.done():
                fut.cancel()

    def close(self) -> None:
        """Stop probing for good and detach the browser listeners."""
        self._closed = True
        self._listeners.clear()
        if self._unwatch is not None:
            unwatch, self._unwatch = self._unwatch, None
            unwatch()
        for task in list(self._tasks):
            task.cancel()
        self._next_probe_at = None

    # -- the machinery -----------------------------------------------------------

    def _doubt(self) -> None:
        self._failures += 1
        if self._closed or self.probe is None or not self._browser_online or not self._reachable:
            return
        if self._failures < self.config.failures_to_unreachable or self._probing is not None:
            return
        if not _loop_running():
            return
        # A probe that just said "reachable" stands for probe_base seconds.
        last = self._last_probe
        if last is not None and self.clock.now() - last < self.config.probe_base:
            return
        self._start_probe()

    async def _run_probe(self) -> bool:
        """The probe in flight, or a new one; its answer."""
        return await asyncio.shield(self._probing or self._start_probe())

    def _start_probe(self) -> asyncio.Future[bool]:
        # The future exists before the task runs, so a caller that asks right
        # after a doubt (``settled()``) waits for this probe's answer.
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._probing = fut
        self.probes += 1
        self._spawn(self._probe_into(fut))
        return fut

    async def _probe_into(self, fut: asyncio.Future[bool]) -> None:
        assert self.probe is not None
        ok = False
        try:
            ok = bool(await self.probe())
        except Exception:
            ok = False  # a probe that cannot even be sent proves nothing is reachable
        finally:
            self._probing = None
            self._last_probe = self.clock.now()
            # Callers sharing this probe get its answer, or False when it was cancelled.
            fut.set_result(ok)
        self._probe_result(ok)

    def _probe_result(self, ok: bool) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # the probe loop reschedules (or stops) from this result
        if ok:
            self._failures = 0
            self._probe_round = 0
            self._next_probe_at = None
            if not self._reachable:
                self._reachable = True
                self._assess("probe-ok")
            return
        if self._reachable and self._browser_online:
            self._reachable = False
            self._assess("probe-failed")
        self._ensure_probe_loop()

    def _ensure_probe_loop(self) -> None:
        loop = self._probe_loop
        if (loop is None or loop.done()) and not self._closed:
            self._probe_loop = self._spawn(self._probe_until_reachable())

    async def _probe_until_reachable(self) -> None:
        try:
            while not self._reachable and self._browser_online and self.probe is not None:
                delay = self._backoff(self._probe_round)
                self._probe_round += 1
                self._next_probe_at = self.clock.now() + delay
                wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._wake = wake
                woken = await wait_done(wake, self.clock, delay)
                self._wake = None
                if woken:
                    continue  # a probe ran meanwhile (probe_now): wait again from now
                if self._reachable or not self._browser_online:
                    break
                self._next_probe_at = None
                await self._run_probe()
        finally:
            self._next_probe_at = None

    def _backoff(self, n: int) -> float:
        """Equal jitter: half of min(cap, base * 2**n), plus up to the other half at random."""
        c = self.config
        full = min(c.probe_cap, c.probe_base * 2 ** min(n, 60))
        return float(full / 2 + self.rng.uniform(0, full / 2))

    def _assess(self, reason: str) -> None:
        if not self._browser_online:
            target = OFFLINE
        elif not self._reachable:
            target = UNREACHABLE
        else:
            target = ONLINE
        if target != self._assessed:
            self._assessed = target
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        if target == OFFLINE and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # no probing while the browser is offline
        pending = self._commit_task
        if pending is not None and not pending.done():
            pending.cancel()
        self._commit_task = None
        if target == self._state:
            return
        if self.config.debounce <= 0 or not _loop_running():
            self._commit(target, reason)
        else:
            self._commit_task = self._spawn(self._commit_later(reason))

    async def _commit_later(self, reason: str) -> None:
        await self.clock.sleep(self.config.debounce)
        self._commit_task = None
        if self._assessed != self._state:
            self._commit(self._assessed, reason)

    def _commit(self, target: str, reason: str) -> None:
        previous = self._state
        self._state = target
        self._since = self.clock.wall()
        self._reason = reason
        payload = {"from": previous, "to": target, "reason": reason}
        for listener in tuple(self._listeners):
            try:
                listener(dict(payload))
            except Exception:
                log.exception("resilient_fetch network listener failed")

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
