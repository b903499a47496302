"""Counters per outcome and latency percentiles per route, in bounded memory.

Latencies go into log-spaced buckets (about 4 % relative error), HdrHistogram
style, so a route's histogram stays a few hundred integers however long the
page lives; the number of routes tracked is capped (least recently used out).
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from typing import Any
from urllib.parse import urlsplit

_GROWTH = 1.04
_LOG_GROWTH = math.log(_GROWTH)
_MIN_MS = 0.01
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{16,})$")


def route_of(method: str, url: str, path: str | None = None) -> str:
    """``GET http://h/api/items/42?x`` -> ``GET /api/items/:id`` (ids folded, query dropped).

    ``path``: the URL's path when the caller has already split it.
    """
    if path is None:
        path = urlsplit(url).path
    path = path or "/"
    parts = [":id" if _ID_SEGMENT.match(p) else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


class Histogram:
    """Log-bucketed latency histogram in milliseconds."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, ms: float) -> None:
        """Add one sample."""
        ms = max(ms, _MIN_MS)
        self.buckets[int(math.log(ms / _MIN_MS) / _LOG_GROWTH)] += 1
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100), or None without samples."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                upper = _MIN_MS * _GROWTH ** (index + 1)
                return round(min(max(upper, self.min), self.max), 3)
        return round(self.max, 3)

    def snapshot(self) -> dict[str, Any]:
        """count, mean, min, max, p50, p95, p99 in ms."""
        return {
            "count": self.count,
            "meanMs": round(self.total / self.count, 3) if self.count else None,
            "minMs": round(self.min, 3) if self.count else None,
            "maxMs": round(self.max, 3) if self.count else None,
            "p50Ms": self.percentile(50),
            "p95Ms": self.percentile(95),
            "p99Ms": self.percentile(99),
        }


class Metrics:
    """Outcome counters and per-route latency histograms."""

    def __init__(self, max_routes: int = 200) -> None:
        self.max_routes = max_routes
        self.outcomes: Counter[str] = Counter()
        self.routes: OrderedDict[str, Histogram] = OrderedDict()

    def count(self, outcome: str, n: int = 1) -> None:
        """Increment an outcome counter (``success``, ``http_5xx``, ``CIRCUIT_OPEN``...)."""
        self.outcomes[outcome] += n

    def observe(self, route: str, ms: float) -> None:
        """Record one call's latency for ``route``."""
        hist = self.routes.get(route)
        if hist is None:
            hist = self.routes[route] = Histogram()
            if len(self.routes) > self.max_routes:
                self.routes.popitem(last=False)
        else:
            self.routes.move_to_end(route)
        hist.record(ms)

    def snapshot(self) -> dict[str, Any]:
        """Counters and per-route latency summaries."""
        return {
            "outcomes": dict(self.outcomes),
            "latency": {route: h.snapshot() for route, h in self.routes.items()},
        }
