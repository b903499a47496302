"""In-memory item store (thread-safe); lives in ``app.extensions['items']``."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app


class ItemStore:
    """Items with integer ids, kept in insertion order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, dict[str, Any]] = {}
        self._next_id = 1

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._items.values()]

    def get(self, item_id: int) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(item_id)
            return dict(item) if item else None

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            item = {"id": self._next_id, **fields}
            self._items[self._next_id] = item
            self._next_id += 1
            return dict(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._next_id = 1


def init_app(app: Flask) -> None:
    app.extensions["items"] = ItemStore()


def items() -> ItemStore:
    store: ItemStore = current_app.extensions["items"]
    return store
