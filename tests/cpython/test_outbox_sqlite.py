"""SQLiteStore (CPython only: Pyodide may lack sqlite3): the store contract, durability
across a new store on the same file, and one replayer per file."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from unit._support import run
from unit.test_outbox import BASE, Server
from unit.test_stores import store_contract

from resilient_fetch import Client, FakeClock, MockTransport
from resilient_fetch.stores import SQLiteStore


def test_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteStore(str(tmp_path / "o.db"))
        await store_contract(store)
        await store.close()

    run(main())


def test_sqlite_in_memory_keeps_the_contract() -> None:
    async def main() -> None:
        store = SQLiteStore(":memory:")
        await store_contract(store)
        await store.close()

    run(main())


def test_wal_mode_and_entries_survive_a_new_store(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")

    async def write() -> str:
        server = Server()
        server.gate = asyncio.Event()  # never answers: the entry stays
        client = Client(BASE, transport=MockTransport(server), store=SQLiteStore(path))
        out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
        await client.close()
        return str(out["id"])

    async def replay(id: str) -> Server:  # the real clock: stored times are wall-clock
        server = Server()
        client = Client(
            BASE,
            transport=MockTransport(server),
            store=SQLiteStore(path),
            rng=random.Random(0),
        )
        assert (await client.outbox.wait(id)).status == 201
        assert await client.outbox.entries() == []
        await client.close()
        return server

    id = run(write())
    import sqlite3

    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert run(replay(id)).applied == ["a"]


def test_one_replayer_per_file(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")

    async def main() -> None:
        clock = FakeClock()
        a, b = SQLiteStore(path, lead_poll=1.0), SQLiteStore(path, lead_poll=1.0)
        await a.lead(clock)
        second = asyncio.ensure_future(b.lead(clock))
        await clock.advance(3)
        assert not second.done()  # a holds the lock
        await a.close()
        await clock.advance(1)
        assert second.done()
        await b.close()

    run(main())
