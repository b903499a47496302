"""The Python method set: get/post/put/patch/delete/head/options/request, httpx's keyword names."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, get_type_hints

import pytest

from resilient_fetch import (
    Client,
    FakeClock,
    InvalidRequestError,
    MockTransport,
    Request,
    Response,
    TimeoutError,
)
from resilient_fetch.client import BodyKwargs, RequestKwargs


def echo(request: Request) -> Response:
    body = {
        "method": request.method,
        "url": request.url,
        "type": request.headers.get("Content-Type"),
        "body": request.body.decode() if request.body is not None else None,
    }
    return Response(200, content=json.dumps(body).encode())


def client() -> Client:
    return Client("http://api.test/v1", transport=MockTransport(echo), retry={"max_retries": 0})


async def test_every_method_sends_its_own_verb() -> None:
    c = client()
    for name in ("get", "head", "options", "delete", "post", "put", "patch"):
        sent = (await getattr(c, name)("items")).json()
        assert sent["method"] == name.upper() and sent["url"] == "http://api.test/v1/items"
    assert (await c.request("patch", "items")).json()["method"] == "PATCH"


def test_keyword_names_follow_httpx() -> None:
    # httpx: get/head/options/delete take params, headers, timeout (and cookies, auth,
    # follow_redirects, extensions, which this client has no use for: see the README);
    # post/put/patch add content, data, json (and files).
    assert {"params", "headers", "timeout"} <= set(get_type_hints(RequestKwargs))
    assert {"content", "data", "json"} <= set(get_type_hints(BodyKwargs)) - set(
        get_type_hints(RequestKwargs)
    )
    request = inspect.signature(Client.request).parameters
    for name in ("content", "data", "json", "params", "headers", "timeout"):
        assert request[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    resilience = ("priority", "total_timeout", "max_retries", "idempotency_key")
    assert set(resilience) <= set(get_type_hints(RequestKwargs))


async def test_params_are_merged_into_the_query_as_httpx_does() -> None:
    c = client()

    async def url(path: str, params: Any) -> str:
        return str((await c.get(path, params=params)).json()["url"])

    base = "http://api.test/v1/items"
    assert await url("items", {"a": 1, "b": [2, 3]}) == f"{base}?a=1&b=2&b=3"
    assert await url("items", {"t": True, "f": False, "n": None}) == f"{base}?t=true&f=false&n="
    assert await url("items?x=1", [("q", "a b&c")]) == f"{base}?x=1&q=a+b%26c"
    assert await url("items", "raw=1") == f"{base}?raw=1"
    assert await url("items#top", {"a": 1}) == f"{base}?a=1#top"
    assert await url("items", {}) == base
    with pytest.raises(InvalidRequestError) as info:
        await c.get("items", params=[1, 2])  # type: ignore[arg-type]
    assert info.value.field == "params"


async def test_bodies_content_data_json_and_the_fetch_name_body() -> None:
    c = client()
    sent = (await c.post("items", content=b"\x00\x01")).json()
    assert sent["body"] == "\x00\x01" and sent["type"] is None
    sent = (await c.put("items", content="text")).json()
    assert sent["body"] == "text" and sent["type"] == "text/plain;charset=UTF-8"
    sent = (await c.patch("items", data={"name": "a b", "tag": ["x", "y"]})).json()
    assert sent["body"] == "name=a+b&tag=x&tag=y"
    assert sent["type"] == "application/x-www-form-urlencoded"
    sent = (await c.post("items", json={"n": 1})).json()
    assert sent["body"] == '{"n":1}' and sent["type"] == "application/json"
    sent = (await c.post("items", body=b"raw")).json()  # fetch's name, kept
    assert sent["body"] == "raw"
    sent = (await c.request("DELETE", "items/1", json={"why": "x"})).json()
    assert sent["body"] == '{"why":"x"}'  # a body on DELETE goes through request()


async def test_a_wrong_body_is_an_invalid_request_naming_the_argument() -> None:
    c = client()
    with pytest.raises(InvalidRequestError, match="not content= and json=") as info:
        await c.post("items", content=b"x", json={})
    assert info.value.field == "json"
    with pytest.raises(InvalidRequestError, match="content=") as info:
        await c.post("items", data=b"x")  # type: ignore[arg-type]
    assert info.value.field == "data"
    with pytest.raises(InvalidRequestError) as info:
        await c.post("items", content=123)  # type: ignore[arg-type]
    assert info.value.field == "content"
    assert c.state()["metrics"]["outcomes"] == {"INVALID_REQUEST": 3}


async def test_timeout_is_this_calls_attempt_timeout() -> None:
    clock = FakeClock()

    async def slow(request: Request) -> Response:
        await clock.sleep(5)
        return Response(200)

    c = Client(
        "http://api.test/", transport=MockTransport(slow), clock=clock, retry={"max_retries": 0}
    )
    call = asyncio.ensure_future(c.get("items", timeout=1))
    await clock.advance(1)
    with pytest.raises(TimeoutError) as info:
        await call
    assert info.value.kind == "attempt" and info.value.timeout == 1
    call = asyncio.ensure_future(c.get("items"))  # None: the client's 30 s
    await clock.advance(5)
    assert (await call).status == 200
