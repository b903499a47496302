"""``MemoryStore``: entries in a dict, for tests and for a client that needs no durability."""

from __future__ import annotations

import json
from collections.abc import Callable

from .._clock import Clock
from .base import Entry, Message, check_bounds, no_subscription


class MemoryStore:
    """Keeps entries in this process; several outboxes may share one (a "restart" in tests).

    Entries are stored as JSON text, as the durable stores do, so a test sees
    exactly what would survive a restart (no shared mutable dicts).
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, int, str]] = {}
        self._seq = 0
        self._siblings: dict[str, MemoryStore] = {}

    async def add(
        self, id: str, size: int, data: Entry, *, max_entries: int, max_bytes: int
    ) -> int:
        """Insert after checking the bounds; returns the sequence number."""
        total = sum(size for _, size, _ in self._rows.values())
        check_bounds(len(self._rows), total, size, max_entries, max_bytes)
        if id in self._rows:
            raise ValueError(f"duplicate outbox id {id!r}")
        self._seq += 1
        self._rows[id] = (self._seq, size, json.dumps(data))
        return self._seq

    async def put(self, id: str, size: int, data: Entry) -> bool:
        """Replace an existing entry."""
        row = self._rows.get(id)
        if row is None:
            return False
        self._rows[id] = (row[0], size, json.dumps(data))
        return True

    async def delete(self, id: str) -> bool:
        """Remove an entry."""
        return self._rows.pop(id, None) is not None

    async def all(self) -> list[tuple[int, Entry]]:
        """Every entry, oldest first."""
        return [(seq, json.loads(text)) for seq, _, text in sorted(self._rows.values())]

    async def lead(self, clock: Clock) -> None:
        """One process, one holder at a time: always the leader."""

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        """No other holders to hear from."""
        return no_subscription(callback)

    def publish(self, message: Message) -> None:
        """No other holders to tell."""

    async def close(self) -> None:
        """Nothing to release (the entries stay, for the next outbox on this store)."""

    def sibling(self, suffix: str) -> MemoryStore:
        """A store of its own for other records (remembered uploads), shared like this one."""
        return self._siblings.setdefault(suffix, MemoryStore())
