"""``SQLiteStore``: entries in a SQLite file (stdlib ``sqlite3``, WAL), for CPython.

A write is committed (fsynced, ``synchronous=FULL``) before ``enqueue``
returns, so it survives a crash of the process. Several processes may share
one file: the bounds are checked inside the inserting transaction
(``BEGIN IMMEDIATE``), and an exclusive ``flock`` on ``<path>.lock`` makes
exactly one of them the replayer (the kernel drops it when a process dies).
``sqlite3`` is imported when a store is made: Pyodide may not ship it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._clock import Clock
from .base import Entry, Message, check_bounds, no_subscription

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    id   TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    data TEXT NOT NULL
)
"""


class SQLiteStore:
    """Outbox entries in one SQLite table; ``path`` may be ``":memory:"`` for tests."""

    # Other processes cannot notify us: the replayer looks again this often when idle.
    poll_interval = 2.0

    def __init__(self, path: str, *, lead_poll: float = 1.0) -> None:
        import sqlite3

        self.path = str(path)
        self._lead_poll = lead_poll
        self._lock_file: Any = None
        self._siblings: dict[str, SQLiteStore] = {}
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)

    async def add(
        self, id: str, size: int, data: Entry, *, max_entries: int, max_bytes: int
    ) -> int:
        """Insert after checking the bounds, in one write transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            count, total = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox"
            ).fetchone()
            check_bounds(count, total, size, max_entries, max_bytes)
            cur = db.execute(
                "INSERT INTO outbox (id, size, data) VALUES (?, ?, ?)", (id, size, json.dumps(data))
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return int(cur.lastrowid or 0)

    async def put(self, id: str, size: int, data: Entry) -> bool:
        """Replace an existing entry."""
        cur = self._db.execute(
            "UPDATE outbox SET size = ?, data = ? WHERE id = ?", (size, json.dumps(data), id)
        )
        return cur.rowcount > 0

    async def delete(self, id: str) -> bool:
        """Remove an entry."""
        return self._db.execute("DELETE FROM outbox WHERE id = ?", (id,)).rowcount > 0

    async def all(self) -> list[tuple[int, Entry]]:
        """Every entry, oldest first."""
        rows = self._db.execute("SELECT seq, data FROM outbox ORDER BY seq").fetchall()
        return [(int(seq), json.loads(text)) for seq, text in rows]

    async def lead(self, clock: Clock) -> None:
        """Wait for the exclusive lock on ``<path>.lock`` (polled every ``lead_poll`` s)."""
        if self.path == ":memory:" or self._lock_file is not None:
            return
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one process per file is the caller's job
            return
        handle = open(self.path + ".lock", "a+b")  # noqa: SIM115 - held for the store's life
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await clock.sleep(self._lead_poll)
                continue
            except BaseException:
                handle.close()
                raise
            self._lock_file = handle
            return

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        """Other processes are not heard from (the replayer finds their writes on its next pass)."""
        return no_subscription(callback)

    def publish(self, message: Message) -> None:
        """Nothing to tell other processes."""

    async def close(self) -> None:
        """Close the database and give up the replayer lock."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        for sibling in self._siblings.values():
            await sibling.close()
        self._db.close()

    def sibling(self, suffix: str) -> SQLiteStore:
        """A store of its own for other records (remembered uploads): ``<path>-<suffix>``."""
        if suffix not in self._siblings:
            path = self.path if self.path == ":memory:" else f"{self.path}-{suffix}"
            self._siblings[suffix] = SQLiteStore(path, lead_poll=self._lead_poll)
        return self._siblings[suffix]
