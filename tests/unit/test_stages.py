"""The pipeline as a list of stages, and the bugs the stage redesign fixed (issue 8)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable
from typing import Any

import pytest

from resilient_fetch import (
    Call,
    CircuitOpenError,
    Client,
    ConfigError,
    FakeClock,
    InternalError,
    InvalidRequestError,
    MockTransport,
    NetworkError,
    Request,
    ResilienceError,
    Response,
    SystemClock,
    TimeoutError,
)
from resilient_fetch.js_api import JsClient, create_client
from resilient_fetch.pipeline import ORDER
from resilient_fetch.stages import Next

from .test_pipeline import drive, make_client, statuses

URL = "http://api.test/items"


def ok(request: Request) -> Response:
    return Response(200, url=request.url)


class Recorder:
    """A custom stage that records the attempt number of every call it sees."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.seen: list[int] = []

    async def __call__(self, call: Call, next: Next) -> Response:
        self.seen.append(call.attempt)
        return await next(call)


# -- the stage list --------------------------------------------------------------------


def test_default_stage_order_follows_the_documented_order() -> None:
    client = Client(transport=MockTransport(ok))
    names = client.pipeline.names
    assert names == [
        *("cache", "dedupe", "deadline", "retry", "network", "breaker", "limiter", "queue"),
        "timeout",
    ]
    assert [n for n in ORDER if n in names] == names  # same relative order as ORDER


def test_stages_that_are_off_are_not_in_the_list() -> None:
    client = Client(
        transport=MockTransport(ok),
        breaker=False,
        limiter=False,
        cache=False,
        dedupe=False,
        network={"mode": "always"},
    )
    assert client.pipeline.names == ["deadline", "retry", "queue", "timeout"]
    assert client.breakers is None and client.limiter is None
    # typed bool: True means "on with defaults" (it used to raise)
    on = Client(transport=MockTransport(ok), breaker=True, limiter=True)
    assert "breaker" in on.pipeline.names and "limiter" in on.pipeline.names


async def test_custom_stage_runs_once_per_attempt_by_default() -> None:
    clock = FakeClock()
    recorder = Recorder()
    client = make_client(statuses(503, 503, 200), clock, stages=[recorder])
    assert client.pipeline.names[-1] == "recorder"
    resp = await drive(clock, client.get(URL))
    assert resp.status == 200 and recorder.seen == [1, 2, 3]


async def test_custom_stage_before_retry_runs_once_per_call() -> None:
    clock = FakeClock()
    recorder = Recorder()
    client = make_client(statuses(503, 200), clock)
    client.use(recorder, before="retry")
    assert client.pipeline.names[2:5] == ["deadline", "recorder", "retry"]
    await drive(clock, client.get(URL))
    assert recorder.seen == [0]  # before retry: no attempt has started yet


async def test_custom_stage_can_answer_without_the_network() -> None:
    class Canned:
        name = "canned"
        after = "deadline"

        def __call__(self, call: Call, next: Next) -> Awaitable[Response]:
            async def answer() -> Response:
                return Response(299, url=call.request.url)

            return answer()

    transport = MockTransport(ok)
    client = Client(transport=transport, stages=[Canned()])
    assert (await client.get(URL)).status == 299 and transport.requests == []


def test_anchor_of_a_stage_that_is_off_lands_where_it_would_be() -> None:
    client = Client(transport=MockTransport(ok), breaker=False)
    client.use(Recorder(), before="breaker")
    assert client.pipeline.names == [
        *("cache", "dedupe", "deadline", "retry", "network", "recorder", "limiter", "queue"),
        "timeout",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"before": "nowhere"}, "stage.before"),
        ({"after": "transport"}, "stage.after"),
        ({"before": "retry", "after": "retry"}, "stage.before"),
    ],
)
def test_bad_stage_placement_names_the_field(kwargs: dict[str, str], field: str) -> None:
    client = Client(transport=MockTransport(ok))
    with pytest.raises(ConfigError) as info:
        client.use(Recorder(), **kwargs)
    assert info.value.field == field


def test_stage_names_must_be_unique() -> None:
    client = Client(transport=MockTransport(ok))
    with pytest.raises(ConfigError, match="name"):
        client.use(Recorder("retry"))
    with pytest.raises(ConfigError, match="stage"):
        client.use(object())  # type: ignore[arg-type]


# -- bug 2 and 3: invalid requests fail before any policy, as INVALID_REQUEST ------------

INVALID_URLS = [
    "http:///nohost",
    "http://exa mple.com/",
    "http://api.test:99999/",
    "http://api.test:0/",
    "ftp://api.test/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "items/7",  # relative, and the client has no base URL
    "http://[::1/x",  # used to escape as a plain ValueError
    "http://api.test/\x00",
]


@pytest.mark.parametrize("url", INVALID_URLS)
async def test_invalid_urls_are_refused_before_any_policy(url: str) -> None:
    clock = FakeClock()
    transport = MockTransport(ok)
    client = Client(transport=transport, clock=clock, rng=random.Random(1))
    errors: list[dict[str, Any]] = []
    client.on("error", errors.append)
    with pytest.raises(InvalidRequestError) as info:
        await client.get(url)
    assert info.value.code == "INVALID_REQUEST" and info.value.field == "url"
    assert transport.requests == []
    state = client.state()
    assert state["breakers"] == {} and state["limiter"] == {}  # no odd breaker keys
    assert state["budget"]["requests"] == 0 and clock.sleepers == 0  # never retried
    assert state["metrics"]["outcomes"] == {"INVALID_REQUEST": 1}
    assert [e["code"] for e in errors] == ["INVALID_REQUEST"]
    json.dumps(errors, allow_nan=False)


async def test_non_latin1_or_split_header_values_are_invalid_requests() -> None:
    client = Client(transport=MockTransport(ok))
    for headers in ({"X-Name": "Zoë ☃"}, {"X-A": "a\r\nInjected: 1"}, {"Bad Name": "x"}):
        with pytest.raises(InvalidRequestError) as info:
            await client.get(URL, headers=headers)
        assert info.value.field == "headers"
    assert client.state()["metrics"]["outcomes"] == {"INVALID_REQUEST": 3}


async def test_a_request_object_with_a_bad_url_is_refused_by_send() -> None:
    transport = MockTransport(ok)
    client = Client(transport=transport)
    with pytest.raises(InvalidRequestError):
        await client.send(Request("GET", "gopher://api.test/"))
    assert transport.requests == []


async def test_invalid_json_body_is_an_invalid_request() -> None:
    client = Client(transport=MockTransport(ok))
    with pytest.raises(InvalidRequestError) as info:
        await client.post(URL, json={"x": float("nan")})  # not JSON
    assert info.value.field == "json"


async def test_an_unexpected_transport_exception_becomes_internal_error_not_retried() -> None:
    calls = []

    def broken(request: Request) -> Response:
        calls.append(1)
        raise KeyError("bug")

    client = Client(transport=MockTransport(broken))
    with pytest.raises(InternalError) as info:
        await client.get(URL)
    assert isinstance(info.value, ResilienceError) and isinstance(info.value.__cause__, KeyError)
    assert calls == [1]
    assert client.state()["metrics"]["outcomes"] == {"INTERNAL": 1}


# -- bug 8: the base URL is a prefix -------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        ("http://api.test/v1", "items", "http://api.test/v1/items"),
        ("http://api.test/v1/", "items", "http://api.test/v1/items"),
        ("http://api.test/v1", "/items", "http://api.test/v1/items"),
        ("http://api.test/v1", "", "http://api.test/v1"),
        ("http://api.test/v1", "https://other.test/x", "https://other.test/x"),
        ("HTTPS://API.test/", "items?x=1", "HTTPS://API.test/items?x=1"),
    ],
)
def test_base_url_is_a_prefix(base: str, url: str, expected: str) -> None:
    client = Client(base, transport=MockTransport(ok))
    assert client.build_request("GET", url).url == expected


# -- bug 4: a retry refused for the deadline costs no budget token --------------------------


async def test_retry_refused_for_the_deadline_keeps_its_budget_token() -> None:
    clock = FakeClock()
    # One retry's worth of budget in all (no floor, 1 per request deposited).
    client = make_client(
        statuses(503),
        clock,
        retry={"budget_ratio": 1.0, "budget_min_per_second": 0.0, "jitter": "none", "base": 5.0},
        timeout={"total": 2.0},
    )
    refused: list[dict[str, Any]] = []
    client.on("retry", refused.append)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 503 and refused[-1]["refused"] == "deadline"
    assert client.budget.snapshot()["retries"] == 0  # the token was never taken


# -- bug 5: a hung server trips the breaker even when total < attempt timeout ---------------


async def test_hung_server_trips_breaker_when_total_is_shorter_than_attempt() -> None:
    clock = FakeClock()
    cancelled: list[int] = []

    async def hang(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        raise AssertionError("unreachable")

    client = make_client(
        hang,
        clock,
        timeout={"attempt": 30, "total": 2},
        breaker={"failure_threshold": 3},
        retry={"max_retries": 0},
    )
    for _ in range(3):
        with pytest.raises(TimeoutError) as info:
            await drive(clock, client.get(URL), step=0.1)
        assert info.value.kind == "total" and info.value.timeout == 2
    assert cancelled == [1, 1, 1]  # the transport really stopped each time
    with pytest.raises(CircuitOpenError):
        await client.get(URL)
    assert len(client.transport.requests) == 3  # type: ignore[attr-defined]


async def test_a_call_refused_by_the_queue_deadline_does_not_count_against_the_breaker() -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def slow(request: Request) -> Response:
        await gate.wait()
        return Response(200)

    client = make_client(
        slow,
        clock,
        queue={"concurrency": 1},
        breaker={"failure_threshold": 1},
        retry={"max_retries": 0},
    )
    first = asyncio.ensure_future(client.get(URL, total_timeout=100))
    await clock.advance(0)
    with pytest.raises(TimeoutError) as info:
        await drive(clock, client.get(URL, total_timeout=1))
    assert info.value.kind == "queue"
    gate.set()
    assert (await first).status == 200
    assert client.breaker(URL).state == "closed"


# -- config errors name the field as the caller wrote it ---------------------------------------


def test_python_names_snake_case_and_js_names_camel_case() -> None:
    with pytest.raises(ConfigError) as info:
        Client(transport=MockTransport(ok), breaker={"open_for": 0})
    assert info.value.field == "breaker.open_for"
    out = create_client({"breaker": {"openFor": 0}})
    assert isinstance(out, dict) and out["error"]["field"] == "breaker.openFor"
    out = create_client({"retry": {"maxRetrys": 1}})
    assert isinstance(out, dict) and out["error"]["field"] == "retry.maxRetrys"
    assert "maxRetries" in out["error"]["allowed"] and "max_retries" not in out["error"]["allowed"]


async def test_js_per_call_option_errors_name_the_resilience_field() -> None:
    js = JsClient(Client(transport=MockTransport(ok)))
    out = await js.fetch(URL, "GET", [], None, {"maxRetries": -1})
    assert out["ok"] is False and out["error"]["field"] == "resilience.maxRetries"


def test_bad_budget_ratio_is_reported_under_retry() -> None:
    with pytest.raises(ConfigError) as info:
        Client(transport=MockTransport(ok), retry={"budget_ratio": 5000})
    assert info.value.field == "retry.budget_ratio"


def test_config_dataclasses_validate_when_built_directly() -> None:
    from resilient_fetch.config import QueueConfig, RetryConfig

    with pytest.raises(ConfigError) as info:
        RetryConfig(max_retries=-1)
    assert info.value.field == "retry.max_retries"
    assert QueueConfig(concurrency=4.0).concurrency == 4  # JS numbers are normalised


# -- the real clock: the production timeout path ---------------------------------------------


async def _hang(request: Request) -> Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_real_clock_attempt_timeout_cancels_the_transport() -> None:
    client = Client(
        transport=MockTransport(_hang),
        clock=SystemClock(),
        timeout={"attempt": 0.02, "total": 5},
        retry={"max_retries": 0},
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError) as info:
        await client.get(URL)
    assert info.value.kind == "attempt" and info.value.timeout == 0.02
    assert loop.time() - started < 2.0  # generous: only proves it did not hang


async def test_real_clock_total_deadline_clips_the_attempt_and_trips_the_breaker() -> None:
    client = Client(
        transport=MockTransport(_hang),
        clock=SystemClock(),
        timeout={"attempt": 30, "total": 0.02},
        retry={"max_retries": 0},
        breaker={"failure_threshold": 2},
    )
    for _ in range(2):
        with pytest.raises(TimeoutError) as info:
            await client.get(URL)
        assert info.value.kind == "total" and info.value.timeout == 0.02
    with pytest.raises(CircuitOpenError):
        await client.get(URL)


async def test_real_clock_caller_cancel_stays_a_cancel_and_frees_everything() -> None:
    client = Client(transport=MockTransport(_hang), clock=SystemClock(), retry={"max_retries": 0})
    task = asyncio.ensure_future(client.get(URL))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.queue.running == 0
    assert client.breaker(URL).state == "closed"


async def test_real_clock_network_error_is_retried_and_reported() -> None:
    attempts = []

    def down(request: Request) -> Response:
        attempts.append(1)
        raise NetworkError("refused", request=request)

    client = Client(
        transport=MockTransport(down),
        clock=SystemClock(),
        retry={"max_retries": 2, "base": 0.001, "cap": 0.002},
    )
    with pytest.raises(NetworkError):
        await client.get(URL)
    assert len(attempts) == 3


@pytest.mark.parametrize(
    ("limiter", "field"),
    [
        ({"rate": 5}, "limiter.rate"),  # the limiter itself used to say limiter.default.rate
        ({"rules": [{"pattern": "*/x*", "burst": 3}]}, "limiter.rules[0].burst"),
        ({"rules": [{"limit": 3}]}, "limiter.rules[0].pattern"),
        ({"rules": [{"pattern": ""}]}, "limiter.rules[0].pattern"),
    ],
)
def test_limiter_cross_field_errors_name_the_config_field(
    limiter: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Client(transport=MockTransport(ok), limiter=limiter)
    assert info.value.field == field


async def test_a_retry_cancelled_during_backoff_gives_its_budget_token_back() -> None:
    clock = FakeClock()
    client = make_client(statuses(503), clock, retry={"jitter": "none", "base": 5.0})
    task = asyncio.ensure_future(client.get(URL))
    await clock.advance(1)  # first attempt failed; the retry is sleeping its 5 s backoff
    assert client.budget.snapshot()["retries"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.budget.snapshot()["retries"] == 0


async def test_breaker_registry_is_bounded_by_breaker_max_keys() -> None:
    client = Client(transport=MockTransport(ok), breaker={"max_keys": 5}, limiter={"max_keys": 5})
    for i in range(50):
        await client.get(f"http://h{i}.test/")
    state = client.state()
    assert len(state["breakers"]) <= 5 and len(state["limiter"]) <= 5
    assert len(state["breakers"]) >= 1  # control: breakers were made
