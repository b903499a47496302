"""The client: builds a Request, hands it to the pipeline, returns a Response.

The stages and their order live in ``pipeline.py``; this module only
validates settings, resolves URLs, encodes bodies and stamps idempotency keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json as _json
import random
import sys
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode, urljoin

from . import _urls
from ._clock import Clock, SystemClock
from ._errors import ConfigError, InvalidRequestError, ResilienceError
from ._events import EventEmitter, Listener
from ._models import HeaderInput, Headers, Request, Response
from .config import (
    BreakerConfig,
    CacheConfig,
    CloseOptions,
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
from .exposition import metrics_text
from .lifecycle import Lifecycle
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

PrimitiveData = str | int | float | bool | None
QueryParams = (
    Mapping[str, PrimitiveData | Sequence[PrimitiveData]]
    | Sequence[tuple[str, PrimitiveData]]
    | str
    | None
)
FormData = Mapping[str, PrimitiveData | Sequence[PrimitiveData]]
Content = bytes | bytearray | memoryview | str


class RequestKwargs(TypedDict, total=False):
    """Keyword arguments every method takes (httpx's names, plus the resilience overrides)."""

    params: QueryParams
    headers: HeaderInput
    timeout: float | None
    priority: str | None
    total_timeout: float | None
    max_retries: int | None
    idempotency_key: str | bool | None
    rate_limit_mode: str | None
    dedupe: bool | None


class BodyKwargs(RequestKwargs, total=False):
    """``post``/``put``/``patch``: a body as ``content``, ``data`` (a form) or ``json``."""

    content: Content | None
    data: FormData | None
    json: Any
    body: Content | None


class _Unset:
    """The default of ``close(timeout=...)``: use the client's ``timeout.close``."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT = _Unset()


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
        self._loaders: weakref.WeakSet[Loader] = weakref.WeakSet()
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
        page_url = getattr(transport, "page_url", None)
        self._page_url: Callable[[], str] | None = page_url if callable(page_url) else None
        network_config = build(NetworkConfig, network, "network")
        timeout_config = build(TimeoutConfig, timeout, "timeout")
        self._close_timeout = timeout_config.close
        self._life = Lifecycle(clock)
        self.network: NetworkMonitor = self._network_monitor(network_config, transport, clock, rng)
        self.pipeline = Pipeline(
            transport,
            build_stages(
                breaker=build(BreakerConfig, breaker, "breaker"),
                limiter=build(LimiterConfig, limiter, "limiter"),
                queue=queue_config,
                retry=build(RetryConfig, retry, "retry"),
                timeout=timeout_config,
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
        self._life.check()
        self.pipeline.insert(stage, before=before, after=after)

    def on(self, name: str, callback: Listener) -> Callable[[], None]:
        """Subscribe to an event (see ``_events.EVENT_NAMES``); returns an unsubscribe."""
        self._life.check()
        return self.events.on(name, callback)

    def breaker(self, url: str = "") -> CircuitBreaker:
        """The circuit breaker that guards ``url`` (for ``isolate()`` / ``reset()``)."""
        self._life.check()
        stage = self.pipeline.stage("breaker")
        if stage is None:
            raise ConfigError("breaker.enabled", False, "true to use circuit breakers")
        return stage.breaker_for(self._url(url))  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every stage, the metrics and the network.

        Still answers after ``close()``: the final figures.
        """
        return {
            **self._stage_state(),
            "network": self.network.snapshot(),
            "lifecycle": self._life.snapshot(),
        }

    def _stage_state(self) -> dict[str, Any]:
        out = self.pipeline.state()
        if self.query_cache is not None:
            out.update(self.query_cache.snapshot())
        if self._outbox is not None:
            out["outbox"] = {**self._outbox.stored, "leader": self._outbox.leader}
        return out

    def metrics_text(self) -> str:
        """``state()`` in the Prometheus text exposition format 0.0.4 (see ``metrics.py``).

        Still answers after ``close()``: the final figures.
        """
        return metrics_text(self.state(), self.metrics)

    def _url(self, url: object) -> str:
        if not isinstance(url, str):
            raise InvalidRequestError(f"url must be a string, not {type(url).__name__}")
        joined = _urls.join(self.base_url, url)
        if self._page_url is not None and not _urls.is_absolute(joined):
            # Resolved here as fetch would resolve it, so breakers, limits and
            # metrics are keyed by the real origin, not by an empty one.
            joined = urljoin(self._page_url(), joined)
        return _urls.check_url(joined, relative_ok=self._relative_ok)

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams = None,
        headers: HeaderInput = None,
        content: Content | None = None,
        data: FormData | None = None,
        json: Any = None,
        body: Content | None = None,
    ) -> Request:
        """Resolve the URL, merge headers and encode the body; InvalidRequestError if unsendable.

        One body at most: ``content`` (bytes or str; ``body`` is the same, fetch's
        name), ``data`` (a form, sent URL-encoded) or ``json``.
        """
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise InvalidRequestError(
                f"method {method!r} is not one of {sorted(_METHODS)}", field="method"
            )
        method = method.upper()
        bodies = (("content", content), ("body", body), ("data", data), ("json", json))
        given = [f"{name}=" for name, value in bodies if value is not None]
        if len(given) > 1:
            raise InvalidRequestError(
                f"give one body at most, not {' and '.join(given)}", field=given[-1][:-1]
            )
        if content is not None:
            body = content
        elif data is not None:
            body = _form(data)
        full_url = self._url(_with_params(url, params) if params is not None else url)
        merged = self.headers.copy()
        try:
            extra = Headers(headers)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"headers are not valid: {exc}", field="headers") from None
        for name, value in extra.pairs():
            merged.set(name, value)
        _urls.check_headers(merged)
        encoded: bytes | None
        if json is not None:
            try:
                encoded = _json.dumps(json, separators=(",", ":"), allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(f"json= is not JSON: {exc}", field="json") from None
            merged.setdefault_header("Content-Type", "application/json")
        elif data is not None:
            encoded = str(body).encode("ascii")
            merged.setdefault_header("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(body, str):
            encoded = body.encode("utf-8", errors="surrogatepass")
            merged.setdefault_header("Content-Type", "text/plain;charset=UTF-8")
        elif body is None or isinstance(body, bytes):
            encoded = body
        elif isinstance(body, bytearray | memoryview):
            encoded = bytes(body)
        else:
            field = "content" if content is not None else "body"
            raise InvalidRequestError(
                f"{field} must be bytes or str, not {type(body).__name__}", field=field
            )
        return Request(method=method, url=full_url, headers=merged, body=encoded)

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: Content | None = None,
        data: FormData | None = None,
        json: Any = None,
        params: QueryParams = None,
        headers: HeaderInput = None,
        timeout: float | None = None,
        body: Content | None = None,
        priority: str | None = None,
        total_timeout: float | None = None,
        max_retries: int | None = None,
        idempotency_key: str | bool | None = None,
        rate_limit_mode: str | None = None,
        dedupe: bool | None = None,
    ) -> Response:
        """Send a request through the pipeline and return the response.

        httpx's keyword names: ``content`` / ``data`` (a form) / ``json``,
        ``params``, ``headers``, ``timeout`` (this call's attempt timeout; None:
        the client's). The rest override the client's settings for this call
        only (see ``RequestOptions``). ``ClosedError`` once ``close()`` began.
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
            self._life.check()
            given = {k: v for k, v in overrides.items() if v is not None}
            # No override (the common call): the defaults, checked once at import.
            options = build(RequestOptions, given, "request") if given else _DEFAULT_OPTIONS
            req = self.build_request(
                method, url, params=params, headers=headers, content=content, data=data,
                json=json, body=body,
            )
        except ResilienceError as exc:
            self.pipeline.reject(exc)
            raise
        return await self._send(self._with_idempotency_key(req, options), options)

    async def get(self, url: str, **kwargs: Unpack[RequestKwargs]) -> Response:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Unpack[RequestKwargs]) -> Response:
        """``request("HEAD", url, ...)``."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Unpack[RequestKwargs]) -> Response:
        """``request("OPTIONS", url, ...)``."""
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str, **kwargs: Unpack[RequestKwargs]) -> Response:
        """``request("DELETE", url, ...)`` (no body, as in httpx: use ``request`` for one)."""
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: str, **kwargs: Unpack[BodyKwargs]) -> Response:
        """``request("POST", url, ...)``."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Unpack[BodyKwargs]) -> Response:
        """``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Unpack[BodyKwargs]) -> Response:
        """``request("PATCH", url, ...)``."""
        return await self.request("PATCH", url, **kwargs)

    # -- query cache, mutations, batch loaders (see query.py and loader.py) ---------

    def _cache(self) -> QueryCache:
        self._life.check()
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
        """The cached entry's state (status, data, error, isStale...), or None (after close too)."""
        if self.query_cache is None:
            raise ConfigError("cache.enabled", False, "true to use queries")
        return self.query_cache.state(key)

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
        self._life.check()
        loader = Loader(
            self.request, url=url, cache=self.query_cache, clock=self.clock, **options
        )
        self._loaders.add(loader)  # close() fails its batches not yet sent
        return loader

    @property
    def outbox(self) -> Any:
        """The durable ``Outbox`` for writes (built, with its store, on first use)."""
        if self._outbox is None:
            self._life.check()
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

    async def close(self, timeout: float | _Unset | None = USE_CLIENT_DEFAULT) -> None:
        """Stop taking calls, let those in flight finish, then release everything.

        From the first ``close()`` on, every new call raises ``ClosedError``
        (``state()`` and ``metrics_text()`` still answer). Calls already in
        flight, including those waiting in the queue, the limiter, a backoff or
        the network gate, may finish within ``timeout`` seconds (default
        ``timeout.close``, 10 s; 0 aborts at once; None waits for them all);
        past it they are cancelled, the transport really aborting each request,
        and each fails with ``ClosedError`` (``in_flight=True``). Loader batches
        not yet sent fail with ``ClosedError`` at once. Then the outbox stops
        (its entries stay stored for the next client) and closes its store,
        the network monitor's probes and listeners, the query cache's focus
        listener and subscriptions and every event listener are released, and
        the transport is closed. Idempotent: a second call waits for the first.
        """
        if isinstance(timeout, _Unset):
            limit = self._close_timeout
        else:
            limit = build(CloseOptions, {"timeout": timeout}, "close").timeout
        await self._life.close(limit, self._stop_taking_work, self._release)

    def _stop_taking_work(self) -> None:
        for loader in list(self._loaders):
            loader.close()
        if self._outbox is not None:
            self._outbox.stop()

    async def _release(self) -> None:
        if self._outbox is not None:
            await self._outbox.close()
        if self.query_cache is not None:
            self.query_cache.close()
        self._network_off()
        self.network.close()
        await self.pipeline.transport.close()
        self.events.clear()

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
            self._life.check()
            if not isinstance(request, Request):
                raise InvalidRequestError(f"send() takes a Request, not {type(request).__name__}")
            _urls.check_url(request.url, relative_ok=self._relative_ok)
            _urls.check_headers(request.headers)
        except ResilienceError as exc:
            self.pipeline.reject(exc)
            raise
        opts = options or _DEFAULT_OPTIONS
        return await self._send(self._with_idempotency_key(request, opts), opts)

    async def _send(self, request: Request, options: RequestOptions) -> Response:
        """The pipeline, counted in flight so ``close()`` can drain it or abort it."""
        life = self._life
        task = life.enter()
        try:
            return await self.pipeline.send(request, options)
        except asyncio.CancelledError:
            closed = life.closed_error(task, request)
            if closed is None:
                raise
            self.pipeline.reject(closed)
            raise closed from None
        finally:
            life.leave(task)


def _scalar(value: PrimitiveData) -> str:
    """httpx's rule: True -> "true", False -> "false", None -> ""."""
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def _pairs(value: Any, field: str) -> list[tuple[str, str]]:
    """A mapping (values may be lists) or a list of pairs, as (name, text) pairs."""
    items = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, str]] = []
    try:
        for name, item in items:
            many = isinstance(item, list | tuple)
            out.extend((str(name), _scalar(v)) for v in (item if many else [item]))
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"{field} must be a mapping or a list of (name, value) pairs", field=field
        ) from None
    return out


def _with_params(url: str, params: QueryParams) -> str:
    """``url`` with ``params`` added to its query string (httpx merges them the same way)."""
    query = params if isinstance(params, str) else urlencode(_pairs(params, "params"))
    query = query.lstrip("?")
    if not query:
        return url
    url, hash_mark, fragment = url.partition("#")
    sep = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return f"{url}{sep}{query}{hash_mark}{fragment}"


def _form(data: Any) -> str:
    """A form (``data=``) URL-encoded; bytes or str belong in ``content=``."""
    if isinstance(data, str | bytes | bytearray | memoryview) or not isinstance(data, Mapping):
        raise InvalidRequestError(
            "data= takes a form (a mapping); send bytes or text with content=", field="data"
        )
    return urlencode(_pairs(data, "data"))
