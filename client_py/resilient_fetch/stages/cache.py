"""HTTP revalidation (the part of caching TanStack Query leaves out).

A 200 answer to a GET that carries an ``ETag`` or ``Last-Modified`` is kept,
bounded in bytes with least-recently-used eviction. The next GET of the same
URL (and headers) is sent with ``If-None-Match`` / ``If-Modified-Since``; a
``304 Not Modified`` then comes back to the caller as the kept 200, so the
body does not cross the network again. The query cache's refetches go through
here, which is how a refetch of unchanged data costs the server a 304.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from .._models import Response
from .base import Call, Next
from .dedupe import Key, flight_key

_CONDITIONAL = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "Range")
_OVERHEAD = 256  # bytes charged per kept response for its headers and bookkeeping


async def buffered(response: Response) -> Response:
    """The response with its body in ``content``, detached from fetch's Response in the page."""
    read = getattr(response, "read", None)
    if getattr(response, "raw", None) is None or read is None:
        return response
    await read()
    return dataclasses.replace(response, raw=None)  # type: ignore[call-arg,unused-ignore]


def _size(response: Response) -> int:
    return len(response.content) + _OVERHEAD


class RevalidationStage:
    """Keeps validated GET responses and turns a 304 into the kept response."""

    name = "cache"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[Key, Response] = OrderedDict()
        self.bytes = 0
        self.revalidated = 0

    async def __call__(self, call: Call, next: Next) -> Response:
        request = call.request
        if request.method != "GET" or any(h in request.headers for h in _CONDITIONAL):
            return await next(call)
        key = flight_key(request)
        kept = self._kept.get(key)
        if kept is not None:
            headers = request.headers.copy()
            etag = kept.headers.get("ETag")
            modified = kept.headers.get("Last-Modified")
            if etag:
                headers.set("If-None-Match", etag)
            if modified:
                headers.set("If-Modified-Since", modified)
            call.request = dataclasses.replace(request, headers=headers)
        try:
            response = await next(call)
        finally:
            call.request = request
        if response.status == 304 and kept is not None:
            self.revalidated += 1
            self._kept.move_to_end(key)
            return kept
        if response.status == 200:
            self._drop(key)
            if self._keepable(response):
                return await self._keep(key, response)
        return response

    @staticmethod
    def _keepable(response: Response) -> bool:
        headers = response.headers
        if "ETag" not in headers and "Last-Modified" not in headers:
            return False
        return "no-store" not in headers.get("Cache-Control", "").lower()

    async def _keep(self, key: Key, response: Response) -> Response:
        """Keep the body bytes (read from a clone in the page); the caller gets ``response``."""
        kept = await buffered(response)
        size = _size(kept)
        if size > self.max_bytes:
            return response
        self._kept[key] = kept
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self._kept.popitem(last=False)
            self.bytes -= _size(old)
        return response

    def _drop(self, key: Key) -> None:
        old = self._kept.pop(key, None)
        if old is not None:
            self.bytes -= _size(old)

    def snapshot(self) -> dict[str, Any]:
        """Kept responses, their bytes and how many 304s were answered from them."""
        return {
            "revalidation": {
                "entries": len(self._kept),
                "bytes": self.bytes,
                "revalidated": self.revalidated,
            }
        }
