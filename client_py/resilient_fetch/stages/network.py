"""Network gate stage: calls wait while the device is offline or the server unreachable.

Sits between retry and breaker, so a call paused here holds no breaker permit,
rate-limit admission or queue slot, and a failure the network monitor blames
on the network is not handed to the retry stage: the attempt is re-run once the
network is back, so going offline burns no retries (and the breaker stage asks
the monitor before counting a network-level failure).

Modes: ``pause`` waits for ``online`` (bounded by ``call.deadline``, then
``OfflineError``); ``fail`` raises ``OfflineError`` at once. Offline blocks every
call; unreachable blocks calls to the watched origin. Paused calls restart
spread over ``resume_jitter`` seconds, never all at once.
"""

from __future__ import annotations

import random
from typing import Any

from .._clock import Clock
from .._errors import NetworkError, OfflineError, TimeoutError
from .._models import Response
from ..network import DOUBTFUL_STATUSES, NetworkMonitor
from .base import Call, Next


class NetworkStage:
    """Holds calls while the monitor says offline/unreachable; feeds it every outcome."""

    name = "network"

    def __init__(
        self,
        monitor: NetworkMonitor,
        *,
        mode: str,
        resume_jitter: float,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.monitor = monitor
        self.mode = mode
        self.resume_jitter = resume_jitter
        self.clock = clock
        self.rng = rng or random.Random()

    async def __call__(self, call: Call, next: Next) -> Response:
        monitor = self.monitor
        url = call.request.url
        watched = monitor.watches(url)
        while True:
            await self._admit(call)
            call.sent_at = None
            try:
                response = await next(call)
            except (NetworkError, TimeoutError) as exc:
                if not watched or call.sent_at is None:
                    raise  # never reached the network (a queue wait, a limiter refusal)
                monitor.record_failure(url, exc)
                # A timeout has waited long enough: it goes to retry as before (the
                # probe it started judges the next attempt). A network error fails
                # fast, so it waits for the probe's verdict.
                if isinstance(exc, TimeoutError) or await monitor.settled():
                    raise  # the network is fine: the server's failure, retry's business
                if self.mode == "fail":
                    raise self._offline(call) from exc
                continue  # re-run this attempt once the network is back
            if not watched:
                return response
            monitor.record_response(url, response.status)
            if response.status in DOUBTFUL_STATUSES and not await monitor.settled():
                if self.mode == "fail":
                    raise self._offline(call)
                continue
            return response

    async def _admit(self, call: Call) -> None:
        monitor = self.monitor
        url = call.request.url
        if not monitor.blocks(url):
            return
        if self.mode == "fail":
            raise self._offline(call)
        monitor.paused += 1
        try:
            while True:
                while monitor.blocks(url):
                    remaining = call.remaining(self.clock.now())
                    if remaining is not None and remaining <= 0:
                        raise self._offline(call, " at the call's deadline")
                    await monitor.wait_change(remaining)
                # Spread the restart so a reconnect does not release every call at once.
                delay = self.rng.uniform(0, self.resume_jitter) if self.resume_jitter > 0 else 0.0
                remaining = call.remaining(self.clock.now())
                if remaining is not None:
                    delay = min(delay, max(0.0, remaining))
                if delay > 0:
                    await self.clock.sleep(delay)
                if not monitor.blocks(url):
                    return
        finally:
            monitor.paused -= 1

    def _offline(self, call: Call, when: str = "") -> OfflineError:
        state = self.monitor.assessed
        what = "the device is offline" if state == "offline" else "the server is unreachable"
        return OfflineError(f"{what}{when} (network {state})", request=call.request)

    def snapshot(self) -> dict[str, Any]:
        """``network``: the monitor's state, when it changed, the next probe, paused calls."""
        return {"network": self.monitor.snapshot()}
