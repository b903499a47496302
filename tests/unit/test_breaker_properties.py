"""Property tests: under any interleaving, a half-open breaker never has more probes in
flight than allowed, admits one whenever a slot is free, and never lets a call through
while open."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_fetch import CircuitOpenError, FakeClock
from resilient_fetch.policies.breaker import BreakerPermit, CircuitBreaker, ConsecutiveFailures
from unit._support import examples, run

# Weighted so that runs often open, half-open and contend for probe slots (isolate is
# rare and reset common, or a run would spend most of its steps isolated).
OPS = (
    ["acquire"] * 6
    + ["failure"] * 4
    + ["success"] * 2
    + ["release", "slow"]
    + ["advance"] * 3
    + ["reset"] * 2
    + ["isolate"]
)
ops = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 50)),
    min_size=40,
    max_size=150,
)


@settings(max_examples=examples(100), deadline=None)
@given(
    max_probes=st.integers(1, 3),
    close_after=st.integers(1, 3),
    threshold=st.integers(1, 3),
    open_for=st.sampled_from([1.0, 2.5, 5.0]),
    steps=ops,
)
def test_probes_in_flight_never_exceed_the_limit(
    max_probes: int,
    close_after: int,
    threshold: int,
    open_for: float,
    steps: list[tuple[str, int]],
) -> None:
    async def main() -> None:
        clock = FakeClock()
        episode = 0  # bumped on every entry into half-open, seen through events

        def on_event(name: str, payload: dict[str, Any]) -> None:
            nonlocal episode
            if payload["to"] == "half_open":
                episode += 1

        breaker = CircuitBreaker(
            strategy=ConsecutiveFailures(threshold),
            open_for=open_for,
            max_open_for=open_for * 4,
            half_open_max_probes=max_probes,
            close_after=close_after,
            slow_call_threshold=1.0,
            clock=clock,
            on_event=on_event,
        )
        outstanding: list[tuple[BreakerPermit, int | None]] = []  # (permit, probe episode)

        def probes_in_flight() -> int:
            return sum(1 for _, ep in outstanding if ep == episode)

        for op, arg in steps:
            if op == "acquire":
                state = breaker.state
                in_flight = probes_in_flight()
                try:
                    permit = breaker.acquire()
                except CircuitOpenError as exc:
                    assert exc.state == state
                    assert state != "closed"
                    assert not (state == "half_open" and in_flight < max_probes)
                    if state == "open":
                        assert 0 < (exc.retry_after or 0) <= open_for * 4
                else:
                    assert state in ("closed", "half_open")
                    assert permit.probe == (state == "half_open")
                    outstanding.append((permit, episode if permit.probe else None))
            elif op in ("success", "failure", "release", "slow") and outstanding:
                permit, _ = outstanding.pop(arg % len(outstanding))
                if op == "slow":
                    permit.success(duration=2.0)
                else:
                    getattr(permit, op)()
            elif op == "advance":
                await clock.advance((arg % 13) / 2)
            elif op == "isolate":
                breaker.isolate()
            elif op == "reset":
                breaker.reset()
            snap = breaker.snapshot()
            assert snap["probesInFlight"] <= max_probes
            if snap["state"] == "half_open":
                assert snap["probesInFlight"] == probes_in_flight()
            else:
                assert snap["probesInFlight"] == 0

    run(main())
