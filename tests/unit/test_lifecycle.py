"""close(): refuse new calls, drain those in flight, abort past the timeout, release everything.

FakeClock and MockTransport only (this file also runs inside Pyodide); the
real-clock and real-transport versions are in tests/integration and tests/cpython.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from resilient_fetch import (
    Client,
    ClosedError,
    ConfigError,
    FakeClock,
    MockTransport,
    Request,
    Response,
)
from resilient_fetch._models import Headers
from resilient_fetch.js_api import JsClient
from resilient_fetch.stores import MemoryStore

BASE = "http://api.test/"


class Gated:
    """A transport whose answers wait for ``gate``; records requests it saw cancelled."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = 0
        self.cancelled = 0
        self.finished = 0
        self.closed = False
        self.detached: list[str] = []

    async def handle(self, request: Request) -> Response:
        self.started += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1  # a real transport aborts its request here
            raise
        self.finished += 1
        return Response(200, Headers({"Content-Type": "application/json"}), b"{}", request.url)

    async def close(self) -> None:
        self.closed = True

    def watch_network(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        return lambda: self.detached.append("network")

    def on_window_focus(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: self.detached.append("focus")


def make(transport: Any, clock: FakeClock, **settings: Any) -> Client:
    settings.setdefault("retry", {"max_retries": 0})
    return Client(BASE, transport=transport, clock=clock, **settings)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_call_in_flight_finishes_within_the_timeout_and_close_waits_for_it() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock)
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    closing = asyncio.ensure_future(client.close(timeout=5))
    await clock.advance(1)
    assert not closing.done() and not call.done()  # draining, not aborting
    assert client.state()["lifecycle"] == {"state": "closing", "inFlight": 1, "abortedAtClose": 0}
    transport.gate.set()
    assert (await call).status == 200
    await closing
    assert transport.cancelled == 0 and transport.closed
    assert client.state()["lifecycle"]["state"] == "closed"


async def test_a_call_still_running_at_the_timeout_is_aborted_with_closed() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock)
    errors: list[dict[str, Any]] = []
    client.on("error", errors.append)
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    closing = asyncio.ensure_future(client.close(timeout=2))
    await clock.advance(1.9)
    assert not call.done()  # control: not before the timeout
    await clock.advance(0.1)
    with pytest.raises(ClosedError) as info:
        await call
    await closing
    assert info.value.in_flight and info.value.timeout == 2
    assert info.value.code == "CLOSED" and info.value.request is not None
    assert info.value.to_dict()["inFlight"] is True
    assert transport.cancelled == 1 and transport.finished == 0  # really aborted
    state = client.state()
    assert state["lifecycle"] == {"state": "closed", "inFlight": 0, "abortedAtClose": 1}
    assert state["metrics"]["outcomes"] == {"CLOSED": 1}
    assert [e["code"] for e in errors] == ["CLOSED"]


async def test_timeout_zero_aborts_at_once_and_none_waits_for_everything() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock, timeout={"attempt": None, "total": None})
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    await client.close(timeout=0)
    with pytest.raises(ClosedError):
        await call

    clock, transport = FakeClock(), Gated()
    client = make(transport, clock, timeout={"attempt": None, "total": None})
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    closing = asyncio.ensure_future(client.close(timeout=None))
    await clock.advance(3600)
    assert not closing.done()
    transport.gate.set()
    assert (await call).status == 200
    await closing


async def test_calls_waiting_in_the_queue_when_close_begins_still_run_within_the_timeout() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock, queue={"concurrency": 1})
    first = asyncio.ensure_future(client.get("a"))
    queued = asyncio.ensure_future(client.get("b"))
    await settle()
    assert client.state()["queue"]["waitingTotal"] == 1
    closing = asyncio.ensure_future(client.close(timeout=5))
    await settle()
    with pytest.raises(ClosedError) as refused:
        await client.get("c")  # new work is refused at once
    assert not refused.value.in_flight
    transport.gate.set()
    assert (await first).status == 200 and (await queued).status == 200
    await closing
    assert transport.started == 2


async def test_the_default_timeout_is_the_setting_and_it_is_validated() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock, timeout={"close": 3})
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    closing = asyncio.ensure_future(client.close())
    await clock.advance(2.9)
    assert not call.done()
    await clock.advance(0.1)
    with pytest.raises(ClosedError):
        await call
    await closing
    assert Client(BASE, transport=Gated()).state()["lifecycle"]["state"] == "open"
    with pytest.raises(ConfigError, match=r"timeout\.close"):
        Client(BASE, transport=Gated(), timeout={"close": -1})
    other = make(Gated(), FakeClock())
    for bad in (-1, "5", float("nan"), True):
        with pytest.raises(ConfigError, match=r"close\.timeout"):
            await other.close(timeout=bad)
    assert other.state()["lifecycle"]["state"] == "open"  # a bad value closes nothing
    await other.close()


async def test_close_is_idempotent_and_a_second_close_waits_for_the_first() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock)
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    first = asyncio.ensure_future(client.close(timeout=5))
    second = asyncio.ensure_future(client.close(timeout=0))  # its timeout is ignored
    await settle()
    assert not first.done() and not second.done() and not call.done()
    transport.gate.set()
    await asyncio.gather(first, second)
    assert (await call).status == 200
    await client.close()  # already closed: returns at once


async def test_every_call_after_close_fails_with_closed_but_state_still_answers() -> None:
    client = make(MockTransport(lambda r: Response(200, content=b"{}")), FakeClock())
    await client.get("items")
    await client.close()
    calls: list[Callable[[], Any]] = [
        lambda: client.get("items"),
        lambda: client.post("items", json={}),
        lambda: client.request("PATCH", "items"),
        lambda: client.send(client.build_request("GET", "items")),
        lambda: client.query(["items"], "items"),
        lambda: client.mutate("POST", "items", json={}),
        lambda: client.network.probe_now(),
        lambda: client.loader("items/batch"),
        lambda: client.outbox,
        lambda: client.on("error", print),
        lambda: client.subscribe(["items"], print),
        lambda: client.invalidate(["items"]),
        lambda: client.set_query_data(["items"], 1),
        lambda: client.breaker(),
    ]
    for call in calls:
        with pytest.raises(ClosedError, match="closed"):
            result = call()
            if asyncio.iscoroutine(result):
                await result
    assert client.state()["metrics"]["outcomes"] == {"success": 1, "CLOSED": 4}
    assert "resilient_fetch_requests_total" in client.metrics_text()
    assert client.query_state(["items"]) is None


async def test_async_with_closes_with_the_same_close() -> None:
    transport = Gated()
    transport.gate.set()
    async with make(transport, FakeClock()) as client:
        assert (await client.get("items")).status == 200
    assert transport.closed and client.state()["lifecycle"]["state"] == "closed"
    with pytest.raises(ClosedError):
        await client.get("items")


async def test_close_releases_listeners_timers_and_stores() -> None:
    clock, transport = FakeClock(), Gated()

    class Store(MemoryStore):
        closed = False

        async def close(self) -> None:
            self.closed = True

    store = Store()
    client = make(transport, clock, store=store)
    heard: list[Any] = []
    client.on("*", heard.append)
    client.subscribe(["items"], heard.append)  # attaches the focus listener
    loader = client.loader("items/batch", window_ms=50)
    load = asyncio.ensure_future(loader.load(1))
    out = await client.outbox.enqueue("POST", "items", json={"name": "a"})
    delivered = asyncio.ensure_future(client.outbox.wait(out["id"]))
    await settle()
    assert clock.sleepers >= 1  # the loader's window
    await client.close(timeout=0)
    with pytest.raises(ClosedError):
        await load  # its batch was never sent
    with pytest.raises(ClosedError):
        await delivered  # the write stays stored for the next client
    assert [entry["id"] for _, entry in await store.all()] == [out["id"]]
    assert store.closed and transport.closed
    assert sorted(transport.detached) == ["focus", "network"]
    assert clock.sleepers == 0  # no timer left behind
    assert client.network._tasks == set()
    assert not client.events.listening("*") and not client.events.listening("network")
    await settle()
    assert transport.finished == 0


async def test_a_callers_own_cancel_stays_a_cancel_while_closing() -> None:
    clock, transport = FakeClock(), Gated()
    client = make(transport, clock)
    call = asyncio.ensure_future(client.get("items"))
    await settle()
    closing = asyncio.ensure_future(client.close(timeout=5))
    await settle()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await closing  # nothing left in flight: done without the timeout
    assert client.state()["lifecycle"]["abortedAtClose"] == 0


async def test_js_close_takes_json_and_later_calls_reject_with_closed() -> None:
    clock, transport = FakeClock(), Gated()
    js = JsClient(make(transport, clock))
    assert json.loads(await js.close('{"timeout": -1}'))["error"]["field"] == "close.timeout"
    assert json.loads(await js.close('{"tiemout": 1}'))["error"]["field"] == "close.tiemout"
    pending = asyncio.ensure_future(js.fetch(BASE + "items", "GET"))
    await settle()
    closing = asyncio.ensure_future(js.close('{"timeout": 1}'))
    await clock.advance(1)
    aborted = await pending
    assert aborted["error"]["code"] == "CLOSED" and aborted["error"]["inFlight"] is True
    assert json.loads(await closing) == {"ok": True}
    later = await js.fetch(BASE + "items", "GET")
    assert later["error"]["code"] == "CLOSED" and later["error"]["inFlight"] is False
    assert json.loads(await js.probe_now())["error"]["code"] == "CLOSED"
    assert json.loads(await js.query('["k"]', BASE + "items"))["error"]["code"] == "CLOSED"
    assert json.loads(await js.outbox("entries"))["error"]["code"] == "CLOSED"
    assert js.on("error", print)["error"]["code"] == "CLOSED"
    assert json.loads(js.state())["lifecycle"]["state"] == "closed"
    assert js.metrics_text() == js.client.metrics_text()
    assert json.loads(await js.close("{}")) == {"ok": True}  # idempotent
