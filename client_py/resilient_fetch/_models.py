"""Request and Response value objects; bodies are buffered bytes, read once.

In the page, both may also hold the browser's own object as ``raw`` (the JS
``Request``/``RequestInit`` a caller passed, fetch's ``Response``): the
transport sends and hands back those as they are, so no body crosses between
JS and Python unless a stage asks for it (``await response.read()``).
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers(Mapping[str, str]):
    """Case-insensitive, order-keeping HTTP headers (repeated names are comma-joined)."""

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderInput = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        if headers is None:
            return
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            self.add(str(name), str(value))

    def add(self, name: str, value: str) -> None:
        """Append a value, joining with any existing one as HTTP allows."""
        key = name.lower()
        if key in self._items:
            old_name, old = self._items[key]
            self._items[key] = (old_name, f"{old}, {value}")
        else:
            self._items[key] = (name, value)

    def set(self, name: str, value: str) -> None:
        """Replace any value of this header."""
        self._items[name.lower()] = (name, value)

    def setdefault_header(self, name: str, value: str) -> None:
        """Set the header unless it is already present."""
        self._items.setdefault(name.lower(), (name, value))

    def remove(self, name: str) -> None:
        """Drop the header if present."""
        self._items.pop(name.lower(), None)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def pairs(self) -> list[tuple[str, str]]:
        """The headers as (name, value) pairs, original case."""
        return list(self._items.values())

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers(self.pairs())

    def __repr__(self) -> str:
        return f"Headers({self.pairs()!r})"


class _Unread(bytes):
    """The ``content`` of a response whose body is still in the browser (empty until read)."""


UNREAD = _Unread()


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the pipeline sees it."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes | None = None
    # The caller's own JS Request or RequestInit (in the page): the transport
    # sends its body and fetch options as they are, so ``body`` is None then.
    raw: Any = field(default=None, repr=False, compare=False)
    # urlsplit(url), made on first use: the breaker key and the metrics route
    # read it, so one request parses its URL once (a new URL, a new Request).
    _parts: SplitResult | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def parts(self) -> SplitResult:
        """``urlsplit(url)``, parsed once per request."""
        parts = self._parts
        if parts is None:
            parts = urlsplit(self.url)
            object.__setattr__(self, "_parts", parts)
        return parts

    @property
    def is_idempotent(self) -> bool:
        """True for methods that may safely be repeated (RFC 9110 section 9.2.2)."""
        return self.method in {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP response with its body buffered once."""

    status: int
    headers: Headers = field(default_factory=Headers)
    content: bytes = b""
    url: str = ""
    reason: str = ""
    request: Request | None = field(default=None, repr=False, compare=False)
    # fetch's own Response (in the page). Its body is only read on request:
    # ``content`` stays empty until ``await read()``.
    raw: Any = field(default=None, repr=False, compare=False)

    async def read(self) -> bytes:
        """The body bytes; on a response holding fetch's Response, read from a clone once."""
        if self.content is UNREAD:
            buffer = await self.raw.clone().arrayBuffer()
            # Frozen for callers; this fills in the value the transport left unread.
            object.__setattr__(self, "content", bytes(buffer.to_bytes()))
        return self.content

    @property
    def ok(self) -> bool:
        """True for 2xx statuses, as in ``fetch``."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.content)
