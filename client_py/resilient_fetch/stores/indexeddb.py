"""``IndexedDBStore``: entries in the browser's IndexedDB, shared by every tab of the origin.

The I/O goes through ``outboxStore(name)``, a small helper the JS shim
registers in the ``_resilient_fetch_js`` module (as it does ``fetchOnce``): one
object store keyed by an auto-increment ``seq``, the bounds checked inside the
inserting transaction, the Web Locks API to elect the one tab that replays,
and a ``BroadcastChannel`` to tell the other tabs about changes. Entries cross
the boundary as JSON text, so no proxy outlives a call.

Like ``transports/browser.py``, this module touches ``js``/``pyodide`` only
lazily, inside ``IndexedDBStore``'s methods, so it imports under CPython.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._clock import Clock
from .._errors import ConfigError, OutboxFullError
from .base import Entry, Message


class IndexedDBStore:
    """Outbox entries in IndexedDB database ``name`` (needs the JS shim's helpers)."""

    poll_interval = None

    def __init__(self, name: str = "resilient-fetch-outbox") -> None:
        self.name = name
        self._js: Any = None
        self._listeners: list[Callable[[Message], None]] = []
        self._proxy: Any = None
        self._siblings: dict[str, IndexedDBStore] = {}

    async def _db(self) -> Any:
        if self._js is None:
            try:
                import _resilient_fetch_js  # type: ignore[import-not-found]
            except ImportError:
                raise ConfigError(
                    "outbox.store", "indexeddb", "'memory' or 'sqlite' outside the JS shim"
                ) from None
            from pyodide.ffi import create_proxy

            self._js = await _resilient_fetch_js.outboxStore(self.name)
            self._proxy = create_proxy(self._on_message)
            self._js.subscribe(self._proxy)
        return self._js

    def _on_message(self, text: Any) -> None:
        message = json.loads(str(text))
        for callback in tuple(self._listeners):
            callback(message)

    async def add(
        self, id: str, size: int, data: Entry, *, max_entries: int, max_bytes: int
    ) -> int:
        """Insert after checking the bounds, in one readwrite transaction."""
        db = await self._db()
        out = json.loads(str(await db.add(id, size, json.dumps(data), max_entries, max_bytes)))
        if "full" in out:
            limit = out["full"]
            value = max_entries if limit == "max_entries" else max_bytes
            raise OutboxFullError(
                f"the outbox is full ({limit}={value}): not stored", limit=limit, value=value
            )
        return int(out["seq"])

    async def put(self, id: str, size: int, data: Entry) -> bool:
        """Replace an existing entry."""
        db = await self._db()
        return bool(await db.put(id, size, json.dumps(data)))

    async def delete(self, id: str) -> bool:
        """Remove an entry."""
        db = await self._db()
        return bool(await db.delete(id))

    async def all(self) -> list[tuple[int, Entry]]:
        """Every entry, oldest first."""
        db = await self._db()
        rows = json.loads(str(await db.all()))
        return [(int(seq), json.loads(text)) for seq, text in rows]

    async def lead(self, clock: Clock) -> None:
        """Wait for the Web Lock ``<name>:replay``; held until the tab closes or ``close()``."""
        db = await self._db()
        await db.lead()

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        """Messages other tabs post on the ``BroadcastChannel``."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def publish(self, message: Message) -> None:
        """Post to the other tabs."""
        if self._js is not None:
            self._js.publish(json.dumps(message))

    async def close(self) -> None:
        """Close the database, leave the channel and release the lock."""
        if self._js is not None:
            self._js.close()
            self._js.destroy()
            self._js = None
        if self._proxy is not None:
            self._proxy.destroy()
            self._proxy = None
        for sibling in self._siblings.values():
            await sibling.close()

    def sibling(self, suffix: str) -> IndexedDBStore:
        """A store of its own for other records (remembered uploads): ``<name>:<suffix>``."""
        return self._siblings.setdefault(suffix, IndexedDBStore(f"{self.name}:{suffix}"))
