"""run_with_timeout: exact firing on the fake clock, real cancellation, and the real-clock path."""

from __future__ import annotations

import asyncio

import pytest

from resilient_fetch import (
    AbortedError,
    ConfigError,
    FakeClock,
    Request,
    SystemClock,
    TimeoutError,
)
from resilient_fetch.policies.timeout import run_with_timeout


class Work:
    """An operation that takes ``seconds`` of fake time and records whether it was cancelled."""

    def __init__(self, clock: FakeClock, seconds: float, result: str = "done") -> None:
        self.clock = clock
        self.seconds = seconds
        self.result = result
        self.started = self.cancelled = self.finished = False

    async def __call__(self) -> str:
        self.started = True
        try:
            await self.clock.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True  # where BrowserTransport aborts its fetch
            raise
        self.finished = True
        return self.result


async def test_result_passes_through_when_fast() -> None:
    clock = FakeClock()
    work = Work(clock, 2)
    task = asyncio.ensure_future(run_with_timeout(work, 5, clock=clock))
    await clock.advance(2)
    assert task.result() == "done" and work.finished and not work.cancelled
    assert clock.sleepers == 0  # the timer was cancelled, not left to fire later


async def test_fires_at_exactly_the_timeout_and_really_cancels_the_work() -> None:
    clock = FakeClock(start=100.0)
    work = Work(clock, 60)
    request = Request("GET", "http://api.test/slow")
    task = asyncio.ensure_future(run_with_timeout(work, 5, clock=clock, request=request))
    await clock.advance(4.75)
    assert not task.done() and not work.cancelled
    await clock.advance(0.25)
    assert task.done() and work.cancelled and not work.finished
    with pytest.raises(TimeoutError) as info:
        task.result()
    err = info.value
    assert err.kind == "attempt" and err.timeout == 5 and err.request is request
    assert err.code == "TIMEOUT" and "5" in str(err)
    assert err.__cause__ is None


async def test_kind_is_passed_through() -> None:
    clock = FakeClock()
    task = asyncio.ensure_future(run_with_timeout(Work(clock, 9), 1.5, clock=clock, kind="total"))
    await clock.advance(1.5)
    with pytest.raises(TimeoutError) as info:
        task.result()
    assert info.value.kind == "total" and info.value.timeout == 1.5


async def test_none_timeout_just_awaits() -> None:
    clock = FakeClock()
    task = asyncio.ensure_future(run_with_timeout(Work(clock, 1000), None, clock=clock))
    await clock.advance(999)
    assert not task.done()
    await clock.advance(1)
    assert task.result() == "done"


async def test_errors_from_the_work_propagate_unchanged() -> None:
    async def boom() -> None:
        raise AbortedError("nope")

    with pytest.raises(AbortedError):
        await run_with_timeout(boom, 5, clock=FakeClock())


async def test_no_time_left_fails_without_starting_the_work() -> None:
    clock = FakeClock()
    work = Work(clock, 1)
    with pytest.raises(TimeoutError) as info:
        await run_with_timeout(work, 0, clock=clock, kind="total")
    assert info.value.kind == "total" and not work.started
    with pytest.raises(ConfigError):
        await run_with_timeout(work, float("nan"), clock=clock)


async def test_caller_cancellation_cancels_the_work_and_propagates() -> None:
    clock = FakeClock()
    work = Work(clock, 60)
    task = asyncio.ensure_future(run_with_timeout(work, 30, clock=clock))
    await clock.advance(1)
    task.cancel()
    await clock.advance(0)
    assert task.cancelled() and work.cancelled and not work.finished


async def test_work_that_ignores_cancel_for_a_while_is_waited_for() -> None:
    clock = FakeClock()
    cleaned_up: list[float] = []

    async def slow_to_cancel() -> str:
        try:
            await clock.sleep(60)
        except asyncio.CancelledError:
            await clock.sleep(2)  # e.g. a transport closing its connection
            cleaned_up.append(clock.now())
            raise
        return "late"

    task = asyncio.ensure_future(run_with_timeout(slow_to_cancel, 5, clock=clock))
    await clock.advance(5)
    assert not task.done()  # still waiting for the work to finish cancelling
    await clock.advance(2)
    assert cleaned_up == [7.0]
    with pytest.raises(TimeoutError):
        task.result()


async def test_error_raised_while_cancelling_becomes_the_cause() -> None:
    clock = FakeClock()

    async def maps_cancel() -> None:
        try:
            await clock.sleep(60)
        except asyncio.CancelledError:
            raise AbortedError("fetch aborted") from None

    task = asyncio.ensure_future(run_with_timeout(maps_cancel, 1, clock=clock))
    await clock.advance(1)
    with pytest.raises(TimeoutError) as info:
        task.result()
    assert isinstance(info.value.__cause__, AbortedError)


async def test_works_with_a_plain_awaitable_factory() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    task = asyncio.ensure_future(run_with_timeout(lambda: fut, 3, clock=clock))
    await clock.advance(1)
    fut.set_result(7)
    await clock.advance(0)
    assert task.result() == 7


async def test_system_clock_fast_path_needs_no_fake_time() -> None:
    async def quick() -> str:
        return "ok"

    assert await run_with_timeout(quick, 5, clock=SystemClock()) == "ok"


async def test_real_clock_fires_cancels_the_work_and_names_its_kind() -> None:
    seen: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    with pytest.raises(TimeoutError) as info:
        await run_with_timeout(hang, 0.01, clock=SystemClock(), kind="attempt")
    assert info.value.kind == "attempt" and info.value.timeout == 0.01
    assert seen == ["cancelled"]


async def test_real_clock_nested_timeouts_report_the_one_that_fired() -> None:
    clock = SystemClock()

    async def hang() -> None:
        await asyncio.Event().wait()

    async def attempt() -> None:
        await run_with_timeout(hang, 0.01, clock=clock, kind="attempt")

    async def long_attempt() -> None:
        await run_with_timeout(hang, 5, clock=clock, kind="attempt")

    with pytest.raises(TimeoutError) as inner:
        await run_with_timeout(attempt, 5, clock=clock, kind="total")
    assert inner.value.kind == "attempt"
    with pytest.raises(TimeoutError) as outer:
        await run_with_timeout(long_attempt, 0.01, clock=clock, kind="total")
    assert outer.value.kind == "total"


async def test_real_clock_caller_cancellation_is_not_a_timeout() -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    task = asyncio.ensure_future(run_with_timeout(hang, 5, clock=SystemClock()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
