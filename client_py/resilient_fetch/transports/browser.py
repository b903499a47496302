"""Pyodide transport: the browser's ``fetch``, one JS promise per attempt.

This is the only module that imports ``js`` or ``pyodide``, and only lazily,
so the package still imports under CPython.

A request from the JS API (``Request.raw`` set) is sent with the caller's own
body and fetch options, and fetch's ``Response`` comes back as it is
(``Response.raw``): the pipeline decides from the status and a few headers,
which are read one by one on demand, and the body never crosses into Python.
A request made from Python gets its body read into ``Response.content``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from .._errors import AbortedError, InvalidRequestError, NetworkError, OfflineError
from .._models import UNREAD, Headers, Request, Response


def _navigator_online() -> bool:
    import js

    navigator = getattr(js, "navigator", None)
    online = getattr(navigator, "onLine", True) if navigator is not None else True
    return bool(online)


class JsHeaders(Headers):
    """fetch's response ``Headers``, read from JS one name at a time until all are needed.

    The pipeline asks for a handful (``Retry-After``, ``RateLimit-*``), so a
    lookup is one JS call; iterating, counting or changing them copies all once.
    """

    __slots__ = ("_js", "_loaded")

    def __init__(self, js_headers: Any) -> None:
        super().__init__()
        self._js = js_headers
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for name, value in self._js.entries():
                super().add(str(name), str(value))

    def __getitem__(self, name: str) -> str:
        if self._loaded:
            return super().__getitem__(name)
        value = self._js.get(name) if isinstance(name, str) else None
        if not isinstance(value, str):  # JS null: the header is absent
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if self._loaded:
            return super().__contains__(name)
        return isinstance(name, str) and bool(self._js.has(name))

    def get(self, name: str, default: Any = None) -> Any:
        """One JS call, and no KeyError raised and caught for an absent header."""
        if self._loaded:
            return super().get(name, default)
        value = self._js.get(name) if isinstance(name, str) else None
        return value if isinstance(value, str) else default

    def __iter__(self) -> Iterator[str]:
        self._load()
        return super().__iter__()

    def __len__(self) -> int:
        self._load()
        return super().__len__()

    def pairs(self) -> list[tuple[str, str]]:
        """The headers as (name, value) pairs (fetch gives lower-case names)."""
        self._load()
        return super().pairs()

    def add(self, name: str, value: str) -> None:
        """Append a value (to the Python copy; fetch's Response is left as it is)."""
        self._load()
        super().add(name, value)

    def set(self, name: str, value: str) -> None:
        """Replace a value (to the Python copy)."""
        self._load()
        super().set(name, value)

    def setdefault_header(self, name: str, value: str) -> None:
        """Set unless present (to the Python copy)."""
        self._load()
        super().setdefault_header(name, value)

    def remove(self, name: str) -> None:
        """Drop a header (from the Python copy)."""
        self._load()
        super().remove(name)


async def _fetch_without_shim(
    url: str, source: Any, method: str, headers: Any, body: Any, read: bool, controller: Any
) -> Any:
    """What the shim's ``fetchOnce`` does, for Pyodide without the shim (e.g. under Node)."""
    import js
    from pyodide.ffi import to_js

    init: dict[str, Any] = {"method": method, "headers": headers or [], "signal": controller.signal}
    if body is not None:
        init["body"] = body
    if source is not None:
        for key in ("credentials", "mode", "redirect", "cache"):
            value = getattr(source, key, None)
            if value is not None:
                init[key] = value
    resp = await js.fetch(url, to_js(init, dict_converter=js.Object.fromEntries))
    return [resp, await resp.arrayBuffer()] if read else resp


def _failure(exc: Any, request: Request) -> Exception:
    """A rejected fetch (a JS error, or a JsException around one) as our error."""
    if getattr(exc, "invalidRequest", False):
        return InvalidRequestError(f"fetch refused the request: {exc.message}", field="request")
    if getattr(exc, "name", "") == "AbortError":
        return AbortedError("request aborted", request=request)
    if not _navigator_online():
        return OfflineError("the browser is offline", request=request)
    return NetworkError(f"network error: {exc}", request=request)


class _Wait:
    """An awaitable for one fetch's outcome that wakes its task without a loop turn.

    Awaiting a JS promise makes a Future whose ``set_result`` schedules the
    task's wake-up (and the WebLoop's own bookkeeping callback) with
    ``call_soon``, and under Pyodide each of those is a browser task plus a
    one-shot proxy. This object speaks asyncio's future protocol
    (``_asyncio_future_blocking``, ``add_done_callback``, ``result``,
    ``cancel``), and when the fetch settles the task's wake-up runs at once,
    inside the promise reaction: the pipeline decides and the page's promise
    settles in the same microtask checkpoint in which the headers arrived.
    A cancel (timeout, abort) wakes the task through ``call_soon`` as usual.
    """

    __slots__ = ("_asyncio_future_blocking", "_callbacks", "_cancelled", "_loop", "_value", "id")

    def __init__(self, loop: asyncio.AbstractEventLoop, id: int) -> None:
        self._loop = loop
        self.id = id
        self._asyncio_future_blocking = False
        self._callbacks: list[tuple[Any, Any]] = []
        self._value: tuple[Any, Any] | None = None
        self._cancelled = False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._cancelled or self._value is not None

    def cancelled(self) -> bool:
        return self._cancelled

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        if self.done():
            self._loop.call_soon(fn, self, context=context)
        else:
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Any) -> int:
        before = len(self._callbacks)
        self._callbacks = [(f, c) for f, c in self._callbacks if f != fn]
        return before - len(self._callbacks)

    def result(self) -> tuple[Any, Any]:
        if self._cancelled:
            raise asyncio.CancelledError()
        if self._value is None:
            raise asyncio.InvalidStateError("the fetch has not settled")
        return self._value

    def exception(self) -> BaseException | None:
        if self._cancelled:
            raise asyncio.CancelledError()
        return None

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._cancelled = True
        callbacks, self._callbacks = self._callbacks, []
        for fn, context in callbacks:
            self._loop.call_soon(fn, self, context=context)
        return True

    def settle(self, value: tuple[Any, Any]) -> None:
        self._value = value
        callbacks, self._callbacks = self._callbacks, []
        running = asyncio.current_task(self._loop) is not None
        for fn, context in callbacks:
            if running:  # never step a task from inside another one
                self._loop.call_soon(fn, self, context=context)
            elif context is None:
                fn(self)
            else:
                context.run(fn, self)

    def __await__(self) -> Any:
        if not self.done():
            self._asyncio_future_blocking = True
            yield self
        return self.result()


class _Landing:
    """Where the shim's ``fetchOnce`` reports outcomes: one proxy for every request."""

    def __init__(self) -> None:
        from pyodide.ffi import create_proxy

        self._waits: dict[int, _Wait] = {}
        self._ids = itertools.count(1)
        self.callback = create_proxy(self._landed)

    def wait(self) -> _Wait:
        wait = _Wait(asyncio.get_running_loop(), next(self._ids))
        self._waits[wait.id] = wait
        return wait

    def forget(self, wait: _Wait) -> None:
        self._waits.pop(wait.id, None)

    def _landed(self, id: int, value: Any, error: Any = None) -> None:
        wait = self._waits.pop(id, None)
        if wait is not None and not wait.done():
            wait.settle((value, error))


class BrowserTransport:
    """Sends requests with the browser's ``fetch``; a cancelled attempt aborts it.

    A rejected fetch is an abort (only when we aborted it: the task was
    cancelled by a timeout or the caller, and the cancellation propagates), a
    request fetch refuses to build (``InvalidRequestError``), or a network
    failure, reported as ``OfflineError`` when the browser says it is offline.
    """

    # fetch resolves "/path" against the page, so a client may use a path base URL.
    resolves_relative_urls = True

    @staticmethod
    def page_url() -> str:
        """The URL fetch resolves a relative URL against (the document's base URL)."""
        import js

        document = getattr(js, "document", None)
        return str(document.baseURI if document is not None else js.location.href)

    @staticmethod
    def watch_network(callback: Callable[[bool], None]) -> Callable[[], None]:
        """The page's online/offline events for the network monitor (see ``watch_network``)."""
        return watch_network(callback)

    def __init__(self, *, credentials: str | None = None, mode: str | None = None) -> None:
        self._defaults: Any = None
        options = {k: v for k, v in (("credentials", credentials), ("mode", mode)) if v}
        if options:
            import js
            from pyodide.ffi import to_js

            self._defaults = to_js(options, dict_converter=js.Object.fromEntries)
        self._fetch_once: Any = None
        self._landing: _Landing | None = None
        try:
            # Registered by the JS shim: builds the init and the Request in JS,
            # so nothing but strings crosses per call (defining it from Python
            # would need eval, which the page's CSP forbids).
            import _resilient_fetch_js  # type: ignore[import-not-found]

            self._fetch_once = _resilient_fetch_js.fetchOnce
        except ImportError:
            pass

    async def handle(self, request: Request) -> Response:
        """Send the request; from Python, the body is read into ``content``."""
        from pyodide.ffi import JsException, to_js

        source = request.raw if request.raw is not None else self._defaults
        read = request.raw is None  # a Python caller wants bytes; the JS API wants fetch's Response
        headers = to_js(request.headers.pairs()) if len(request.headers) else None
        body = to_js(request.body) if request.body is not None else None
        if self._fetch_once is None:
            import js

            controller = js.AbortController.new()
            try:
                result = await _fetch_without_shim(
                    request.url, source, request.method, headers, body, read, controller
                )
            except asyncio.CancelledError:
                controller.abort()  # really cancel the browser's request, not just stop waiting
                raise
            except JsException as exc:
                raise _failure(exc, request) from exc
        else:
            landing = self._landing
            if landing is None:
                landing = self._landing = _Landing()
            wait = landing.wait()
            # The helper makes the AbortController and hands the outcome to
            # `landing` from the promise's own reaction: see _Landing.
            controller = self._fetch_once(
                request.url, source, request.method, headers, body, read,
                landing.callback, wait.id,
            )
            try:
                result, error = await wait
            except asyncio.CancelledError:
                landing.forget(wait)
                controller.abort()  # really cancel the browser's request, not just stop waiting
                raise
            if error is not None:
                raise _failure(error, request)
        if read:
            resp, buffer = result
            content = bytes(buffer.to_bytes())
        else:
            resp, content = result, UNREAD
        return Response(
            status=int(resp.status),
            headers=JsHeaders(resp.headers),
            content=content,
            url=str(resp.url),
            reason=str(resp.statusText),
            request=request,
            raw=resp,
        )

    async def close(self) -> None:
        """Nothing to release: the browser owns connections."""


def on_abort(signal: Any, callback: Any) -> Any:
    """Call ``callback()`` when the JS AbortSignal fires; returns a remover.

    Lives here because it needs ``pyodide.ffi.create_proxy`` (a Python callable
    handed to JS must outlive the call that registered it).
    """
    from pyodide.ffi import create_proxy

    if signal.aborted:
        callback()
        return lambda: None
    proxy = create_proxy(lambda *_: callback())
    signal.addEventListener("abort", proxy)

    def remove() -> None:
        signal.removeEventListener("abort", proxy)
        proxy.destroy()

    return remove


def watch_network(callback: Callable[[bool], None]) -> Callable[[], None]:
    """Call ``callback(online)`` on the window's online/offline events; returns a remover.

    Uses the shim's ``watchNetwork`` helper; reports ``navigator.onLine`` at once
    when it is false. Without the shim or a window (Node) it does nothing.
    """
    try:
        import _resilient_fetch_js
        from pyodide.ffi import create_proxy
    except ImportError:
        return lambda: None
    helper = getattr(_resilient_fetch_js, "watchNetwork", None)
    if helper is None:
        return lambda: None
    proxy = create_proxy(lambda online, *_: callback(bool(online)))
    detach = helper(proxy)
    if not _navigator_online():
        callback(False)

    def remove() -> None:
        detach()
        proxy.destroy()

    return remove


def on_window_focus(callback: Any) -> Any:
    """Call ``callback()`` when the page becomes visible again; returns a remover.

    Uses the shim's ``onFocus`` helper (a ``visibilitychange`` listener, as
    TanStack's focus manager); without the shim or a page it does nothing.
    """
    try:
        import _resilient_fetch_js
        from pyodide.ffi import create_proxy
    except ImportError:
        return lambda: None
    helper = getattr(_resilient_fetch_js, "onFocus", None)
    if helper is None:
        return lambda: None
    proxy = create_proxy(lambda *_: callback())
    detach = helper(proxy)

    def remove() -> None:
        detach()
        proxy.destroy()

    return remove
