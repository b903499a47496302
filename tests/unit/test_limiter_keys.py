"""Rate limiter per-key state is bounded: idle keys are swept, the rest capped by max_keys."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from typing import Any

import pytest

from resilient_fetch import FakeClock
from resilient_fetch.policies import limiter as limiter_module
from resilient_fetch.policies.limiter import RateLimiter


def origin(i: int) -> str:
    return f"http://h{i}.test/items"


def key(i: int) -> str:
    return f"http://h{i}.test"


async def test_twenty_thousand_origins_keep_at_most_max_keys_and_memory_returns() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, mode="reject")  # defaults: 100 per 60 s, max_keys=1000
    assert lim.max_keys == 1000
    # Warm what is not ours (urlsplit's cache, the loop) before the baseline.
    for i in range(300):
        await lim.acquire(f"http://warm{i}.test/")
    await clock.advance(61.0)
    assert lim.prune() == 300
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            await lim.acquire(origin(i))  # every key is busy: its window has not passed
        snap = lim.snapshot()
        assert len(snap) == 1000
        assert key(19_999) in snap and key(0) not in snap  # the least recently used went
        del snap
        gc.collect()
        peak = tracemalloc.get_traced_memory()[0] - baseline
        await clock.advance(61.0)  # every window has passed: all keys are idle
        assert lim.prune() == 1000
        assert lim.snapshot() == {}
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    # Control: the measurement sees the 1,000 keys held (about a kilobyte each, half
    # that on 32-bit wasm)...
    assert peak > 200_000, peak
    # ...and nearly all of it is given back (20,000 keys held would be ~25 MB).
    assert after < peak / 10, (peak, after)


async def test_idle_keys_are_swept_as_new_keys_arrive_without_reaching_the_cap() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, default={"limit": 5, "window": 1.0})
    sizes = []
    for i in range(20_000):
        await lim.acquire(origin(i))
        clock.jump(0.01)  # each key goes idle a second after its admission
        sizes.append(len(lim.snapshot()) if i % 1000 == 999 else 0)
    assert max(sizes) < 400, max(sizes)  # far below max_keys: the sweeps did it


async def test_a_busy_rotation_is_not_swept_away() -> None:
    # Keys that are idle but in use are kept: a sweep only drops keys unused since
    # the previous sweep, so a rotation over 500 origins stops creating keys.
    clock = FakeClock()
    lim = RateLimiter(clock=clock, default={"kind": "token_bucket", "rate": 1e9, "burst": 10})
    created = 0
    original = limiter_module.Rule.build

    def counting_build(self: Any, clk: Any) -> Any:
        nonlocal created
        created += 1
        return original(self, clk)

    limiter_module.Rule.build = counting_build  # type: ignore[method-assign]
    try:
        for _ in range(10):
            for i in range(500):
                await lim.acquire(origin(i))
                clock.jump(0.001)
    finally:
        limiter_module.Rule.build = original  # type: ignore[method-assign]
    assert created < 1000, created  # 500 at first, a few re-made while the rotation warms
    assert len(lim.snapshot()) == 500


async def test_lru_key_is_evicted_at_the_cap() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, max_keys=3)
    for i in range(3):
        await lim.acquire(origin(i))
    await lim.acquire(origin(0))  # 0 is now the most recently used
    await lim.acquire(origin(3))
    assert list(lim.snapshot()) == [key(2), key(0), key(3)]
    assert lim.snapshot()[key(0)]["used"] == 2


async def test_keys_in_cooldown_are_never_evicted_and_only_they_exceed_the_cap() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, max_keys=10)
    for i in range(15):
        assert lim.observe(origin(i), 429, {"Retry-After": "30"}) == 30.0
    for i in range(100, 300):
        await lim.acquire(origin(i))
    snap = lim.snapshot()
    json.dumps(snap, allow_nan=False)
    cooling = [k for k, v in snap.items() if v["cooldown"] > 0]
    assert sorted(cooling) == sorted(key(i) for i in range(15))
    assert len(snap) <= 10 + 15
    assert len(snap) > 10  # the cap was exceeded, by cooling keys only
    # Once the cooldowns end they are ordinary keys again and the cap holds.
    await clock.advance(31.0)
    for i in range(300, 400):
        await lim.acquire(origin(i))
    assert len(lim.snapshot()) <= 10


async def test_a_key_with_waiters_is_never_evicted() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, default={"limit": 1, "window": 10}, max_keys=2)
    await lim.acquire(origin(0))
    waiter = asyncio.ensure_future(lim.acquire(origin(0)))
    await clock.advance(1.0)
    for i in range(1, 50):
        await lim.acquire(origin(i))
    assert lim.snapshot()[key(0)]["waiting"] == 1
    await clock.advance(10.0)
    await waiter
    assert clock.now() == pytest.approx(11.0)  # the same counter: it waited its turn
    assert lim.snapshot()[key(0)]["used"] == 1


async def test_eviction_work_is_amortised_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = 0
    idle, pinned = limiter_module._KeyState.idle, limiter_module._KeyState.pinned

    def counting_idle(self: Any, now: float) -> bool:
        nonlocal checks
        checks += 1
        return idle(self, now)

    def counting_pinned(self: Any, now: float) -> bool:
        nonlocal checks
        checks += 1
        return pinned(self, now)

    monkeypatch.setattr(limiter_module._KeyState, "idle", counting_idle)
    monkeypatch.setattr(limiter_module._KeyState, "pinned", counting_pinned)
    clock = FakeClock()
    lim = RateLimiter(clock=clock, mode="reject", max_keys=1000)
    for i in range(10):  # ten keys in cooldown sit at the LRU end: probes skip them
        lim.observe(origin(i), 429, {"Retry-After": "50"})
    for i in range(10, 20_010):
        await lim.acquire(origin(i))
    assert checks < 5 * 20_000, checks
    assert checks > 0  # control: the counter sees the checks


def test_prune_keeps_busy_keys() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)
    lim.observe(origin(0), 503, {"Retry-After": "5"})
    assert lim.prune() == 0
    clock.jump(6.0)
    assert lim.prune() == 1
