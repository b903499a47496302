"""close() against the real backend on the real clock: a slow call in flight finishes
within the close timeout, a hung one is aborted at it, and later calls fail with CLOSED."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from flask import Flask

from resilient_fetch import Client, ClosedError, RequestsTransport

from .conftest import LiveServer
from .test_requests_transport import wait_for


async def test_close_drains_the_slow_call_and_aborts_the_hung_one(
    serve: Callable[[Flask], LiveServer], app_factory: Callable[..., Flask]
) -> None:
    server = serve(app_factory(HANG_MAX_S=30.0))  # only the client can end the hang in time
    server.add_fault(type="latency", ms=300, match="/api/items")
    server.add_fault(type="hang", match="/api/items/7")
    transport = RequestsTransport(socket_timeout=30.0)
    client = Client(server.url + "/", transport=transport, retry={"max_retries": 0})
    slow = asyncio.ensure_future(client.get("api/items"))
    hung = asyncio.ensure_future(client.get("api/items/7"))
    await asyncio.sleep(0.1)
    assert client.state()["lifecycle"]["inFlight"] == 2

    started = time.monotonic()
    await asyncio.wait_for(client.close(timeout=1.0), timeout=10)
    elapsed = time.monotonic() - started
    assert (await slow).status == 200  # finished within the timeout, not aborted
    with pytest.raises(ClosedError) as info:
        await hung
    assert info.value.in_flight and info.value.request is not None
    assert info.value.request.url.endswith("/api/items/7")
    assert 0.95 <= elapsed < 3.0, elapsed
    await wait_for(lambda: transport.in_flight == 0)  # its socket was shut: the thread is free
    assert client.state()["metrics"]["outcomes"] == {"success": 1, "CLOSED": 1}
    with pytest.raises(ClosedError):
        await client.post("api/items", json={"name": "late"})
    assert "resilient_fetch_requests_total" in client.metrics_text()
