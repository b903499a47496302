"""Item store on top of :mod:`storage`; lives in ``app.extensions['items']``."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app

from .storage import Storage

# Aliases keep the ``list`` method below from shadowing the builtin in annotations.
Item = dict[str, Any]
Items = list[Item]
Ids = list[int]

_ITEMS = "items"
_SEQ = "items:seq"
_LOCK = "items"


class ItemStore:
    """Items with integer ids, listed in id order; shared when the storage is."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def list(self) -> Items:
        """Every item, oldest first."""
        rows = self._storage.hgetall(_ITEMS)
        return [json.loads(rows[k]) for k in sorted(rows, key=int)]

    def get(self, item_id: int) -> Item | None:
        """One item, or None."""
        raw = self._storage.hget(_ITEMS, str(item_id))
        return json.loads(raw) if raw else None

    def get_many(self, ids: Ids) -> tuple[Items, Ids]:
        """(found items in the order asked, ids not found)."""
        rows = self._storage.hgetall(_ITEMS)
        found = [json.loads(rows[str(i)]) for i in ids if str(i) in rows]
        missing = [i for i in ids if str(i) not in rows]
        return found, missing

    def create(self, fields: Item, *, limit: int | None = None) -> Item | None:
        """Store a new item under the next id; None when ``limit`` items exist already."""
        with self._storage.lock(_LOCK):
            if limit is not None and self._storage.hlen(_ITEMS) >= limit:
                return None
            item = {"id": self._storage.incr(_SEQ), **fields}
            self._storage.hset(_ITEMS, str(item["id"]), json.dumps(item))
            return item

    def update(self, item_id: int, fields: Item, *, replace: bool) -> Item | None:
        """PUT (``replace``) or PATCH an existing item; None when it does not exist."""
        # Read-modify-write under a lock, so a concurrent DELETE cannot be undone.
        with self._storage.lock(_LOCK):
            current = self.get(item_id)
            if current is None:
                return None
            base = {"id": item_id} if replace else current
            item = {**base, **fields, "id": item_id}
            self._storage.hset(_ITEMS, str(item_id), json.dumps(item))
            return item

    def delete(self, item_id: int) -> bool:
        """Remove an item; False when it did not exist."""
        with self._storage.lock(_LOCK):
            return self._storage.hdel(_ITEMS, str(item_id)) > 0

    def clear(self) -> None:
        """Remove every item and restart ids at 1."""
        with self._storage.lock(_LOCK):
            self._storage.delete(_ITEMS, _SEQ)


def init_app(app: Flask, storage: Storage) -> None:
    """Attach an ItemStore on ``storage`` to the app."""
    app.extensions["items"] = ItemStore(storage)


def items() -> ItemStore:
    """The current app's item store."""
    store: ItemStore = current_app.extensions["items"]
    return store
