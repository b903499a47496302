"""The JS conversion layer, exercised with plain Python values (no js module)."""

from __future__ import annotations

import asyncio
import json
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


async def test_fetch_passes_the_js_source_through_and_returns_plain_data() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(201, Headers({"X-Id": "7"}), b"created", url=request.url, reason="Created")

    js = JsClient(Client("http://api.test/", transport=MockTransport(handler)))
    init = object()  # stands in for the caller's RequestInit: opaque to Python
    out = await js.fetch(
        "http://api.test/items", "post", FakeJsProxy([["content-type", "text/plain"]]), init
    )
    # A response made in Python (no fetch Response behind it) comes back as plain data.
    assert out == {
        "ok": True,
        "status": 201,
        "statusText": "Created",
        "headers": [["X-Id", "7"]],
        "body": b"created",
        "url": "http://api.test/items",
    }
    assert seen[0].method == "POST" and seen[0].body is None
    assert seen[0].raw is init  # kept through the idempotency key stamp
    assert seen[0].headers["Content-Type"] == "text/plain"
    assert "Idempotency-Key" in seen[0].headers


async def test_fetch_hands_back_the_transport_raw_response_as_is() -> None:
    native = object()  # stands in for fetch's own Response

    def handler(request: Request) -> Response:
        return Response(200, url=request.url, raw=native)

    js = JsClient(Client(transport=MockTransport(handler)))
    assert await js.fetch("http://api.test/", "GET") is native


async def test_start_settles_with_the_result_or_the_error_as_json() -> None:
    def handler(request: Request) -> Response:
        if request.url.endswith("/down"):
            raise NetworkError("boom", request=request)
        return Response(200, url=request.url, raw="native")

    js = JsClient(Client(transport=MockTransport(handler), retry={"max_retries": 0}))
    settled: list[Any] = []
    done = asyncio.Event()

    def settle(value: Any) -> None:
        settled.append(value)
        if len(settled) == 2:
            done.set()

    js.start(settle, "http://api.test/up", "GET")
    # Also from outside any task, as the shim calls it (an eager start where possible).
    asyncio.get_running_loop().call_soon(js.start, settle, "http://api.test/down", "GET")
    await asyncio.wait_for(done.wait(), 1)
    assert settled[0] == "native"
    error = json.loads(settled[1])
    assert error["code"] == "NETWORK" and error["message"] == "boom"
    assert not js._tasks  # finished tasks are not kept


async def test_a_request_refused_before_sending_is_counted_and_reported() -> None:
    js = JsClient(Client(transport=MockTransport(lambda r: Response(200))))
    errors: list[dict[str, Any]] = []
    js.client.on("error", errors.append)
    out = await js.fetch("ftp://api.test/", "GET")
    assert out["ok"] is False and out["error"]["code"] == "INVALID_REQUEST"
    assert [e["code"] for e in errors] == ["INVALID_REQUEST"]
    assert js.client.state()["metrics"]["outcomes"].get("INVALID_REQUEST") == 1


async def test_per_call_options_arrive_as_a_js_object() -> None:
    js = JsClient(Client(transport=MockTransport(lambda r: Response(200))))
    out = await js.fetch("http://api.test/", "GET", None, None, FakeJsProxy({"maxRetries": -1}))
    assert out["error"]["code"] == "CONFIG" and out["error"]["field"] == "resilience.maxRetries"


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


class FakeJsHeaders:
    """Stands in for fetch's Headers: lower-case names, get() gives None when absent."""

    def __init__(self, pairs: dict[str, str]) -> None:
        self.pairs = pairs
        self.lookups: list[str] = []

    def get(self, name: str) -> str | None:
        self.lookups.append(name)
        return self.pairs.get(name.lower())

    def has(self, name: str) -> bool:
        return name.lower() in self.pairs

    def entries(self) -> list[tuple[str, str]]:
        return list(self.pairs.items())


def test_js_headers_are_read_one_name_at_a_time_until_all_are_needed() -> None:
    from resilient_fetch.policies.limiter import server_wait
    from resilient_fetch.transports.browser import JsHeaders

    raw = FakeJsHeaders({"retry-after": "3", "content-type": "application/json"})
    headers = JsHeaders(raw)
    assert headers["Retry-After"] == "3" and headers.get("X-Missing") is None
    assert "Content-Type" in headers and "X-Missing" not in headers
    assert server_wait(headers, 429, 0.0) == 3.0
    assert raw.lookups  # answered by lookups, nothing copied yet
    assert dict(headers) == {"retry-after": "3", "content-type": "application/json"}
    headers.set("X-Added", "1")  # changes the Python copy only
    assert len(headers) == 3 and "x-added" not in raw.pairs


async def test_a_raw_response_reads_its_body_from_a_clone_once() -> None:
    from resilient_fetch._models import UNREAD

    class Buffer:
        def to_bytes(self) -> bytes:
            return b"payload"

    class Native:
        clones = 0

        def clone(self) -> Native:
            Native.clones += 1
            return self

        async def arrayBuffer(self) -> Buffer:
            return Buffer()

    response = Response(200, content=UNREAD, raw=Native())
    assert response.content == b""  # still in the browser
    assert await response.read() == b"payload"
    assert await response.read() == b"payload" and Native.clones == 1
    assert response.text == "payload"
    assert await Response(200, content=b"x").read() == b"x"  # a plain response: its content
