"""The ``Store`` protocol the outbox writes through.

An entry is a JSON-serialisable dict (the body base64-encoded by the outbox)
plus its ``id`` and ``size`` in bytes. The store assigns a sequence number on
``add`` that orders entries by creation, and checks the bounds in the same
transaction as the insert, so a full store never takes a write half-way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .._clock import Clock
from .._errors import OutboxFullError

Entry = dict[str, Any]
Message = dict[str, Any]


class Store(Protocol):
    """Durable, ordered storage for outbox entries."""

    async def add(
        self, id: str, size: int, data: Entry, *, max_entries: int, max_bytes: int
    ) -> int:
        """Insert a new entry; returns its sequence number; ``OutboxFullError`` stores nothing."""
        ...

    async def put(self, id: str, size: int, data: Entry) -> bool:
        """Replace an existing entry; False (and nothing written) when it is gone."""
        ...

    async def delete(self, id: str) -> bool:
        """Remove an entry; False when it was not there."""
        ...

    async def all(self) -> list[tuple[int, Entry]]:
        """Every entry as ``(seq, data)``, oldest first."""
        ...

    async def lead(self, clock: Clock) -> None:
        """Return once this holder is the only one that replays (may wait a long time)."""
        ...

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``callback`` with messages other holders publish; returns an unsubscribe."""
        ...

    def publish(self, message: Message) -> None:
        """Tell other holders of the same storage (other tabs) about a change."""
        ...

    async def close(self) -> None:
        """Release the storage, the leadership and the channel."""
        ...


def check_bounds(count: int, total: int, size: int, max_entries: int, max_bytes: int) -> None:
    """Raise ``OutboxFullError`` if one more entry of ``size`` bytes would pass a bound."""
    if count + 1 > max_entries:
        raise OutboxFullError(
            f"the outbox holds {count} entries (max_entries={max_entries}): not stored",
            limit="max_entries",
            value=max_entries,
        )
    if total + size > max_bytes:
        raise OutboxFullError(
            f"the outbox holds {total} bytes and this write is {size} "
            f"(max_bytes={max_bytes}): not stored",
            limit="max_bytes",
            value=max_bytes,
        )


def no_subscription(callback: Callable[[Message], None]) -> Callable[[], None]:
    """For stores with one holder: nothing to subscribe to."""
    return lambda: None
