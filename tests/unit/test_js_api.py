"""The JS conversion layer, exercised with plain Python values (no js module)."""

from __future__ import annotations

from typing import Any

from resilient_fetch import MockTransport, NetworkError, Request, Response
from resilient_fetch._models import Headers
from resilient_fetch.client import Client
from resilient_fetch.js_api import JsClient, create_client, options_from_js, to_snake


class FakeJsProxy:
    """Stands in for a pyodide JsProxy: exposes to_py / to_bytes."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def to_py(self) -> Any:
        return self.value

    def to_bytes(self) -> bytes:
        return bytes(self.value)


def test_camel_to_snake() -> None:
    assert to_snake("baseUrl") == "base_url"
    assert to_snake("maxRetries") == "max_retries"
    assert options_from_js(FakeJsProxy({"baseUrl": "http://x/"})) == {"base_url": "http://x/"}
    assert options_from_js(None) == {}


async def test_fetch_round_trip_returns_plain_data() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(201, Headers({"X-Id": "7"}), b"created", url=request.url, reason="Created")

    js = JsClient(Client("http://api.test/", transport=MockTransport(handler)))
    out = await js.fetch(
        "http://api.test/items",
        "post",
        FakeJsProxy([["content-type", "text/plain"]]),
        FakeJsProxy(b"hello"),
    )
    assert out == {
        "ok": True,
        "status": 201,
        "statusText": "Created",
        "headers": [["X-Id", "7"]],
        "body": b"created",
        "url": "http://api.test/items",
    }
    assert seen[0].method == "POST" and seen[0].body == b"hello"
    assert seen[0].headers["Content-Type"] == "text/plain"


async def test_errors_come_back_as_data_with_code() -> None:
    def handler(request: Request) -> Response:
        raise NetworkError("boom", request=request)

    js = JsClient(Client(transport=MockTransport(handler), retry={"max_retries": 0}))
    out = await js.fetch("http://api.test/", "GET", [], None)
    assert out["ok"] is False
    assert out["error"]["code"] == "NETWORK" and out["error"]["message"] == "boom"


def test_create_client_rejects_bad_option_with_config_error() -> None:
    out = create_client(FakeJsProxy({"baseUrl": "ftp://nope"}))
    assert isinstance(out, dict) and out["ok"] is False
    assert out["error"]["code"] == "CONFIG" and out["error"]["field"] == "baseUrl"
    assert isinstance(create_client(FakeJsProxy({"baseUrl": "http://ok/"})), JsClient)
