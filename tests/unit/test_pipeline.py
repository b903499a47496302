"""The composed pipeline: retry, breaker, limiter, queue and timeouts together, on a FakeClock."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from resilient_fetch import (
    CircuitOpenError,
    Client,
    FakeClock,
    MockTransport,
    NetworkError,
    OfflineError,
    RateLimitedError,
    Request,
    Response,
    TimeoutError,
)
from resilient_fetch._models import Headers

T = TypeVar("T")
URL = "http://api.test/items"


def make_client(handler: Callable[[Request], Any], clock: FakeClock, **kwargs: Any) -> Client:
    return Client(transport=MockTransport(handler), clock=clock, rng=random.Random(1), **kwargs)


async def drive(
    clock: FakeClock, coro: Coroutine[Any, Any, T], step: float = 0.25, limit: float = 600.0
) -> T:
    """Run ``coro`` while advancing fake time in small steps."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        if clock.now() > limit:
            task.cancel()
            raise AssertionError("pipeline did not finish in fake time")
        await clock.advance(step)
    return task.result()


def statuses(*codes: int, headers: dict[str, str] | None = None) -> Callable[[Request], Response]:
    seq = list(codes)

    def handler(request: Request) -> Response:
        code = seq.pop(0) if len(seq) > 1 else seq[0]
        return Response(code, Headers(headers or {}))

    return handler


async def test_flaky_server_recovers_by_retry_with_backoff() -> None:
    clock = FakeClock()
    client = make_client(statuses(503, 502, 200), clock)
    retries: list[dict[str, Any]] = []
    client.on("retry", retries.append)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 200
    assert len(client.transport.requests) == 3  # type: ignore[attr-defined]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(1.0 <= r["delay"] <= 30.0 for r in retries)
    assert clock.now() >= sum(r["delay"] for r in retries)
    json.dumps(retries, allow_nan=False)


async def test_gives_up_after_max_retries_and_returns_last_response() -> None:
    clock = FakeClock()
    client = make_client(statuses(503), clock)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 503
    assert len(client.transport.requests) == 4  # type: ignore[attr-defined]  # 1 + 3 retries


async def test_other_4xx_are_never_retried() -> None:
    clock = FakeClock()
    client = make_client(statuses(404), clock)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 404 and len(client.transport.requests) == 1  # type: ignore[attr-defined]


async def test_retry_after_is_honoured_exactly_never_earlier() -> None:
    clock = FakeClock()
    times: list[float] = []

    def handler(request: Request) -> Response:
        times.append(clock.now())
        if len(times) == 1:
            return Response(429, Headers({"Retry-After": "2"}))
        return Response(200)

    client = make_client(handler, clock)
    resp = await drive(clock, client.get(URL), step=0.05)
    assert resp.status == 200
    assert times[1] - times[0] >= 2.0
    assert times[1] - times[0] < 2.2


async def test_retry_after_beyond_the_cap_fails_with_rate_limited() -> None:
    clock = FakeClock()
    client = make_client(statuses(503, headers={"Retry-After": "600"}), clock)
    with pytest.raises(RateLimitedError) as info:
        await drive(clock, client.get(URL))
    assert info.value.retry_after == 600
    assert len(client.transport.requests) == 1  # type: ignore[attr-defined]


async def test_mutations_get_an_idempotency_key_reused_across_retries() -> None:
    clock = FakeClock()
    client = make_client(statuses(503, 201), clock)
    resp = await drive(clock, client.post(URL, json={"name": "x"}))
    assert resp.status == 201
    keys = [r.headers.get("Idempotency-Key") for r in client.transport.requests]  # type: ignore[attr-defined]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


async def test_post_without_idempotency_key_is_not_retried() -> None:
    clock = FakeClock()
    client = make_client(statuses(503, 201), clock, idempotency_keys=False)
    resp = await drive(clock, client.post(URL, json={"name": "x"}))
    assert resp.status == 503 and len(client.transport.requests) == 1  # type: ignore[attr-defined]
    resp = await drive(clock, client.post(URL, json={"name": "x"}, idempotency_key="k-1"))
    assert resp.status == 201


async def test_breaker_opens_fails_fast_then_half_opens_and_closes() -> None:
    clock = FakeClock()
    up = {"ok": False}

    def handler(request: Request) -> Response:
        return Response(200 if up["ok"] else 503)

    client = make_client(handler, clock, retry={"max_retries": 0})
    changes: list[dict[str, Any]] = []
    client.on("breaker", changes.append)
    for _ in range(5):
        assert (await drive(clock, client.get(URL))).status == 503
    assert client.state()["breakers"]["http://api.test"]["state"] == "open"
    with pytest.raises(CircuitOpenError) as info:
        await drive(clock, client.get(URL))
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert len(client.transport.requests) == 5  # type: ignore[attr-defined]  # fast fail
    up["ok"] = True
    await clock.advance(61)
    assert client.breaker(URL).state == "half_open"
    assert (await drive(clock, client.get(URL))).status == 200
    assert (await drive(clock, client.get(URL))).status == 200
    assert client.breaker(URL).state == "closed"
    assert [(c["from"], c["to"]) for c in changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_429_and_4xx_do_not_trip_the_breaker() -> None:
    clock = FakeClock()
    client = make_client(statuses(429), clock, retry={"max_retries": 0}, limiter=False)
    for _ in range(8):
        await drive(clock, client.get(URL))
    assert client.breaker(URL).state == "closed"


async def test_open_breaker_fails_before_spending_a_rate_limit_token() -> None:
    clock = FakeClock()
    client = make_client(statuses(200), clock, limiter={"limit": 2, "window": 60, "mode": "reject"})
    client.breaker(URL).isolate()
    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            await drive(clock, client.get(URL))
    client.breaker(URL).reset()
    assert (await drive(clock, client.get(URL))).status == 200
    assert (await drive(clock, client.get(URL))).status == 200
    with pytest.raises(RateLimitedError):
        await drive(clock, client.get(URL))


async def test_attempt_timeout_aborts_the_transport_and_is_retried() -> None:
    clock = FakeClock()
    cancelled: list[int] = []
    calls: list[int] = []

    async def handler(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
        return Response(200)

    client = make_client(handler, clock, timeout={"attempt": 5})
    timeouts: list[dict[str, Any]] = []
    client.on("timeout", timeouts.append)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 200 and cancelled == [1] and len(calls) == 2
    assert timeouts[0]["kind"] == "attempt" and timeouts[0]["timeout"] == 5


async def test_total_deadline_fires_across_retries() -> None:
    clock = FakeClock()

    async def hang(request: Request) -> Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    # attempts time out at 3 and 7 (backoff 1 s, then 2 s); the third starts at 9
    # and is cut by the 10 s total deadline.
    client = make_client(hang, clock, timeout={"attempt": 3, "total": 10}, retry={"jitter": "none"})
    with pytest.raises(TimeoutError) as info:
        await drive(clock, client.get(URL), step=0.1)
    assert info.value.kind == "total" and info.value.timeout == 10
    assert 10 <= clock.now() <= 10.2
    assert len(client.transport.requests) == 3  # type: ignore[attr-defined]


async def test_network_errors_are_retried_then_raised() -> None:
    clock = FakeClock()

    def down(request: Request) -> Response:
        raise NetworkError("refused", request=request)

    client = make_client(down, clock, retry={"max_retries": 2})
    with pytest.raises(NetworkError):
        await drive(clock, client.get(URL))
    assert len(client.transport.requests) == 3  # type: ignore[attr-defined]


async def test_retry_budget_refuses_retries_when_spent() -> None:
    clock = FakeClock()
    client = make_client(
        statuses(503), clock, retry={"budget_ratio": 0.0, "budget_min_per_second": 0.0}
    )
    refused: list[dict[str, Any]] = []
    client.on("retry", refused.append)
    resp = await drive(clock, client.get(URL))
    assert resp.status == 503 and len(client.transport.requests) == 1  # type: ignore[attr-defined]
    assert refused and refused[0]["refused"] == "budget"


async def test_concurrency_never_exceeds_the_queue_limit() -> None:
    clock = FakeClock()
    running = {"now": 0, "max": 0}

    async def handler(request: Request) -> Response:
        running["now"] += 1
        running["max"] = max(running["max"], running["now"])
        await clock.sleep(1)
        running["now"] -= 1
        return Response(200)

    client = make_client(handler, clock, queue={"concurrency": 3})

    async def burst() -> list[Response]:
        return await asyncio.gather(*(client.get(f"{URL}/{i}") for i in range(12)))

    responses = await drive(clock, burst())
    assert [r.status for r in responses] == [200] * 12
    assert running["max"] == 3
    assert client.state()["queue"]["completed"] == 12


async def test_state_is_json_serialisable_with_latency_percentiles() -> None:
    clock = FakeClock()
    client = make_client(statuses(200), clock)
    for i in range(5):
        await drive(clock, client.get(f"{URL}/{i}"))
    state = json.loads(json.dumps(client.state(), allow_nan=False))
    assert set(state) == {
        *("stages", "breakers", "limiter", "queue", "budget", "metrics", "network"),
        *("cache", "dedupe", "revalidation", "lifecycle"),
    }
    assert state["stages"] == [
        "cache",
        "dedupe",
        "deadline",
        "retry",
        "network",
        "breaker",
        "limiter",
        "queue",
        "timeout",
    ]
    assert state["metrics"]["latency"]["GET /items/:id"]["count"] == 5
    assert state["metrics"]["outcomes"]["success"] == 5


async def test_events_cover_request_response_and_error() -> None:
    clock = FakeClock()
    client = make_client(statuses(200), clock)
    seen: list[dict[str, Any]] = []
    client.on("*", seen.append)
    await drive(clock, client.get(URL))
    names = [e["event"] for e in seen]
    assert names[0] == "request" and names[-1] == "response"
    client.breaker(URL).isolate()
    with pytest.raises(CircuitOpenError):
        await drive(clock, client.get(URL))
    assert seen[-1]["event"] == "error" and seen[-1]["code"] == "CIRCUIT_OPEN"
    json.dumps(seen, allow_nan=False)


async def test_per_request_overrides() -> None:
    clock = FakeClock()
    client = make_client(statuses(503), clock)
    resp = await drive(clock, client.get(URL, max_retries=0))
    assert resp.status == 503 and len(client.transport.requests) == 1  # type: ignore[attr-defined]


async def test_offline_errors_are_not_retried_and_do_not_trip_the_breaker() -> None:
    clock = FakeClock()

    def offline(request: Request) -> Response:
        raise OfflineError("the browser is offline", request=request)

    client = make_client(offline, clock)
    for _ in range(8):
        with pytest.raises(OfflineError):
            await drive(clock, client.get(URL))
    assert len(client.transport.requests) == 8  # type: ignore[attr-defined]  # no retries
    assert client.breaker(URL).state == "closed"
