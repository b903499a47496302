"""The shared real-clock deadline timer: few loop timers, no retained tasks, exact cancels."""

from __future__ import annotations

import asyncio

import pytest

from resilient_fetch import SystemClock, TimeoutError
from resilient_fetch.policies.deadlines import timer_for
from resilient_fetch.policies.timeout import run_with_timeout


async def test_many_requests_share_one_armed_timer_and_retain_nothing() -> None:
    loop = asyncio.get_running_loop()
    timers = timer_for(loop)
    # Pyodide runs every test on one WebLoop, so earlier tests' timers may be armed.
    armed_before, heap_before = timers.armed, len(timers._heap)

    async def quick() -> bytes:
        return b"x" * 1000

    for _ in range(300):
        assert await run_with_timeout(quick, 30, clock=SystemClock()) == b"x" * 1000
        assert await run_with_timeout(quick, 120, clock=SystemClock(), kind="total")
    assert timers.live == 0
    assert timers.armed <= armed_before + 1  # not 600: one timer waits for the earliest
    assert all(entry.task is None for _, _, entry in timers._heap)
    assert len(timers._heap) < heap_before + 600  # dead entries are compacted away


async def test_an_earlier_deadline_arms_its_own_timer_and_cancels_only_its_task() -> None:
    timers = timer_for(asyncio.get_running_loop())
    clock = SystemClock()
    slow_done = asyncio.Event()

    async def slow() -> str:
        await asyncio.sleep(0.03)
        slow_done.set()
        return "slow finished"

    async def hang() -> None:
        await asyncio.Event().wait()

    long_one = asyncio.ensure_future(run_with_timeout(slow, 30, clock=clock))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError) as info:
        await run_with_timeout(hang, 0.01, clock=clock)
    assert info.value.kind == "attempt"
    assert await long_one == "slow finished"
    assert timers.live == 0


async def test_work_that_finishes_instead_of_cancelling_keeps_its_result() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            return "finished anyway"
        return "slept"

    task = asyncio.current_task()
    assert task is not None
    before = task.cancelling()
    assert await run_with_timeout(stubborn, 0.01, clock=SystemClock()) == "finished anyway"
    assert task.cancelling() == before  # no stray cancel request left on the caller
