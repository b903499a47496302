"""The client: builds a Request, hands it to the pipeline, returns a Response.

The stages and their order live in ``pipeline.py``; this module only
validates settings, resolves URLs, encodes bodies and stamps idempotency keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json as _json
import random
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from . import _urls
from ._clock import Clock, SystemClock
from ._errors import ConfigError, InvalidRequestError, ResilienceError
from ._events import EventEmitter, Listener
from ._models import HeaderInput, Headers, Request, Response
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
    UploadConfig,
    build,
    number,
)
from .loader import Loader
from .metrics import Metrics
from .network import HttpProbe, NetworkMonitor, default_probe_url, origin_of
from .pipeline import Pipeline, build_stages
from .policies.breaker import CircuitBreaker
from .query import QueryCache, make_query_cache, parsed, run_mutation
from .stages.base import Stage
from .transports.base import Transport

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_OPTIONS = RequestOptions()


def default_transport(max_workers: int = 10) -> Transport:
    """``BrowserTransport`` under Pyodide, ``RequestsTransport`` under CPython."""
    if sys.platform == "emscripten":
        from .transports.browser import BrowserTransport

        return BrowserTransport()
    from .transports.requests_transport import RequestsTransport

    return RequestsTransport(max_workers=max_workers)


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
        network: NetworkConfig | Mapping[str, Any] | None = None,
        idempotency_keys: bool = True,
        stages: Sequence[Stage] = (),
        cache: CacheConfig | Mapping[str, Any] | bool | None = None,
        dedupe: DedupeConfig | Mapping[str, Any] | bool | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        outbox: Mapping[str, Any] | None = None,
        store: Any = None,
        upload: UploadConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(base_url, str):
            raise ConfigError("base_url", base_url, "a URL string such as 'http://127.0.0.1:8000/'")
        if base_url:
            try:
                _urls.check_url(base_url, relative_ok=True, field="base_url")
            except InvalidRequestError:
                raise ConfigError(
                    "base_url", base_url, "an http(s) URL or a path starting with '/'"
                ) from None
        if not isinstance(idempotency_keys, bool):
            raise ConfigError("idempotency_keys", idempotency_keys, "true or false")
        if isinstance(stages, str | bytes) or not isinstance(stages, Sequence):
            raise ConfigError("stages", stages, "a list of stages")
        self.base_url = base_url
        try:
            self.headers = Headers(headers)
            _urls.check_headers(self.headers)
        except (InvalidRequestError, TypeError, ValueError) as exc:
            raise ConfigError("headers", headers, f"valid HTTP headers ({exc})") from None
        self.idempotency_keys = idempotency_keys
        self.events = EventEmitter()
        self.metrics = Metrics()
        from .config import OutboxConfig  # the outbox is built on first use (client.outbox)

        self._outbox_config = build(OutboxConfig, outbox, "outbox")
        if store is not None and not all(hasattr(store, m) for m in ("add", "put", "all", "lead")):
            raise ConfigError("store", store, "an outbox store (MemoryStore, SQLiteStore...)")
        self._outbox_store = store
        self._upload_config = build(UploadConfig, upload, "upload")
        self._outbox: Any = None
        self._rng = rng
        queue_config = build(QueueConfig, queue, "queue")
        cache_config = build(CacheConfig, cache, "cache")
        clock = clock or SystemClock()
        if transport is None:
            transport = default_transport(queue_config.concurrency)
        # Relative URLs are left to a transport that can resolve them (the page's fetch).
        self._relative_ok = bool(getattr(transport, "resolves_relative_urls", False))
        network_config = build(NetworkConfig, network, "network")
        self.network: NetworkMonitor = self._network_monitor(network_config, transport, clock, rng)
        self.pipeline = Pipeline(
            transport,
            build_stages(
                breaker=build(BreakerConfig, breaker, "breaker"),
                limiter=build(LimiterConfig, limiter, "limiter"),
                queue=queue_config,
                retry=build(RetryConfig, retry, "retry"),
                timeout=build(TimeoutConfig, timeout, "timeout"),
                network=network_config,
                monitor=self.network,
                cache=cache_config,
                dedupe=build(DedupeConfig, dedupe, "dedupe"),
                clock=clock,
                rng=rng,
                events=self.events,
            ),
            clock=clock,
            events=self.events,
            metrics=self.metrics,
        )
        for stage in stages:
            self.use(
                stage, before=getattr(stage, "before", None), after=getattr(stage, "after", None)
            )
        # The client is the monitor's first subscriber: browser listeners stay
        # attached until close().
        self._network_off = self.network.subscribe(lambda p: self.events.emit("network", p))
        self.query_cache = make_query_cache(cache_config, clock, transport, self.events)

    def _network_monitor(
        self,
        config: NetworkConfig,
        transport: Transport,
        clock: Clock,
        rng: random.Random | None,
    ) -> NetworkMonitor:
        url = config.probe_url
        if url is None:
            url = default_probe_url(self.base_url, self._relative_ok)
        elif url.startswith("/") and origin_of(self.base_url) is not None:
            url = f"{origin_of(self.base_url)}{url}"  # a path is on the base URL's origin
        probe = None
        if config.probe and url is not None:
            probe = HttpProbe(transport, url, self.headers, config.probe_timeout, clock)
        return NetworkMonitor(
            config,
            clock=clock,
            rng=rng,
            probe=probe,
            probe_url=url if probe is not None else None,
            watch=getattr(transport, "watch_network", None),
        )

    # -- the policies, for callers that want to inspect or drive one directly --

    @property
    def transport(self) -> Transport:
        """The transport the pipeline ends in."""
        return self.pipeline.transport

    @property
    def clock(self) -> Clock:
        """The clock every stage uses."""
        return self.pipeline.clock

    @property
    def breakers(self) -> Any:
        """The ``BreakerRegistry`` (None when breakers are off)."""
        stage = self.pipeline.stage("breaker")
        return stage.registry if stage is not None else None

    @property
    def limiter(self) -> Any:
        """The ``RateLimiter`` (None when the limiter is off)."""
        stage = self.pipeline.stage("limiter")
        return stage.limiter if stage is not None else None

    @property
    def queue(self) -> Any:
        """The ``ConcurrencyQueue``."""
        return self.pipeline.stage("queue").queue

    @property
    def retry(self) -> Any:
        """The ``RetryPolicy``."""
        return self.pipeline.stage("retry").policy

    @property
    def budget(self) -> Any:
        """The ``RetryBudget``."""
        return self.pipeline.stage("retry").budget

    # -- public API ---------------------------------------------------------

    def use(self, stage: Stage, *, before: str | None = None, after: str | None = None) -> None:
        """Add a custom stage to the pipeline ``before=``/``after=`` a named stage.

        Without either it runs just before the transport, once per attempt.
        """
        self.pipeline.insert(stage, before=before, after=after)

    def on(self, name: str, callback: Listener) -> Callable[[], None]:
        """Subscribe to an event (see ``_events.EVENT_NAMES``); returns an unsubscribe."""
        return self.events.on(name, callback)

    def breaker(self, url: str = "") -> CircuitBreaker:
        """The circuit breaker that guards ``url`` (for ``isolate()`` / ``reset()``)."""
        stage = self.pipeline.stage("breaker")
        if stage is None:
            raise ConfigError("breaker.enabled", False, "true to use circuit breakers")
        return stage.breaker_for(self._url(url))  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every stage, the metrics and the network."""
        return {**self._stage_state(), "network": self.network.snapshot()}

    def _stage_state(self) -> dict[str, Any]:
        out = self.pipeline.state()
        if self.query_cache is not None:
            out.update(self.query_cache.snapshot())
        return out

    def _url(self, url: object) -> str:
        if not isinstance(url, str):
            raise InvalidRequestError(f"url must be a string, not {type(url).__name__}")
        return _urls.check_url(_urls.join(self.base_url, url), relative_ok=self._relative_ok)

    def build_request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        json: Any = None,
        body: bytes | str | None = None,
    ) -> Request:
        """Resolve the URL, merge headers and encode the body; InvalidRequestError if unsendable."""
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise InvalidRequestError(
                f"method {method!r} is not one of {sorted(_METHODS)}", field="method"
            )
        method = method.upper()
        if json is not None and body is not None:
            raise InvalidRequestError("give either json= or body=, not both", field="body")
        full_url = self._url(url)
        merged = self.headers.copy()
        try:
            extra = Headers(headers)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"headers are not valid: {exc}", field="headers") from None
        for name, value in extra.pairs():
            merged.set(name, value)
        _urls.check_headers(merged)
        data: bytes | None
        if json is not None:
            try:
                data = _json.dumps(json, separators=(",", ":"), allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(f"json= is not JSON: {exc}", field="json") from None
            merged.setdefault_header("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode("utf-8", errors="surrogatepass")
            merged.setdefault_header("Content-Type", "text/plain;charset=UTF-8")
        elif body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, bytearray | memoryview):
            data = bytes(body)
        else:
            raise InvalidRequestError(
                f"body must be bytes or str, not {type(body).__name__}", field="body"
            )
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
        dedupe: bool | None = None,
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
            "dedupe": dedupe,
        }
        try:
            options = build(
                RequestOptions, {k: v for k, v in overrides.items() if v is not None}, "request"
            )
            req = self.build_request(method, url, headers=headers, json=json, body=body)
        except ResilienceError as exc:
            self.pipeline.reject(exc)
            raise
        return await self.pipeline.send(self._with_idempotency_key(req, options), options)

    async def get(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("HEAD", url, ...)``."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("OPTIONS", url, ...)``."""
        return await self.request("OPTIONS", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("POST", url, ...)``."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("PATCH", url, ...)``."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        """Shorthand for ``request("DELETE", url, ...)``."""
        return await self.request("DELETE", url, **kwargs)

    # -- query cache, mutations, batch loaders (see query.py and loader.py) ---------

    def _cache(self) -> QueryCache:
        if self.query_cache is None:
            raise ConfigError("cache.enabled", False, "true to use queries")
        return self.query_cache

    async def query(
        self,
        key: Sequence[Any],
        url: str,
        *,
        stale_time: float | None = None,
        **request: Any,
    ) -> Any:
        """The parsed body (JSON, else text) of GET ``url``, cached under ``key``.

        Fresh data is answered from the cache; stale data at once, refetched
        in the background. A non-2xx answer raises ``HTTPStatusError``.
        ``request`` takes ``request()``'s keyword arguments (headers, priority...).
        """
        if stale_time is not None:
            stale_time = number(min=0.0)("query.stale_time", stale_time)

        async def fetch() -> tuple[Any, int]:
            return await parsed(await self.request("GET", url, **request))

        return await self._cache().fetch(key, fetch, stale_time=stale_time)

    def query_state(self, key: Sequence[Any]) -> dict[str, Any] | None:
        """The cached entry's state (status, data, error, isStale...), or None."""
        return self._cache().state(key)

    def subscribe(self, key: Sequence[Any], callback: Callable[[dict[str, Any]], None]) -> Any:
        """Call ``callback(state)`` when status, data or error change; returns an unsubscribe."""
        return self._cache().subscribe(key, callback)

    def invalidate(self, prefix: Sequence[Any]) -> int:
        """Mark entries under ``prefix`` stale (subscribed ones refetch); returns how many."""
        return self._cache().invalidate(prefix)

    def set_query_data(self, key: Sequence[Any], updater: Any) -> Any:
        """Set the cached data for ``key``: a value, or a function of the old data."""
        return self._cache().set_data(key, updater)

    async def mutate(
        self,
        method: str,
        url: str,
        *,
        optimistic: Sequence[tuple[Sequence[Any], Any]] = (),
        invalidate: Sequence[Sequence[Any]] = (),
        durable: bool = False,
        **request: Any,
    ) -> Any:
        """Send a write: optimistic updates first, rolled back if it fails; then invalidate.

        Returns the parsed body; a non-2xx answer raises ``HTTPStatusError``
        (after the rollback). ``durable=True`` stores the write in the outbox
        first and waits for its delivery (a dead-lettered write rolls back).
        """

        async def send() -> Any:
            if durable:
                wanted = {k: request.get(k) for k in ("headers", "json", "body")}
                stored = await self.outbox.enqueue(method, url, **wanted)
                response = await self.outbox.wait(stored["id"])
            else:
                response = await self.request(method, url, **request)
            data, _ = await parsed(response)
            return data

        return await run_mutation(
            self._cache(), send, optimistic=optimistic, invalidate=invalidate
        )

    def loader(self, url: str, **options: Any) -> Loader:
        """A DataLoader-style batch loader for ``url`` (see ``Loader``)."""
        return Loader(
            self.request, url=url, cache=self.query_cache, clock=self.clock, **options
        )

    @property
    def outbox(self) -> Any:
        """The durable ``Outbox`` for writes (built, with its store, on first use)."""
        if self._outbox is None:
            from .outbox import Outbox

            self._outbox = Outbox(
                self, self._outbox_config, self._outbox_store, rng=random.Random(self._rng.random())
                if self._rng is not None else None
            )
        return self._outbox

    def upload(
        self,
        data: Any,
        url: str,
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        metadata: Mapping[str, str] | None = None,
        filename: str = "",
        headers: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> Any:
        """Start a resumable tus upload of ``data`` to the creation URL ``url``.

        Returns an ``Upload``: await it for an ``UploadResult``; ``pause()``,
        ``resume()``, ``abort()``. ``settings`` override ``upload`` settings for
        this call (``chunk_size``, ``timeout``, ``priority``...). See ``upload.py``.
        """
        from .upload import Upload, upload_config

        upload = Upload(
            self, data, url, config=upload_config(self._upload_config, settings),
            on_progress=on_progress, metadata=metadata, filename=filename, headers=headers,
        )
        with contextlib.suppress(RuntimeError):  # no running loop: it starts when awaited
            upload.start()
        return upload

    async def close(self) -> None:
        """Close the outbox (its entries stay stored) and the transport."""
        if self._outbox is not None:
            await self._outbox.close()
        self._network_off()
        self.network.close()
        await self.pipeline.transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

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
        return dataclasses.replace(request, headers=headers)  # keeps the page's raw request

    async def send(self, request: Request, options: RequestOptions | None = None) -> Response:
        """Run an already built request through the pipeline (checked first)."""
        try:
            if not isinstance(request, Request):
                raise InvalidRequestError(f"send() takes a Request, not {type(request).__name__}")
            _urls.check_url(request.url, relative_ok=self._relative_ok)
            _urls.check_headers(request.headers)
        except ResilienceError as exc:
            self.pipeline.reject(exc)
            raise
        opts = options or _DEFAULT_OPTIONS
        return await self.pipeline.send(self._with_idempotency_key(request, opts), opts)
