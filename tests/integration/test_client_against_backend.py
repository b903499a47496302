"""The client with RequestsTransport against the real Flask backend on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from resilient_fetch import Client, NetworkError, RequestsTransport

from .conftest import LiveServer


async def test_health_and_item_round_trip(live_server: LiveServer) -> None:
    client = Client(live_server.url + "/", transport=RequestsTransport())
    health = await client.get("health")
    assert health.status == 200
    assert health.json() == {"status": "ok", "service": "resilient-fetch-demo"}

    created = await client.post("api/items", json={"name": "  milk "})
    assert created.status == 201
    item = created.json()
    assert item["name"] == "milk" and item["done"] is False and isinstance(item["id"], int)

    listed = (await client.get("api/items")).json()["items"]
    assert listed == [item]
    await client.close()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{bad", "application/json", 400, "invalid_json"),
        (b"[1,2]", "application/json", 400, "invalid_json"),
        (b'{"name": ""}', "application/json", 422, "invalid_field"),
        (b'{"name": "x", "color": 1}', "application/json", 422, "unknown_field"),
        (b'{"name": "x", "done": "yes"}', "application/json", 422, "invalid_field"),
        (b"name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
async def test_bad_input_gets_4xx_json_and_stores_nothing(
    live_server: LiveServer, body: bytes, content_type: str, status: int, error: str
) -> None:
    client = Client(live_server.url, transport=RequestsTransport())
    resp = await client.request(
        "POST", "/api/items", body=body, headers={"Content-Type": content_type}
    )
    assert resp.status == status
    assert resp.json()["error"] == error
    assert (await client.get("/api/items")).json()["items"] == []


async def test_unknown_route_is_json_404(live_server: LiveServer) -> None:
    client = Client(live_server.url, transport=RequestsTransport())
    resp = await client.get("/api/nope")
    assert resp.status == 404 and resp.json()["error"] == "not_found"


async def test_connection_refused_maps_to_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client(
        f"http://127.0.0.1:{port}",
        transport=RequestsTransport(socket_timeout=2),
        retry={"max_retries": 0},
        network={"mode": "always"},  # the default would pause for the server; here: the mapping
    )
    with pytest.raises(NetworkError) as info:
        await client.get("/health")
    assert info.value.code == "NETWORK"
