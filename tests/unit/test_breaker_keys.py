"""Breaker registry is bounded: idle breakers are swept, the rest capped by max_keys."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable

import pytest

from resilient_fetch import ConfigError, FakeClock
from resilient_fetch.policies.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ConsecutiveFailures,
    CountFailureRate,
    TimeFailureRate,
)


def key(i: int) -> str:
    return f"http://h{i}.test"


def registry(clock: FakeClock, **kwargs: object) -> BreakerRegistry:
    def factory(k: str) -> CircuitBreaker:
        return CircuitBreaker(k, clock=clock, strategy=ConsecutiveFailures(3))

    return BreakerRegistry(factory, clock=clock, **kwargs)  # type: ignore[arg-type]


def call(reg: BreakerRegistry, k: str, ok: bool = True) -> None:
    permit = reg.get(k).acquire()
    if ok:
        permit.success()
    else:
        permit.failure()


def test_twenty_thousand_origins_keep_at_most_max_keys_and_memory_returns() -> None:
    clock = FakeClock()
    reg = registry(clock)
    assert reg.max_keys == 1000
    for i in range(300):  # warm-up, then drop, so the baseline holds nothing of ours
        call(reg, f"http://warm{i}.test")
    assert reg.prune() == 300
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            call(reg, key(i), ok=False)  # one failure each: not idle, only the cap bounds
        assert len(reg.snapshot()) == 1000
        gc.collect()
        peak = tracemalloc.get_traced_memory()[0] - baseline
        for _, breaker in reg.items():
            breaker.reset()  # failures forgotten: every breaker is idle now
        assert reg.prune() == 1000
        assert reg.snapshot() == {}
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    # Control: the measurement sees the 1,000 breakers held (a few hundred bytes each,
    # about half that on 32-bit wasm)...
    assert peak > 200_000, peak
    # ...and nearly all of it is given back.
    assert after < peak / 10, (peak, after)


def test_idle_breakers_are_swept_as_new_keys_arrive() -> None:
    clock = FakeClock()
    reg = registry(clock)
    largest = 0
    for i in range(20_000):
        call(reg, key(i))  # success: closed, nothing in flight, no failure
        clock.jump(0.01)
        if i % 500 == 499:
            largest = max(largest, len(reg.snapshot()))
    assert largest < 400, largest  # far below max_keys: the sweeps did it


def test_a_busy_rotation_is_not_swept_away() -> None:
    clock = FakeClock()
    made = 0

    def factory(k: str) -> CircuitBreaker:
        nonlocal made
        made += 1
        return CircuitBreaker(k, clock=clock)

    reg = BreakerRegistry(factory, clock=clock)
    for _ in range(10):
        for i in range(500):
            call(reg, key(i))
            clock.jump(0.0001)
    assert made < 1000, made
    assert len(reg.snapshot()) == 500


def test_lru_closed_breaker_is_evicted_at_the_cap() -> None:
    clock = FakeClock()
    reg = registry(clock, max_keys=3)
    for i in range(3):
        call(reg, key(i), ok=False)
    call(reg, key(0), ok=False)  # most recently used now
    call(reg, key(3))
    assert [k for k, _ in reg.items()] == [key(2), key(0), key(3)]
    assert reg.snapshot()[key(0)]["failures"]["consecutiveFailures"] == 2
    assert key(1) not in reg and key(0) in reg


@pytest.mark.parametrize("how", ["open", "half_open", "isolated", "in_flight"])
def test_breakers_in_use_are_never_evicted(how: str) -> None:
    clock = FakeClock()
    reg = registry(clock, max_keys=5)
    held = []
    for i in range(8):
        breaker = reg.get(key(i))
        if how == "in_flight":
            held.append(breaker.acquire())
        elif how == "isolated":
            breaker.isolate()
        else:
            for _ in range(3):
                breaker.acquire().failure()
    if how == "half_open":
        clock.jump(60.0)
    for i in range(100, 400):
        call(reg, key(i))
    snap = reg.snapshot()
    json.dumps(snap, allow_nan=False)
    kept = [key(i) for i in range(8)]
    assert all(k in snap for k in kept), how
    expected = {"open": "open", "half_open": "half_open", "isolated": "isolated"}
    for k in kept:
        assert snap[k]["state"] == expected.get(how, "closed")
    assert 5 < len(snap) <= 5 + 8  # over the cap only by breakers in use
    # Control: once they are no longer in use they are ordinary keys again.
    for permit in held:
        permit.success()
    for k in kept:
        reg.get(k).reset()
    for i in range(400, 500):
        call(reg, key(i))
    assert len(reg.snapshot()) <= 5


def test_a_breaker_with_a_call_in_flight_keeps_its_outcome() -> None:
    clock = FakeClock()
    reg = registry(clock, max_keys=1)
    permit = reg.get(key(0)).acquire()
    for i in range(1, 50):
        call(reg, key(i))
    permit.failure()  # counted on the breaker the registry still hands out
    assert reg.get(key(0)).snapshot()["failures"]["consecutiveFailures"] == 1


@pytest.mark.parametrize(
    ("make", "idle_after"),
    [
        (lambda: ConsecutiveFailures(5), "success"),
        (lambda: CountFailureRate(0.5, 20, 10), "reset"),
        (lambda: TimeFailureRate(0.5, 10.0, 10, 10), "window"),
    ],
)
def test_strategies_say_when_they_hold_no_failure(
    make: Callable[[], ConsecutiveFailures | CountFailureRate | TimeFailureRate], idle_after: str
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock, strategy=make())
    assert breaker.idle
    breaker.acquire().failure()
    assert not breaker.idle
    if idle_after == "success":
        breaker.acquire().success()
    elif idle_after == "reset":
        breaker.reset()
    else:
        clock.jump(11.0)
    assert breaker.idle
    permit = breaker.acquire()
    assert not breaker.idle and breaker.in_use  # a call in flight
    permit.release()
    assert breaker.idle and not breaker.in_use


def test_a_strategy_without_idle_is_never_swept() -> None:
    class Plain:
        def record(self, success: bool, now: float) -> None: ...
        def should_open(self, now: float) -> bool:
            return False

        def reset(self) -> None: ...
        def snapshot(self, now: float | None = None) -> dict[str, object]:
            return {}

    clock = FakeClock()
    reg = BreakerRegistry(lambda k: CircuitBreaker(k, clock=clock, strategy=Plain()), clock=clock)
    call(reg, key(0))
    clock.jump(5.0)
    assert reg.prune() == 0
    assert not reg.get(key(0)).idle


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_keys_is_validated(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        BreakerRegistry(lambda k: CircuitBreaker(k), max_keys=value)  # type: ignore[arg-type]
    assert info.value.field == "breaker.max_keys"
