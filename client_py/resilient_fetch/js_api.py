"""Conversion layer for the JS shim: plain data in, plain data out, no policy.

The shim hands ``fetch(input, init)`` over as the URL, the method, the header
pairs and the caller's own ``Request`` or ``RequestInit`` (``source``), which
rides along as ``Request.raw``: its body and fetch options never cross into
Python. The result is fetch's own ``Response`` (``Response.raw``) as it is;
a response made in Python (a mock, a stage) comes back as plain data, an error
as JSON, which the shim turns into a rejection with a ``code``. Nothing here
imports ``js``: JS values arrive as proxies, converted by duck typing
(``to_py`` / ``to_bytes``).
"""

from __future__ import annotations

import asyncio
import json as _json
import re
import sys
from collections.abc import Callable
from typing import Any

from ._errors import AbortedError, ConfigError, ResilienceError
from ._models import Response
from .client import USE_CLIENT_DEFAULT, Client
from .config import CloseOptions, RequestOptions, build

_DEFAULT_OPTIONS = RequestOptions()
# A task that starts at once runs up to its first real wait (the fetch) inside
# the shim's call: one trip through the browser's event loop fewer per request.
_EAGER_TASKS = sys.version_info >= (3, 12)
_Task: Any = asyncio.Task  # eager_start= is 3.12+ (Pyodide); typed for 3.11 here

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


_SNAKE_WORD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def to_snake(name: str) -> str:
    """``baseUrl`` -> ``base_url``."""
    return _CAMEL.sub("_", name).lower()


def to_camel(name: str) -> str:
    """``base_url`` -> ``baseUrl``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _dumps(value: Any) -> str:
    # NaN and Infinity are not JSON: JSON.parse in the page would throw.
    return _json.dumps(value, allow_nan=False, separators=(",", ":"))


def _as_written_in_js(exc: ResilienceError) -> ResilienceError:
    """Rename a ConfigError's field to the camelCase the JS caller wrote.

    ``retry.max_retries`` -> ``retry.maxRetries``; per-call options are
    ``init.resilience`` in JS, so ``request.`` becomes ``resilience.``.
    """
    if not isinstance(exc, ConfigError):
        return exc
    field = exc.field
    if field == "request" or field.startswith("request."):
        field = "resilience" + field[len("request") :]
    field = _SNAKE_WORD.sub(lambda m: to_camel(m.group(0)), field)
    allowed = _SNAKE_WORD.sub(lambda m: to_camel(m.group(0)), exc.allowed)
    return ConfigError(field, exc.value, allowed)


def to_py(value: Any) -> Any:
    """Convert a JS proxy (or plain value) to Python data."""
    if hasattr(value, "to_py"):
        return value.to_py()
    return value


def _is_js_null(value: Any) -> bool:
    return value is None or type(value).__name__ in {"JsNull", "JsUndefined"}


def _snake_keys(value: Any, *, depth: int = 0) -> Any:
    """Recursively convert dict keys to snake_case (header names are left alone)."""
    if isinstance(value, dict):
        return {
            to_snake(k): (v if k == "headers" else _snake_keys(v, depth=depth + 1))
            for k, v in value.items()
            if not _is_js_null(v) or depth > 0
        }
    if isinstance(value, list):
        return [_snake_keys(v, depth=depth + 1) for v in value]
    return None if _is_js_null(value) else value


def options_from_js(options: Any) -> dict[str, Any]:
    """camelCase JS options object -> snake_case keyword arguments (nested too)."""
    raw = to_py(options)
    if _is_js_null(raw):
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("options", type(raw).__name__, "an object")
    converted: dict[str, Any] = _snake_keys(raw)
    return converted


def response_to_js(response: Response) -> dict[str, Any]:
    """A response made in Python (no ``raw``) as plain data for ``new Response(...)``."""
    return {
        "ok": True,
        "status": response.status,
        "statusText": response.reason,
        "headers": [list(p) for p in response.headers.pairs()],
        "body": response.content,
        "url": response.url,
    }


def error_to_js(exc: BaseException) -> dict[str, Any]:
    """An exception as plain data for a rejected ``Error`` with a ``code``."""
    if isinstance(exc, ResilienceError):
        info = _as_written_in_js(exc).to_dict()
    else:
        info = {"code": "INTERNAL", "name": type(exc).__name__, "message": str(exc)}
    return {"ok": False, "error": info}


class JsClient:
    """What the shim holds: a ``Client`` behind a fetch-shaped, plain-data API."""

    _CLIENT_OPTIONS = frozenset(
        {
            "base_url",
            "headers",
            "breaker",
            "limiter",
            "queue",
            "retry",
            "timeout",
            "network",
            "idempotency_keys",
            "outbox",
            "cache",
            "dedupe",
            "upload",
        }
    )

    def __init__(self, client: Client) -> None:
        self.client = client
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching = False

    def start(
        self,
        settle: Callable[[Any], Any],
        url: str,
        method: str,
        headers: Any = None,
        source: Any = None,
        options: Any = None,
        signal: Any = None,
    ) -> None:
        """Start one fetch and call ``settle(result)`` when done (see ``fetch``).

        The task starts eagerly when it can, so everything up to the fetch runs
        inside this call, and ``settle`` resolves the shim's promise directly:
        no event-loop turn to start the task and none to report its result.
        """
        coro = self._settle(settle, url, method, headers, source, options, signal)
        loop = asyncio.get_event_loop()
        if _EAGER_TASKS and asyncio.current_task(loop) is None:
            task = _Task(coro, loop=loop, eager_start=True)
        else:  # called from inside a task (or Python < 3.12): it cannot start at once
            task = loop.create_task(coro)
        if not task.done():
            self._tasks.add(task)  # the loop keeps only a weak reference

    async def _settle(self, settle: Callable[[Any], Any], *args: Any) -> None:
        try:
            result = await self.fetch(*args)
            failed = isinstance(result, dict) and not result["ok"]
            settle(_dumps(result["error"]) if failed else result)
        finally:
            self._tasks.discard(asyncio.current_task())

    async def fetch(
        self,
        url: str,
        method: str,
        headers: Any = None,
        source: Any = None,
        options: Any = None,
        signal: Any = None,
    ) -> Any:
        """Run one fetch; never raises.

        Returns fetch's own Response when the transport gave one
        (``Response.raw``), else the response as plain data
        (``response_to_js``); an error comes back as ``{"ok": False, ...}``.
        ``headers`` are (name, value) pairs; ``source`` is the caller's
        ``Request``/``RequestInit`` the transport sends as it is.
        """
        remove_listener: Any = None
        try:
            opts = (
                _DEFAULT_OPTIONS
                if _is_js_null(options)
                else build(RequestOptions, options_from_js(options), "request")
            )
            pairs = None if _is_js_null(headers) else [(str(k), str(v)) for k, v in to_py(headers)]
            try:
                request = self.client.build_request(str(method), str(url), headers=pairs)
            except ResilienceError as exc:
                self.client.pipeline.reject(exc)  # counted and reported, as from Python
                raise
            if not _is_js_null(source):
                # A fresh Request no one else holds: fill in raw without a
                # dataclasses.replace copy (measurable per call in WebAssembly).
                object.__setattr__(request, "raw", source)
            if not _is_js_null(signal):
                from .transports.browser import on_abort

                task = asyncio.current_task()
                if task is not None:
                    remove_listener = on_abort(signal, task.cancel)
            response = await self.client.send(request, opts)
            return response.raw if response.raw is not None else response_to_js(response)
        except asyncio.CancelledError:
            # The page's AbortSignal fired: the transport already aborted the fetch.
            return error_to_js(AbortedError("the request was aborted"))
        except Exception as exc:  # every failure must reach JS as data, never a PythonError
            return error_to_js(exc)
        finally:
            if remove_listener is not None:
                remove_listener()

    def on(self, name: str, callback: Any) -> Any:
        """Subscribe a JS callback (it receives the payload as JSON); returns an unsubscribe."""
        try:
            return self.client.on(name, lambda payload: callback(_dumps(payload)))
        except ResilienceError as exc:
            return error_to_js(exc)

    def state(self) -> str:
        """The client's state snapshot as JSON."""
        return _dumps(self.client.state())

    def metrics_text(self) -> str:
        """``client.metricsText()``: the Prometheus text exposition (format 0.0.4)."""
        return self.client.metrics_text()

    def network(self) -> str:
        """``{state, since, nextProbeIn, ...}`` of the network monitor, as JSON."""
        return _dumps(self.client.network.snapshot())

    async def probe_now(self) -> str:
        """Probe the health URL at once; the network snapshot afterwards, or the error, as JSON."""
        try:
            await self.client.network.probe_now()
        except ResilienceError as exc:  # CLOSED
            return _dumps(error_to_js(exc))
        return self.network()

    def breaker_action(self, url: str, action: str) -> str | dict[str, Any]:
        """``isolate`` or ``reset`` the breaker guarding ``url``; returns its snapshot as JSON."""
        try:
            breaker = self.client.breaker(url)
            if action == "isolate":
                breaker.isolate()
            elif action == "reset":
                breaker.reset()
            else:
                raise ConfigError("action", action, "'isolate' or 'reset'")
        except ResilienceError as exc:
            return error_to_js(exc)
        return _dumps(breaker.snapshot())

    # -- query cache, mutations, loaders: JSON strings in and out ------------------

    async def query(
        self, key: str, url: str, headers: Any = None, options: Any = None, stale_time: Any = None
    ) -> str:
        """``client.query``; resolves to ``{"ok": true, "data": ...}`` or an error, as JSON."""

        parsed_key: Any = None

        async def run() -> Any:
            nonlocal parsed_key
            pairs = None if _is_js_null(headers) else [(str(k), str(v)) for k, v in to_py(headers)]
            kwargs = _request_kwargs(options)
            stale = None if _is_js_null(stale_time) else stale_time
            parsed_key = _json.loads(key)
            return await self.client.query(
                parsed_key, str(url), stale_time=stale, headers=pairs, **kwargs
            )

        def fresh() -> dict[str, Any]:
            # While fresh, the shim answers this key's hits itself (see watch_queries).
            cache = self.client.query_cache
            if not self._watching or cache is None:
                return {}
            return {"fresh": cache.mirror(parsed_key)}

        return await _envelope(run(), fresh)

    def watch_queries(self, callback: Any) -> None:
        """The shim's copy of fresh entries: ``callback(hash)`` when one changes."""
        cache = self.client.query_cache
        if cache is None:
            return
        self._watching = True
        cache.watch(lambda h: callback(h))

    def touch_queries(self, hits: str) -> None:
        """Hits the shim answered from its copies, as JSON ``{hash: count}``."""
        cache = self.client.query_cache
        if cache is not None:
            cache.touch(_json.loads(hits))

    def query_state(self, key: str) -> str:
        """``client.queryState``: the entry's state as JSON (``null`` when not cached)."""
        return _sync_envelope(lambda: self.client.query_state(_json.loads(key)))

    def subscribe(self, key: str, callback: Any) -> Any:
        """``client.subscribe``: the callback gets the state as JSON; returns an unsubscribe."""
        try:
            return self.client.subscribe(
                _json.loads(key), lambda state: callback(_dumps(state))
            )
        except ResilienceError as exc:
            return error_to_js(exc)

    def invalidate(self, prefix: str) -> str:
        """``client.invalidate``: how many entries were marked stale, as JSON."""
        return _sync_envelope(lambda: self.client.invalidate(_json.loads(prefix)))

    def set_query_data(self, key: str, value: str, updater: Any = None) -> str:
        """``client.setQueryData``: a JSON value, or a JS ``json -> json`` updater."""
        new: Any = _json_updater(updater) if not _is_js_null(updater) else _json.loads(value)
        return _sync_envelope(lambda: self.client.set_query_data(_json.loads(key), new))

    async def mutate(self, spec: str, updaters: Any = None) -> str:
        """``client.mutate``: spec JSON {method, url, headers, json, optimistic, invalidate}."""

        async def run() -> Any:
            raw = _json.loads(spec)
            fns = list(updaters) if not _is_js_null(updaters) else []
            optimistic = []
            for i, item in enumerate(raw.get("optimistic") or []):
                fn = fns[i] if i < len(fns) and not _is_js_null(fns[i]) else None
                value = _json_updater(fn) if fn is not None else item.get("data")
                optimistic.append((item["key"], value))
            kwargs = _request_kwargs(raw.get("resilience"))
            for name in ("json", "body", "headers"):
                if raw.get(name) is not None:
                    kwargs[name] = raw[name]
            return await self.client.mutate(
                raw.get("method", "POST"),
                raw["url"],
                optimistic=optimistic,
                invalidate=raw.get("invalidate") or [],
                durable=bool(raw.get("durable")),
                **kwargs,
            )

        return await _envelope(run())

    def loader(self, options: str) -> Any:
        """``client.loader``: a ``JsLoader``, or an error dict for bad options."""
        try:
            kwargs = options_from_js(_json.loads(options))
            url = kwargs.pop("url", None)
            return JsLoader(self.client.loader(url, **kwargs))
        except ResilienceError as exc:
            return error_to_js(_as_written_in_js(exc))
        except TypeError as exc:
            return error_to_js(ConfigError("loader", options, f"known loader options ({exc})"))

    async def outbox(self, action: str, args: str = "{}", body: Any = None) -> str:
        """``client.outbox.<action>`` for the shim: JSON in, JSON out, errors as ``ok: false``.

        ``wait`` answers the response with its body base64-encoded.
        """
        import base64

        try:
            a = _json.loads(args)
            box = self.client.outbox
            value: Any = None
            if action == "enqueue":
                data = None if _is_js_null(body) else bytes(body.to_bytes())
                value = await box.enqueue(a["method"], a["url"], headers=a["headers"], body=data)
            elif action == "wait":
                resp = await box.wait(str(a["id"]))
                value = {
                    "status": resp.status,
                    "statusText": resp.reason,
                    "headers": [list(p) for p in resp.headers.pairs()],
                    "body": base64.b64encode(resp.content).decode("ascii"),
                    "url": resp.url,
                }
            elif action == "entries":
                value = [{to_camel(k): v for k, v in e.items()} for e in await box.entries()]
            elif action in ("retry", "discard"):
                value = await getattr(box, action)(str(a["id"]))
            elif action == "kick":
                box.kick("page")
            elif action == "start":
                await box.start()
            else:
                raise ConfigError("action", action, "an outbox method")
            return _dumps({"ok": True, "value": value})
        except Exception as exc:  # every failure reaches JS as data
            if isinstance(exc, ResilienceError):
                exc = _as_written_in_js(exc)
            return _dumps(error_to_js(exc))

    def upload(
        self,
        source: Any,
        url: str,
        settings: str = "{}",
        metadata: str = "{}",
        headers: str = "{}",
        on_progress: Any = None,
    ) -> Any:
        """``client.upload``: a ``JsUpload`` for the shim's Blob helper, or an error dict.

        ``source`` is the shim's ``uploadSource(blob)`` (size, ``sha256()``,
        ``chunk(start, end)`` with Web Crypto): the file stays in JavaScript,
        the tus logic is ``upload.py``'s. ``settings`` are camelCase ``upload``
        settings as JSON; ``on_progress`` gets each progress event as JSON.
        """
        try:
            kwargs = options_from_js(_json.loads(settings))
            progress = None
            if not _is_js_null(on_progress):
                progress = lambda event: on_progress(  # noqa: E731
                    _dumps({to_camel(k): v for k, v in event.items()})
                )
            up = self.client.upload(
                JsBlobSource(source),
                str(url),
                on_progress=progress,
                metadata=_json.loads(metadata),
                headers=_json.loads(headers),
                **kwargs,
            )
            return JsUpload(up)
        except ResilienceError as exc:
            return error_to_js(_as_written_in_js(exc))

    async def close(self, options: str = "{}") -> str:
        """``client.close({ timeout })``: JSON in; ``{"ok": true}`` once closed, or the error.

        ``timeout`` left out: the client's ``timeout.close``; null: no limit.
        """
        try:
            raw = _json.loads(options)
            build(CloseOptions, raw, "close")  # names an unknown field or a bad value
            await self.client.close(raw.get("timeout", USE_CLIENT_DEFAULT))
        except ResilienceError as exc:
            return _dumps(error_to_js(exc))
        return _dumps({"ok": True})


class JsLoader:
    """What ``client.loader(...)`` gives the shim: ``load_many`` with JSON results.

    The shim's ``load(id)`` calls of one turn arrive here as one ``load_many``.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    async def load_many(self, ids: str) -> str:
        """Items in order; a failed one is ``{"error": {...}}`` in its place."""

        async def run() -> Any:
            results = await self.loader.load_many(_json.loads(ids))
            return [
                {"error": error_to_js(r)["error"]} if isinstance(r, BaseException) else r
                for r in results
            ]

        return await _envelope(run())


class JsBlobSource:
    """An upload source whose bytes stay in the page: the shim's ``uploadSource(blob)``."""

    def __init__(self, js: Any) -> None:
        self._js = js
        self.size = int(js.size)
        self.name = str(js.name)
        self.type = str(js.type)

    async def sha256(self) -> str:
        """Web Crypto's SHA-256 of the whole Blob, hex."""
        return str(await self._js.sha256())

    async def chunk(self, start: int, end: int) -> Any:
        """A Blob slice as an ``ArrayBuffer`` in a ``RequestInit`` (``raw``), and its checksum."""
        from ._upload_sources import Chunk

        out = await self._js.chunk(start, end)
        return Chunk(size=int(out.size), checksum=str(out.checksum), raw=out.init)


class JsUpload:
    """What ``client.upload(...)`` gives the shim: ``result()``, pause, resume, abort."""

    def __init__(self, upload: Any) -> None:
        self.upload = upload

    async def result(self) -> str:
        """``{"ok": true, "data": {url, size, sha256, verified, resumedFrom, bytesSent}}``."""

        async def run() -> Any:
            done = await self.upload
            return {to_camel(k): v for k, v in done.to_dict().items()}

        return await _envelope(run())

    def pause(self) -> None:
        """Abort the chunk in flight and send nothing until ``resume()``."""
        self.upload.pause()

    def resume(self) -> None:
        """Go on from the server's offset."""
        self.upload.resume()

    async def abort(self, terminate: bool = False) -> None:
        """Stop for good (``result()`` rejects with ABORTED); ``terminate`` deletes it."""
        await self.upload.abort(terminate=bool(terminate))

    def snapshot(self) -> str:
        """``{phase, sent, total, rate, url, sha256}`` as JSON."""
        return _dumps(self.upload.snapshot())


def _request_kwargs(options: Any) -> dict[str, Any]:
    """``resilience`` per-call options (camelCase, from JS) as ``request()`` keywords."""
    if isinstance(options, str):
        options = _json.loads(options)
    kwargs = options_from_js(options)
    build(RequestOptions, kwargs, "request")  # checked and named as the caller wrote them
    return kwargs


def _json_updater(fn: Any) -> Any:
    """A JS ``(json) => json`` function as a Python ``old -> new`` updater."""

    def update(old: Any) -> Any:
        out = fn(_dumps(old))
        return None if _is_js_null(out) else _json.loads(str(out))

    return update


async def _envelope(work: Any, extra: Callable[[], dict[str, Any]] | None = None) -> str:
    """``{"ok": true, "data": ...}`` (plus ``extra()``'s keys) as JSON, or the error."""
    try:
        data = await work
        return _dumps({"ok": True, "data": data, **(extra() if extra is not None else {})})
    except asyncio.CancelledError:
        return _dumps(error_to_js(AbortedError("the request was aborted")))
    except Exception as exc:  # every failure must reach JS as data, never a PythonError
        return _dumps(error_to_js(exc))


def _sync_envelope(work: Callable[[], Any]) -> str:
    try:
        return _dumps({"ok": True, "data": work()})
    except Exception as exc:
        return _dumps(error_to_js(exc))


def create_client(options: Any = None) -> JsClient | dict[str, Any]:
    """Build a ``JsClient`` from a camelCase JS options object.

    Invalid options come back as ``{"ok": False, "error": ...}`` (not raised)
    so the shim can reject with ``code: "CONFIG"`` and the field name.
    """
    try:
        kwargs = options_from_js(options)
        unknown = sorted(set(kwargs) - JsClient._CLIENT_OPTIONS)
        if unknown:
            allowed = ", ".join(sorted(JsClient._CLIENT_OPTIONS))
            raise ConfigError(unknown[0], kwargs[unknown[0]], f"a known option: {allowed}")
        return JsClient(Client(**kwargs))
    except ResilienceError as exc:
        return error_to_js(exc)
