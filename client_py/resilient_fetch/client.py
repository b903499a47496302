"""The client: builds a Request, runs it through the pipeline, returns a Response.

Pipeline order, outermost first (DESIGN.md; change only with a test showing why)::

    query cache -> dedupe/batch -> total deadline -> retry (+ retry budget)
      -> offline gate -> circuit breaker -> rate limiter
      -> concurrency queue -> per-attempt timeout -> transport
"""

from __future__ import annotations

import json as _json
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from ._errors import ConfigError
from ._models import HeaderInput, Headers, Request, Response
from .transports.base import Transport

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
    ) -> None:
        if not isinstance(base_url, str):
            raise ConfigError("base_url", base_url, "a URL string such as 'http://127.0.0.1:8000/'")
        if base_url and not base_url.startswith(("http://", "https://", "/")):
            raise ConfigError("base_url", base_url, "an http(s) URL or a path starting with '/'")
        self.base_url = base_url
        self.transport = transport if transport is not None else default_transport()
        self.headers = Headers(headers)

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
    ) -> Response:
        """Send a request through the pipeline and return the response."""
        req = self.build_request(method, url, headers=headers, json=json, body=body)
        return await self.send(req)

    async def send(self, request: Request) -> Response:
        """Run an already built request through the pipeline."""
        return await self.transport.handle(request)

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> Response:
        """Shorthand for ``request("GET", url)``."""
        return await self.request("GET", url, headers=headers)

    async def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Shorthand for ``request("POST", url, json=...)``."""
        return await self.request("POST", url, json=json, headers=headers)

    async def close(self) -> None:
        """Close the transport."""
        await self.transport.close()
