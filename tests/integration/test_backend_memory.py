"""Tracked state stays flat over 10,000 requests with fresh scopes and idempotency keys.

Counts what the backend keeps (storage keys and hash fields, the idempotency
order, the built-fault cache), not RSS: RSS is measured by
``bench/backend_memory.py``, which is a benchmark, not a test.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from demo_backend import create_app
from demo_backend.storage import MemoryStorage


def tracked(app: Flask) -> int:
    """Everything the app holds per request-derived key."""
    storage: MemoryStorage = app.extensions["storage"]
    injector: Any = app.extensions["fault_injector"]
    return (
        len(storage._values)
        + sum(len(fields) for fields in storage._hashes.values())
        + len(storage._hashes)
        + len(storage._named_locks)
        + app.extensions["idempotency"].tracked_keys()
        + len(injector.registry._built)
    )


def test_tracked_state_is_flat_over_10000_requests_with_fresh_scopes_and_keys() -> None:
    app = create_app(
        {
            "TESTING": True,
            "FAULTS": True,
            "ACCESS_LOG": False,
            "STATS_MAX_SCOPES": 50,
            "IDEMPOTENCY_MAX_KEYS": 50,
        }
    )
    client = app.test_client()
    client.post("/api/items", json={"name": "target"})
    sizes = []
    for i in range(10_000):
        scope = {"X-Fault-Scope": f"scope-{i}"}
        if i % 3 == 0:
            client.patch(
                "/api/items/1",
                json={"done": bool(i % 2)},
                headers={**scope, "Idempotency-Key": f"key-{i}"},
            )
        elif i % 3 == 1:
            client.get("/health/live", headers=scope)
        else:  # resetting a scope nobody used must leave nothing behind either
            client.post(f"/_faults/reset?scope=unused-{i}")
        if i % 2_000 == 1_999:
            sizes.append(tracked(app))
    # Flat once the caps are reached: no growth after the first 2,000 requests.
    assert max(sizes) == min(sizes), sizes
    assert sizes[-1] < 1_000  # about 9 entries per tracked scope or key
    client.post("/_faults/reset")
    assert tracked(app) < sizes[-1]
