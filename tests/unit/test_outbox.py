"""The durable outbox with MemoryStore, FakeClock and a fake idempotent server."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from resilient_fetch import (
    Client,
    ConfigError,
    FakeClock,
    InvalidRequestError,
    MockTransport,
    NetworkError,
    OfflineError,
    Request,
    Response,
)
from resilient_fetch._errors import AbortedError, DeadLetterError, OutboxFullError
from resilient_fetch._models import Headers
from resilient_fetch.stores import MemoryStore

BASE = "http://api.test/"


class Server:
    """Applies a write once per Idempotency-Key, like the demo backend; scripted failures."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.seen_keys: list[str] = []
        self.replies: dict[str, Response] = {}
        # Each call pops the next scripted outcome: an int status, "lost"
        # (apply, then lose the response), "offline", "network"; empty: 201.
        self.script: list[Any] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: Request) -> Response:
        if self.gate is not None:
            await self.gate.wait()
        key = request.headers["Idempotency-Key"]
        self.seen_keys.append(key)
        step = self.script.pop(0) if self.script else 201
        if step == "offline":
            raise OfflineError("offline", request=request)
        if step == "network":
            raise NetworkError("refused", request=request)
        if isinstance(step, int) and step != 201:
            headers = Headers({"Retry-After": "1"}) if step == 409 else Headers()
            return Response(step, headers, b'{"error":"x"}', request.url, "Nope", request)
        if key not in self.replies:
            self.applied.append(json.loads(request.body or b"{}").get("name", ""))
            self.replies[key] = Response(201, Headers(), b'{"ok":true}', request.url, "Created")
        if step == "lost":
            raise NetworkError("connection reset after the write", request=request)
        return self.replies[key]


def make(
    server: Server, clock: FakeClock, store: MemoryStore | None = None, **outbox: Any
) -> Client:
    return Client(
        BASE,
        transport=MockTransport(server),
        clock=clock,
        rng=random.Random(1),
        retry={"max_retries": 0},
        breaker=False,
        limiter=False,
        outbox={"backoff": 1.0, "backoff_cap": 8.0, **outbox},
        store=store or MemoryStore(),
    )


def events_of(client: Client) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    client.on("outbox", lambda e: seen.append((e["action"], e["id"])))
    return seen


async def test_enqueue_stores_first_then_delivers_and_wait_resolves() -> None:
    server, clock = Server(), FakeClock()
    client = make(server, clock)
    seen = events_of(client)
    server.gate = asyncio.Event()
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    assert out["state"] == "pending"
    (entry,) = await client.outbox.entries()
    assert entry["id"] == out["id"] and entry["method"] == "POST"
    assert entry["body_text"] == '{"name":"a"}' and "body" not in entry
    assert entry["url"] == "http://api.test/api/items"
    server.gate.set()
    resp = await client.outbox.wait(out["id"])
    assert resp.status == 201
    assert await client.outbox.entries() == []
    assert server.applied == ["a"]
    assert [a for a, _ in seen] == ["queued", "sending", "sent"]
    assert (await client.outbox.wait(out["id"])).status == 201  # delivered ones are remembered
    await client.close()


async def test_the_same_key_is_reused_and_a_lost_response_is_applied_once() -> None:
    server, clock = Server(), FakeClock()
    server.script = ["lost", 503, "network"]
    client = make(server, clock)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    for _ in range(10):
        await clock.advance(10)
    assert (await client.outbox.wait(out["id"])).status == 201
    assert len(server.seen_keys) == 4 and len(set(server.seen_keys)) == 1
    assert server.applied == ["a"]
    await client.close()


async def test_a_caller_idempotency_key_is_kept() -> None:
    server, clock = Server(), FakeClock()
    client = make(server, clock)
    out = await client.outbox.enqueue(
        "PUT", "api/items/1", json={"name": "a"}, headers={"Idempotency-Key": "mine"}
    )
    await client.outbox.wait(out["id"])
    assert server.seen_keys == ["mine"]
    await client.close()


async def test_replay_keeps_creation_order_through_an_outage() -> None:
    server, clock = Server(), FakeClock()
    server.script = [503] * 3
    client = make(server, clock)
    ids = [
        (await client.outbox.enqueue("POST", "api/items", json={"name": n}))["id"] for n in "abcde"
    ]
    for _ in range(20):
        await clock.advance(5)
    for id in ids:
        await client.outbox.wait(id)
    assert server.applied == list("abcde")
    await client.close()


async def test_origins_do_not_block_each_other() -> None:
    server, clock = Server(), FakeClock()
    client = make(server, clock)
    server.script = [503]
    slow = await client.outbox.enqueue("POST", "http://a.test/x", json={"name": "a"})
    fast = await client.outbox.enqueue("POST", "http://b.test/x", json={"name": "b"})
    await clock.advance(0)
    assert (await client.outbox.wait(fast["id"])).status == 201
    assert server.applied == ["b"]  # a waits out its backoff
    await clock.advance(10)
    await client.outbox.wait(slow["id"])
    assert server.applied == ["b", "a"]
    await client.close()


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_4xx_is_dead_lettered_with_the_response_kept(status: int) -> None:
    server, clock = Server(), FakeClock()
    server.script = [status]
    client = make(server, clock)
    seen = events_of(client)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    with pytest.raises(DeadLetterError) as info:
        await client.outbox.wait(out["id"])
    assert info.value.response is not None and info.value.response.status == status
    assert info.value.reason == "status" and info.value.to_dict()["code"] == "DEAD_LETTER"
    (entry,) = await client.outbox.entries()
    assert entry["state"] == "dead" and entry["response"]["status"] == status
    assert entry["response"]["text"] == '{"error":"x"}'
    assert seen[-1][0] == "dead"
    # retry puts it back in line, with the same key: delivered
    assert (await client.outbox.retry(out["id"]))["state"] == "pending"
    assert (await client.outbox.wait(out["id"])).status == 201
    assert server.applied == ["a"] and len(set(server.seen_keys)) == 1
    await client.close()


@pytest.mark.parametrize("status", [408, 429, 500, 503, 409])
async def test_retryable_answers_keep_the_entry(status: int) -> None:
    server, clock = Server(), FakeClock()
    server.script = [status, status]
    client = make(server, clock)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    await clock.advance(0)
    (entry,) = await client.outbox.entries()
    assert entry["state"] == "pending" and entry["attempts"] == 1 and entry["status"] == status
    await clock.advance(30)
    assert (await client.outbox.wait(out["id"])).status == 201
    await client.close()


async def test_max_attempts_dead_letters() -> None:
    server, clock = Server(), FakeClock()
    server.script = [503] * 10
    client = make(server, clock, max_attempts=3)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    for _ in range(5):
        await clock.advance(10)
    with pytest.raises(DeadLetterError) as info:
        await client.outbox.wait(out["id"])
    assert info.value.reason == "max_attempts" and info.value.response is not None
    assert len(server.seen_keys) == 3
    await client.close()


async def test_offline_attempts_do_not_count_but_max_age_ends_them() -> None:
    server, clock = Server(), FakeClock()
    server.script = ["offline"] * 1000
    client = make(server, clock, max_attempts=2, max_age=60)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    for _ in range(10):
        await clock.advance(5)
    (entry,) = await client.outbox.entries()
    assert entry["state"] == "pending" and entry["attempts"] == 0
    assert entry["error"]["code"] == "OFFLINE"
    await clock.advance(60)
    with pytest.raises(DeadLetterError) as info:
        await client.outbox.wait(out["id"])
    assert info.value.reason == "max_age"
    await client.close()


async def test_kick_skips_the_backoff() -> None:
    server, clock = Server(), FakeClock()
    server.script = ["network"]
    client = make(server, clock, backoff=100.0, backoff_cap=100.0)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    await clock.advance(1)
    assert server.applied == []
    client.outbox.kick("online")
    assert (await client.outbox.wait(out["id"])).status == 201
    await client.close()


async def test_a_network_online_event_kicks() -> None:
    server, clock = Server(), FakeClock()
    server.script = ["network"]
    client = make(server, clock, backoff=100.0, backoff_cap=100.0)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    await clock.advance(1)
    client.outbox._on_network({"from": "offline", "to": "online", "reason": "browser"})
    assert (await client.outbox.wait(out["id"])).status == 201
    await client.close()


async def test_bounds_refuse_with_outbox_full_and_store_nothing() -> None:
    server, clock = Server(), FakeClock()
    server.gate = asyncio.Event()
    client = make(server, clock, max_entries=2)
    await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    await client.outbox.enqueue("POST", "api/items", json={"name": "b"})
    with pytest.raises(OutboxFullError) as info:
        await client.outbox.enqueue("POST", "api/items", json={"name": "c"})
    assert info.value.code == "OUTBOX_FULL" and info.value.limit == "max_entries"
    assert len(await client.outbox.entries()) == 2
    server.gate.set()
    await clock.advance(0)
    await client.close()

    client = make(Server(), FakeClock(), max_bytes=200)
    with pytest.raises(OutboxFullError) as info:
        await client.outbox.enqueue("POST", "api/items", body=b"x" * 300)
    assert info.value.limit == "max_bytes"
    assert await client.outbox.entries() == []
    await client.close()


async def test_unsendable_writes_are_refused_at_enqueue() -> None:
    client = make(Server(), FakeClock())
    with pytest.raises(InvalidRequestError):
        await client.outbox.enqueue("GET", "api/items")
    with pytest.raises(InvalidRequestError):
        await client.outbox.enqueue("POST", "ftp://x/")
    assert await client.outbox.entries() == []
    with pytest.raises(InvalidRequestError):
        await client.outbox.wait("nope")
    await client.close()


async def test_discard_removes_and_rejects_waiters() -> None:
    server, clock = Server(), FakeClock()
    server.script = [503] * 5
    client = make(server, clock)
    seen = events_of(client)
    out = await client.outbox.enqueue("POST", "api/items", json={"name": "a"})
    waiter = asyncio.ensure_future(client.outbox.wait(out["id"]))
    await clock.advance(0)
    assert await client.outbox.discard(out["id"]) is True
    with pytest.raises(AbortedError):
        await waiter
    assert await client.outbox.entries() == [] and seen[-1][0] == "discarded"
    assert await client.outbox.discard(out["id"]) is False
    await client.close()


async def test_a_crash_between_store_and_send_is_delivered_once_after_restart() -> None:
    server, clock, store = Server(), FakeClock(), MemoryStore()
    server.gate = asyncio.Event()  # the first process never hears back
    first = make(server, clock, store)
    out = await first.outbox.enqueue("POST", "api/items", json={"name": "a"})
    await clock.advance(0)
    await first.close(timeout=0)  # "killed" mid-send: the entry is still stored
    assert [data["id"] for _, data in await store.all()] == [out["id"]]
    server.gate.set()  # the first attempt reaches the server after all (applied once)
    await clock.advance(0)
    second = make(server, clock, store)
    assert (await second.outbox.wait(out["id"])).status == 201
    assert server.applied == ["a"]
    assert len(set(server.seen_keys)) == 1
    assert await store.all() == []
    await second.close()


async def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"outbox\.backoff_cap"):
        Client(BASE, outbox={"backoff": 10, "backoff_cap": 1})
    with pytest.raises(ConfigError, match=r"outbox\.max_entrys"):
        Client(BASE, outbox={"max_entrys": 1})
    with pytest.raises(ConfigError, match=r"outbox\.store"):
        Client(BASE, outbox={"store": "redis"})
    with pytest.raises(ConfigError, match="store"):
        Client(BASE, store=object())
