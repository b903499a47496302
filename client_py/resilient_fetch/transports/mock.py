"""A socket-free transport for tests: a handler function answers every request."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._models import Request, Response

Handler = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """Calls ``handler(request)`` (sync or async) and records every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Response:
        """Record the request and return the handler's response."""
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def close(self) -> None:
        """Nothing to release."""
