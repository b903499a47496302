"""The fault registry: faults and their hit counters, kept in :mod:`storage`.

Faults are keyed by ``scope|name`` so two scopes may use the same name. Hit
counters are separate hash fields incremented atomically, so ``count`` and
``flaky`` stay exact across threads and worker processes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from .faults import Fault, build
from .storage import Storage

_FAULTS = "faults"
_HITS = "faults:hits"
_SEEN = "faults:seen"
_SEQ = "faults:seq"
_SPENT = "faults:spent"
# A request loads the faults, then may wait (latency, hang) before counting a
# hit on a later one: a used-up fault's counter outlives it by this much.
SPENT_GRACE_S = 180.0


class DuplicateFault(Exception):
    """A fault with this name already exists in this scope."""


class TooManyFaults(Exception):
    """Adding a fault would pass ``FAULTS_MAX`` or ``FAULTS_MAX_PER_SCOPE``."""

    def __init__(self, limit: int, per_scope: bool) -> None:
        where = "in this scope" if per_scope else "in all"
        super().__init__(f"at most {limit} faults {where}: remove some or reset")
        self.limit = limit
        self.per_scope = per_scope


def _field(scope: str | None, name: str) -> str:
    return f"{scope or ''}|{name}"


class FaultRegistry:
    """Add, list, remove and count faults."""

    def __init__(
        self, storage: Storage, *, max_faults: int = 1_000, max_per_scope: int = 100
    ) -> None:
        self._storage = storage
        self.max_faults = max_faults
        self.max_per_scope = max_per_scope
        # Stored JSON -> built Fault: every request lists the faults, and building
        # one (a dataclass and a compiled glob) costs more than looking it up.
        self._built: dict[str, Fault] = {}
        self._built_lock = threading.Lock()

    def add(self, kind: str, args: dict[str, Any]) -> Fault:
        """Store a new fault; a missing name becomes ``<type>-<n>``."""
        with self._storage.lock(_FAULTS):
            stored = self._storage.hgetall(_FAULTS)
            if len(stored) >= self.max_faults:
                raise TooManyFaults(self.max_faults, per_scope=False)
            prefix = _field(args.get("scope"), "")
            if sum(1 for key in stored if key.startswith(prefix)) >= self.max_per_scope:
                raise TooManyFaults(self.max_per_scope, per_scope=True)
            seq = self._storage.incr(_SEQ)
            args = {**args, "id": uuid.uuid4().hex[:16], "seq": seq}
            if args.get("name") is None:
                args["name"] = f"{kind}-{seq}"
            fault = build(kind, **args)
            if not self._storage.hsetnx(
                _FAULTS, _field(fault.scope, fault.name), json.dumps(fault.to_dict())
            ):
                raise DuplicateFault(fault.name)
            self._purge_spent()
            return fault

    def _load(self, raw: str) -> Fault:
        fault = self._built.get(raw)
        if fault is None:
            data = json.loads(raw)
            fault = build(data.pop("type"), **data)
        return fault

    def all(self) -> list[Fault]:
        """Every fault, oldest first."""
        raws = list(self._storage.hgetall(_FAULTS).values())
        with self._built_lock:
            faults = [self._load(raw) for raw in raws]
            # Keep only what is stored now, so the cache is as bounded as the registry.
            self._built = dict(zip(raws, faults, strict=True))
        return sorted(faults, key=lambda f: f.seq)

    def visible_to(self, scope: str | None) -> list[Fault]:
        """The faults a request with this X-Fault-Scope sees: its scope's plus global ones."""
        return [f for f in self.all() if f.visible_to(scope)]

    def in_scope(self, scope: str | None) -> list[Fault]:
        """Exactly the faults of one scope (None: the global ones)."""
        return [f for f in self.all() if f.scope == scope]

    def get(self, name: str, scope: str | None) -> Fault | None:
        """One fault by name within a scope."""
        raw = self._storage.hget(_FAULTS, _field(scope, name))
        if raw is None:
            return None
        with self._built_lock:
            return self._load(raw)

    def remove(self, name: str, scope: str | None) -> bool:
        """Delete a fault; False if it did not exist."""
        fault = self.get(name, scope)
        if fault is None:
            return False
        self._forget(fault)
        return True

    def _forget(self, fault: Fault) -> None:
        # Only delete if the slot still holds this very fault, not a newer one of the same name.
        current = self.get(fault.name, fault.scope)
        if current is not None and current.id == fault.id:
            self._storage.hdel(_FAULTS, _field(fault.scope, fault.name))
        self._storage.hdel(_HITS, fault.id)
        self._storage.hdel(_SEEN, fault.id)

    def reset(self, scope: str | None = None, *, everything: bool = True) -> int:
        """Remove all faults (``everything``) or just one scope's; returns how many."""
        if everything:
            count = self._storage.hlen(_FAULTS)
            self._storage.delete(_FAULTS, _HITS, _SEEN, _SPENT)
            return count
        doomed = self.in_scope(scope)
        for fault in doomed:
            self._forget(fault)
        return len(doomed)

    def take_hit(self, fault: Fault) -> bool:
        """Count one hit; False once ``count`` is used up (the fault is then removed)."""
        hits = self._storage.hincr(_HITS, fault.id)
        if fault.count is None:
            return True
        if hits >= fault.count:
            self._drop_definition(fault)
        return hits <= fault.count

    def _drop_definition(self, fault: Fault) -> None:
        # Used up: remove the fault but keep its hit counter, so a request that
        # loaded the fault just before still sees hits > count and passes.
        current = self.get(fault.name, fault.scope)
        if current is not None and current.id == fault.id:
            self._storage.hdel(_FAULTS, _field(fault.scope, fault.name))
        # ...but not for ever: _purge_spent() drops it once no request can hold the fault.
        self._storage.hsetnx(_SPENT, fault.id, str(time.time()))

    def _purge_spent(self) -> None:
        spent = self._storage.hgetall(_SPENT)
        cutoff = time.time() - SPENT_GRACE_S
        doomed = [fid for fid, when in spent.items() if float(when) < cutoff]
        if len(spent) - len(doomed) > self.max_faults:  # many spent at once: oldest go first
            rest = sorted((float(w), f) for f, w in spent.items() if f not in set(doomed))
            doomed += [f for _, f in rest[: len(rest) - self.max_faults]]
        if doomed:
            for key in (_HITS, _SEEN, _SPENT):
                self._storage.hdel(key, *doomed)

    def first_seen(self, fault: Fault) -> int:
        """1 for the first matching request this fault sees, 2 for the next, ..."""
        return self._storage.hincr(_SEEN, fault.id)

    def hits(self, fault: Fault) -> int:
        """How many requests this fault has hit."""
        return int(self._storage.hget(_HITS, fault.id) or 0)
