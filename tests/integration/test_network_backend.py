"""Network awareness in CPython against the real backend: unreachable, then recovery."""

from __future__ import annotations

import asyncio
from typing import Any

import requests

from resilient_fetch import Client, OfflineError, RequestsTransport

from .conftest import LiveServer

FAST = {"debounce": 0, "probe_base": 0.1, "probe_cap": 0.2, "resume_jitter": 0.05}


def stats(server: LiveServer) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(server.url + "/_stats", timeout=5).json()
    return body


async def test_api_and_probe_down_is_unreachable_then_a_paused_read_recovers(
    fault_server: LiveServer,
) -> None:
    fault_server.add_fault(type="down", match="/api/items*", name="api")
    fault_server.add_fault(type="down", match="/health/live", name="probe")
    client = Client(
        fault_server.url + "/",
        transport=RequestsTransport(),
        network=FAST,
        timeout={"total": 20},
    )
    events: list[dict[str, Any]] = []
    client.on("network", events.append)
    read = asyncio.ensure_future(client.get("api/items"))
    for _ in range(100):
        if client.network.state == "unreachable":
            break
        await asyncio.sleep(0.05)
    assert client.network.state == "unreachable"
    assert client.state()["network"]["paused"] == 1
    for name in ("api", "probe"):
        requests.delete(f"{fault_server.url}/_faults/{name}", timeout=5)
    response = await asyncio.wait_for(read, 10)
    assert response.status == 200
    assert [(e["from"], e["to"]) for e in events] == [
        ("online", "unreachable"),
        ("unreachable", "online"),
    ]
    probes = stats(fault_server)["routes"]["GET /health/live"]
    assert probes.get("503", 0) >= 1 and probes.get("200", 0) >= 1
    # One read before the outage was noticed, one after: paused, not retried.
    assert sum(stats(fault_server)["routes"]["GET /api/items"].values()) == 2
    await client.close()


async def test_a_sick_api_on_a_live_server_stays_online(fault_server: LiveServer) -> None:
    # The control: the same 503s with the health URL answering are not "unreachable".
    fault_server.add_fault(type="down", match="/api/items*")
    client = Client(
        fault_server.url + "/",
        transport=RequestsTransport(),
        network=FAST,
        retry={"max_retries": 1, "base": 0.05, "cap": 0.1},
    )
    response = await client.get("api/items")
    assert response.status == 503
    assert client.network.state == "online"
    assert set(stats(fault_server)["routes"]["GET /health/live"]) == {"200"}  # asked, fine
    await client.close()


async def test_fail_mode_refuses_while_the_server_is_gone(fault_server: LiveServer) -> None:
    fault_server.add_fault(type="down")  # everything, /health/live included
    client = Client(
        fault_server.url + "/",
        transport=RequestsTransport(),
        network={**FAST, "mode": "fail"},
    )
    try:
        await client.get("api/items")
    except OfflineError as exc:
        assert exc.code == "OFFLINE"
    else:
        raise AssertionError("expected OFFLINE")
    await client.close()
