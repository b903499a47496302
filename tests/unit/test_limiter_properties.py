"""Property tests: the limiters never admit more than their limit, and refuse only when full."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_fetch import FakeClock
from resilient_fetch.policies.limiter import RateLimiter, SlidingWindow, TokenBucket
from unit._support import examples, run

SETTINGS = settings(max_examples=examples(80), deadline=None)

# Gaps that hit window boundaries exactly as well as arbitrary ones.
gaps = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 2.5]),
    st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
)
windows = st.sampled_from([0.5, 1.0, 2.0, 2.5, 10.0])


def timeline(deltas: list[float], start: float) -> list[float]:
    times, now = [], start
    for delta in deltas:
        now += delta
        times.append(now)
    return times


def clone(counter: SlidingWindow | TokenBucket) -> Any:
    """An independent copy (not deepcopy: FakeClock holds an itertools.count, which
    Python 3.14, the Pyodide runtime, can no longer copy)."""
    twin = object.__new__(type(counter))
    twin.__dict__.update(counter.__dict__)  # floats and the shared clock
    if isinstance(counter, SlidingWindow):
        twin._times = counter._times.copy()
    return twin


def assert_within_window(admitted: list[float], limit: int, window: float) -> None:
    """At most ``limit`` admissions in any closed window ``[end - window, end]``.

    The busiest window always ends on an admission, so checking those suffices; it is
    written ``end - window`` as in ``limits`` (``start + window`` can round the other way).
    """
    for j, end in enumerate(admitted):
        inside = sum(1 for t in admitted[: j + 1] if t >= end - window)
        assert inside <= limit, (end, admitted)


def assert_within_bucket(admitted: list[float], rate: float, burst: int) -> None:
    """Admissions in any interval of length t are at most burst + rate * t."""
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            count = j - i + 1
            assert count <= burst + rate * (admitted[j] - start) + 1e-6, (i, j, admitted)


@SETTINGS
@given(
    limit=st.integers(1, 6),
    window=windows,
    deltas=st.lists(gaps, max_size=60),
    start=st.sampled_from([0.0, 1000.0, 1e6]),
)
def test_sliding_window_admits_exactly_up_to_the_limit(
    limit: int, window: float, deltas: list[float], start: float
) -> None:
    counter = SlidingWindow(limit, window, clock=FakeClock())
    admitted: list[float] = []
    for now in timeline(deltas, start):
        probe = clone(counter)
        wait = counter.try_acquire(now)
        if wait == 0.0:
            admitted.append(now)
            continue
        # A refusal is justified: `limit` admissions already in [now - window, now] ...
        assert sum(1 for t in admitted if t >= now - window) == limit
        # ... and the wait it names is enough (nothing is held back longer than needed).
        assert wait > 0
        assert probe.try_acquire(now + wait) == 0.0
    assert_within_window(admitted, limit, window)


@SETTINGS
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0]),
    burst=st.integers(1, 5),
    deltas=st.lists(gaps, max_size=60),
    start=st.sampled_from([0.0, 1e6]),
)
def test_token_bucket_admits_at_most_burst_plus_rate_times_t(
    rate: float, burst: int, deltas: list[float], start: float
) -> None:
    counter = TokenBucket(rate, burst, clock=FakeClock(start))
    admitted: list[float] = []
    for now in timeline(deltas, start):
        probe = clone(counter)
        wait = counter.try_acquire(now)
        if wait == 0.0:
            admitted.append(now)
        else:
            assert wait > 0
            assert probe.try_acquire(now + wait) == 0.0
    assert_within_bucket(admitted, rate, burst)
    # Never stingier than the bucket: the first `burst` calls always pass.
    assert admitted[:burst] == timeline(deltas, start)[:burst]


async def _drive(
    limiter: RateLimiter,
    clock: FakeClock,
    arrivals: list[tuple[float, int, bool]],
) -> tuple[list[float], int]:
    """Start callers per the schedule, cancel some, and return grant times and cancellations."""
    granted: list[float] = []

    async def caller() -> None:
        await limiter.acquire("http://api.test/x")
        granted.append(clock.now())

    tasks: list[asyncio.Task[None]] = []
    cancelled = 0
    for gap, callers, cancel_one in arrivals:
        await clock.advance(gap)
        tasks.extend(asyncio.ensure_future(caller()) for _ in range(callers))
        await clock.advance(0)
        waiting = [t for t in tasks if not t.done()]
        if cancel_one and waiting:
            waiting[len(waiting) // 2].cancel()
            cancelled += 1
    await clock.advance(10_000.0)
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(t.done() for t in tasks)
    return granted, cancelled


arrivals = st.lists(
    st.tuples(gaps, st.integers(0, 4), st.booleans()),
    min_size=1,
    max_size=12,
)


@SETTINGS
@given(limit=st.integers(1, 4), window=windows, schedule=arrivals)
def test_waiting_limiter_never_exceeds_sliding_window(
    limit: int, window: float, schedule: list[tuple[float, int, bool]]
) -> None:
    async def main() -> tuple[list[float], int]:
        clock = FakeClock()
        limiter = RateLimiter(clock=clock, default={"limit": limit, "window": window})
        return await _drive(limiter, clock, schedule)

    granted, cancelled = run(main())
    assert len(granted) == sum(n for _, n, _ in schedule) - cancelled  # everyone else got in
    assert granted == sorted(granted)
    assert_within_window(granted, limit, window)


@SETTINGS
@given(rate=st.sampled_from([0.5, 2.0, 5.0]), burst=st.integers(1, 4), schedule=arrivals)
def test_waiting_limiter_never_exceeds_token_bucket(
    rate: float, burst: int, schedule: list[tuple[float, int, bool]]
) -> None:
    async def main() -> tuple[list[float], int]:
        clock = FakeClock()
        rule: dict[str, Any] = {"kind": "token_bucket", "rate": rate, "burst": burst}
        limiter = RateLimiter(clock=clock, default=rule)
        return await _drive(limiter, clock, schedule)

    granted, cancelled = run(main())
    assert len(granted) == sum(n for _, n, _ in schedule) - cancelled
    assert_within_bucket(granted, rate, burst)
