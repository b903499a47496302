"""close() on the real clock with RequestsTransport's thread pool: a request stuck on a
host that never answers is aborted at the close timeout (its socket shut, its worker
thread freed) and close returns; a healthy one in flight finishes first."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from integration.test_requests_transport import HANG_S, RawServer, servers, wait_for

from resilient_fetch import Client, ClosedError, RequestsTransport

__all__ = ["servers"]  # the fixture, imported for this module's tests


async def test_close_aborts_a_stuck_request_at_its_timeout_and_does_not_hang(
    servers: Callable[[], RawServer],
) -> None:
    server = servers()
    transport = RequestsTransport(socket_timeout=HANG_S, max_workers=3)
    client = Client(server.url, transport=transport, retry={"max_retries": 0},
                    timeout={"attempt": HANG_S, "total": HANG_S})
    stuck = [asyncio.ensure_future(client.get(f"/hang?{i}")) for i in range(2)]
    await wait_for(lambda: server.open == 2)
    healthy = await client.get("/ok")  # the pool still serves others
    assert healthy.status == 200
    threads_before = threading.active_count()

    started = time.monotonic()
    closing = asyncio.ensure_future(client.close(timeout=0.5))
    await asyncio.sleep(0.3)
    assert not closing.done() and not any(t.done() for t in stuck)  # control: still draining
    await asyncio.wait_for(closing, timeout=5)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 2.0, elapsed

    for task in stuck:
        with pytest.raises(ClosedError) as info:
            await task
        assert info.value.in_flight and info.value.timeout == 0.5
    await wait_for(lambda: server.open == 0 and transport.in_flight == 0)  # sockets shut
    await wait_for(lambda: threading.active_count() < threads_before)  # workers ended
    assert client.state()["lifecycle"] == {"state": "closed", "inFlight": 0, "abortedAtClose": 2}
    with pytest.raises(ClosedError):
        await client.get("/ok")


async def test_a_request_finishing_within_the_timeout_is_not_aborted(
    servers: Callable[[], RawServer],
) -> None:
    server = servers()
    client = Client(server.url, transport=RequestsTransport(max_workers=2),
                    retry={"max_retries": 0})
    calls = [asyncio.ensure_future(client.get("/ok")) for _ in range(5)]
    await asyncio.sleep(0)
    await asyncio.wait_for(client.close(timeout=5), timeout=10)
    assert [c.result().status for c in calls] == [200] * 5
    assert client.state()["lifecycle"]["abortedAtClose"] == 0
