"""CPython transport: ``requests`` in a worker thread, errors mapped to the package's tree."""

from __future__ import annotations

import asyncio
from typing import Any

from .._errors import NetworkError, TimeoutError
from .._models import Headers, Request, Response


class RequestsTransport:
    """Runs each request with a ``requests.Session`` in a worker thread.

    A thread cannot be interrupted, so ``socket_timeout`` bounds how long an
    abandoned request can keep its thread after the caller's timeout fired.
    """

    def __init__(self, *, socket_timeout: float = 30.0, session: Any = None) -> None:
        import requests

        self._requests = requests
        self._session = session or requests.Session()
        self._socket_timeout = socket_timeout

    def _send(self, request: Request) -> Response:
        req = self._requests
        try:
            r = self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers.pairs()),
                data=request.body,
                timeout=self._socket_timeout,
                allow_redirects=True,
            )
            content = r.content
        except req.exceptions.Timeout as exc:
            raise TimeoutError(
                f"socket timeout after {self._socket_timeout}s",
                kind="attempt",
                timeout=self._socket_timeout,
                request=request,
            ) from exc
        except (req.exceptions.ConnectionError, req.exceptions.ChunkedEncodingError) as exc:
            raise NetworkError(f"network error: {exc}", request=request) from exc
        except req.exceptions.RequestException as exc:
            raise NetworkError(f"request failed: {exc}", request=request) from exc
        return Response(
            status=r.status_code,
            headers=Headers(r.raw.headers.items() if r.raw is not None else r.headers.items()),
            content=content,
            url=r.url,
            reason=r.reason or "",
            request=request,
        )

    async def handle(self, request: Request) -> Response:
        """Send the request in a worker thread."""
        return await asyncio.to_thread(self._send, request)

    async def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()
