"""RequestsTransport maps every native error to the package's tree (no sockets).

CPython only: ``requests`` does not exist under Pyodide, so this is not in tests/unit.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
from typing import Any

import pytest
import requests
import requests.exceptions as rexc
import urllib3.exceptions as uexc

from resilient_fetch import ConfigError, NetworkError, RequestsTransport, TimeoutError
from resilient_fetch._errors import InvalidRequestError, ResilienceError
from resilient_fetch._models import Headers, Request

INVALID = (
    rexc.InvalidURL,
    rexc.MissingSchema,
    rexc.InvalidSchema,
    rexc.URLRequired,
    rexc.TooManyRedirects,
    rexc.InvalidHeader,
    rexc.InvalidJSONError,
    rexc.UnrewindableBodyError,
)


class RaisingSession(requests.Session):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise self.exc


def send(exc: BaseException) -> BaseException:
    transport = RequestsTransport(session=RaisingSession(exc), max_workers=1)

    async def go() -> BaseException:
        try:
            await transport.handle(Request("GET", "http://api.test/x"))
        except BaseException as caught:
            return caught
        finally:
            await transport.close()
        raise AssertionError("no error raised")

    return asyncio.run(go())


def requests_exception_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(rexc, inspect.isclass)
        if issubclass(cls, rexc.RequestException)
    ]


def expected(cls: type[BaseException]) -> type[ResilienceError]:
    if issubclass(cls, rexc.Timeout):
        return TimeoutError
    if issubclass(cls, INVALID):
        return InvalidRequestError
    return NetworkError


def test_the_list_of_requests_exceptions_is_complete() -> None:
    classes = requests_exception_classes()
    # Control: the walk finds the classes we know of (so the next test covers them).
    for cls in (rexc.ConnectionError, rexc.ReadTimeout, rexc.SSLError, *INVALID):
        assert cls in classes
    assert len(classes) >= 20


@pytest.mark.parametrize("cls", requests_exception_classes(), ids=lambda c: c.__name__)
def test_every_requests_exception_is_mapped(cls: type[BaseException]) -> None:
    native = cls("boom", "doc", 0) if issubclass(cls, rexc.JSONDecodeError) else cls("boom")
    caught = send(native)
    assert type(caught) is expected(cls), (cls, caught)
    assert caught.__cause__ is native
    assert isinstance(caught, ResilienceError) and caught.request is not None
    if isinstance(caught, TimeoutError):
        assert caught.kind == "attempt" and caught.timeout == 30.0


@pytest.mark.parametrize(
    ("native", "mapped", "field"),
    [
        (UnicodeEncodeError("latin-1", "\u2603", 0, 1, "no"), InvalidRequestError, "headers"),
        (ValueError("Invalid header name b'X A'"), InvalidRequestError, "headers"),
        (uexc.LocationParseError("http://[::1/x"), InvalidRequestError, "url"),
        (ConnectionResetError(104, "reset"), NetworkError, None),
        (OSError("no route"), NetworkError, None),
        (uexc.ProtocolError("broken"), NetworkError, None),
        (uexc.ReadTimeoutError(None, "/x", "read timed out"), TimeoutError, None),
        (uexc.ConnectTimeoutError("connect timed out"), TimeoutError, None),
        (builtins.TimeoutError("timed out"), TimeoutError, None),
        (uexc.NewConnectionError(None, "refused"), NetworkError, None),
    ],
)
def test_errors_from_below_requests_are_mapped(
    native: BaseException, mapped: type[ResilienceError], field: str | None
) -> None:
    caught = send(native)
    assert type(caught) is mapped
    if field is not None:
        assert caught.field == field  # type: ignore[attr-defined]


def test_a_bug_that_is_not_a_native_error_is_not_disguised() -> None:
    # Control: the mapping is not a catch-all; the pipeline reports this as INTERNAL.
    assert type(send(RuntimeError("bug"))) is RuntimeError


@pytest.mark.parametrize(
    "url",
    [
        "http:///nohost",
        "http://exa mple.com/",
        "http://127.0.0.1:99999/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "/relative/without/base",
        "http://[::1/x",
    ],
)
def test_invalid_urls_are_invalid_requests_not_network_errors(url: str) -> None:
    async def go() -> BaseException:
        transport = RequestsTransport(max_workers=1)
        try:
            await transport.handle(Request("GET", url))
        except BaseException as caught:
            return caught
        finally:
            await transport.close()
        raise AssertionError("no error raised")

    caught = asyncio.run(go())
    assert isinstance(caught, InvalidRequestError), caught
    assert caught.code == "INVALID_REQUEST" and not isinstance(caught, NetworkError)


def test_a_header_value_http_client_refuses_is_an_invalid_request() -> None:
    async def go() -> BaseException:
        transport = RequestsTransport(max_workers=1)
        try:
            await transport.handle(Request("GET", "http://a.test/", Headers({"X-A": "a\r\nb"})))
        except BaseException as caught:
            return caught
        finally:
            await transport.close()
        raise AssertionError("no error raised")

    caught = asyncio.run(go())
    assert isinstance(caught, InvalidRequestError) and caught.field == "headers"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_workers": 0}, "transport.max_workers"),
        ({"max_workers": True}, "transport.max_workers"),
        ({"socket_timeout": 0}, "transport.socket_timeout"),
        ({"socket_timeout": float("inf")}, "transport.socket_timeout"),
    ],
)
def test_invalid_transport_settings(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RequestsTransport(**kwargs)
    assert info.value.field == field


def test_defaults() -> None:
    transport = RequestsTransport()
    assert transport.max_workers == 10 and transport.in_flight == 0
