"""Outbox storage seam: one small async interface, three homes for the entries.

``MemoryStore`` (tests, and the default), ``SQLiteStore`` (CPython, stdlib
``sqlite3`` in WAL mode; survives a crash of the process) and
``IndexedDBStore`` (the browser, through helpers the JS shim registers;
survives a reload). ``sqlite3`` and the browser are only touched when a store
of that kind is made, so this package imports everywhere.
"""

from .base import Store
from .indexeddb import IndexedDBStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["IndexedDBStore", "MemoryStore", "SQLiteStore", "Store"]
