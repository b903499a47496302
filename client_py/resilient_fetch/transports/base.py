"""The transport seam: one async method plus ``close()``, as in httpx."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._models import Request, Response


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns the buffered response.

    Implementations map every native error to the package's error tree
    (``NetworkError``, ``TimeoutError``, ``AbortedError``). When the awaiting
    task is cancelled (a timeout fired or the caller aborted), the transport
    must really stop the underlying request, not just abandon it.
    """

    async def handle(self, request: Request) -> Response:
        """Send ``request`` and return its response."""
        ...

    async def close(self) -> None:
        """Release any resources."""
        ...
