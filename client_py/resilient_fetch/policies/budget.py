"""Retry budget (Finagle's RetryBudget): retries may add only a fraction on top of a floor.

Over the last ``ttl`` seconds the budget allows

    min_per_second * ttl  +  ratio * (original requests)  -  (retries already made)

more retries. Requests and retries are counted in ``buckets`` time buckets (a
ring, so memory is bounded); a bucket older than ``ttl`` no longer counts, so
the window slides in steps of ``ttl / buckets``. Counts are integers and the
balance is computed in one expression, so no float error builds up.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from .._clock import Clock, SystemClock
from .._errors import ConfigError

# A balance of 0.9999999999 is a full retry that lost a bit to float rounding.
_EPSILON = 1e-9


class RetryBudget:
    """Allows a retry only while retries stay within floor + ratio of recent requests."""

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        ttl: float = 10.0,
        *,
        clock: Clock | None = None,
        buckets: int = 10,
    ) -> None:
        self.ratio = _validate.number("budget.ratio", ratio, high=1000.0)
        self.min_per_second = _validate.number("budget.min_per_second", min_per_second)
        self.ttl = _validate.number("budget.ttl", ttl, low_inclusive=False)
        if self.ttl == 0:
            raise ConfigError("budget.ttl", ttl, "seconds > 0")
        if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= 1000:
            raise ConfigError("budget.buckets", buckets, "an int in [1, 1000]")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._width = self.ttl / buckets
        self._reserve = self.min_per_second * self.ttl
        # Per ring slot: the absolute bucket number it holds, its requests and its retries.
        self._epoch = [-(2**62)] * buckets
        self._requests = [0] * buckets
        self._retries = [0] * buckets
        self._current = 0

    def record_request(self) -> None:
        """Count one original request (it deposits ``ratio`` of a retry)."""
        self._requests[self._slot()] += 1

    def try_withdraw(self) -> bool:
        """Spend one retry if the balance allows it; False means do not retry."""
        slot = self._slot()
        if self._balance() < 1 - _EPSILON:
            return False
        self._retries[slot] += 1
        return True

    def refund(self) -> bool:
        """Return one withdrawn retry that was not made (e.g. refused for the deadline).

        Takes it back from the newest bucket still in the window that holds a retry;
        False (and nothing changes) when no withdrawn retry is left to return.
        """
        self._slot()
        current, ring = self._current, len(self._epoch)
        for back in range(ring):
            slot = (current - back) % ring
            if self._epoch[slot] == current - back and self._retries[slot] > 0:
                self._retries[slot] -= 1
                return True
        return False

    def balance(self) -> float:
        """How many retries the budget would allow right now (may be fractional)."""
        self._slot()
        return max(0.0, self._balance())

    def snapshot(self) -> dict[str, Any]:
        """Plain data: balance, requests and retries in the window, and the settings."""
        self._slot()
        requests, retries = self._totals()
        return {
            "balance": math.floor(max(0.0, self._balance()) + _EPSILON),
            "requests": requests,
            "retries": retries,
            "ratio": self.ratio,
            "minPerSecond": self.min_per_second,
            "ttl": self.ttl,
        }

    def _slot(self) -> int:
        """The ring slot for now, emptied first if it still holds an expired bucket."""
        epoch = math.floor(self._clock.now() / self._width)
        slot = epoch % len(self._epoch)
        if self._epoch[slot] != epoch:
            self._epoch[slot] = epoch
            self._requests[slot] = 0
            self._retries[slot] = 0
        self._current = epoch
        return slot

    def _totals(self) -> tuple[int, int]:
        oldest = self._current - len(self._epoch)
        requests = retries = 0
        for slot, epoch in enumerate(self._epoch):
            if oldest < epoch <= self._current:
                requests += self._requests[slot]
                retries += self._retries[slot]
        return requests, retries

    def _balance(self) -> float:
        requests, retries = self._totals()
        return self._reserve + self.ratio * requests - retries
