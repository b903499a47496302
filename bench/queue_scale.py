"""Queue scale check: the cost of one enqueue + dequeue with n requests already waiting.

The concurrency queue promises O(log n) scheduling, so 10,000 waiting requests
must cost about the same per operation as 10. ``measure(n)`` holds the only
slot, parks ``n`` waiters, then times a steady state in which each operation
enqueues one new waiter and releases the slot (handing it to the oldest
waiter), so ``n`` stay waiting throughout. A quarter of the new waiters are
"high" and a quarter "low", so the heap really reorders; and every tenth
operation cancels a waiter, so lazy deletion is exercised too.

The run is split into rounds and the fastest round is reported (the CPU is
shared); ``release_ns_per_op`` is the time spent inside ``Slot.release`` alone
(heap pop + hand-over), the rest is asyncio task overhead that does not depend on n.

Usage: ``python bench/queue_scale.py [--ops N] [--sizes 10 10000] [--out results.json]``
prints JSON. Stdlib only plus the package; no assertions (a cost ratio, not a timing test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client_py"))

from resilient_fetch.policies.queue import ConcurrencyQueue, Slot

PRIORITY_CYCLE = ("normal", "high", "normal", "low")
ROUNDS = 7


async def _run(n_waiting: int, ops: int) -> dict[str, Any]:
    queue = ConcurrencyQueue(1, max_waiting=n_waiting + ops + 10)
    holder = await queue.acquire()
    granted: list[Slot] = []
    tasks: list[asyncio.Task[None]] = []

    async def waiter(priority: str) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            granted.append(await queue.acquire(priority))

    def enqueue() -> None:
        tasks.append(asyncio.ensure_future(waiter(PRIORITY_CYCLE[len(tasks) % 4])))

    for _ in range(n_waiting):
        enqueue()
    await asyncio.sleep(0)  # let every waiter reach the heap
    assert queue.waiting == n_waiting, queue.stats()

    rounds: list[tuple[float, float]] = []  # (ns per op, ns in release per op)
    per_round = max(1, ops // ROUNDS)
    for _ in range(ROUNDS):
        in_release = 0
        started = time.perf_counter_ns()
        for i in range(per_round):
            enqueue()
            if i % 10 == 9 and tasks[len(tasks) // 2].cancel():
                enqueue()  # replace the cancelled waiter, so n keep waiting
            await asyncio.sleep(0)  # the new waiters reach the heap (the cancelled one leaves)
            before = time.perf_counter_ns()
            holder.release()  # pops the best waiter and hands it the slot
            in_release += time.perf_counter_ns() - before
            await asyncio.sleep(0)  # the granted waiter resumes
            holder = granted.pop()
        elapsed = time.perf_counter_ns() - started
        rounds.append((elapsed / per_round, in_release / per_round))
    # The machine is shared: the fastest round is the least disturbed estimate.
    best = min(rounds)
    result = {
        "n_waiting": n_waiting,
        "waiting_at_end": queue.waiting,
        "ops": per_round * ROUNDS,
        "ns_per_op": round(best[0]),
        "release_ns_per_op": round(best[1]),
        "median_ns_per_op": round(statistics.median(r[0] for r in rounds)),
        "heap_entries_at_end": len(queue._heap),
    }
    holder.release()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks)
    return result


def measure(n_waiting: int, ops: int = 3000) -> dict[str, Any]:
    """Nanoseconds per enqueue + dequeue with ``n_waiting`` requests already waiting."""
    return asyncio.run(_run(n_waiting, ops))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10, 10_000], help="waiting counts to measure"
    )
    args = parser.parse_args()
    measure(10, 300)  # warm up
    results = [measure(n, args.ops) for n in args.sizes]
    base = results[0]["ns_per_op"]
    result = {
        "benchmark": "queue_scale",
        "python": platform.python_version(),
        "platform": sys.platform,
        "results": results,
        "ratio_to_first": {str(r["n_waiting"]): round(r["ns_per_op"] / base, 2) for r in results},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
