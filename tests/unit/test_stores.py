"""The Store contract (order, bounds in the insert, put/delete of missing ids), on MemoryStore.

``store_contract`` is reused for ``SQLiteStore`` in ``tests/cpython`` (Pyodide
may have no ``sqlite3``).
"""

from __future__ import annotations

from typing import Any

import pytest

from resilient_fetch import FakeClock
from resilient_fetch._errors import ConfigError, OutboxFullError
from resilient_fetch.stores import IndexedDBStore, MemoryStore, Store


def data(id: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "body": None, **extra}


async def store_contract(store: Store) -> None:
    """Checks every store must pass; leaves the store empty."""
    seqs = [await store.add(i, 10, data(i), max_entries=3, max_bytes=100) for i in ("a", "b", "c")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with pytest.raises(OutboxFullError) as info:
        await store.add("d", 10, data("d"), max_entries=3, max_bytes=100)
    assert info.value.limit == "max_entries"
    with pytest.raises(OutboxFullError) as info:
        await store.add("d", 71, data("d"), max_entries=10, max_bytes=100)
    assert info.value.limit == "max_bytes"
    assert [d["id"] for _, d in await store.all()] == ["a", "b", "c"]  # nothing half-stored
    assert await store.put("b", 10, data("b", state="dead")) is True
    assert await store.put("zz", 10, data("zz")) is False
    rows = await store.all()
    assert [d.get("state") for _, d in rows] == [None, "dead", None]  # order kept on update
    assert await store.delete("a") is True and await store.delete("a") is False
    e = await store.add("e", 10, data("e"), max_entries=3, max_bytes=100)
    assert e > max(seqs)  # a new entry goes to the back, never into a freed slot
    assert [d["id"] for _, d in await store.all()] == ["b", "c", "e"]
    await store.lead(FakeClock())
    for id in ("b", "c", "e"):
        await store.delete(id)
    assert await store.all() == []


async def test_memory_store_keeps_the_contract() -> None:
    await store_contract(MemoryStore())


async def test_memory_store_hands_out_copies() -> None:
    store = MemoryStore()
    entry = data("a", n=1)
    await store.add("a", 1, entry, max_entries=5, max_bytes=50)
    entry["n"] = 2
    ((_, stored),) = await store.all()
    stored["n"] = 3
    assert (await store.all())[0][1]["n"] == 1


async def test_indexeddb_store_outside_the_shim_is_a_config_error() -> None:
    store = IndexedDBStore("x")
    with pytest.raises(ConfigError, match=r"outbox\.store"):
        await store.all()
