"""Rate limiter: token bucket, exact sliding window, wait/reject, deadlines, server cooldowns."""

from __future__ import annotations

import asyncio
import json
import math
from email.utils import formatdate
from typing import Any

import pytest

from resilient_fetch import ConfigError, FakeClock, RateLimitedError
from resilient_fetch._models import Headers
from resilient_fetch.policies.limiter import (
    MAX_SERVER_WAIT,
    RateLimiter,
    Rule,
    SlidingWindow,
    TokenBucket,
    parse_retry_after,
    server_wait,
)

URL = "http://api.test/items"
WALL = 1_700_000_000.0  # FakeClock's default wall time at now() == 0


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, name: str, payload: dict[str, Any]) -> None:
        assert name == "rate_limited"
        json.dumps(payload, allow_nan=False)
        self.events.append(payload)


def limiter(clock: FakeClock, **kwargs: Any) -> RateLimiter:
    return RateLimiter(clock=clock, **kwargs)


async def acquire_at(lim: RateLimiter, clock: FakeClock, url: str = URL, **kw: Any) -> float:
    """Acquire and return the clock time at which it was granted."""
    await lim.acquire(url, **kw)
    return clock.now()


# -- token bucket -------------------------------------------------------------


async def test_bucket_starts_full_and_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(0.5)  # one token every 0.5 s
    assert bucket.snapshot()["tokens"] == pytest.approx(0.0)
    await clock.advance(0.25)
    assert bucket.try_acquire() == pytest.approx(0.25)  # took nothing
    await clock.advance(0.25)
    assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(0.5)


async def test_bucket_never_holds_more_than_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 4, clock=clock)
    await clock.advance(1000.0)
    assert bucket.snapshot() == {"kind": "token_bucket", "tokens": 4.0, "rate": 10.0, "burst": 4}
    granted = sum(bucket.try_acquire() == 0.0 for _ in range(10))
    assert granted == 4


def test_bucket_explicit_now_and_wait_time() -> None:
    bucket = TokenBucket(1.0, 2, clock=FakeClock())
    assert bucket.wait_time(2, now=0.0) == 0.0
    assert bucket.try_acquire(now=0.0) == 0.0
    assert bucket.wait_time(3, now=0.0) == pytest.approx(2.0)
    assert bucket.try_acquire(now=0.0) == 0.0
    assert bucket.try_acquire(now=0.4) == pytest.approx(0.6)


# -- sliding window -------------------------------------------------------------


def test_sliding_window_is_exact_at_the_boundary() -> None:
    window = SlidingWindow(2, 10.0, clock=FakeClock())
    assert window.try_acquire(now=0.0) == 0.0
    assert window.try_acquire(now=3.0) == 0.0
    assert window.try_acquire(now=9.99) == pytest.approx(0.01)
    # Closed interval, as in `limits`: at exactly t0 + window the admission still counts.
    assert 0 < window.try_acquire(now=10.0) <= 1e-9
    assert window.try_acquire(now=math.nextafter(10.0, math.inf)) == 0.0
    assert window.try_acquire(now=12.0) == pytest.approx(1.0)
    assert window.try_acquire(now=13.5) == 0.0


def test_sliding_window_is_a_moving_window_not_fixed() -> None:
    window = SlidingWindow(3, 60.0, clock=FakeClock())
    for t in (50.0, 55.0, 59.0):
        assert window.try_acquire(now=t) == 0.0
    # A fixed window would reset at 60 s; a moving one waits for 50 + 60.
    assert window.try_acquire(now=61.0) == pytest.approx(49.0)
    assert window.try_acquire(now=110.5) == 0.0


def test_sliding_window_memory_is_bounded_by_limit() -> None:
    window = SlidingWindow(5, 1.0, clock=FakeClock())
    for i in range(10_000):
        window.try_acquire(now=i * 0.1)
    assert len(window._times) == 5


async def test_sliding_window_snapshot() -> None:
    clock = FakeClock()
    window = SlidingWindow(4, 10.0, clock=clock)
    window.try_acquire()
    await clock.advance(4.0)
    window.try_acquire()
    snap = window.snapshot()
    assert snap == {
        "kind": "sliding_window",
        "used": 2,
        "limit": 4,
        "window": 10.0,
        "resetIn": 6.0,
    }
    await clock.advance(6.5)
    assert window.snapshot()["used"] == 1


def test_sliding_window_wait_time_for_several() -> None:
    window = SlidingWindow(2, 10.0, clock=FakeClock())
    window.try_acquire(now=0.0)
    window.try_acquire(now=4.0)
    assert window.wait_time(1, now=5.0) == pytest.approx(5.0)
    assert window.wait_time(2, now=5.0) == pytest.approx(9.0)
    assert window.wait_time(3, now=5.0) == pytest.approx(15.0)
    assert window.wait_time(1, now=11.0) == 0.0


# -- Retry-After and rate-limit headers ------------------------------------------------


def test_parse_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("2", WALL) == 2.0
    assert parse_retry_after(" 120 ", WALL) == 120.0
    assert parse_retry_after("1.5", WALL) == 1.5
    assert parse_retry_after("-3", WALL) == 0.0
    assert parse_retry_after(formatdate(WALL + 30, usegmt=True), WALL) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(WALL - 30, usegmt=True), WALL) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 10) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", 1445412480.0) == 0.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:25 GMT", 1_700_000_000.0) == 5.0
    for garbage in ("", "soon", "1e3", "Wed, 99 Foo 2015", "inf", "nan", "2 s", "0x10", None):
        assert parse_retry_after(garbage, WALL) is None, garbage  # type: ignore[arg-type]


def test_absurd_retry_after_values_are_clamped_never_infinite() -> None:
    huge = "9" * 400  # float() of it is inf
    assert parse_retry_after(huge, WALL) == MAX_SERVER_WAIT
    assert parse_retry_after(huge + ".5", WALL) == MAX_SERVER_WAIT
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", WALL) == MAX_SERVER_WAIT
    assert parse_retry_after("-" + huge, WALL) == 0.0
    assert math.isfinite(MAX_SERVER_WAIT)
    # Reset headers go through the same clamp, epoch and millisecond readings included.
    assert server_wait({"RateLimit-Remaining": "0", "RateLimit-Reset": huge}, 200, WALL) == (
        MAX_SERVER_WAIT
    )
    assert server_wait({"X-RateLimit-Reset": huge}, 429, WALL) == MAX_SERVER_WAIT
    assert server_wait({"RateLimit": f'"d";r=0;t={huge}'}, 200, WALL) == MAX_SERVER_WAIT
    # Control: ordinary values pass through unchanged.
    assert parse_retry_after("3600", WALL) == 3600.0


@pytest.mark.parametrize("status", [200, 201, 204, 301, 302, 400, 404, 500, 502, 504])
def test_retry_after_is_ignored_unless_429_or_503(status: int) -> None:
    assert server_wait({"Retry-After": "3600"}, status, WALL) is None
    # A rate-limit policy with nothing left still counts on any status.
    exhausted = {"Retry-After": "3600", "RateLimit-Remaining": "0", "RateLimit-Reset": "9"}
    assert server_wait(exhausted, status, WALL) == 9.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_counts_on_429_and_503(status: int) -> None:
    assert server_wait({"Retry-After": "3600"}, status, WALL) == 3600.0


def test_server_wait_prefers_retry_after() -> None:
    headers = {"retry-after": "7", "RateLimit-Remaining": "0", "RateLimit-Reset": "30"}
    assert server_wait(headers, 429, WALL) == 7.0
    assert server_wait({"Retry-After": "3"}, 503, WALL) == 3.0


def test_server_wait_falls_back_when_retry_after_is_garbage() -> None:
    headers = {"Retry-After": "later", "RateLimit-Reset": "12"}
    assert server_wait(headers, 429, WALL) == 12.0


def test_server_wait_ratelimit_headers() -> None:
    assert server_wait({"RateLimit-Remaining": "0", "RateLimit-Reset": "20"}, 200, WALL) == 20.0
    assert server_wait({"ratelimit-reset": "20"}, 429, WALL) == 20.0
    # Remaining quota left and no 429: no signal.
    assert server_wait({"RateLimit-Remaining": "3", "RateLimit-Reset": "20"}, 200, WALL) is None
    assert server_wait({}, 429, WALL) is None
    assert server_wait({"RateLimit-Remaining": "0"}, 200, WALL) is None
    assert server_wait({"RateLimit-Reset": "-4"}, 429, WALL) == 0.0


def test_server_wait_x_ratelimit_delta_and_epoch() -> None:
    delta = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "45"}
    assert server_wait(delta, 200, WALL) == 45.0
    epoch = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(WALL) + 90)}
    assert server_wait(epoch, 403, WALL) == pytest.approx(90.0)
    past = {"X-RateLimit-Reset": str(int(WALL) - 90)}
    assert server_wait(past, 429, WALL) == 0.0
    millis = {"X-RateLimit-Reset": str(int((WALL + 5) * 1000))}
    assert server_wait(millis, 429, WALL) == pytest.approx(5.0)


def test_every_policy_of_a_combined_header_counts_and_the_strictest_wins() -> None:
    # The second policy is exhausted: only reading the first one would miss it.
    assert server_wait({"RateLimit": '"burst";r=5;t=1, "daily";r=0;t=3600'}, 200, WALL) == 3600
    assert server_wait({"RateLimit": '"burst";r=0;t=1, "daily";r=0;t=3600'}, 200, WALL) == 3600
    assert server_wait({"RateLimit": '"burst";r=0;t=1, "daily";r=7;t=3600'}, 200, WALL) == 1.0
    assert server_wait({"RateLimit": 'burst;r=4;t=1, "da,ily";r=0;t=30'}, 200, WALL) == 30.0
    # Separate RateLimit-* and X-RateLimit-* policies: the exhausted one counts.
    both = {
        "RateLimit-Remaining": "3",
        "RateLimit-Reset": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "20",
    }
    assert server_wait(both, 200, WALL) == 20.0
    # A 429 naming no exhausted policy waits for the longest reset it names.
    assert server_wait({"RateLimit": '"a";r=2;t=5, "b";r=1;t=50'}, 429, WALL) == 50.0
    # Control: nothing exhausted on a success is no signal.
    assert server_wait({"RateLimit": '"a";r=2;t=5, "b";r=1;t=50'}, 200, WALL) is None


def test_server_wait_ietf_combined_header() -> None:
    assert server_wait({"RateLimit": "limit=100, remaining=0, reset=50"}, 200, WALL) == 50.0
    assert server_wait({"RateLimit": "limit=100, remaining=9, reset=50"}, 200, WALL) is None
    assert server_wait({"RateLimit": '"default";r=0;t=15'}, 200, WALL) == 15.0
    assert server_wait({"RateLimit": "limit=100, remaining=4, reset=8"}, 429, WALL) == 8.0


def test_server_wait_accepts_headers_object() -> None:
    headers = Headers([("Retry-After", "4")])
    assert server_wait(headers, 429, WALL) == 4.0


# -- RateLimiter: defaults, wait, reject, deadlines --------------------------------------


async def test_default_is_100_per_60s_sliding_window_per_origin() -> None:
    clock = FakeClock()
    lim = limiter(clock, mode="reject")
    assert lim.mode == "reject"
    assert (lim.default.kind, lim.default.limit, lim.default.window) == (
        "sliding_window",
        100,
        60.0,
    )
    for _ in range(100):
        await lim.acquire(URL)
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire("http://api.test/other")
    assert info.value.key == "http://api.test"
    assert info.value.retry_after == pytest.approx(60.0)
    await lim.acquire("http://elsewhere.test/items")  # another origin, another counter
    assert RateLimiter().mode == "wait"


async def test_wait_mode_sleeps_exactly_until_a_token_is_available() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"limit": 2, "window": 10})
    await lim.acquire(URL)
    await clock.advance(3.0)
    await lim.acquire(URL)
    first = asyncio.ensure_future(acquire_at(lim, clock))
    second = asyncio.ensure_future(acquire_at(lim, clock))
    await clock.advance(6.999)
    assert not first.done() and not second.done()
    await clock.advance(20.0)
    assert first.result() == pytest.approx(10.0)
    assert first.result() > 10.0  # closed window: strictly after t0 + window
    assert second.result() == pytest.approx(13.0)


async def test_wait_mode_with_token_bucket() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"kind": "token_bucket", "rate": 4, "burst": 1})
    await lim.acquire(URL)
    tasks = [asyncio.ensure_future(acquire_at(lim, clock)) for _ in range(3)]
    await clock.advance(5.0)
    assert [t.result() for t in tasks] == pytest.approx([0.25, 0.5, 0.75])


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"limit": 1, "window": 1})
    await lim.acquire(URL)
    order: list[int] = []

    async def caller(i: int) -> None:
        await lim.acquire(URL)
        order.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.ensure_future(caller(i)))
        await clock.advance(0.1)
    await clock.advance(10.0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_deadline_too_close_raises_at_once() -> None:
    clock = FakeClock()
    rec = Recorder()
    lim = limiter(clock, default={"limit": 1, "window": 10}, on_event=rec)
    await lim.acquire(URL)
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire(URL, deadline=5.0)
    assert clock.now() == 0.0 and clock.sleepers == 0
    assert info.value.retry_after == pytest.approx(10.0)
    assert rec.events[-1]["source"] == "local" and rec.events[-1]["action"] == "reject"
    # A deadline the wait fits in is fine.
    task = asyncio.ensure_future(acquire_at(lim, clock, deadline=10.5))
    await clock.advance(11.0)
    assert task.result() == pytest.approx(10.0)


async def test_deadline_counts_the_callers_already_waiting() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"kind": "token_bucket", "rate": 1, "burst": 1})
    await lim.acquire(URL)
    ahead = [asyncio.ensure_future(lim.acquire(URL)) for _ in range(2)]
    await clock.advance(0)
    # Two callers are queued for t=1 and t=2; ours could only go at t=3.
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire(URL, deadline=2.5)
    assert info.value.retry_after == pytest.approx(3.0)
    await clock.advance(3.0)
    await asyncio.gather(*ahead)


async def test_reject_mode_raises_at_once_and_per_call_mode_override() -> None:
    clock = FakeClock()
    rec = Recorder()
    lim = limiter(clock, mode="reject", default={"limit": 1, "window": 30}, on_event=rec)
    await lim.acquire(URL)
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire(URL)
    assert info.value.retry_after == pytest.approx(30.0)
    assert info.value.to_dict()["code"] == "RATE_LIMITED"
    assert rec.events == [
        {
            "key": "http://api.test",
            "retryAfter": info.value.retry_after,
            "source": "local",
            "action": "reject",
        }
    ]
    task = asyncio.ensure_future(acquire_at(lim, clock, mode="wait"))
    await clock.advance(31.0)
    assert task.result() == pytest.approx(30.0)
    with pytest.raises(ConfigError):
        await lim.acquire(URL, mode="sometimes")


# -- server cooldowns ------------------------------------------------------------------


async def test_cooldown_after_429_is_shared_by_a_burst_of_callers() -> None:
    clock = FakeClock()
    rec = Recorder()
    lim = limiter(clock, on_event=rec)
    assert lim.observe(URL, 429, {"Retry-After": "2"}) == 2.0
    assert rec.events == [
        {"key": "http://api.test", "retryAfter": 2.0, "source": "server", "action": "cooldown"}
    ]
    assert lim.cooldown_remaining("http://api.test/other") == 2.0
    tasks = [asyncio.ensure_future(acquire_at(lim, clock)) for _ in range(10)]
    await clock.advance(1.999)
    assert not any(t.done() for t in tasks)
    await clock.advance(0.001)
    times = [t.result() for t in tasks]
    assert all(t >= 2.0 for t in times), times
    assert lim.cooldown_remaining(URL) == 0.0
    assert lim.snapshot()["http://api.test"]["used"] == 10


async def test_cooldown_uses_http_date_and_keeps_the_longest() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    date = formatdate(clock.wall() + 30, usegmt=True)
    assert lim.observe(URL, 503, {"Retry-After": date}) == pytest.approx(30.0)
    assert lim.observe(URL, 429, {"Retry-After": "5"}) == 5.0
    assert lim.cooldown_remaining(URL) == pytest.approx(30.0)
    assert lim.observe(URL, 200, {}) is None
    assert lim.observe(URL, 429, {}) is None
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire(URL, deadline=10.0)
    assert info.value.retry_after == pytest.approx(30.0)
    with pytest.raises(RateLimitedError):
        await lim.acquire(URL, mode="reject")


async def test_cooldown_from_ratelimit_headers_on_success() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.wall()) + 8)}
    assert lim.observe(URL, 200, headers) == pytest.approx(8.0)
    task = asyncio.ensure_future(acquire_at(lim, clock))
    await clock.advance(10.0)
    assert task.result() == pytest.approx(8.0)


async def test_cooldown_extended_while_waiting_is_honoured() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    lim.observe(URL, 429, {"Retry-After": "2"})
    task = asyncio.ensure_future(acquire_at(lim, clock))
    await clock.advance(1.0)
    lim.observe(URL, 429, {"Retry-After": "5"})
    await clock.advance(10.0)
    assert task.result() == pytest.approx(6.0)


async def test_retry_after_on_a_success_blocks_nothing() -> None:
    clock = FakeClock()
    lim = limiter(clock, mode="reject")
    for status in (200, 204, 301, 500):
        assert lim.observe(URL, status, {"Retry-After": "3600"}) is None
    await lim.acquire(URL)  # reject mode: raises if any cooldown were set
    assert lim.cooldown_remaining(URL) == 0.0
    # Control: the same header on a 503 does set a cooldown.
    assert lim.observe(URL, 503, {"Retry-After": "3600"}) == 60.0
    with pytest.raises(RateLimitedError):
        await lim.acquire(URL)


async def test_server_waits_are_capped_at_max_cooldown_and_stay_finite() -> None:
    clock = FakeClock()
    rec = Recorder()
    lim = limiter(clock, on_event=rec, max_cooldown=5.0)
    assert lim.observe(URL, 429, {"Retry-After": "9" * 400}) == 5.0
    assert rec.events[-1]["retryAfter"] == 5.0
    snap = lim.snapshot()
    json.dumps(snap, allow_nan=False)
    json.dumps(rec.events, allow_nan=False)
    assert snap["http://api.test"]["cooldown"] == 5.0
    task = asyncio.ensure_future(acquire_at(lim, clock))
    await clock.advance(10.0)
    assert task.result() == pytest.approx(5.0)
    # Below the cap a wait is kept as sent; the default cap is 60 s.
    assert lim.observe(URL, 429, {"Retry-After": "2"}) == 2.0
    assert limiter(clock).observe(URL, 429, {"Retry-After": "3600"}) == 60.0
    assert limiter(clock).max_cooldown == 60.0


def test_reading_a_key_creates_no_state() -> None:
    lim = limiter(FakeClock())
    assert lim.cooldown_remaining(URL) == 0.0
    assert lim.key_for(URL) == "http://api.test"
    assert lim.snapshot() == {}


# -- cancellation ----------------------------------------------------------------------


async def test_cancelled_waiter_takes_no_token() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"limit": 1, "window": 10})
    await lim.acquire(URL)
    head = asyncio.ensure_future(lim.acquire(URL))  # sleeping on the clock
    queued = asyncio.ensure_future(lim.acquire(URL))  # waiting for the lock
    await clock.advance(5.0)
    head.cancel()
    queued.cancel()
    await clock.advance(0)
    assert head.cancelled() and queued.cancelled()
    assert lim.snapshot()["http://api.test"]["waiting"] == 0
    await clock.advance(6.0)
    assert lim.snapshot()["http://api.test"]["used"] == 0
    await lim.acquire(URL)  # granted at once: nobody took the freed slot
    assert clock.now() == 11.0


async def test_cancelled_head_lets_the_next_waiter_through() -> None:
    clock = FakeClock()
    lim = limiter(clock, default={"limit": 1, "window": 10})
    await lim.acquire(URL)
    head = asyncio.ensure_future(lim.acquire(URL))
    second = asyncio.ensure_future(acquire_at(lim, clock))
    await clock.advance(1.0)
    head.cancel()
    await clock.advance(20.0)
    assert second.result() == pytest.approx(10.0)


# -- route rules and keys ----------------------------------------------------------------


async def test_route_rule_has_its_own_counter_per_origin() -> None:
    clock = FakeClock()
    lim = limiter(
        clock,
        mode="reject",
        rules=[{"pattern": "*/upload*", "kind": "sliding_window", "limit": 5, "window": 60}],
    )
    upload = "http://api.test/upload/photo"
    for _ in range(5):
        await lim.acquire(upload)
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire(upload)
    assert info.value.key == "http://api.test|*/upload*"
    await lim.acquire("http://api.test/items")  # the default counter is untouched
    await lim.acquire("http://other.test/upload")  # same rule, other origin
    assert lim.key_for(upload) == "http://api.test|*/upload*"
    assert lim.key_for("HTTP://API.test/x") == "http://api.test"
    snap = lim.snapshot()
    json.dumps(snap, allow_nan=False)
    assert snap["http://api.test|*/upload*"]["used"] == 5
    assert snap["http://api.test"]["used"] == 1
    await clock.advance(60.001)
    await lim.acquire(upload)


async def test_first_matching_rule_wins_and_token_bucket_rules() -> None:
    clock = FakeClock()
    lim = limiter(
        clock,
        mode="reject",
        rules=[
            Rule("*/upload/big*", "token_bucket", rate=0.5, burst=1),
            Rule("*/upload*", limit=3, window=60),
        ],
    )
    await lim.acquire("http://a.test/upload/big/1")
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire("http://a.test/upload/big/2")
    assert info.value.retry_after == pytest.approx(2.0)
    for _ in range(3):
        await lim.acquire("http://a.test/upload/small")
    snap = lim.snapshot()
    assert snap["http://a.test|*/upload/big*"]["kind"] == "token_bucket"
    assert snap["http://a.test|*/upload*"]["used"] == 3


async def test_cooldown_is_per_key() -> None:
    clock = FakeClock()
    lim = limiter(clock, rules=[{"pattern": "*/upload*", "limit": 5, "window": 60}])
    lim.observe("http://api.test/upload", 429, {"Retry-After": "30"})
    assert lim.cooldown_remaining("http://api.test/upload/2") == 30.0
    assert lim.cooldown_remaining("http://api.test/items") == 0.0
    await lim.acquire("http://api.test/items")
    assert clock.now() == 0.0


async def test_custom_key_function() -> None:
    clock = FakeClock()
    lim = limiter(clock, mode="reject", default={"limit": 1, "window": 1}, key_fn=lambda u: "all")
    await lim.acquire("http://a.test/")
    with pytest.raises(RateLimitedError) as info:
        await lim.acquire("http://b.test/")
    assert info.value.key == "all"


def test_token_bucket_rule_defaults_from_limit_and_window() -> None:
    bucket = Rule(kind="token_bucket", limit=30, window=60).build(FakeClock())
    assert isinstance(bucket, TokenBucket)
    assert (bucket.rate, bucket.burst) == (0.5, 30)


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "block"}, "limiter.mode"),
        ({"rules": [{"pattern": "*/a*", "limit": 0}]}, "limiter.rules[0].limit"),
        (
            {"rules": [{"pattern": "*/a*"}, {"pattern": "*/b*", "kind": "leaky"}]},
            "limiter.rules[1].kind",
        ),
        ({"rules": [{"pattern": "*/a*", "window": -1}]}, "limiter.rules[0].window"),
        ({"rules": [{"pattern": "*/a*", "rate": 1}]}, "limiter.rules[0].rate"),
        ({"rules": [{"pattern": "*", "kind": "token_bucket", "rate": 0}]}, "limiter.rules[0].rate"),
        (
            {"rules": [{"pattern": "*", "kind": "token_bucket", "burst": 0}]},
            "limiter.rules[0].burst",
        ),
        ({"rules": [{"pattern": "*", "limt": 5}]}, "limiter.rules[0].limt"),
        ({"rules": [{"limit": 5}]}, "limiter.rules[0].pattern"),
        ({"rules": [Rule(pattern="")]}, "limiter.rules[0].pattern"),
        ({"rules": "*/upload*"}, "limiter.rules"),
        ({"default": {"pattern": "*"}}, "limiter.default.pattern"),
        ({"default": {"limit": 2.5}}, "limiter.default.limit"),
        ({"key_fn": "origin"}, "limiter.key_fn"),
        ({"max_cooldown": -1}, "limiter.max_cooldown"),
        ({"max_cooldown": math.inf}, "limiter.max_cooldown"),
        ({"max_cooldown": math.nan}, "limiter.max_cooldown"),
        ({"max_keys": 0}, "limiter.max_keys"),
        ({"max_keys": 1.5}, "limiter.max_keys"),
    ],
)
def test_invalid_limiter_config(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimiter(clock=FakeClock(), **kwargs)
    assert info.value.field == field
    assert info.value.allowed


def test_invalid_counter_config_names_the_value() -> None:
    with pytest.raises(ConfigError, match=r"limiter.rate=0.*> 0"):
        TokenBucket(0, 1, clock=FakeClock())
    with pytest.raises(ConfigError, match=r"limiter.burst=0"):
        TokenBucket(1, 0, clock=FakeClock())
    with pytest.raises(ConfigError, match=r"limiter.limit=True"):
        SlidingWindow(True, 1, clock=FakeClock())
    with pytest.raises(ConfigError, match=r"limiter.window=inf"):
        SlidingWindow(1, math.inf, clock=FakeClock())
