"""The pipeline: the ordered stage list, built from the validated config, and its runner.

Outermost first (a stage that is switched off is not in the list)::

    cache -> dedupe/batch -> deadline -> retry (+ budget) -> network gate
      -> breaker -> limiter -> queue -> timeout -> transport

Each attempt takes a breaker permit, a rate-limit admission and a queue slot,
in that order; backoff sleeps (in retry) hold none of them, and an open breaker
fails fast before a token is spent. ``ORDER`` names every built-in position,
including those of stages this version does not build yet, so a custom stage
can be placed ``before=`` or ``after=`` any of them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._clock import Clock
from ._errors import ConfigError, InternalError, ResilienceError
from ._events import EventEmitter
from ._models import Request, Response
from .config import (
    BreakerConfig,
    CacheConfig,
    DedupeConfig,
    LimiterConfig,
    NetworkConfig,
    QueueConfig,
    RequestOptions,
    RetryConfig,
    TimeoutConfig,
)
from .metrics import Metrics, route_of
from .network import NetworkMonitor
from .policies.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ConsecutiveFailures,
    CountFailureRate,
    TimeFailureRate,
)
from .policies.budget import RetryBudget
from .policies.limiter import RateLimiter, Rule
from .policies.queue import ConcurrencyQueue
from .policies.retry import RetryPolicy
from .stages.base import Call, Next, Stage, snapshot_of
from .stages.breaker import BreakerStage
from .stages.cache import RevalidationStage
from .stages.deadline import DeadlineStage
from .stages.dedupe import DedupeStage
from .stages.limiter import LimiterStage
from .stages.network import NetworkStage
from .stages.queue import QueueStage
from .stages.retry import RetryStage
from .stages.timeout import TimeoutStage
from .transports.base import Transport

ORDER = (
    "cache",
    "dedupe",
    "batch",
    "deadline",
    "retry",
    "network",
    "breaker",
    "limiter",
    "queue",
    "timeout",
)
TRANSPORT = "transport"
_DEFAULT_OPTIONS = RequestOptions()


def build_stages(
    *,
    breaker: BreakerConfig,
    limiter: LimiterConfig,
    queue: QueueConfig,
    retry: RetryConfig,
    timeout: TimeoutConfig,
    clock: Clock,
    rng: random.Random | None,
    events: EventEmitter,
    network: NetworkConfig | None = None,
    monitor: NetworkMonitor | None = None,
    cache: CacheConfig | None = None,
    dedupe: DedupeConfig | None = None,
) -> list[Stage]:
    """The built-in stages for these settings, in ``ORDER``."""
    emit = events.emit
    stages: list[Stage] = []
    if cache is not None and cache.enabled and cache.revalidate:
        stages.append(RevalidationStage(cache.max_bytes))
    if dedupe is not None and dedupe.enabled:
        stages.append(DedupeStage())
    stages += [
        DeadlineStage(timeout.total, clock),
        RetryStage(
            RetryPolicy(
                max_retries=retry.max_retries,
                base=retry.base,
                factor=retry.factor,
                cap=retry.cap,
                jitter=retry.jitter,
                retry_statuses=retry.retry_statuses,
                max_retry_after=retry.max_retry_after,
                rng=rng or random.Random(),
            ),
            RetryBudget(
                retry.budget_ratio, retry.budget_min_per_second, retry.budget_ttl, clock=clock
            ),
            clock,
            events,
        ),
    ]
    gate: NetworkStage | None = None
    if network is not None and monitor is not None and network.mode != "always":
        gate = NetworkStage(
            monitor, mode=network.mode, resume_jitter=network.resume_jitter, clock=clock, rng=rng
        )
        stages.append(gate)
    if breaker.enabled:
        factory = _breaker_factory(breaker, clock, events)
        # Breakers are made per key on first use; build one now so a bad
        # combination fails at construction, not on the first request.
        factory("")
        registry = BreakerRegistry(factory, max_keys=breaker.max_keys, clock=clock)
        # With the gate on, the monitor judges failures that got no HTTP answer.
        network_judge = gate.monitor if gate is not None else None
        stages.append(BreakerStage(registry, breaker.key, clock, network=network_judge))
    if limiter.enabled:
        stages.append(
            LimiterStage(
                RateLimiter(
                    rules=[_rule(r.pattern, r) for r in limiter.rules],
                    default=_rule(None, limiter),
                    mode=limiter.mode,
                    clock=clock,
                    on_event=emit,
                    # A server cooldown longer than a retry would wait for is not kept either.
                    max_cooldown=retry.max_retry_after,
                    max_keys=limiter.max_keys,
                )
            )
        )
    stages.append(
        QueueStage(
            ConcurrencyQueue(
                queue.concurrency,
                queue.max_waiting,
                max_wait=queue.max_wait,
                clock=clock,
                on_event=emit,
            ),
            events,
        )
    )
    stages.append(TimeoutStage(timeout.attempt, clock, events))
    return stages


def _breaker_factory(
    bc: BreakerConfig, clock: Clock, events: EventEmitter
) -> Callable[[str], CircuitBreaker]:
    def make(key: str) -> CircuitBreaker:
        strategy: ConsecutiveFailures | CountFailureRate | TimeFailureRate
        if bc.strategy == "count_rate":
            strategy = CountFailureRate(bc.failure_rate, bc.window_size, bc.min_calls)
        elif bc.strategy == "time_rate":
            strategy = TimeFailureRate(bc.failure_rate, bc.window, bc.buckets, bc.min_calls)
        else:
            strategy = ConsecutiveFailures(bc.failure_threshold)
        return CircuitBreaker(
            key,
            strategy=strategy,
            open_for=bc.open_for,
            half_open_max_probes=bc.half_open_max_probes,
            close_after=bc.close_after,
            open_backoff_factor=bc.open_backoff_factor,
            max_open_for=bc.max_open_for,
            slow_call_threshold=bc.slow_call_threshold,
            clock=clock,
            on_event=events.emit,
        )

    return make


def _rule(pattern: str | None, cfg: Any) -> Rule:
    return Rule(
        pattern=pattern,
        kind=cfg.kind,
        limit=cfg.limit,
        window=cfg.window,
        rate=cfg.rate,
        burst=cfg.burst,
    )


class Pipeline:
    """Runs requests through an ordered list of stages, then the transport."""

    def __init__(
        self,
        transport: Transport,
        stages: Sequence[Stage],
        *,
        clock: Clock,
        events: EventEmitter,
        metrics: Metrics,
    ) -> None:
        self.transport = transport
        self.clock = clock
        self.events = events
        self.metrics = metrics
        self._ids = itertools.count(1)
        self._stages: list[Stage] = []
        for stage in stages:
            self._check_stage(stage, "stages")
            self._stages.append(stage)
        self._run: Next = self._compose()

    # -- the stage list -------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Stage names, outermost first (the transport is always last and not listed)."""
        return [stage.name for stage in self._stages]

    def stage(self, name: str) -> Any:
        """The stage called ``name``, or None when it is not in the pipeline."""
        return next((s for s in self._stages if s.name == name), None)

    def insert(self, stage: Stage, *, before: str | None = None, after: str | None = None) -> None:
        """Add a custom stage ``before=`` or ``after=`` a named one (default: before transport).

        The anchor may be any stage in the pipeline, ``"transport"`` (for
        ``before``), or a built-in position from ``ORDER`` whose stage is off,
        in which case the stage lands where that one would be.
        """
        self._check_stage(stage, "stage")
        if before is not None and after is not None:
            raise ConfigError("stage.before", before, "either before= or after=, not both")
        index = self._index_for(before, after)
        self._stages.insert(index, stage)
        self._run = self._compose()

    def _check_stage(self, stage: Any, path: str) -> None:
        name = getattr(stage, "name", None)
        if not isinstance(name, str) or not name or not callable(stage):
            raise ConfigError(path, stage, "a stage: a callable (call, next) with a str name")
        if name in self.names or name == TRANSPORT:
            raise ConfigError(f"{path}.name", name, f"a name not already used: {self.names}")

    def _index_for(self, before: str | None, after: str | None) -> int:
        anchor, field = (before, "before") if before is not None else (after, "after")
        if anchor is None or (anchor == TRANSPORT and field == "before"):
            return len(self._stages)
        names = self.names
        if anchor in names:
            return names.index(anchor) + (1 if field == "after" else 0)
        if anchor in ORDER:
            # A built-in that is switched off: go where it would sit.
            rank = ORDER.index(anchor) + (0.5 if field == "after" else -0.5)
            for i, name in enumerate(names):
                if name in ORDER and ORDER.index(name) > rank:
                    return i
            return len(self._stages)
        raise ConfigError(f"stage.{field}", anchor, f"one of {[*names, TRANSPORT]}")

    def _compose(self) -> Next:
        handler: Next = self._send
        for stage in reversed(self._stages):
            handler = _link(stage, handler)
        return handler

    def _send(self, call: Call) -> Awaitable[Response]:
        call.sent_at = self.clock.now()
        return self.transport.handle(call.request)

    # -- running ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every stage and the metrics."""
        out: dict[str, Any] = {"stages": self.names, "breakers": {}, "limiter": {}}
        for stage in self._stages:
            out.update(snapshot_of(stage))
        out["metrics"] = self.metrics.snapshot()
        return out

    async def send(self, request: Request, options: RequestOptions | None = None) -> Response:
        """Run one request through every stage; metrics and events on the way out."""
        opts = options or _DEFAULT_OPTIONS
        call = Call(request, opts, next(self._ids), self.clock.now())
        events = self.events
        if events.listening("request"):
            events.emit(
                "request",
                {
                    "id": call.id,
                    "method": request.method,
                    "url": request.url,
                    "priority": opts.priority,
                },
            )
        try:
            response = await self._run(call)
        except ResilienceError as exc:
            self._failed(call, exc)
            raise
        except Exception as exc:
            error = InternalError(f"{type(exc).__name__}: {exc}", request=request)
            self._failed(call, error)
            raise error from exc
        elapsed = self._ms(call.started)
        self.metrics.observe(route_of(request.method, request.url, request.parts.path), elapsed)
        self.metrics.count(_outcome(response.status))
        if events.listening("response"):
            events.emit(
                "response",
                {
                    "id": call.id,
                    "method": request.method,
                    "url": request.url,
                    "status": response.status,
                    "attempts": call.attempt,
                    "durationMs": elapsed,
                },
            )
        return response

    def reject(self, exc: ResilienceError) -> None:
        """Count and report a call refused before it entered the pipeline (a bad request)."""
        self.metrics.count(exc.code)
        if self.events.listening("error"):
            payload = exc.to_dict()
            payload.update(attempts=0, durationMs=0.0)
            self.events.emit("error", payload)

    def _failed(self, call: Call, exc: ResilienceError) -> None:
        if exc.request is None:
            exc.request = call.request
        self.metrics.count(exc.code)
        if self.events.listening("error"):
            payload = exc.to_dict()
            payload.update(id=call.id, attempts=call.attempt, durationMs=self._ms(call.started))
            self.events.emit("error", payload)

    def _ms(self, since: float) -> float:
        return round((self.clock.now() - since) * 1000, 3)


def _link(stage: Stage, next_handler: Next) -> Next:
    def link(call: Call) -> Awaitable[Response]:
        return stage(call, next_handler)

    return link


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return f"http_{status // 100}xx"
