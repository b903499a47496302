"""Property: under any mix of enqueue / finish / cancel the queue never exceeds its
concurrency, never loses or duplicates a request, and grants in priority + FIFO order."""

from __future__ import annotations

import asyncio

from hypothesis import example, given, settings
from hypothesis import strategies as st

from resilient_fetch import FakeClock
from resilient_fetch.policies.queue import PRIORITIES, ConcurrencyQueue, Slot
from unit._support import examples, run

RANK = {p: i for i, p in enumerate(PRIORITIES)}

enqueue = st.tuples(st.just("enqueue"), st.sampled_from(PRIORITIES))
ops = st.lists(
    st.one_of(
        enqueue,  # listed three times: arrivals must outpace departures to build a queue
        enqueue,
        enqueue,
        st.tuples(st.just("finish"), st.integers(0, 50)),
        st.tuples(st.just("fail"), st.integers(0, 50)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        # cancel a waiter and release a slot before its task has run its handler
        st.tuples(st.just("cancel_then_finish"), st.integers(0, 50)),
        # release a slot and cancel the waiter it was handed to, in the same turn
        st.tuples(st.just("finish_then_cancel_next"), st.integers(0, 50)),
    ),
    min_size=12,
    max_size=80,
)


async def scenario(concurrency: int, script: list[tuple[str, object]]) -> None:
    clock = FakeClock()
    queue = ConcurrencyQueue(concurrency, max_waiting=10_000, clock=clock)
    started: list[int] = []
    held: dict[int, Slot] = {}
    tasks: dict[int, asyncio.Task[None]] = {}
    model_waiting: dict[int, tuple[int, int]] = {}  # id -> (rank, seq): the expected order
    cancelled: set[int] = set()
    released = 0

    def check_started(rid: int) -> None:
        # the grantee must be the best (priority, arrival) of those waiting at that moment
        if model_waiting:
            assert model_waiting[rid] == min(model_waiting.values()), (rid, model_waiting)
            del model_waiting[rid]
        started.append(rid)

    async def worker(rid: int, priority: str) -> None:
        slot = await queue.acquire(priority)
        assert rid not in held
        check_started(rid)
        held[rid] = slot
        assert len(held) <= concurrency

    async def settle() -> None:
        # No op needs more than two turns of the loop (a hand-over, then the grantee
        # resumes); five keep a margin and stay cheap inside Pyodide's WebLoop.
        for _ in range(5):
            await asyncio.sleep(0)
        assert queue.running == len(held) <= concurrency
        assert queue.waiting == len(model_waiting)
        assert sum(queue.stats()["waiting"].values()) == queue.waiting

    def release(index: object, failed: bool = False) -> bool:
        nonlocal released
        if not held:
            return False
        rid = sorted(held)[int(str(index)) % len(held)]
        held.pop(rid).release(failed=failed)
        released += 1
        return True

    for op, arg in script:
        if op == "enqueue":
            rid = len(tasks)
            waits = queue.running >= concurrency or queue.waiting > 0
            if waits:
                model_waiting[rid] = (RANK[str(arg)], rid)
            tasks[rid] = asyncio.ensure_future(worker(rid, str(arg)))
        elif op in ("finish", "fail"):
            release(arg, failed=op == "fail")
        elif op in ("cancel", "cancel_then_finish") and model_waiting:
            rid = sorted(model_waiting)[int(str(arg)) % len(model_waiting)]
            del model_waiting[rid]
            cancelled.add(rid)
            tasks[rid].cancel()
            if op == "cancel_then_finish":
                release(arg)
        elif op == "finish_then_cancel_next" and model_waiting:
            head = min(model_waiting, key=model_waiting.__getitem__)
            if release(arg):
                del model_waiting[head]  # it was granted synchronously ...
                cancelled.add(head)
                tasks[head].cancel()  # ... and must hand the slot on
        await settle()

    while held:  # drain: everyone not cancelled must eventually run
        release(0)
        await settle()

    for task in tasks.values():  # surface assertions raised inside the workers
        assert task.done()
        if not task.cancelled():
            task.result()
    assert not model_waiting and queue.waiting == 0 and queue.running == 0
    assert len(started) == len(set(started)), "a request ran twice"
    assert set(started) == set(tasks) - cancelled, "a request was lost"
    assert all(tasks[rid].cancelled() for rid in cancelled)
    stats = queue.stats()
    assert stats["completed"] + stats["failed"] == released == len(started)
    assert stats["cancelled"] == len(cancelled)


# Each turn of Pyodide's WebLoop costs a JS timer, so fewer examples run there.
@settings(max_examples=examples(125), deadline=None)
@given(concurrency=st.integers(1, 3), script=ops)
@example(  # later higher priority overtakes, equal priorities keep arrival order
    concurrency=1,
    script=[("enqueue", "normal"), ("enqueue", "low"), ("enqueue", "normal"),
            ("enqueue", "high"), ("enqueue", "low"), ("finish", 0), ("finish", 0)],
)  # fmt: skip
@example(  # a slot handed to a task cancelled in the same turn moves on
    concurrency=2,
    script=[("enqueue", "low")] * 5 + [("finish_then_cancel_next", 1), ("cancel_then_finish", 0)],
)
def test_queue_never_exceeds_concurrency_nor_loses_or_duplicates(
    concurrency: int, script: list[tuple[str, object]]
) -> None:
    run(scenario(concurrency, script))
