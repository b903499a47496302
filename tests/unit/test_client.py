"""The client with MockTransport: request building, responses, error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resilient_fetch import (
    Client,
    ConfigError,
    InvalidRequestError,
    MockTransport,
    NetworkError,
    Request,
    Response,
)
from resilient_fetch._models import Headers

NO_RETRY = {"max_retries": 0}


def echo(request: Request) -> Response:
    body = {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers.pairs()),
        "body": request.body.decode() if request.body else None,
    }
    return Response(200, Headers({"Content-Type": "application/json"}), json.dumps(body).encode())


async def test_get_resolves_url_against_base_url() -> None:
    transport = MockTransport(echo)
    client = Client("http://api.test/v1/", transport=transport)
    resp = await client.get("items?x=1")
    assert resp.ok and resp.status == 200
    assert resp.json()["url"] == "http://api.test/v1/items?x=1"
    assert transport.requests[0].method == "GET"


async def test_json_body_is_encoded_with_content_type() -> None:
    client = Client("http://api.test/", transport=MockTransport(echo))
    resp = await client.post("items", json={"name": "milk"})
    data = resp.json()
    assert data["method"] == "POST"
    assert json.loads(data["body"]) == {"name": "milk"}
    assert data["headers"]["Content-Type"] == "application/json"


async def test_client_headers_merge_and_request_headers_win() -> None:
    client = Client(
        "http://api.test/", transport=MockTransport(echo), headers={"X-App": "a", "Accept": "x"}
    )
    resp = await client.request("GET", "/", headers={"accept": "application/json"})
    headers = resp.json()["headers"]
    assert headers["X-App"] == "a"
    assert headers["accept"] == "application/json"
    assert "Accept" not in headers


async def test_http_error_status_is_returned_not_raised() -> None:
    client = Client(
        transport=MockTransport(lambda r: Response(503, content=b"down")), retry=NO_RETRY
    )
    resp = await client.get("http://api.test/")
    assert resp.status == 503 and not resp.ok and resp.text == "down"


async def test_async_handler_and_transport_errors_propagate() -> None:
    async def fail(request: Request) -> Response:
        raise NetworkError("refused", request=request)

    client = Client(transport=MockTransport(fail), retry=NO_RETRY)
    with pytest.raises(NetworkError) as info:
        await client.get("http://api.test/")
    assert info.value.code == "NETWORK"
    assert info.value.request is not None and info.value.request.url == "http://api.test/"


def test_bad_config_names_field_value_and_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        Client("ftp://x", transport=MockTransport(echo))
    assert info.value.field == "base_url"
    assert "ftp://x" in str(info.value) and "http" in str(info.value)


def test_a_bad_request_is_invalid_request_not_config() -> None:
    client = Client(transport=MockTransport(echo))
    with pytest.raises(InvalidRequestError, match="method") as info:
        client.build_request("BREW", "http://x/")
    assert info.value.field == "method" and info.value.code == "INVALID_REQUEST"
    with pytest.raises(InvalidRequestError, match="one body at most, not body= and json="):
        client.build_request("POST", "http://x/", json=1, body=b"")


def test_headers_are_case_insensitive_and_join_repeats() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-A", "1")])
    assert h["SET-COOKIE"] == "a=1, b=2"
    assert "x-a" in h and len(h) == 2
    h.set("x-a", "2")
    assert h.pairs()[-1] == ("x-a", "2")
    h.remove("X-A")
    assert "x-a" not in h


def test_response_helpers() -> None:
    resp = Response(201, content=b'{"a": 1}')
    assert resp.ok and resp.json() == {"a": 1} and resp.text == '{"a": 1}'
    assert not Response(404).ok
    assert Request("PUT", "http://x/").is_idempotent
    assert not Request("POST", "http://x/").is_idempotent


class _PageTransport(MockTransport):
    """A transport that resolves relative URLs against a page, as the browser's fetch does."""

    resolves_relative_urls = True

    def __init__(self, handler: Any, page: str) -> None:
        super().__init__(handler)
        self.page = page

    def page_url(self) -> str:
        return self.page


async def test_relative_urls_are_resolved_against_the_page_so_breakers_key_by_origin() -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.url)
        return Response(503)

    transport = _PageTransport(handler, "https://app.example/shop/cart.html")
    client = Client("/", transport=transport, retry={"max_retries": 0},
                    network={"mode": "always", "probe": False})
    await client.get("api/items")
    await client.get("https://other.example/x")
    transport.page = "https://moved.example/"  # read per call, as fetch reads the document's
    await client.get("/api/items")
    assert seen == [
        "https://app.example/api/items",
        "https://other.example/x",
        "https://moved.example/api/items",
    ]
    keys = set(client.state()["breakers"])
    assert keys == {"https://app.example", "https://other.example", "https://moved.example"}
    # Control: a transport that cannot tell the page leaves the URL relative (and the
    # key empty), which is what the page-URL resolution fixes.
    bare = Client("/", transport=MockTransport(handler), retry={"max_retries": 0},
                  network={"mode": "always", "probe": False})
    bare._relative_ok = True  # as a browser transport without page_url() would be
    await bare.get("api/items")
    assert seen[-1] == "/api/items"


async def test_an_open_circuit_says_what_its_last_failure_was() -> None:
    statuses = iter([503] * 5 + [200])
    client = Client("http://api.test/", transport=MockTransport(lambda r: Response(next(statuses))),
                    retry={"max_retries": 0}, breaker={"failure_threshold": 5},
                    network={"mode": "always", "probe": False})
    for _ in range(5):
        assert (await client.get("items")).status == 503
    with pytest.raises(Exception) as caught:
        await client.get("items")
    err = caught.value
    assert getattr(err, "code", None) == "CIRCUIT_OPEN"
    assert "last failure: HTTP 503" in str(err)
    assert err.to_dict()["lastFailure"] == "HTTP 503"  # type: ignore[attr-defined]
    assert client.state()["breakers"]["http://api.test"]["lastFailure"] == "HTTP 503"
    # Control: a fresh breaker has no cause to name.
    fresh = Client("http://api.test/", transport=MockTransport(lambda r: Response(200)),
                   network={"mode": "always", "probe": False})
    await fresh.get("items")
    assert fresh.state()["breakers"]["http://api.test"]["lastFailure"] is None
