"""Circuit breaker stage: a permit per attempt, settled by what the attempt did.

Outermost of the per-attempt stages, so an open breaker fails fast before a
rate-limit token or a queue slot is spent. Only what the server did counts:
a 5xx, a network error, or a timeout of an attempt that was really sent
(including one cut by the total deadline) is a failure; a 429 (the limiter's
business), going offline, a queue or limiter refusal, and a caller's abort
count neither way. With the network gate on, a network error or timeout is
first shown to the network monitor: one it blames on the network (the probe
says the server is unreachable) does not count either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from .._clock import Clock
from .._errors import CircuitOpenError, NetworkError, OfflineError, TimeoutError
from .._models import Response
from ..policies.breaker import BreakerRegistry, CircuitBreaker
from .base import Call, Next

if TYPE_CHECKING:
    from ..network import NetworkMonitor


def breaker_key_fn(mode: str) -> Callable[[str], str]:
    """URL -> breaker key for ``breaker.key`` = origin | host | global."""
    of_parts = _key_of_parts(mode)
    return lambda url: of_parts(urlsplit(url))


def _key_of_parts(mode: str) -> Callable[[SplitResult], str]:
    """The same key from a URL already split (``Request.parts``)."""
    if mode == "global":
        return lambda parts: "*"
    if mode == "host":
        return lambda parts: parts.hostname or ""
    return lambda parts: f"{parts.scheme}://{parts.netloc}"


class BreakerStage:
    """Fails fast while the key's breaker is open; records each attempt's outcome."""

    name = "breaker"

    def __init__(
        self,
        registry: BreakerRegistry,
        key: str,
        clock: Clock,
        *,
        network: NetworkMonitor | None = None,
    ) -> None:
        self.registry = registry
        self.key = breaker_key_fn(key)
        self._key_of_parts = _key_of_parts(key)
        self.clock = clock
        # Set when the network gate is on: it says whether a failure with no
        # HTTP answer was the network's (offline, unreachable), not the server's.
        self.network = network

    def breaker_for(self, url: str) -> CircuitBreaker:
        """The breaker guarding ``url``."""
        return self.registry.get(self.key(url))

    async def __call__(self, call: Call, next: Next) -> Response:
        breaker = self.registry.get(self._key_of_parts(call.request.parts))
        try:
            permit = breaker.acquire()
        except CircuitOpenError as exc:
            exc.request = call.request
            raise
        call.sent_at = None
        try:
            response = await next(call)
        except (TimeoutError, NetworkError) as exc:
            sent = call.sent_at
            if sent is None or isinstance(exc, OfflineError):
                permit.release()
                raise
            duration = self.clock.now() - sent
            if self.network is not None:
                try:
                    excused = await self.network.excuses(call.request.url, exc)
                except BaseException:
                    permit.release()
                    raise
                if excused:
                    permit.release()
                    raise
            permit.failure(duration, exc.code)
            raise
        except BaseException:
            permit.release()
            raise
        sent = call.sent_at if call.sent_at is not None else self.clock.now()
        duration = self.clock.now() - sent
        if response.status >= 500:
            permit.failure(duration, f"HTTP {response.status}")
        elif response.status == 429:
            permit.release()  # the limiter's signal, not a sign of a broken server
        else:
            permit.success(duration)
        return response

    def snapshot(self) -> dict[str, Any]:
        """``breakers``: every breaker's state, by key."""
        return {"breakers": self.registry.snapshot()}
