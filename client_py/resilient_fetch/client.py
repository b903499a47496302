"""The client: builds a Request, hands it to the pipeline, returns a Response.

The policies and their order live in ``pipeline.py``; this module only
validates settings, resolves URLs, encodes bodies and stamps idempotency keys.
"""

from __future__ import annotations

import json as _json
import random
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

from ._clock import Clock, SystemClock
from ._errors import ConfigError
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
from .metrics import Metrics
from .pipeline import Pipeline
from .policies.breaker import CircuitBreaker
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
        self.events = EventEmitter()
        self.metrics = Metrics()
        self.pipeline = Pipeline(
            transport if transport is not None else default_transport(),
            breaker_config=build(BreakerConfig, breaker, "breaker"),
            limiter_config=build(LimiterConfig, limiter, "limiter"),
            queue_config=build(QueueConfig, queue, "queue"),
            retry_config=build(RetryConfig, retry, "retry"),
            timeout_config=build(TimeoutConfig, timeout, "timeout"),
            clock=clock or SystemClock(),
            rng=rng,
            events=self.events,
            metrics=self.metrics,
        )
        # The policies, for callers that want to inspect or drive one directly.
        self.transport = self.pipeline.transport
        self.clock = self.pipeline.clock
        self.breakers = self.pipeline.breakers
        self.limiter = self.pipeline.limiter
        self.queue = self.pipeline.queue
        self.retry = self.pipeline.retry
        self.budget = self.pipeline.budget

    # -- public API ---------------------------------------------------------

    def on(self, name: str, callback: Listener) -> Callable[[], None]:
        """Subscribe to an event (see ``_events.EVENT_NAMES``); returns an unsubscribe."""
        return self.events.on(name, callback)

    def breaker(self, url: str = "") -> CircuitBreaker:
        """The circuit breaker that guards ``url`` (for ``isolate()`` / ``reset()``)."""
        breaker = self.pipeline.breaker_for(urljoin(self.base_url, url))
        if breaker is None:
            raise ConfigError("breaker.enabled", False, "true to use circuit breakers")
        return breaker

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every policy and the metrics."""
        return self.pipeline.state()

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
        await self.pipeline.transport.close()

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
        return await self.pipeline.send(self._with_idempotency_key(request, opts), opts)
