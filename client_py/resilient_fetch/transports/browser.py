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


class BrowserTransport:
    """Sends requests with ``pyodide.http.pyfetch``.

    Network failures and aborts both surface from ``pyfetch`` as ``AbortError``;
    our own ``AbortController`` tells them apart: if we aborted (the task was
    cancelled by a timeout or the caller) the fetch is really cancelled in the
    browser and the cancellation propagates; otherwise it is a network error,
    reported as ``OfflineError`` when the browser says it is offline.
    """

    def __init__(self, *, credentials: str | None = None, mode: str | None = None) -> None:
        self._fetch_options: dict[str, Any] = {}
        if credentials:
            self._fetch_options["credentials"] = credentials
        if mode:
            self._fetch_options["mode"] = mode

    async def handle(self, request: Request) -> Response:
        """Send the request with ``fetch`` and buffer the body."""
        import js
        from pyodide.ffi import to_js
        from pyodide.http import AbortError, pyfetch

        controller = js.AbortController.new()
        options: dict[str, Any] = dict(self._fetch_options)
        options["method"] = request.method
        options["headers"] = to_js(
            dict(request.headers.pairs()), dict_converter=js.Object.fromEntries
        )
        if request.body is not None:
            options["body"] = to_js(request.body)
        try:
            resp = await pyfetch(request.url, signal=controller.signal, **options)
            content = await resp.bytes()
        except asyncio.CancelledError:
            controller.abort()
            raise
        except AbortError as exc:
            if controller.signal.aborted:
                raise AbortedError("request aborted", request=request) from exc
            if not _navigator_online():
                raise OfflineError("the browser is offline", request=request) from exc
            raise NetworkError(f"network error: {exc}", request=request) from exc
        headers = Headers()
        for name, value in resp.js_response.headers.entries():
            headers.add(name, value)
        return Response(
            status=int(resp.status),
            headers=headers,
            content=bytes(content),
            url=str(resp.url),
            reason=str(resp.status_text or ""),
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
