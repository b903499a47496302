"""Retry budget: floor plus ratio, refusal past it, expiry after ttl, and the property
that retries never exceed the budget over any window."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resilient_fetch import ConfigError, FakeClock
from resilient_fetch.policies.budget import RetryBudget
from unit._support import examples


class ManualClock:
    """Just a settable ``now()``: the budget never sleeps, so no event loop is needed."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the budget must not sleep")


def drain(budget: RetryBudget, tries: int = 100_000) -> int:
    return sum(1 for _ in range(tries) if budget.try_withdraw())


def test_defaults_and_snapshot() -> None:
    budget = RetryBudget(clock=FakeClock())
    assert (budget.ratio, budget.min_per_second, budget.ttl) == (0.2, 10.0, 10.0)
    snap = budget.snapshot()
    assert snap == {
        "balance": 100,
        "requests": 0,
        "retries": 0,
        "ratio": 0.2,
        "minPerSecond": 10.0,
        "ttl": 10.0,
    }
    json.dumps(snap, allow_nan=False)


def test_flood_allows_floor_times_ttl_plus_ratio_of_requests() -> None:
    budget = RetryBudget(0.2, 10.0, 10.0, clock=FakeClock())
    for _ in range(1000):
        budget.record_request()
    assert drain(budget) == 100 + 200  # floor 10/s * 10 s + 20 % of 1000
    snap = budget.snapshot()
    assert snap["retries"] == 300 and snap["requests"] == 1000 and snap["balance"] == 0
    assert not budget.try_withdraw()
    budget.record_request()  # each request deposits 0.2: five buy one retry
    assert not budget.try_withdraw()
    for _ in range(4):
        budget.record_request()
    assert budget.try_withdraw() and not budget.try_withdraw()


def test_without_a_floor_only_the_ratio_counts() -> None:
    budget = RetryBudget(0.5, 0.0, clock=FakeClock())
    assert not budget.try_withdraw()
    for _ in range(10):
        budget.record_request()
    assert drain(budget) == 5


async def test_retries_and_requests_expire_after_ttl() -> None:
    clock = FakeClock()
    budget = RetryBudget(0.2, 1.0, 10.0, clock=clock)  # reserve 10
    for _ in range(50):
        budget.record_request()
    assert drain(budget) == 20
    await clock.advance(5)
    assert drain(budget) == 0 and budget.snapshot()["retries"] == 20
    await clock.advance(5)  # everything from t=0 is now older than ttl
    snap = budget.snapshot()
    assert snap["requests"] == 0 and snap["retries"] == 0 and snap["balance"] == 10
    assert drain(budget) == 10


async def test_window_slides_bucket_by_bucket() -> None:
    clock = FakeClock()
    budget = RetryBudget(1.0, 0.0, 10.0, clock=clock)  # one retry per request, no floor
    budget.record_request()  # t=0
    await clock.advance(6)
    budget.record_request()  # t=6
    await clock.advance(3.5)  # t=9.5: both still count
    assert budget.snapshot()["requests"] == 2
    await clock.advance(0.5)  # t=10: the t=0 request has aged out
    assert budget.snapshot()["requests"] == 1
    assert budget.try_withdraw() and not budget.try_withdraw()
    await clock.advance(6)
    assert budget.snapshot()["requests"] == 0 and budget.balance() == 0


async def test_stale_buckets_never_count_even_when_their_slot_is_not_reused() -> None:
    clock = FakeClock()
    budget = RetryBudget(1.0, 0.0, 10.0, clock=clock)
    budget.record_request()  # bucket 0
    await clock.advance(12.5)  # bucket 12 lives in ring slot 2; slot 0 still holds bucket 0
    assert budget.snapshot()["requests"] == 0
    assert not budget.try_withdraw()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": -0.1}, "budget.ratio"),
        ({"ratio": 1001}, "budget.ratio"),
        ({"ratio": float("nan")}, "budget.ratio"),
        ({"min_per_second": -1}, "budget.min_per_second"),
        ({"ttl": 0}, "budget.ttl"),
        ({"ttl": "10"}, "budget.ttl"),
        ({"buckets": 0}, "budget.buckets"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryBudget(clock=FakeClock(), **kwargs)
    assert info.value.field == field and "expected" in str(info.value)


events = st.lists(
    st.one_of(
        st.tuples(st.just("requests"), st.integers(1, 30)),
        st.tuples(st.just("retries"), st.integers(1, 60)),
        st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 2.5, 4.0, 10.5])),
    ),
    min_size=5,
    max_size=60,
)


@settings(max_examples=examples(60), deadline=None)
@given(
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0, 2.0]),
    floor=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    script=events,
)
@example(ratio=1.0, floor=0.0, script=[("requests", 30), ("advance", 12.5), ("retries", 60)])
def test_retries_never_exceed_the_budget(
    ratio: float, floor: float, script: list[tuple[str, float]]
) -> None:
    ttl, buckets = 10.0, 10
    width = ttl / buckets
    reserve = floor * ttl
    clock = ManualClock()
    budget = RetryBudget(ratio, floor, ttl, clock=clock, buckets=buckets)
    requests: list[float] = []
    retries: list[float] = []
    for op, arg in script:
        if op == "advance":
            clock.t += arg
        elif op == "requests":
            for _ in range(int(arg)):
                budget.record_request()
                requests.append(clock.now())
        else:
            for _ in range(int(arg)):
                if budget.try_withdraw():
                    now = clock.now()
                    retries.append(now)
                    # every retry granted within the guaranteed part of the window
                    # (ttl minus one bucket) is paid for by the floor plus requests
                    # no older than ttl
                    recent = sum(1 for t in retries if t > now - (ttl - width))
                    paid = reserve + ratio * sum(1 for t in requests if t > now - ttl)
                    assert recent <= paid + 1e-9, (now, recent, paid)
    # and in particular within one ttl-window starting at 0
    early_retries = sum(1 for t in retries if t < ttl - width)
    early_requests = sum(1 for t in requests if t < ttl - width)
    assert early_retries <= reserve + ratio * early_requests + 1e-9


def test_refund_returns_a_withdrawn_retry() -> None:
    # The retry stage withdraws, then may refuse the retry (the deadline is too near):
    # the token must go back, or every such refusal leaks one retry of the budget.
    budget = RetryBudget(1.0, 0.0, 10.0, clock=FakeClock())  # one retry per request
    budget.record_request()
    assert budget.try_withdraw() and not budget.try_withdraw()
    assert budget.refund()
    assert budget.snapshot()["retries"] == 0 and budget.balance() == 1.0
    assert budget.try_withdraw()  # the refunded retry can be spent again
    # Nothing withdrawn is left to return: refund changes nothing (never negative).
    assert budget.refund() and not budget.refund()
    assert budget.snapshot()["retries"] == 0 and budget.balance() == 1.0


def test_refund_takes_from_the_newest_bucket_still_in_the_window() -> None:
    clock = ManualClock()
    budget = RetryBudget(1.0, 0.0, 10.0, clock=clock)  # type: ignore[arg-type]
    for _ in range(3):
        budget.record_request()
    assert budget.try_withdraw()  # t=0
    clock.t = 3.0
    assert budget.try_withdraw()  # t=3
    assert budget.refund()  # from the t=3 bucket
    clock.t = 10.5  # the t=0 bucket has left the window; its retry counts no more
    assert budget.snapshot()["retries"] == 0
    assert not budget.refund()
    # Control: a retry still in the window is found even from an older bucket.
    budget.record_request()  # the requests of t=0 left the window too
    assert budget.try_withdraw()  # t=10.5
    clock.t = 14.0
    assert budget.refund() and budget.snapshot()["retries"] == 0
