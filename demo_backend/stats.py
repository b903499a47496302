"""Request counters per route and status, overall and per fault scope (``GET /_stats``).

They let tests assert how many requests really reached the server (batching,
dedupe, breaker fast-fail, client-side rate limiting), and how many were in
flight at once (``inflight.max``: the client's concurrency limit, seen from the
server). Admin endpoints are not counted. A request whose connection a fault
dropped counts as ``"dropped"``.
"""

from __future__ import annotations

from typing import Any

from .storage import Storage

_ROUTES = "stats:routes"
_SCOPES = "stats:scopes"
_INFLIGHT = "stats:inflight"


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
    """Counts requests in storage, so several workers add up."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def record(self, route: str, status: str, scope: str | None) -> None:
        """Count one request to ``route`` (e.g. ``"GET /api/items"``) ending in ``status``."""
        field = f"{route}|{status}"
        self._storage.hincr(_ROUTES, field)
        if scope is not None:
            self._storage.hincr(_scope_key(scope), field)
            self._storage.hincr(_SCOPES, scope)

    def enter(self, scope: str | None) -> None:
        """A request started: count it in flight (overall and in its scope)."""
        for key in _inflight_keys(scope):
            self._storage.hincr_max(key, "current", "max")

    def leave(self, scope: str | None) -> None:
        """A request that ``enter`` counted has ended."""
        for key in _inflight_keys(scope):
            self._storage.hincr(key, "current", -1)

    def _inflight(self, key: str) -> dict[str, int]:
        raw = self._storage.hgetall(key)
        return {"current": int(raw.get("current", 0)), "max": int(raw.get("max", 0))}

    def snapshot(self, scope: str | None = None) -> dict[str, Any]:
        """Everything (``scope=None``) or one scope's counters."""
        if scope is not None:
            routes, total = _nest(self._storage.hgetall(_scope_key(scope)))
            inflight = self._inflight(_inflight_keys(scope)[-1])
            return {"scope": scope, "total": total, "routes": routes, "inflight": inflight}
        routes, total = _nest(self._storage.hgetall(_ROUTES))
        scopes = {}
        for name in sorted(self._storage.hgetall(_SCOPES)):
            scope_routes, scope_total = _nest(self._storage.hgetall(_scope_key(name)))
            scopes[name] = {
                "total": scope_total,
                "routes": scope_routes,
                "inflight": self._inflight(_inflight_keys(name)[-1]),
            }
        inflight = self._inflight(_INFLIGHT)
        return {"total": total, "routes": routes, "inflight": inflight, "scopes": scopes}

    def _restart_max(self, key: str) -> None:
        # Requests may still be in flight: keep "current", restart "max" from it.
        current = int(self._storage.hget(key, "current") or 0)
        self._storage.hset(key, "max", str(max(0, current)))

    def reset(self, scope: str | None = None) -> None:
        """Clear everything, or only one scope's counters (the overall ones keep them)."""
        if scope is not None:
            self._storage.delete(_scope_key(scope))
            self._storage.hdel(_SCOPES, scope)
            self._restart_max(_inflight_keys(scope)[-1])
            return
        names = list(self._storage.hgetall(_SCOPES))
        self._storage.delete(_ROUTES, _SCOPES, *(_scope_key(n) for n in names))
        for key in {_INFLIGHT, *(_inflight_keys(n)[-1] for n in names)}:
            self._restart_max(key)
