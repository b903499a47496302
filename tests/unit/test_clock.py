"""FakeClock: sleepers wake in deadline order, and jump() refuses to skip a due sleeper."""

from __future__ import annotations

import asyncio

import pytest

from resilient_fetch import FakeClock


async def test_advance_wakes_sleepers_in_order_at_their_deadlines() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.ensure_future(sleeper(n, s)) for n, s in (("b", 2.0), ("a", 1.0), ("c", 5))]
    await clock.advance(0)
    assert clock.sleepers == 3
    await clock.advance(3)
    assert woke == [("a", 1.0), ("b", 2.0)] and clock.now() == 3
    await clock.advance(2)
    assert woke[-1] == ("c", 5.0)
    await asyncio.gather(*tasks)


async def test_jump_moves_time_but_never_past_a_due_sleeper() -> None:
    clock = FakeClock(start=10)
    clock.jump(0.5)
    assert clock.now() == 10.5
    task = asyncio.ensure_future(clock.sleep(1))
    await clock.advance(0)
    with pytest.raises(RuntimeError, match="advance"):
        clock.jump(2)
    await clock.advance(1)
    await task
    assert clock.wall() - clock.now() == FakeClock(start=10).wall() - 10
