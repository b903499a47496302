"""Per-key state with a bound: idle entries are swept, the rest capped at ``max_keys``.

Used by the breaker registry and the rate limiter, which keep one entry per origin
(or per rule and origin); without a bound a client that talks to many hosts grows
without end. The owner says what an entry's state means through two predicates:

- ``pinned(value, now)``: evicting it would lose something callers rely on (an
  open breaker, a server cooldown, waiters). Pinned entries are never evicted.
- ``idle(value, now)``: a fresh entry would behave exactly the same.

Every ``max(sweep_every, size after the last sweep)`` inserts, a sweep drops the
idle entries not used in the last ``grace`` seconds (so a fast rotation over many
keys is not re-created on every use). A use is recorded as the sweep period it fell
in, not as a clock reading, so a lookup costs no clock call; an entry counts as
used until the end of its period, which only makes it look more recent.

At ``max_keys`` an insert evicts the least recently used entry that is not pinned;
pinned ones met on the way are set aside until the next sweep, so each insert does
amortised O(1) work. Only pinned entries can take the count past ``max_keys``
(plus, when every other entry is pinned, the one just inserted).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")

SWEEP_EVERY = 64
IDLE_GRACE = 1.0


class _Entry(Generic[V]):
    __slots__ = ("period", "value")

    def __init__(self, value: V, period: int) -> None:
        self.value = value
        self.period = period  # the sweep period of its last use


class BoundedKeys(Generic[V]):
    """An LRU map of per-key values that evicts idle and, at the cap, unpinned entries."""

    def __init__(
        self,
        max_keys: int,
        *,
        pinned: Callable[[V, float], bool],
        idle: Callable[[V, float], bool],
        sweep_every: int = SWEEP_EVERY,
        grace: float = IDLE_GRACE,
    ) -> None:
        self.max_keys = max_keys
        self._pinned = pinned
        self._idle = idle
        self._sweep_every = sweep_every
        self._grace = grace
        # Least recently used first. Entries found pinned at the cap wait in `_held`
        # (not in LRU order) until the next sweep looks at them again.
        self._lru: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._held: dict[str, _Entry[V]] = {}
        self._inserts = 0
        self._sweep_after = sweep_every
        self._period = 0
        self._period_ends: dict[int, float] = {}  # when each past period ended

    def __len__(self) -> int:
        return len(self._lru) + len(self._held)

    def get(self, key: str) -> V | None:
        """The value for ``key`` (marked as used now), or None."""
        entry = self._lru.get(key)
        if entry is not None:
            self._lru.move_to_end(key)
        else:
            entry = self._held.get(key)
            if entry is None:
                return None
        entry.period = self._period
        return entry.value

    def peek(self, key: str) -> V | None:
        """The value for ``key`` without marking it used, or None."""
        entry = self._lru.get(key) or self._held.get(key)
        return None if entry is None else entry.value

    def insert(self, key: str, value: V, now: float) -> V:
        """Add a new key (absent before), first making room as described above."""
        self._inserts += 1
        if self._inserts >= self._sweep_after:
            self.sweep(now, now - self._grace)
        if len(self) >= self.max_keys:
            self._evict_one(now)
        self._lru[key] = _Entry(value, self._period)
        return value

    def items(self) -> Iterator[tuple[str, V]]:
        """(key, value) pairs, least recently used first (set-aside entries last)."""
        pairs = [(k, e.value) for k, e in self._lru.items()]
        pairs.extend((k, e.value) for k, e in self._held.items())
        return iter(pairs)

    def sweep(self, now: float, unused_since: float) -> int:
        """Drop idle entries unused after ``unused_since``, then enforce the cap.

        Returns how many idle entries were dropped.
        """
        lru = self._lru
        for key, entry in self._held.items():  # back into the running, oldest use first
            lru[key] = entry
        self._held = {}
        idle, ends, current = self._idle, self._period_ends, self._period
        stale = [
            key
            for key, entry in lru.items()
            if (ends[entry.period] if entry.period != current else now) <= unused_since
            and idle(entry.value, now)
        ]
        for key in stale:
            del lru[key]
        if len(stale) > len(lru):
            # A dict never shrinks its table: copy what is left so memory is returned.
            self._lru = lru = OrderedDict(lru)
        while len(self) > self.max_keys and lru:
            self._evict_one(now)
        self._inserts = 0
        self._sweep_after = max(self._sweep_every, len(self))
        # A new period starts; keep the end times of periods some entry still names.
        ends[current] = now
        live = {entry.period for entry in lru.values()}
        live.update(entry.period for entry in self._held.values())
        self._period_ends = {period: ends[period] for period in live if period in ends}
        self._period = current + 1
        return len(stale)

    def _evict_one(self, now: float) -> None:
        lru, pinned = self._lru, self._pinned
        while lru:
            key, entry = lru.popitem(last=False)
            if not pinned(entry.value, now):
                return
            self._held[key] = entry
