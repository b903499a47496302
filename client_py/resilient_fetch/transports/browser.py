"""Pyodide transport: the browser's ``fetch`` with an AbortController.

This is the only module that imports ``js`` or ``pyodide``, and only lazily,
so the package still imports under CPython.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._errors import AbortedError, NetworkError, OfflineError
from .._models import Headers, Request, Response


def _navigator_online() -> bool:
    import js

    navigator = getattr(js, "navigator", None)
    online = getattr(navigator, "onLine", True) if navigator is not None else True
    return bool(online)


# The JS shim registers ``fetchOnce(url, init)`` as the JS module below: it
# fetches, reads the body and lists the headers in one promise, so Python awaits
# once and converts once. (Defining it from Python would need eval, which the
# page's CSP forbids.) Without the shim, two awaits on ``fetch`` do the same.


async def _fetch_twice(url: str, init: Any) -> tuple[int, str, list[list[str]], bytes, str]:
    import js

    resp = await js.fetch(url, init)
    body = await resp.arrayBuffer()
    headers = [[str(k), str(v)] for k, v in resp.headers.entries()]
    return int(resp.status), str(resp.statusText), headers, body.to_bytes(), str(resp.url)


class BrowserTransport:
    """Sends requests with the browser's ``fetch``, one JS round trip per request.

    A network failure and an abort both reject the fetch; our own
    ``AbortController`` tells them apart: if we aborted (the task was cancelled
    by a timeout or the caller) the fetch is really cancelled in the browser and
    the cancellation propagates; otherwise it is a network error, reported as
    ``OfflineError`` when the browser says it is offline.
    """

    # fetch resolves "/path" against the page, so a client may use a path base URL.
    resolves_relative_urls = True

    def __init__(self, *, credentials: str | None = None, mode: str | None = None) -> None:
        self._fetch_options: dict[str, Any] = {}
        if credentials:
            self._fetch_options["credentials"] = credentials
        if mode:
            self._fetch_options["mode"] = mode
        self._fetch_once: Any = None
        try:
            import _resilient_fetch_js  # type: ignore[import-not-found]

            self._fetch_once = _resilient_fetch_js.fetchOnce
        except ImportError:
            pass

    async def handle(self, request: Request) -> Response:
        """Send the request with ``fetch`` and buffer the body."""
        import js
        from pyodide.ffi import JsException, to_js

        controller = js.AbortController.new()
        init: dict[str, Any] = dict(self._fetch_options)
        init["method"] = request.method
        init["headers"] = request.headers.pairs()
        init["signal"] = controller.signal
        if request.body is not None:
            init["body"] = request.body
        js_init = to_js(init, dict_converter=js.Object.fromEntries)
        try:
            if self._fetch_once is not None:
                result = (await self._fetch_once(request.url, js_init)).to_py()
            else:
                result = await _fetch_twice(request.url, js_init)
        except asyncio.CancelledError:
            controller.abort()
            raise
        except JsException as exc:
            if controller.signal.aborted:
                raise AbortedError("request aborted", request=request) from exc
            if not _navigator_online():
                raise OfflineError("the browser is offline", request=request) from exc
            raise NetworkError(f"network error: {exc}", request=request) from exc
        status, reason, header_pairs, body, url = result
        return Response(
            status=int(status),
            headers=Headers((str(k), str(v)) for k, v in header_pairs),
            content=bytes(body),
            url=str(url),
            reason=str(reason),
            request=request,
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
