"""The client: builds a Request, runs it through the pipeline, returns a Response.

Pipeline order, outermost first (DESIGN.md; change only with a test showing why)::

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
import json as _json
import random
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from ._clock import Clock, SystemClock
from ._errors import (
    ConfigError,
    NetworkError,
    OfflineError,
    RateLimitedError,
    ResilienceError,
    TimeoutError,
)
from ._events import EventEmitter, Listener
from ._models import HeaderInput, Headers, Request, Response
from .config import (
    BreakerConfig,
    LimiterConfig,
    QueueConfig,
    RequestOptions,
    RetryConfig,
    TimeoutConfig,
    build,
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

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_OPTIONS = RequestOptions()


def default_transport() -> Transport:
    """``BrowserTransport`` under Pyodide, ``RequestsTransport`` under CPython."""
    if sys.platform == "emscripten":
        from .transports.browser import BrowserTransport

        return BrowserTransport()
    from .transports.requests_transport import RequestsTransport

    return RequestsTransport()


def _breaker_key(mode: str) -> Callable[[str], str]:
    if mode == "global":
        return lambda url: "*"
    if mode == "host":
        return lambda url: urlsplit(url).hostname or ""
    return lambda url: "{0.scheme}://{0.netloc}".format(urlsplit(url))


class Client:
    """An HTTP client whose every request goes through the resilience pipeline."""

    def __init__(
        self,
        base_url: str = "",
        *,
        transport: Transport | None = None,
        headers: HeaderInput = None,
        breaker: BreakerConfig | Mapping[str, Any] | bool | None = None,
        limiter: LimiterConfig | Mapping[str, Any] | bool | None = None,
        queue: QueueConfig | Mapping[str, Any] | None = None,
        retry: RetryConfig | Mapping[str, Any] | None = None,
        timeout: TimeoutConfig | Mapping[str, Any] | None = None,
        idempotency_keys: bool = True,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(base_url, str):
            raise ConfigError("base_url", base_url, "a URL string such as 'http://127.0.0.1:8000/'")
        if base_url and not base_url.startswith(("http://", "https://", "/")):
            raise ConfigError("base_url", base_url, "an http(s) URL or a path starting with '/'")
        if not isinstance(idempotency_keys, bool):
            raise ConfigError("idempotency_keys", idempotency_keys, "true or false")
        self.base_url = base_url
        self.headers = Headers(headers)
        self.idempotency_keys = idempotency_keys
        self.breaker_config = build(BreakerConfig, breaker, "breaker")
        self.limiter_config = build(LimiterConfig, limiter, "limiter")
        self.queue_config = build(QueueConfig, queue, "queue")
        self.retry_config = build(RetryConfig, retry, "retry")
        self.timeout_config = build(TimeoutConfig, timeout, "timeout")
        self.transport = transport if transport is not None else default_transport()
        self.clock: Clock = clock or SystemClock()
        self.events = EventEmitter()
        self.metrics = Metrics()
        self._ids = itertools.count(1)
        emit = self.events.emit

        bc = self.breaker_config
        self._breaker_key = _breaker_key(bc.key)
        self.breakers = BreakerRegistry(self._make_breaker) if bc.enabled else None
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

    # -- public API ---------------------------------------------------------

    def on(self, name: str, callback: Listener) -> Callable[[], None]:
        """Subscribe to an event (see ``_events.EVENT_NAMES``); returns an unsubscribe."""
        return self.events.on(name, callback)

    def breaker(self, url: str = "") -> CircuitBreaker:
        """The circuit breaker that guards ``url`` (for ``isolate()`` / ``reset()``)."""
        if self.breakers is None:
            raise ConfigError("breaker.enabled", False, "true to use circuit breakers")
        return self.breakers.get(self._breaker_key(urljoin(self.base_url, url)))

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every policy and the metrics."""
        return {
            "breakers": self.breakers.snapshot() if self.breakers else {},
            "limiter": self.limiter.snapshot() if self.limiter else {},
            "queue": self.queue.stats(),
            "budget": self.budget.snapshot(),
            "metrics": self.metrics.snapshot(),
        }

    def build_request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        json: Any = None,
        body: bytes | str | None = None,
    ) -> Request:
        """Resolve the URL, merge headers and encode the body."""
        method = method.upper()
        if method not in _METHODS:
            raise ConfigError("method", method, f"one of {sorted(_METHODS)}")
        if json is not None and body is not None:
            raise ConfigError("body", "<body and json>", "either json= or body=, not both")
        merged = self.headers.copy()
        for name, value in Headers(headers).pairs():
            merged.set(name, value)
        data: bytes | None
        if json is not None:
            data = _json.dumps(json, separators=(",", ":")).encode()
            merged.setdefault_header("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
            merged.setdefault_header("Content-Type", "text/plain;charset=UTF-8")
        else:
            data = body
        full_url = urljoin(self.base_url, url) if self.base_url else url
        return Request(method=method, url=full_url, headers=merged, body=data)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        json: Any = None,
        body: bytes | str | None = None,
        priority: str | None = None,
        timeout: float | None = None,
        total_timeout: float | None = None,
        max_retries: int | None = None,
        idempotency_key: str | bool | None = None,
        rate_limit_mode: str | None = None,
    ) -> Response:
        """Send a request through the pipeline and return the response.

        The keyword overrides (``priority``, ``timeout``...) apply to this call
        only; see ``RequestOptions``.
        """
        overrides = {
            "priority": priority,
            "timeout": timeout,
            "total_timeout": total_timeout,
            "max_retries": max_retries,
            "idempotency_key": idempotency_key,
            "rate_limit_mode": rate_limit_mode,
        }
        options = build(
            RequestOptions, {k: v for k, v in overrides.items() if v is not None}, "request"
        )
        req = self.build_request(method, url, headers=headers, json=json, body=body)
        return await self.send(req, options)

    async def get(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, *, json: Any = None, **kwargs: Any) -> Response:
        """Shorthand for ``request("POST", url, json=...)``."""
        return await self.request("POST", url, json=json, **kwargs)

    async def close(self) -> None:
        """Close the transport."""
        await self.transport.close()

    # -- pipeline -----------------------------------------------------------

    def _with_idempotency_key(self, request: Request, options: RequestOptions) -> Request:
        key = options.idempotency_key
        if key is False or request.method not in _MUTATIONS or "Idempotency-Key" in request.headers:
            return request
        if key is None or key is True:
            if not self.idempotency_keys:
                return request
            key = str(uuid.uuid4())
        headers = request.headers.copy()
        headers.set("Idempotency-Key", key)
        return Request(request.method, request.url, headers, request.body)

    async def send(self, request: Request, options: RequestOptions | None = None) -> Response:
        """Run an already built request through the pipeline."""
        opts = options or _DEFAULT_OPTIONS
        request = self._with_idempotency_key(request, opts)
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
        breaker = self.breakers.get(self._breaker_key(request.url)) if self.breakers else None
        permit = breaker.acquire() if breaker else None  # an open breaker fails fast here
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
