"""run_with_timeout on the fake clock: exact firing, real cancellation, pass-through; Deadline."""

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
from resilient_fetch.policies.timeout import Deadline, run_with_timeout


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


def test_deadline_helper() -> None:
    none = Deadline(None)
    assert none.remaining(5) is None and not none.expired(1e9)
    d = Deadline(10.0)
    assert d.remaining(4) == 6.0 and d.remaining(12) == 0.0
    assert not d.expired(9.99) and d.expired(10.0)
    assert Deadline.after(3.0, 2.0) == Deadline(5.0) and Deadline.after(3.0, None) == none
    assert Deadline.min(Deadline(7), none, None, Deadline(3), Deadline(5)) == Deadline(3)
    assert Deadline.min(none, None) == none and Deadline.min() == none


async def test_system_clock_fast_path_needs_no_fake_time() -> None:
    async def quick() -> str:
        return "ok"

    assert await run_with_timeout(quick, 5, clock=SystemClock()) == "ok"
