"""Request counters per route and status, overall and per fault scope (``GET /_stats``).

They let tests assert how many requests really reached the server (batching,
dedupe, breaker fast-fail, client-side rate limiting), and how many were in
flight at once (``inflight.max``: the client's concurrency limit, seen from the
server). Admin endpoints are not counted. A request whose connection a fault
dropped counts as ``"dropped"``. ``upload_bytes`` (present once non-zero) is
the number of upload (tus PATCH) body bytes the server read.
"""

from __future__ import annotations

from typing import Any

from .storage import Storage

_ROUTES = "stats:routes"
_SCOPES = "stats:scopes"
_INFLIGHT = "stats:inflight"
# scope -> tick of its last request (for forgetting the least recently seen).
_SEEN = "stats:seen"
_CLOCK = "stats:clock"
# Upload body bytes read: field "*" for all requests, else a scope name.
_UPLOAD_BYTES = "stats:upload_bytes"
_ALL = "*"


def _scope_key(scope: str) -> str:
    return f"stats:scope:{scope}"


def _inflight_keys(scope: str | None) -> list[str]:
    return [_INFLIGHT] if scope is None else [_INFLIGHT, f"{_INFLIGHT}:{scope}"]


def _nest(flat: dict[str, str]) -> tuple[dict[str, dict[str, int]], int]:
    routes: dict[str, dict[str, int]] = {}
    total = 0
    for key, raw in flat.items():
        route, _, status = key.rpartition("|")
        routes.setdefault(route, {})[status] = int(raw)
        total += int(raw)
    return dict(sorted(routes.items())), total


class Stats:
    """Counts requests in storage, so several workers add up.

    Per-scope counters are bounded: at most ``max_scopes`` scopes are tracked;
    when a new one would pass that, the least recently seen scope with no
    request in flight is forgotten. A reset forgets the scopes it clears.
    """

    def __init__(self, storage: Storage, *, max_scopes: int = 1_000) -> None:
        self._storage = storage
        self.max_scopes = max_scopes

    def record(self, route: str, status: str, scope: str | None) -> None:
        """Count one request to ``route`` (e.g. ``"GET /api/items"``) ending in ``status``."""
        field = f"{route}|{status}"
        self._storage.hincr(_ROUTES, field)
        if scope is not None:
            self._storage.hincr(_scope_key(scope), field)
            self._storage.hincr(_SCOPES, scope)

    def add_upload_bytes(self, scope: str | None, amount: int) -> None:
        """Count ``amount`` upload body bytes read (overall and in ``scope``)."""
        self._storage.hincr(_UPLOAD_BYTES, _ALL, amount)
        if scope is not None:
            self._storage.hincr(_UPLOAD_BYTES, scope, amount)

    def _with_bytes(self, out: dict[str, Any], field: str) -> dict[str, Any]:
        amount = int(self._storage.hget(_UPLOAD_BYTES, field) or 0)
        if amount:
            out["upload_bytes"] = amount
        return out

    def enter(self, scope: str | None) -> None:
        """A request started: count it in flight (overall and in its scope)."""
        if scope is not None:
            self._touch(scope)
        for key in _inflight_keys(scope):
            self._storage.hincr_max(key, "current", "max")

    def leave(self, scope: str | None) -> None:
        """A request that ``enter`` counted has ended."""
        for key in _inflight_keys(scope):
            self._storage.hincr(key, "current", -1)

    def tracked_scopes(self) -> int:
        """How many scopes have counters now."""
        return self._storage.hlen(_SEEN)

    def _touch(self, scope: str) -> None:
        tick = self._storage.incr(_CLOCK)
        new = self._storage.hget(_SEEN, scope) is None
        self._storage.hset(_SEEN, scope, str(tick))
        if new and self._storage.hlen(_SEEN) > self.max_scopes:
            self._evict(keep=scope)

    def _busy(self, scope: str) -> bool:
        return int(self._storage.hget(_inflight_keys(scope)[-1], "current") or 0) > 0

    def _evict(self, keep: str) -> None:
        seen = self._storage.hgetall(_SEEN)
        over = len(seen) - self.max_scopes
        for name, _ in sorted(seen.items(), key=lambda kv: int(kv[1])):
            if over <= 0:
                break
            if name != keep and not self._busy(name):
                self._forget(name)
                over -= 1

    def _forget(self, scope: str) -> None:
        self._storage.delete(_scope_key(scope), _inflight_keys(scope)[-1])
        self._storage.hdel(_SCOPES, scope)
        self._storage.hdel(_UPLOAD_BYTES, scope)
        self._storage.hdel(_SEEN, scope)

    def _inflight(self, key: str) -> dict[str, int]:
        raw = self._storage.hgetall(key)
        current = max(0, int(raw.get("current", 0)))
        return {"current": current, "max": max(current, int(raw.get("max", 0)))}

    def snapshot(self, scope: str | None = None) -> dict[str, Any]:
        """Everything (``scope=None``) or one scope's counters."""
        if scope is not None:
            routes, total = _nest(self._storage.hgetall(_scope_key(scope)))
            inflight = self._inflight(_inflight_keys(scope)[-1])
            out = {"scope": scope, "total": total, "routes": routes, "inflight": inflight}
            return self._with_bytes(out, scope)
        routes, total = _nest(self._storage.hgetall(_ROUTES))
        scopes = {}
        for name in sorted(self._storage.hgetall(_SCOPES)):
            scope_routes, scope_total = _nest(self._storage.hgetall(_scope_key(name)))
            scopes[name] = self._with_bytes(
                {
                    "total": scope_total,
                    "routes": scope_routes,
                    "inflight": self._inflight(_inflight_keys(name)[-1]),
                },
                name,
            )
        inflight = self._inflight(_INFLIGHT)
        out = {"total": total, "routes": routes, "inflight": inflight, "scopes": scopes}
        return self._with_bytes(out, _ALL)

    def _restart_max(self, key: str) -> None:
        # Requests may still be in flight: keep "current", restart "max" from it.
        current = int(self._storage.hget(key, "current") or 0)
        self._storage.hset(key, "max", str(max(0, current)))

    def reset(self, scope: str | None = None) -> None:
        """Clear everything, or only one scope's counters (the overall ones keep them).

        A cleared scope is forgotten unless a request of it is still in flight
        (then only its ``max`` restarts); a scope never seen leaves no trace.
        """
        names = [scope] if scope is not None else list(self._storage.hgetall(_SEEN))
        if scope is None:
            names += [n for n in self._storage.hgetall(_SCOPES) if n not in names]
            self._storage.delete(_ROUTES, _UPLOAD_BYTES)
            self._restart_max(_INFLIGHT)
        for name in names:
            if self._busy(name):
                self._storage.delete(_scope_key(name))
                self._storage.hdel(_SCOPES, name)
                self._storage.hdel(_UPLOAD_BYTES, name)
                self._restart_max(_inflight_keys(name)[-1])
            else:
                self._forget(name)
