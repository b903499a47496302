"""The resilience pipeline: every policy composed, in the order DESIGN.md fixes.

Outermost first::

    total deadline -> retry (+ retry budget)
      -> circuit breaker -> rate limiter -> concurrency queue
      -> per-attempt timeout -> transport

Each attempt takes a breaker permit, a rate-limit token and a queue slot, in
that order; backoff sleeps hold none of them, and an open breaker fails fast
before a token is spent. (Cache, dedupe/batch and the offline gate slot in
where DESIGN.md puts them.)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ._clock import Clock, SystemClock
from ._errors import NetworkError, OfflineError, RateLimitedError, ResilienceError, TimeoutError
from ._events import EventEmitter
from ._models import Request, Response
from .config import (
    BreakerConfig,
    LimiterConfig,
    QueueConfig,
    RequestOptions,
    RetryConfig,
    TimeoutConfig,
)
from .metrics import Metrics, route_of
from .policies.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ConsecutiveFailures,
    CountFailureRate,
    TimeFailureRate,
)
from .policies.budget import RetryBudget
from .policies.limiter import RateLimiter, Rule, server_wait
from .policies.queue import ConcurrencyQueue
from .policies.retry import RetryPolicy
from .policies.timeout import run_with_timeout
from .transports.base import Transport

_DEFAULT_OPTIONS = RequestOptions()


def breaker_key_fn(mode: str) -> Callable[[str], str]:
    """URL -> breaker key for ``breaker.key`` = origin | host | global."""
    if mode == "global":
        return lambda url: "*"
    if mode == "host":
        return lambda url: urlsplit(url).hostname or ""
    return lambda url: "{0.scheme}://{0.netloc}".format(urlsplit(url))


class Pipeline:
    """Owns the policies built from a validated config and runs requests through them."""

    def __init__(
        self,
        transport: Transport,
        *,
        breaker_config: BreakerConfig,
        limiter_config: LimiterConfig,
        queue_config: QueueConfig,
        retry_config: RetryConfig,
        timeout_config: TimeoutConfig,
        clock: Clock,
        rng: random.Random | None,
        events: EventEmitter,
        metrics: Metrics,
    ) -> None:
        self.transport = transport
        self.breaker_config = breaker_config
        self.limiter_config = limiter_config
        self.queue_config = queue_config
        self.retry_config = retry_config
        self.timeout_config = timeout_config
        self.clock = clock
        self.events = events
        self.metrics = metrics
        self._ids = itertools.count(1)
        emit = self.events.emit

        bc = self.breaker_config
        self.breaker_key = breaker_key_fn(bc.key)
        self.breakers = BreakerRegistry(self._make_breaker) if bc.enabled else None
        if bc.enabled:
            # Breakers are made per key on first use; build one now so a bad
            # combination (e.g. min_calls > window_size) fails at construction.
            self._make_breaker("")
        lc = self.limiter_config
        self.limiter = (
            RateLimiter(
                rules=[_rule(r.pattern, r) for r in lc.rules],
                default=_rule(None, lc),
                mode=lc.mode,
                clock=self.clock,
                on_event=emit,
            )
            if lc.enabled
            else None
        )
        qc = self.queue_config
        self.queue = ConcurrencyQueue(
            qc.concurrency, qc.max_waiting, max_wait=qc.max_wait, clock=self.clock, on_event=emit
        )
        rc = self.retry_config
        self.retry = RetryPolicy(
            max_retries=rc.max_retries,
            base=rc.base,
            factor=rc.factor,
            cap=rc.cap,
            jitter=rc.jitter,
            retry_statuses=rc.retry_statuses,
            max_retry_after=rc.max_retry_after,
            rng=rng or random.Random(),
        )
        self.budget = RetryBudget(
            rc.budget_ratio, rc.budget_min_per_second, rc.budget_ttl, clock=self.clock
        )

    def _make_breaker(self, key: str) -> CircuitBreaker:
        bc = self.breaker_config
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
            clock=self.clock,
            on_event=self.events.emit,
        )

    def breaker_for(self, url: str) -> CircuitBreaker | None:
        """The breaker guarding ``url`` (None when breakers are off)."""
        return self.breakers.get(self.breaker_key(url)) if self.breakers is not None else None

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every policy and the metrics."""
        return {
            "breakers": self.breakers.snapshot() if self.breakers is not None else {},
            "limiter": self.limiter.snapshot() if self.limiter is not None else {},
            "queue": self.queue.stats(),
            "budget": self.budget.snapshot(),
            "metrics": self.metrics.snapshot(),
        }

    async def send(self, request: Request, options: RequestOptions | None = None) -> Response:
        """Run one request through every policy; metrics and events on the way out."""
        opts = options or _DEFAULT_OPTIONS
        rid = next(self._ids)
        started = self.clock.now()
        route = route_of(request.method, request.url)
        if self.events.listening("request"):
            self.events.emit(
                "request",
                {
                    "id": rid,
                    "method": request.method,
                    "url": request.url,
                    "priority": opts.priority,
                },
            )
        total = opts.total_timeout if opts.total_timeout is not None else self.timeout_config.total
        deadline = None if total is None else started + total
        attempts: list[int] = [0]
        try:
            response = await run_with_timeout(
                lambda: self._with_retries(request, opts, deadline, attempts),
                total,
                clock=self.clock,
                kind="total",
                request=request,
            )
        except ResilienceError as exc:
            self.metrics.count(exc.code)
            if isinstance(exc, TimeoutError) and exc.kind == "total":
                self._emit_timeout(request, exc)
            if self.events.listening("error"):
                payload = exc.to_dict()
                payload.update(id=rid, attempts=attempts[0], durationMs=self._ms(started))
                self.events.emit("error", payload)
            raise
        elapsed = self._ms(started)
        self.metrics.observe(route, elapsed)
        self.metrics.count(_outcome(response.status))
        if self.events.listening("response"):
            self.events.emit(
                "response",
                {
                    "id": rid,
                    "method": request.method,
                    "url": request.url,
                    "status": response.status,
                    "attempts": attempts[0],
                    "durationMs": elapsed,
                },
            )
        return response

    async def _with_retries(
        self,
        request: Request,
        opts: RequestOptions,
        deadline: float | None,
        attempts: list[int],
    ) -> Response:
        max_retries = (
            opts.max_retries if opts.max_retries is not None else self.retry_config.max_retries
        )
        method_ok = self.retry.is_retryable_method(request.method, request.headers)
        self.budget.record_request()
        previous: float | None = None
        while True:
            attempts[0] += 1
            response: Response | None = None
            error: ResilienceError | None = None
            retry_after: float | None = None
            try:
                response = await self._attempt(request, opts, deadline)
            except ResilienceError as exc:
                error = exc
                # A local rate-limit refusal is final: "wait" mode already waited as
                # long as the deadline allows, and "reject" mode asked for no wait.
                local_limit = isinstance(exc, RateLimitedError) and exc.response is None
                retryable = not local_limit and self.retry.should_retry_error(exc)
            else:
                retryable = self.retry.should_retry_status(response.status)
                if retryable:
                    retry_after = server_wait(response.headers, response.status, self._wall())
            if not retryable or not method_ok or attempts[0] > max_retries:
                return _finish(response, error)
            if retry_after is not None and retry_after > self.retry_config.max_retry_after:
                raise RateLimitedError(
                    f"server asked to wait {retry_after:g}s, more than "
                    f"retry.max_retry_after={self.retry_config.max_retry_after:g}s",
                    retry_after=retry_after,
                    request=request,
                    response=response,
                )
            if not self.budget.try_withdraw():
                self._emit_retry(request, attempts[0], None, error, response, refused="budget")
                return _finish(response, error)
            delay = self.retry.delay_for(attempts[0], previous, retry_after)
            if deadline is not None and self.clock.now() + delay > deadline:
                self._emit_retry(request, attempts[0], delay, error, response, refused="deadline")
                return _finish(response, error)
            self._emit_retry(request, attempts[0], delay, error, response)
            await self.clock.sleep(delay)
            previous = delay

    async def _attempt(
        self, request: Request, opts: RequestOptions, deadline: float | None
    ) -> Response:
        breaker = self.breaker_for(request.url)
        permit = breaker.acquire() if breaker is not None else None  # open: fails fast here
        started = self.clock.now()
        try:
            if self.limiter is not None:
                await self.limiter.acquire(
                    request.url, deadline=deadline, mode=opts.rate_limit_mode
                )
            slot = await self.queue.acquire(opts.priority, deadline=deadline)
            failed = True
            started = self.clock.now()
            try:
                timeout = opts.timeout if opts.timeout is not None else self.timeout_config.attempt
                response = await run_with_timeout(
                    lambda: self.transport.handle(request),
                    timeout,
                    clock=self.clock,
                    kind="attempt",
                    request=request,
                )
                failed = response.status >= 500
            finally:
                slot.release(failed=failed)
        except (TimeoutError, NetworkError) as exc:
            if isinstance(exc, TimeoutError):
                self._emit_timeout(request, exc)
            counts = (
                not isinstance(exc, OfflineError) and getattr(exc, "kind", "attempt") == "attempt"
            )
            if permit is not None:
                if counts:
                    permit.failure(self.clock.now() - started)
                else:
                    permit.release()
            raise
        except BaseException:
            if permit is not None:
                permit.release()
            raise
        duration = self.clock.now() - started
        if self.limiter is not None:
            self.limiter.observe(request.url, response.status, response.headers)
        if permit is not None:
            if response.status >= 500:
                permit.failure(duration)
            elif response.status == 429:
                permit.release()  # the limiter's signal, not a sign of a broken server
            else:
                permit.success(duration)
        return response

    # -- helpers ------------------------------------------------------------

    def _ms(self, since: float) -> float:
        return round((self.clock.now() - since) * 1000, 3)

    def _wall(self) -> float:
        wall = getattr(self.clock, "wall", None)
        if wall is None:
            return SystemClock().wall()
        return float(wall())

    def _emit_timeout(self, request: Request, exc: TimeoutError) -> None:
        if self.events.listening("timeout"):
            self.events.emit(
                "timeout",
                {
                    "method": request.method,
                    "url": request.url,
                    "kind": exc.kind,
                    "timeout": exc.timeout,
                },
            )

    def _emit_retry(
        self,
        request: Request,
        attempt: int,
        delay: float | None,
        error: ResilienceError | None,
        response: Response | None,
        refused: str | None = None,
    ) -> None:
        if not self.events.listening("retry"):
            return
        payload: dict[str, Any] = {
            "method": request.method,
            "url": request.url,
            "attempt": attempt,
            "delay": delay,
            "reason": error.code
            if error is not None
            else f"HTTP_{response.status if response else 0}",
        }
        if refused:
            payload["refused"] = refused
        self.events.emit("retry", payload)


def _rule(pattern: str | None, cfg: Any) -> Rule:
    return Rule(
        pattern=pattern,
        kind=cfg.kind,
        limit=cfg.limit,
        window=cfg.window,
        rate=cfg.rate,
        burst=cfg.burst,
    )


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return f"http_{status // 100}xx"


def _finish(response: Response | None, error: ResilienceError | None) -> Response:
    if error is not None:
        raise error
    assert response is not None
    return response
