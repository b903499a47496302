"""Circuit breaker: every transition, every default, strategies, permits and events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resilient_fetch import CircuitOpenError, ConfigError, FakeClock
from resilient_fetch.policies.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ConsecutiveFailures,
    CountFailureRate,
    TimeFailureRate,
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, payload: dict[str, Any]) -> None:
        json.dumps(payload, allow_nan=False)  # payloads must be plain data
        self.events.append((name, payload))

    @property
    def transitions(self) -> list[tuple[str, str, str]]:
        return [(p["from"], p["to"], p["reason"]) for _, p in self.events]


def fail(breaker: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        breaker.acquire().failure()


def succeed(breaker: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        breaker.acquire().success()


def opened(clock: FakeClock, **kwargs: Any) -> tuple[CircuitBreaker, Recorder]:
    rec = Recorder()
    breaker = CircuitBreaker("http://api.test", clock=clock, on_event=rec, **kwargs)
    fail(breaker, 5)
    assert breaker.state == "open"
    return breaker, rec


# -- defaults ------------------------------------------------------------------


def test_defaults() -> None:
    breaker = CircuitBreaker(clock=FakeClock())
    assert breaker.key == ""
    assert isinstance(breaker.strategy, ConsecutiveFailures)
    assert breaker.strategy.threshold == 5
    assert breaker.open_for == 60.0
    assert breaker.half_open_max_probes == 1
    assert breaker.close_after == 2
    assert breaker.open_backoff_factor == 2.0
    assert breaker.max_open_for == 600.0
    assert breaker.slow_call_threshold is None
    assert breaker.state == "closed"
    rate = CountFailureRate()
    assert (rate.threshold, rate.size, rate.min_calls) == (0.5, 20, 10)
    timed = TimeFailureRate()
    assert (timed.threshold, timed.window, timed.buckets, timed.min_calls) == (0.5, 30.0, 10, 10)


# -- closed -> open --------------------------------------------------------------


def test_consecutive_failures_open_after_five() -> None:
    clock = FakeClock()
    rec = Recorder()
    breaker = CircuitBreaker("k", clock=clock, on_event=rec)
    fail(breaker, 4)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"
    assert rec.events == [
        (
            "breaker",
            {
                "key": "k",
                "from": "closed",
                "to": "open",
                "at": 0.0,
                "openFor": 60.0,
                "reason": "failures",
            },
        )
    ]


def test_a_success_restarts_the_consecutive_count() -> None:
    breaker = CircuitBreaker(clock=FakeClock())
    fail(breaker, 4)
    succeed(breaker)
    fail(breaker, 4)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_count_failure_rate_waits_for_min_calls() -> None:
    strategy = CountFailureRate(threshold=0.5, size=20, min_calls=10)
    breaker = CircuitBreaker(clock=FakeClock(), strategy=strategy)
    fail(breaker, 9)  # 100 % failures but only 9 calls
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_count_failure_rate_over_the_last_size_calls() -> None:
    strategy = CountFailureRate(threshold=0.5, size=4, min_calls=4)
    breaker = CircuitBreaker(clock=FakeClock(), strategy=strategy)
    fail(breaker)
    succeed(breaker, 3)  # window F S S S: 25 %
    fail(breaker)  # window S S S F: the first failure slid out, still 25 %
    assert breaker.state == "closed"
    assert strategy.snapshot()["failures"] == 1
    fail(breaker)  # S S F F: 50 %
    assert breaker.state == "open"


def test_count_failure_rate_below_threshold_stays_closed() -> None:
    strategy = CountFailureRate(threshold=0.6, size=10, min_calls=10)
    breaker = CircuitBreaker(clock=FakeClock(), strategy=strategy)
    for i in range(30):
        breaker.acquire().failure() if i % 2 else breaker.acquire().success()
    assert breaker.state == "closed"  # 50 % < 60 %


async def test_time_failure_rate_counts_only_the_window() -> None:
    clock = FakeClock()
    strategy = TimeFailureRate(threshold=0.5, window=10.0, buckets=10, min_calls=4)
    breaker = CircuitBreaker(clock=clock, strategy=strategy)
    fail(breaker, 3)
    await clock.advance(10.0)  # those three failures age out of the window
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state == "closed"
    assert strategy.snapshot(clock.now())["calls"] == 3
    fail(breaker)  # 3 failures of 4 calls inside the window
    assert breaker.state == "open"


async def test_time_failure_rate_min_calls_and_bounded_memory() -> None:
    clock = FakeClock()
    strategy = TimeFailureRate(threshold=0.5, window=30.0, buckets=10, min_calls=10)
    breaker = CircuitBreaker(clock=clock, strategy=strategy)
    for _ in range(1000):
        succeed(breaker)
        clock.jump(0.1)
    assert len(strategy._slots) == 10
    assert strategy.snapshot(clock.now())["calls"] <= 300
    strategy.reset()
    fail(breaker, 9)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_slow_success_counts_as_failure() -> None:
    breaker = CircuitBreaker(clock=FakeClock(), slow_call_threshold=2.0)
    for _ in range(4):
        breaker.acquire().success(duration=2.5)
    breaker.acquire().success(duration=2.0)  # not slower than the threshold
    for _ in range(4):
        breaker.acquire().success(duration=3.0)
    assert breaker.state == "closed"
    breaker.acquire().success(duration=3.0)
    assert breaker.state == "open"


def test_without_slow_threshold_durations_do_not_matter() -> None:
    breaker = CircuitBreaker(clock=FakeClock())
    for _ in range(10):
        breaker.acquire().success(duration=1e6)
    assert breaker.state == "closed"


# -- open -----------------------------------------------------------------------


async def test_open_fails_fast_with_retry_after() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock)
    await clock.advance(15.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.key == "http://api.test"
    assert info.value.state == "open"
    assert info.value.retry_after == pytest.approx(45.0)
    assert breaker.retry_after() == pytest.approx(45.0)
    snap = breaker.snapshot()
    assert snap["openUntil"] == 60.0 and snap["retryAfter"] == pytest.approx(45.0)


async def test_open_turns_half_open_on_read_without_traffic() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock)
    await clock.advance(59.9)
    assert breaker.state == "open"
    await clock.advance(0.1)
    assert len(rec.events) == 1  # lazy: nothing happens until someone looks
    assert breaker.state == "half_open"
    assert rec.events[-1] == (
        "breaker",
        {
            "key": "http://api.test",
            "from": "open",
            "to": "half_open",
            "at": 60.0,
            "openFor": None,
            "reason": "timer",
        },
    )
    assert breaker.state == "half_open"
    assert len(rec.events) == 2  # reading again does not emit again


async def test_acquire_performs_the_lazy_half_open_transition() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock)
    await clock.advance(60.0)
    permit = breaker.acquire()
    assert permit.probe
    assert rec.transitions[-1] == ("open", "half_open", "timer")


async def test_snapshot_performs_the_lazy_transition_and_is_json() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock)
    await clock.advance(61.0)
    snap = breaker.snapshot()
    json.dumps(snap, allow_nan=False)
    assert snap["state"] == "half_open"
    assert snap["retryAfter"] is None and snap["openUntil"] is None
    assert snap["failures"]["consecutiveFailures"] == 5


# -- half-open --------------------------------------------------------------------


async def test_half_open_admits_one_probe_and_rejects_a_second() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock)
    await clock.advance(60.0)
    probe = breaker.acquire()
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.state == "half_open"
    assert info.value.retry_after is None
    assert breaker.snapshot()["probesInFlight"] == 1
    probe.success()  # one success of two: still half-open, the slot is free again
    assert breaker.state == "half_open"
    assert breaker.acquire().probe


async def test_more_probes_when_configured() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock, half_open_max_probes=3)
    await clock.advance(60.0)
    permits = [breaker.acquire() for _ in range(3)]
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    permits[0].release()
    breaker.acquire()


async def test_two_probe_successes_close_and_reset_the_strategy() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock)
    await clock.advance(60.0)
    breaker.acquire().success()
    assert breaker.state == "half_open"
    breaker.acquire().success()
    assert breaker.state == "closed"
    assert rec.transitions[-1] == ("half_open", "closed", "probe_succeeded")
    assert breaker.strategy.snapshot()["consecutiveFailures"] == 0
    fail(breaker, 4)  # the old failures are forgotten
    assert breaker.state == "closed"


async def test_close_after_is_configurable() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock, close_after=1)
    await clock.advance(60.0)
    breaker.acquire().success()
    assert breaker.state == "closed"


async def test_probe_failure_reopens_with_doubled_period_capped() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock, open_for=10.0, max_open_for=35.0)
    periods = []
    for _ in range(4):
        await clock.advance(breaker.retry_after() or 0.0)
        breaker.acquire().failure()
        assert breaker.state == "open"
        periods.append(rec.events[-1][1]["openFor"])
        assert rec.transitions[-1] == ("half_open", "open", "probe_failed")
    assert periods == [20.0, 35.0, 35.0, 35.0]
    assert breaker.retry_after() == pytest.approx(35.0)
    await clock.advance(34.9)
    assert breaker.state == "open"


async def test_closing_resets_the_open_period() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock, open_for=10.0)
    await clock.advance(10.0)
    breaker.acquire().failure()  # reopened for 20 s
    await clock.advance(20.0)
    succeed(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker, 5)
    assert rec.events[-1][1]["openFor"] == 10.0
    assert breaker.snapshot()["openFor"] == 10.0


async def test_slow_probe_reopens() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock, slow_call_threshold=1.0)
    await clock.advance(60.0)
    breaker.acquire().success(duration=5.0)
    assert breaker.state == "open"


async def test_released_probe_counts_neither_way() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock)
    await clock.advance(60.0)
    breaker.acquire().release()
    assert breaker.state == "half_open"
    assert breaker.snapshot()["probeSuccesses"] == 0
    succeed(breaker, 2)
    assert breaker.state == "closed"


# -- permits ------------------------------------------------------------------


def test_permit_is_settled_once() -> None:
    breaker = CircuitBreaker(clock=FakeClock())
    permit = breaker.acquire()
    permit.failure()
    for _ in range(10):
        permit.failure()
    assert breaker.strategy.snapshot()["consecutiveFailures"] == 1
    ok = breaker.acquire()
    ok.success()
    ok.failure()
    ok.release()
    assert breaker.strategy.snapshot()["consecutiveFailures"] == 0


async def test_probe_permit_settled_twice_frees_one_slot_only() -> None:
    clock = FakeClock()
    breaker, _ = opened(clock, half_open_max_probes=2, close_after=5)
    await clock.advance(60.0)
    first = breaker.acquire()
    breaker.acquire()
    first.release()
    first.release()
    first.success()
    assert breaker.snapshot()["probesInFlight"] == 1
    breaker.acquire()
    with pytest.raises(CircuitOpenError):
        breaker.acquire()


async def test_stale_permits_count_neither_way() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    slow = breaker.acquire()  # taken while closed
    fail(breaker, 5)
    await clock.advance(60.0)
    probe = breaker.acquire()
    slow.success()  # arrives during half-open: not a probe success
    assert breaker.snapshot()["probeSuccesses"] == 0
    assert breaker.snapshot()["probesInFlight"] == 1
    probe.success()
    assert breaker.snapshot()["probeSuccesses"] == 1


# -- manual control -------------------------------------------------------------


async def test_isolate_holds_open_until_reset() -> None:
    clock = FakeClock()
    rec = Recorder()
    breaker = CircuitBreaker("k", clock=clock, on_event=rec)
    breaker.isolate()
    breaker.isolate()  # no second event
    await clock.advance(10_000.0)
    assert breaker.state == "isolated"
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.state == "isolated" and info.value.retry_after is None
    assert breaker.retry_after() is None
    breaker.reset()
    assert breaker.state == "closed"
    breaker.acquire().success()
    assert rec.transitions == [("closed", "isolated", "isolated"), ("isolated", "closed", "reset")]
    assert rec.events[0][1]["openFor"] is None


async def test_reset_clears_counters_and_period() -> None:
    clock = FakeClock()
    breaker, rec = opened(clock, open_for=10.0)
    await clock.advance(10.0)
    breaker.acquire().failure()  # open for 20 s now
    breaker.reset()
    assert breaker.state == "closed"
    assert rec.transitions[-1] == ("open", "closed", "reset")
    fail(breaker, 4)
    assert breaker.state == "closed"
    fail(breaker)
    assert rec.events[-1][1]["openFor"] == 10.0


def test_reset_when_closed_clears_counts_without_event() -> None:
    rec = Recorder()
    breaker = CircuitBreaker(clock=FakeClock(), on_event=rec)
    fail(breaker, 4)
    breaker.reset()
    fail(breaker, 4)
    assert breaker.state == "closed"
    assert rec.events == []


async def test_full_cycle_event_sequence() -> None:
    clock = FakeClock(start=100.0)
    breaker, rec = opened(clock, open_for=5.0)
    await clock.advance(5.0)
    breaker.acquire().failure()
    await clock.advance(10.0)
    succeed(breaker, 2)
    assert rec.transitions == [
        ("closed", "open", "failures"),
        ("open", "half_open", "timer"),
        ("half_open", "open", "probe_failed"),
        ("open", "half_open", "timer"),
        ("half_open", "closed", "probe_succeeded"),
    ]
    assert [p["at"] for _, p in rec.events] == [100.0, 105.0, 105.0, 115.0, 115.0]
    assert [p["openFor"] for _, p in rec.events] == [5.0, None, 10.0, None, None]


# -- registry ----------------------------------------------------------------------


def test_registry_creates_one_breaker_per_key() -> None:
    clock = FakeClock()
    made: list[str] = []

    def factory(key: str) -> CircuitBreaker:
        made.append(key)
        return CircuitBreaker(key, clock=clock)

    registry = BreakerRegistry(factory)
    a = registry.get("http://a")
    assert registry.get("http://a") is a
    fail(registry.get("http://b"), 5)
    assert made == ["http://a", "http://b"]
    assert [k for k, _ in registry.items()] == ["http://a", "http://b"]
    snap = registry.snapshot()
    json.dumps(snap, allow_nan=False)
    assert snap["http://a"]["state"] == "closed"
    assert snap["http://b"]["state"] == "open"
    assert "http://a" in registry and "http://c" not in registry


def test_empty_registry_is_truthy() -> None:
    # Callers write `registry.get(k) if registry else None` (None = breakers disabled).
    assert BreakerRegistry(lambda key: CircuitBreaker(key, clock=FakeClock()))


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"open_for": 0}, "breaker.open_for"),
        ({"open_for": -1.0}, "breaker.open_for"),
        ({"open_for": float("inf")}, "breaker.open_for"),
        ({"open_for": "60"}, "breaker.open_for"),
        ({"half_open_max_probes": 0}, "breaker.half_open_max_probes"),
        ({"half_open_max_probes": 1.5}, "breaker.half_open_max_probes"),
        ({"close_after": 0}, "breaker.close_after"),
        ({"close_after": True}, "breaker.close_after"),
        ({"open_backoff_factor": 0.5}, "breaker.open_backoff_factor"),
        ({"max_open_for": 30.0}, "breaker.max_open_for"),
        ({"slow_call_threshold": 0}, "breaker.slow_call_threshold"),
        ({"strategy": object()}, "breaker.strategy"),
        ({"key": None}, "breaker.key"),
    ],
)
def test_invalid_breaker_config(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        CircuitBreaker(clock=FakeClock(), **kwargs)
    assert info.value.field == field
    assert repr(kwargs[next(iter(kwargs))]) in str(info.value)
    assert info.value.allowed


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ConsecutiveFailures(0), "breaker.threshold"),
        (lambda: CountFailureRate(threshold=0), "breaker.threshold"),
        (lambda: CountFailureRate(threshold=1.5), "breaker.threshold"),
        (lambda: CountFailureRate(size=0), "breaker.size"),
        (lambda: CountFailureRate(min_calls=0), "breaker.min_calls"),
        (lambda: CountFailureRate(size=5, min_calls=6), "breaker.min_calls"),
        (lambda: TimeFailureRate(threshold=-0.1), "breaker.threshold"),
        (lambda: TimeFailureRate(window=0), "breaker.window"),
        (lambda: TimeFailureRate(buckets=0), "breaker.buckets"),
        (lambda: TimeFailureRate(min_calls=0), "breaker.min_calls"),
    ],
)
def test_invalid_strategy_config(make: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field


def test_threshold_of_one_is_allowed() -> None:
    assert CountFailureRate(threshold=1).threshold == 1.0
    assert CircuitBreaker(max_open_for=60.0, clock=FakeClock()).max_open_for == 60.0


async def test_stale_failure_does_not_reopen_a_half_open_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock, strategy=ConsecutiveFailures(1))
    stale = breaker.acquire()  # taken while closed, its answer comes late
    fail(breaker)
    await clock.advance(60.0)
    assert breaker.state == "half_open"
    stale.failure()
    assert breaker.state == "half_open"
    stale_probe = breaker.acquire()
    breaker.isolate()
    breaker.reset()
    stale_probe.failure()  # from a half-open episode that is over
    assert breaker.state == "closed"


# -- exact failure rates -------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.07, 0.1, 0.15, 0.29, 0.3, 0.57, 0.7, 1 / 3])
def test_count_rate_reaches_a_decimal_threshold_exactly(threshold: float) -> None:
    # 0.07 * 100 is 7.000000000000001 in floats: 7 failures of 100 must still open.
    calls = 300 if threshold == 1 / 3 else 100
    needed = round(threshold * calls)
    for failures, opens in ((needed, True), (needed - 1, False)):  # and the control
        strategy = CountFailureRate(threshold, size=calls, min_calls=calls)
        for i in range(calls):
            strategy.record(i >= failures, 0.0)
        assert strategy.should_open(0.0) is opens, (threshold, failures)


@pytest.mark.parametrize("threshold", [0.07, 0.29, 0.57])
def test_time_rate_reaches_a_decimal_threshold_exactly(threshold: float) -> None:
    needed = round(threshold * 100)
    for failures, opens in ((needed, True), (needed - 1, False)):
        strategy = TimeFailureRate(threshold, window=10.0, min_calls=100)
        for i in range(100):
            strategy.record(i >= failures, 1.0)
        assert strategy.should_open(1.0) is opens, (threshold, failures)


def test_seven_failures_in_a_hundred_open_the_breaker_at_rate_007() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock, strategy=CountFailureRate(0.07, 100, 100))
    succeed(breaker, 93)
    fail(breaker, 6)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"
