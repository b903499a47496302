"""The concurrency queue: limit, priorities, backpressure, cancels, deadlines, stats, events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from resilient_fetch import ConfigError, FakeClock, QueueFullError, TimeoutError
from resilient_fetch.policies.queue import PRIORITIES, ConcurrencyQueue, Slot


class Harness:
    """Starts acquirers as tasks and records the order in which they got a slot."""

    def __init__(self, queue: ConcurrencyQueue) -> None:
        self.queue = queue
        self.order: list[str] = []
        self.slots: dict[str, Slot] = {}
        self.tasks: dict[str, asyncio.Task[Slot]] = {}

    def start(self, name: str, priority: str = "normal", deadline: float | None = None) -> None:
        async def go() -> Slot:
            slot = await self.queue.acquire(priority, deadline=deadline)
            self.order.append(name)
            self.slots[name] = slot
            return slot

        self.tasks[name] = asyncio.ensure_future(go())

    def release(self, name: str, failed: bool = False) -> None:
        self.slots.pop(name).release(failed=failed)


async def test_defaults_and_stats_shape() -> None:
    queue = ConcurrencyQueue(clock=FakeClock())
    assert PRIORITIES == ("high", "normal", "low")
    stats = queue.stats()
    assert stats == {
        "running": 0,
        "waiting": {"high": 0, "normal": 0, "low": 0},
        "waitingTotal": 0,
        "completed": 0,
        "failed": 0,
        "rejected": 0,
        "timedOut": 0,
        "cancelled": 0,
        "avgWaitMs": 0.0,
        "avgRunMs": 0.0,
        "concurrency": 10,
        "maxWaiting": 1000,
    }
    json.dumps(stats, allow_nan=False)


async def test_never_more_than_concurrency_running() -> None:
    clock = FakeClock()
    h = Harness(ConcurrencyQueue(2, clock=clock))
    for name in "abcde":
        h.start(name)
    await clock.advance(0)
    assert h.order == ["a", "b"]
    assert h.queue.stats()["running"] == 2 and h.queue.stats()["waitingTotal"] == 3
    h.release("a")
    await clock.advance(0)
    assert h.order == ["a", "b", "c"] and h.queue.running == 2 and h.queue.waiting == 2


async def test_fifo_within_a_priority_and_priority_order_across() -> None:
    clock = FakeClock()
    h = Harness(ConcurrencyQueue(1, clock=clock))
    h.start("hold")
    await clock.advance(0)
    for name, prio in [("l1", "low"), ("n1", "normal"), ("h1", "high"), ("n2", "normal"),
                       ("l2", "low"), ("h2", "high")]:  # fmt: skip
        h.start(name, prio)
    await clock.advance(0)
    assert h.queue.stats()["waiting"] == {"high": 2, "normal": 2, "low": 2}
    for name in ["hold", "h1", "h2", "n1", "n2", "l1"]:
        h.release(name)
        await clock.advance(0)
    assert h.order == ["hold", "h1", "h2", "n1", "n2", "l1", "l2"]


async def test_newcomer_waits_behind_existing_waiters_even_if_a_slot_frees() -> None:
    clock = FakeClock()
    h = Harness(ConcurrencyQueue(1, clock=clock))
    h.start("a")
    await clock.advance(0)
    h.start("b")
    await clock.advance(0)
    h.release("a")  # b is handed the slot synchronously ...
    h.start("c")  # ... so c cannot jump ahead
    await clock.advance(0)
    assert h.order == ["a", "b"] and h.queue.waiting == 1


async def test_queue_full_rejects_at_once_and_running_are_unaffected() -> None:
    clock = FakeClock()
    events: list[dict[str, Any]] = []
    queue = ConcurrencyQueue(2, 3, clock=clock, on_event=lambda n, p: events.append(p))
    h = Harness(queue)
    for name in "abcde":
        h.start(name)
    await clock.advance(0)
    assert queue.stats()["running"] == 2 and queue.stats()["waitingTotal"] == 3
    with pytest.raises(QueueFullError) as info:
        await queue.acquire("high")
    assert info.value.code == "QUEUE_FULL"
    stats = queue.stats()
    assert stats["rejected"] == 1 and stats["running"] == 2 and stats["waitingTotal"] == 3
    assert events[-1] == {"action": "reject", "priority": "high", "waiting": 3, "running": 2}
    h.release("a")
    h.release("b")
    await clock.advance(0)
    assert h.order == ["a", "b", "c", "d"]


async def test_max_waiting_zero_means_no_waiting_at_all() -> None:
    queue = ConcurrencyQueue(1, 0, clock=FakeClock())
    slot = await queue.acquire()
    with pytest.raises(QueueFullError):
        await queue.acquire()
    slot.release()
    (await queue.acquire()).release()
    assert queue.stats()["completed"] == 2 and queue.stats()["rejected"] == 1


async def test_cancel_while_waiting_leaves_the_queue_at_once() -> None:
    clock = FakeClock()
    events: list[dict[str, Any]] = []
    queue = ConcurrencyQueue(1, clock=clock, on_event=lambda n, p: events.append(p))
    h = Harness(queue)
    h.start("a")
    h.start("b", "low")
    h.start("c", "low")
    await clock.advance(0)
    assert queue.stats()["waiting"]["low"] == 2
    h.tasks["b"].cancel()
    await asyncio.sleep(0)  # one turn: the cancelled task runs its handler
    stats = queue.stats()
    assert stats["waiting"]["low"] == 1 and stats["waitingTotal"] == 1 and stats["cancelled"] == 1
    assert events[-1]["action"] == "cancel" and events[-1]["priority"] == "low"
    h.release("a")
    await clock.advance(0)
    assert h.order == ["a", "c"] and h.tasks["b"].cancelled()
    assert queue.stats()["running"] == 1


async def test_slot_handed_to_a_task_cancelled_in_the_same_turn_is_passed_on() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock)
    h = Harness(queue)
    h.start("a")
    h.start("b")
    h.start("c")
    await clock.advance(0)
    h.release("a")  # grants b synchronously ...
    assert queue.running == 1 and queue.waiting == 1
    h.tasks["b"].cancel()  # ... and b is cancelled before it ever resumes
    await clock.advance(0)
    assert h.tasks["b"].cancelled() and "b" not in h.order
    assert h.order == ["a", "c"]
    stats = queue.stats()
    assert stats["running"] == 1 and stats["cancelled"] == 1 and stats["waitingTotal"] == 0
    h.release("c")
    assert queue.stats()["running"] == 0 and queue.stats()["completed"] == 2


async def test_cancelled_then_dispatched_in_the_same_turn_is_skipped() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock)
    h = Harness(queue)
    for name in "abc":
        h.start(name)
    await clock.advance(0)
    h.tasks["b"].cancel()  # its future is cancelled, its handler has not run yet
    h.release("a")  # dispatch must skip b
    await clock.advance(0)
    assert h.order == ["a", "c"]
    assert queue.stats()["cancelled"] == 1 and queue.stats()["running"] == 1


async def test_many_cancelled_waiters_are_skipped_and_the_heap_is_compacted() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock)
    h = Harness(queue)
    h.start("hold")
    for i in range(300):
        h.start(f"w{i}")
    h.start("last", "low")
    await clock.advance(0)
    for i in range(300):
        h.tasks[f"w{i}"].cancel()
    await clock.advance(0)
    assert queue.waiting == 1 and queue.stats()["cancelled"] == 300
    assert len(queue._heap) < 100  # dead entries do not pile up
    h.release("hold")
    await clock.advance(0)
    assert h.order == ["hold", "last"]


async def test_per_priority_max_wait_times_out_with_kind_queue() -> None:
    clock = FakeClock()
    events: list[dict[str, Any]] = []
    queue = ConcurrencyQueue(
        1, clock=clock, max_wait={"low": 5.0}, on_event=lambda n, p: events.append(p)
    )
    h = Harness(queue)
    h.start("a")
    h.start("low", "low")
    h.start("normal", "normal")
    await clock.advance(4.5)
    assert not h.tasks["low"].done() and queue.waiting == 2
    await clock.advance(0.5)
    with pytest.raises(TimeoutError) as info:
        h.tasks["low"].result()
    assert info.value.kind == "queue" and info.value.timeout == 5.0
    stats = queue.stats()
    assert stats["timedOut"] == 1 and stats["waiting"] == {"high": 0, "normal": 1, "low": 0}
    assert events[-1] == {
        "action": "timeout", "priority": "low", "waiting": 1, "running": 1, "waitedMs": 5000.0
    }  # fmt: skip
    await clock.advance(100)
    assert not h.tasks["normal"].done()  # no max wait for normal
    h.release("a")
    await clock.advance(0)
    assert h.order == ["a", "normal"]


async def test_granted_before_max_wait_cancels_the_timer() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock, max_wait={"normal": 5.0})
    h = Harness(queue)
    h.start("a")
    h.start("b")
    await clock.advance(2)
    h.release("a")
    await clock.advance(10)
    assert h.order == ["a", "b"] and queue.stats()["timedOut"] == 0
    assert clock.sleepers == 0


async def test_absolute_deadline_and_the_earlier_of_deadline_and_max_wait() -> None:
    clock = FakeClock(start=100.0)
    queue = ConcurrencyQueue(1, clock=clock, max_wait={"normal": 10.0})
    h = Harness(queue)
    h.start("a")
    h.start("early", deadline=103.0)
    h.start("late", deadline=200.0)
    await clock.advance(2.5)
    assert queue.waiting == 2
    await clock.advance(0.5)
    with pytest.raises(TimeoutError) as info:
        h.tasks["early"].result()
    assert info.value.kind == "queue" and info.value.timeout == 3.0
    await clock.advance(7)
    with pytest.raises(TimeoutError) as info:
        h.tasks["late"].result()
    assert info.value.timeout == 10.0
    assert queue.stats()["timedOut"] == 2 and queue.waiting == 0


async def test_past_deadline_times_out_only_when_it_would_have_to_wait() -> None:
    clock = FakeClock(start=50.0)
    queue = ConcurrencyQueue(1, clock=clock)
    slot = await queue.acquire(deadline=10.0)  # a free slot needs no waiting
    with pytest.raises(TimeoutError) as info:
        await queue.acquire(deadline=10.0)
    assert info.value.kind == "queue"
    slot.release()
    assert queue.stats()["timedOut"] == 1 and queue.waiting == 0


async def test_stats_average_wait_and_run_time_on_the_fake_clock() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock)
    h = Harness(queue)
    h.start("a")
    h.start("b")
    await clock.advance(2)
    h.release("a")  # a: waited 0, ran 2; b waited 2
    await clock.advance(4)
    h.release("b", failed=True)  # b ran 4
    stats = queue.stats()
    assert stats["avgWaitMs"] == 1000.0 and stats["avgRunMs"] == 3000.0
    assert stats["completed"] == 1 and stats["failed"] == 1 and stats["running"] == 0


async def test_release_is_idempotent_and_slot_is_a_context_manager() -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(1, clock=clock)
    slot = await queue.acquire()
    slot.release()
    slot.release(failed=True)
    assert slot.released and queue.stats()["completed"] == 1 and queue.running == 0
    async with await queue.acquire() as held:
        assert queue.running == 1 and not held.released
    with pytest.raises(RuntimeError):
        async with await queue.acquire():
            raise RuntimeError("boom")
    stats = queue.stats()
    assert stats["completed"] == 2 and stats["failed"] == 1 and stats["running"] == 0


async def test_events_enqueue_dequeue_with_wait_time() -> None:
    clock = FakeClock()
    events: list[tuple[str, dict[str, Any]]] = []
    queue = ConcurrencyQueue(1, clock=clock, on_event=lambda n, p: events.append((n, p)))
    h = Harness(queue)
    h.start("a", "high")
    h.start("b", "low")
    await clock.advance(1.5)
    h.release("a")
    await clock.advance(0)
    assert [name for name, _ in events] == ["queue"] * 3
    assert [p for _, p in events] == [
        {"action": "dequeue", "priority": "high", "waiting": 0, "running": 1, "waitedMs": 0.0},
        {"action": "enqueue", "priority": "low", "waiting": 1, "running": 1},
        {"action": "dequeue", "priority": "low", "waiting": 0, "running": 1, "waitedMs": 1500.0},
    ]
    json.dumps(events, allow_nan=False)


async def test_a_failing_listener_does_not_break_the_queue() -> None:
    clock = FakeClock()
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))

    def broken(name: str, payload: dict[str, Any]) -> None:
        raise ValueError("listener bug")

    queue = ConcurrencyQueue(1, clock=clock, on_event=broken)
    h = Harness(queue)
    try:
        h.start("a")
        h.start("b")
        await clock.advance(0)
        h.release("a")
        await clock.advance(0)
    finally:
        loop.set_exception_handler(previous)
    assert h.order == ["a", "b"] and queue.running == 1
    assert seen and isinstance(seen[0]["exception"], ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "queue.concurrency"),
        ({"concurrency": 2.5}, "queue.concurrency"),
        ({"concurrency": True}, "queue.concurrency"),
        ({"max_waiting": -1}, "queue.max_waiting"),
        ({"max_wait": {"urgent": 1.0}}, "queue.max_wait"),
        ({"max_wait": {"low": 0}}, "queue.max_wait.low"),
        ({"max_wait": {"high": float("inf")}}, "queue.max_wait.high"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ConcurrencyQueue(**kwargs)
    assert info.value.field == field
    assert "expected" in str(info.value)


async def test_unknown_priority_is_a_config_error() -> None:
    queue = ConcurrencyQueue(clock=FakeClock())
    with pytest.raises(ConfigError) as info:
        await queue.acquire("urgent")
    assert info.value.field == "queue.priority" and "high" in info.value.allowed
