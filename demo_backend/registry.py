"""The fault registry: faults and their hit counters, kept in :mod:`storage`.

Faults are keyed by ``scope|name`` so two scopes may use the same name. Hit
counters are separate hash fields incremented atomically, so ``count`` and
``flaky`` stay exact across threads and worker processes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .faults import Fault, build
from .storage import Storage

_FAULTS = "faults"
_HITS = "faults:hits"
_SEEN = "faults:seen"
_SEQ = "faults:seq"


class DuplicateFault(Exception):
    """A fault with this name already exists in this scope."""


def _field(scope: str | None, name: str) -> str:
    return f"{scope or ''}|{name}"


class FaultRegistry:
    """Add, list, remove and count faults."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def add(self, kind: str, args: dict[str, Any]) -> Fault:
        """Store a new fault; a missing name becomes ``<type>-<n>``."""
        seq = self._storage.incr(_SEQ)
        args = {**args, "id": uuid.uuid4().hex[:16], "seq": seq}
        if args.get("name") is None:
            args["name"] = f"{kind}-{seq}"
        fault = build(kind, **args)
        if not self._storage.hsetnx(
            _FAULTS, _field(fault.scope, fault.name), json.dumps(fault.to_dict())
        ):
            raise DuplicateFault(fault.name)
        return fault

    def all(self) -> list[Fault]:
        """Every fault, oldest first."""
        faults = []
        for raw in self._storage.hgetall(_FAULTS).values():
            data = json.loads(raw)
            faults.append(build(data.pop("type"), **data))
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
        data = json.loads(raw)
        return build(data.pop("type"), **data)

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
            count = len(self._storage.hgetall(_FAULTS))
            self._storage.delete(_FAULTS, _HITS, _SEEN)
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

    def first_seen(self, fault: Fault) -> int:
        """1 for the first matching request this fault sees, 2 for the next, ..."""
        return self._storage.hincr(_SEEN, fault.id)

    def hits(self, fault: Fault) -> int:
        """How many requests this fault has hit."""
        return int(self._storage.hget(_HITS, fault.id) or 0)
