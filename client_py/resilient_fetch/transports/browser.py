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
        import js
        from pyodide.ffi import JsException, to_js

        source = request.raw if request.raw is not None else self._defaults
        read = request.raw is None  # a Python caller wants bytes; the JS API wants fetch's Response
        headers = to_js(request.headers.pairs()) if len(request.headers) else None
        body = to_js(request.body) if request.body is not None else None
        controller = js.AbortController.new()
        fetch_once = _fetch_without_shim if self._fetch_once is None else self._fetch_once
        try:
            result = await fetch_once(
                request.url, source, request.method, headers, body, read, controller
            )
        except asyncio.CancelledError:
            controller.abort()  # really cancel the browser's request, not just stop waiting
            raise
        except JsException as exc:
            if getattr(exc, "invalidRequest", False):
                raise InvalidRequestError(
                    f"fetch refused the request: {exc.message}", field="request"
                ) from exc
            if getattr(exc, "name", "") == "AbortError":
                raise AbortedError("request aborted", request=request) from exc
            if not _navigator_online():
                raise OfflineError("the browser is offline", request=request) from exc
            raise NetworkError(f"network error: {exc}", request=request) from exc
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
