"""Circuit breaker: pluggable failure strategies, lazy half-open, gated probes.

States::

    closed --strategy.should_open--> open --open_for elapses (on read)--> half_open
    half_open --close_after probe successes--> closed (strategy reset, open_for reset)
    half_open --probe failure--> open (open period * open_backoff_factor, <= max_open_for)
    any --isolate()--> isolated --reset()--> closed

A permit is tagged with the breaker's generation (bumped on every state change),
so an outcome that arrives after the state moved on counts neither way.

Failure rates are compared exactly: the threshold is read as the decimal it was
written as (0.07 is 7/100), so 7 failures in 100 calls reach it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, Protocol

from .. import _validate
from .._clock import Clock, SystemClock
from .._errors import CircuitOpenError, ConfigError
from .._events import EventSink
from ._bounded import BoundedKeys

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
ISOLATED = "isolated"

_EMPTY = -(2**62)  # bucket index of a slot that holds nothing (far below any real index)


def _rate(value: Any) -> tuple[float, int, int]:
    """The threshold, and its numerator and denominator as the decimal written."""
    rate = _validate.number("breaker.threshold", value, low=0.0, low_inclusive=False, high=1.0)
    # repr() is the shortest decimal that reads back as the same float: the user's.
    exact = Fraction(repr(rate))
    return rate, exact.numerator, exact.denominator


class BreakerStrategy(Protocol):
    """Decides when a closed breaker opens, from a stream of call outcomes.

    A strategy may also have ``idle(now) -> bool``: True when it holds no failure
    that matters, so the registry may drop an unused breaker (see BreakerRegistry);
    without it the breaker is only dropped at the registry's ``max_keys`` cap.
    """

    def record(self, success: bool, now: float) -> None:
        """Record one call outcome."""
        ...

    def should_open(self, now: float) -> bool:
        """True when the recorded outcomes say the breaker must open."""
        ...

    def reset(self) -> None:
        """Forget every recorded outcome."""
        ...

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """JSON-serialisable view of the counters (as of ``now`` for time windows)."""
        ...


class ConsecutiveFailures:
    """Open after ``threshold`` failures in a row; any success starts the count again."""

    def __init__(self, threshold: int = 5) -> None:
        self.threshold = _validate.integer("breaker.threshold", threshold, low=1)
        self.failures = 0

    def record(self, success: bool, now: float) -> None:
        """Record one call outcome."""
        self.failures = 0 if success else self.failures + 1

    def should_open(self, now: float) -> bool:
        """True once ``threshold`` consecutive failures were seen."""
        return self.failures >= self.threshold

    def reset(self) -> None:
        """Forget the run of failures."""
        self.failures = 0

    def idle(self, now: float) -> bool:
        """True with no failure in the current run."""
        return self.failures == 0

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The current run of failures."""
        return {
            "strategy": "consecutive",
            "consecutiveFailures": self.failures,
            "threshold": self.threshold,
        }


class CountFailureRate:
    """Open when failures / calls >= ``threshold`` over the last ``size`` calls (>= min_calls)."""

    def __init__(self, threshold: float = 0.5, size: int = 20, min_calls: int = 10) -> None:
        self.threshold, self._num, self._den = _rate(threshold)
        self.size = _validate.integer("breaker.size", size, low=1)
        # More than `size` would never be reached: the breaker could never open.
        self.min_calls = _validate.integer("breaker.min_calls", min_calls, low=1, high=self.size)
        self._window: deque[bool] = deque(maxlen=self.size)
        self._failures = 0

    def record(self, success: bool, now: float) -> None:
        """Record one call outcome, dropping the oldest beyond ``size``."""
        if len(self._window) == self.size and not self._window[0]:
            self._failures -= 1
        self._window.append(success)
        if not success:
            self._failures += 1

    def should_open(self, now: float) -> bool:
        """True when enough calls were seen and the failure rate reaches the threshold."""
        calls = len(self._window)
        return calls >= self.min_calls and self._failures * self._den >= self._num * calls

    def reset(self) -> None:
        """Forget the window."""
        self._window.clear()
        self._failures = 0

    def idle(self, now: float) -> bool:
        """True with no failure in the window."""
        return self._failures == 0

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Calls and failures in the window."""
        calls = len(self._window)
        return {
            "strategy": "count",
            "calls": calls,
            "failures": self._failures,
            "failureRate": self._failures / calls if calls else 0.0,
            "threshold": self.threshold,
            "minCalls": self.min_calls,
            "size": self.size,
        }


class TimeFailureRate:
    """Open when the failure rate over the last ``window`` seconds reaches ``threshold``.

    The window is a ring of ``buckets`` slots, so memory does not grow with traffic;
    the oldest slot expires whole, so the window is exact to ``window / buckets``.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        window: float = 30.0,
        buckets: int = 10,
        min_calls: int = 10,
    ) -> None:
        self.threshold, self._num, self._den = _rate(threshold)
        self.window = _validate.number("breaker.window", window, low=0.0, low_inclusive=False)
        self.buckets = _validate.integer("breaker.buckets", buckets, low=1)
        self.min_calls = _validate.integer("breaker.min_calls", min_calls, low=1)
        self._width = self.window / self.buckets
        # Each slot: [bucket index it holds, calls, failures].
        self._slots = [[_EMPTY, 0, 0] for _ in range(self.buckets)]

    def _index(self, now: float) -> int:
        return math.floor(now / self._width)

    def record(self, success: bool, now: float) -> None:
        """Add the outcome to the bucket for ``now``, recycling a stale slot."""
        index = self._index(now)
        slot = self._slots[index % self.buckets]
        if slot[0] != index:
            slot[0], slot[1], slot[2] = index, 0, 0
        slot[1] += 1
        if not success:
            slot[2] += 1

    def _totals(self, now: float) -> tuple[int, int]:
        oldest = self._index(now) - self.buckets
        calls = failures = 0
        for index, slot_calls, slot_failures in self._slots:
            if index > oldest:
                calls += slot_calls
                failures += slot_failures
        return calls, failures

    def should_open(self, now: float) -> bool:
        """True when enough calls fall in the window and the failure rate reaches threshold."""
        calls, failures = self._totals(now)
        return calls >= self.min_calls and failures * self._den >= self._num * calls

    def reset(self) -> None:
        """Empty every bucket."""
        for slot in self._slots:
            slot[0], slot[1], slot[2] = _EMPTY, 0, 0

    def idle(self, now: float) -> bool:
        """True with no failure in the window as of ``now``."""
        return self._totals(now)[1] == 0

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Calls and failures in the window as of ``now`` (default: the latest bucket)."""
        if now is None:
            latest = max(slot[0] for slot in self._slots)
            now = latest * self._width if latest != _EMPTY else 0.0
        calls, failures = self._totals(now)
        return {
            "strategy": "time",
            "calls": calls,
            "failures": failures,
            "failureRate": failures / calls if calls else 0.0,
            "threshold": self.threshold,
            "minCalls": self.min_calls,
            "window": self.window,
        }


class BreakerPermit:
    """The right to make one call; settle it with exactly one of success/failure/release."""

    __slots__ = ("_breaker", "_generation", "_settled", "probe")

    def __init__(self, breaker: CircuitBreaker, generation: int, probe: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self._settled = False
        self.probe = probe

    def success(self, duration: float | None = None) -> None:
        """The call succeeded; slower than ``slow_call_threshold`` counts as a failure."""
        if not self._settled:
            self._settled = True
            slow = self._breaker._is_slow(duration)
            cause = f"slow call ({duration:.2f} s)" if slow and duration is not None else None
            self._breaker._settle(self, "failure" if slow else "success", cause)

    def failure(self, duration: float | None = None, cause: str | None = None) -> None:
        """The call failed (network error, timeout, 5xx); ``cause`` says how ("HTTP 503")."""
        if not self._settled:
            self._settled = True
            self._breaker._settle(self, "failure", cause)

    def release(self) -> None:
        """Neither outcome (429, caller abort): only frees a half-open probe slot."""
        if not self._settled:
            self._settled = True
            self._breaker._settle(self, "release")


class CircuitBreaker:
    """Fails fast while a dependency is failing, then probes it before trusting it again."""

    def __init__(
        self,
        key: str = "",
        *,
        strategy: BreakerStrategy | None = None,
        open_for: float = 60.0,
        half_open_max_probes: int = 1,
        close_after: int = 2,
        open_backoff_factor: float = 2.0,
        max_open_for: float = 600.0,
        slow_call_threshold: float | None = None,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        if not isinstance(key, str):
            raise ConfigError("breaker.key", key, "a string")
        if strategy is not None and not all(
            callable(getattr(strategy, name, None))
            for name in ("record", "should_open", "reset", "snapshot")
        ):
            raise ConfigError(
                "breaker.strategy", strategy, "an object with record/should_open/reset/snapshot"
            )
        self.key = key
        self.strategy: BreakerStrategy = strategy if strategy is not None else ConsecutiveFailures()
        self.open_for = _validate.number("breaker.open_for", open_for, low=0.0, low_inclusive=False)
        self.half_open_max_probes = _validate.integer(
            "breaker.half_open_max_probes", half_open_max_probes, low=1
        )
        self.close_after = _validate.integer("breaker.close_after", close_after, low=1)
        self.open_backoff_factor = _validate.number(
            "breaker.open_backoff_factor", open_backoff_factor, low=1.0, low_inclusive=True
        )
        self.max_open_for = _validate.number(
            "breaker.max_open_for", max_open_for, low=0.0, low_inclusive=False
        )
        if self.max_open_for < self.open_for:
            raise ConfigError(
                "breaker.max_open_for", max_open_for, f"a number >= open_for ({self.open_for:g})"
            )
        self.slow_call_threshold = (
            None
            if slow_call_threshold is None
            else _validate.number(
                "breaker.slow_call_threshold", slow_call_threshold, low=0.0, low_inclusive=False
            )
        )
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_event = on_event
        self._state = CLOSED
        self._generation = 0
        self._current_open_for = self.open_for
        self._open_until = 0.0
        self._probes = 0
        self._probe_successes = 0
        self._active = 0  # permits not yet settled
        self.last_failure: str | None = None  # what the last failure was ("HTTP 503", "TIMEOUT")

    # -- state -------------------------------------------------------------

    @property
    def state(self) -> str:
        """closed, open, half_open or isolated, as of now (open turns half_open on time)."""
        return self._refresh(self._clock.now())

    def _refresh(self, now: float) -> str:
        if self._state == OPEN and now >= self._open_until:
            self._transition(HALF_OPEN, "timer", now)
        return self._state

    def _transition(self, to: str, reason: str, now: float) -> None:
        was = self._state
        self._state = to
        self._generation += 1
        self._probes = 0
        self._probe_successes = 0
        open_for: float | None = None
        if to == OPEN:
            self._open_until = now + self._current_open_for
            open_for = self._current_open_for
        if self._on_event is not None:
            self._on_event(
                "breaker",
                {
                    "key": self.key,
                    "from": was,
                    "to": to,
                    "at": now,
                    "openFor": open_for,
                    "reason": reason,
                },
            )

    def retry_after(self) -> float | None:
        """Seconds until the breaker half-opens; 0 when not open; None when isolated."""
        now = self._clock.now()
        state = self._refresh(now)
        if state == ISOLATED:
            return None
        if state == OPEN:
            return self._open_until - now
        return 0.0

    @property
    def in_use(self) -> bool:
        """True while dropping this breaker would lose state: not closed, or calls in flight."""
        return self._state != CLOSED or self._active > 0

    @property
    def idle(self) -> bool:
        """True when a new breaker would behave the same: closed, nothing in flight, and
        the strategy holds no failure (one without ``idle()`` is never idle)."""
        if self.in_use:
            return False
        idle = getattr(self.strategy, "idle", None)
        return callable(idle) and bool(idle(self._clock.now()))

    # -- calls -------------------------------------------------------------

    def acquire(self) -> BreakerPermit:
        """A permit to call, or ``CircuitOpenError`` when the call must fail fast."""
        if self._state == CLOSED:
            self._active += 1
            return BreakerPermit(self, self._generation, False)
        now = self._clock.now()
        state = self._refresh(now)
        if state == HALF_OPEN and self._probes < self.half_open_max_probes:
            self._probes += 1
            self._active += 1
            return BreakerPermit(self, self._generation, True)
        retry_after = self._open_until - now if state == OPEN else None
        why = f" (last failure: {self.last_failure})" if self.last_failure else ""
        raise CircuitOpenError(
            f"circuit {self.key or '<default>'} is {state}{why}",
            key=self.key,
            state=state,
            retry_after=retry_after,
            last_failure=self.last_failure,
        )

    def _is_slow(self, duration: float | None) -> bool:
        threshold = self.slow_call_threshold
        return threshold is not None and duration is not None and duration > threshold

    def _settle(self, permit: BreakerPermit, outcome: str, cause: str | None = None) -> None:
        self._active -= 1
        if permit._generation != self._generation:
            return  # the breaker changed state since: a stale outcome counts neither way
        now = self._clock.now()
        if outcome == "failure":
            self.last_failure = cause
        if not permit.probe:
            if outcome == "release":
                return
            self.strategy.record(outcome == "success", now)
            if self.strategy.should_open(now):
                self._current_open_for = self.open_for
                self._transition(OPEN, "failures", now)
            return
        self._probes -= 1
        if outcome == "success":
            self._probe_successes += 1
            if self._probe_successes >= self.close_after:
                self.strategy.reset()
                self._current_open_for = self.open_for
                self._transition(CLOSED, "probe_succeeded", now)
        elif outcome == "failure":
            self._current_open_for = min(
                self._current_open_for * self.open_backoff_factor, self.max_open_for
            )
            self._transition(OPEN, "probe_failed", now)

    # -- manual control ----------------------------------------------------

    def isolate(self) -> None:
        """Hold the breaker open until ``reset()``."""
        if self._state != ISOLATED:
            self._transition(ISOLATED, "isolated", self._clock.now())

    def reset(self) -> None:
        """Close the breaker and clear every counter and the grown open period."""
        self.strategy.reset()
        self._current_open_for = self.open_for
        if self._state != CLOSED:
            self._transition(CLOSED, "reset", self._clock.now())

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state for ``client.state()``."""
        now = self._clock.now()
        state = self._refresh(now)
        is_open = state == OPEN
        return {
            "key": self.key,
            "state": state,
            "failures": self.strategy.snapshot(now),
            "openFor": self._current_open_for,
            "openUntil": self._open_until if is_open else None,
            "retryAfter": self._open_until - now if is_open else None,
            "probesInFlight": self._probes,
            "probeSuccesses": self._probe_successes,
            "lastFailure": self.last_failure,
        }


class BreakerRegistry:
    """One breaker per key (origin by default), created on first use by ``factory``.

    Bounded: a breaker that is idle (closed, no call in flight, no failure recorded)
    and unused for a second is dropped as new keys arrive, and ``prune()`` drops
    every idle one now. At ``max_keys`` a new key evicts the least recently used
    breaker that is closed with no call in flight, forgetting its failures. An open,
    half-open or isolated breaker, or one with calls in flight, is never evicted, so
    only such breakers can take the count past ``max_keys``. ``clock`` (the one the
    breakers use) times how recently a key was used.
    """

    def __init__(
        self,
        factory: Callable[[str], CircuitBreaker],
        *,
        max_keys: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if not callable(factory):
            raise ConfigError("breaker.factory", factory, "a callable key -> CircuitBreaker")
        self._factory = factory
        self.max_keys = _validate.integer("breaker.max_keys", max_keys, low=1)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._breakers: BoundedKeys[CircuitBreaker] = BoundedKeys(
            self.max_keys, pinned=_in_use, idle=_idle
        )

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for ``key``, created if needed."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers.insert(key, self._factory(key), self._clock.now())
        return breaker

    def prune(self) -> int:
        """Drop every idle breaker now; returns how many were dropped."""
        now = self._clock.now()
        return self._breakers.sweep(now, now)

    def items(self) -> Iterator[tuple[str, CircuitBreaker]]:
        """(key, breaker) pairs, least recently used first."""
        return self._breakers.items()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._breakers.peek(key) is not None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every breaker's snapshot, by key."""
        return {key: breaker.snapshot() for key, breaker in self._breakers.items()}


def _in_use(breaker: CircuitBreaker, now: float) -> bool:
    return breaker.in_use


def _idle(breaker: CircuitBreaker, now: float) -> bool:
    return breaker.idle
