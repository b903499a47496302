"""Differential test: SlidingWindow agrees with ``limits``' moving window, admission by admission.

``limits.storage.memory`` reads ``time.time()`` through its module global ``time``;
the test swaps that global for a fake whose clock it sets before every hit. The
storage's background expiry timer is stopped: it only drops old entries, but at an
exact window boundary it races with ``acquire_entry`` and makes ``limits`` itself
nondeterministic. Fake times stay far below the real epoch, so a ``limits`` storage
elsewhere in this process that happens to read the fake clock only expires later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import limits.storage.memory as limits_memory
from hypothesis import given, settings
from hypothesis import strategies as st
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from resilient_fetch import FakeClock
from resilient_fetch.policies.limiter import SlidingWindow


class _FakeTime:
    """Stands in for the ``time`` module inside ``limits.storage.memory``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@contextmanager
def reference_limiter(start: float) -> Iterator[tuple[_FakeTime, MovingWindowRateLimiter]]:
    fake = _FakeTime(start)
    with mock.patch.object(limits_memory, "time", fake):
        storage = MemoryStorage()
        storage.timer.cancel()
        with mock.patch.object(storage, "_MemoryStorage__schedule_expiry", lambda: None):
            yield fake, MovingWindowRateLimiter(storage)


# Whole and half steps land exactly on window boundaries; arbitrary floats fill in between.
gaps = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]),
    st.floats(min_value=0.0, max_value=4.0, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 5),
    window=st.integers(1, 5),
    deltas=st.lists(gaps, min_size=1, max_size=80),
    start=st.sampled_from([0.0, 1.0, 12345.678, 1e6]),
)
def test_sliding_window_matches_limits_moving_window(
    limit: int, window: int, deltas: list[float], start: float
) -> None:
    ours = SlidingWindow(limit, float(window), clock=FakeClock(start))
    item = RateLimitItemPerSecond(limit, window)
    now = start
    with reference_limiter(start) as (fake, theirs):
        for step, delta in enumerate(deltas):
            now += delta
            fake.now = now
            expected = theirs.hit(item, "key")
            wait = ours.try_acquire(now)
            assert (wait == 0.0) == expected, (step, now, deltas[: step + 1])
            stats = theirs.get_window_stats(item, "key")
            if not expected and stats.remaining == 0:
                # Refused with a full window: we name the same release time as `limits`.
                assert abs((now + wait) - stats.reset_time) < 1e-6


def test_patch_reaches_limits() -> None:
    """Guard: if `limits` stopped reading the patched global, the test above would be vacuous."""
    item = RateLimitItemPerSecond(1, 10)
    with reference_limiter(100.0) as (fake, theirs):
        assert theirs.hit(item, "k")
        fake.now = 109.0
        assert not theirs.hit(item, "k")
        fake.now = 110.5
        assert theirs.hit(item, "k")
