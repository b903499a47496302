"""A tiny event emitter: ``on(name, callback)`` returns an unsubscribe callable.

Payloads are plain JSON-serialisable dicts so they cross to JS unchanged. A
listener that raises is logged and never breaks the request that emitted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._errors import ConfigError

log = logging.getLogger("resilient_fetch")

Listener = Callable[[dict[str, Any]], None]
# What a policy is given to report events: ``emit(name, payload)``.
EventSink = Callable[[str, dict[str, Any]], None]

EVENT_NAMES = frozenset(
    {
        "request",  # a call entered the pipeline
        "response",  # a call finished with an HTTP response
        "error",  # a call finished with a ResilienceError
        "retry",  # an attempt failed and another is scheduled (or refused by the budget)
        "breaker",  # a circuit breaker changed state
        "rate_limited",  # the local limit was hit or the server asked us to slow down
        "queue",  # enqueue / dequeue / reject / timeout / cancel
        "timeout",  # an attempt or total deadline fired
        "network",  # online / offline / unreachable changed: {from, to, reason}
        "outbox",  # an outbox write was queued / sending / sent / dead / discarded
        "*",  # every event, as {"event": name, **payload}
    }
)


class EventEmitter:
    """Named events with per-name listener lists."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def on(self, name: str, callback: Listener) -> Callable[[], None]:
        """Subscribe ``callback`` to ``name``; returns a function that unsubscribes it."""
        if name not in EVENT_NAMES:
            raise ConfigError("event", name, f"one of {sorted(EVENT_NAMES)}")
        if not callable(callback):
            raise ConfigError("callback", callback, "a callable")
        listeners = self._listeners.setdefault(name, [])
        listeners.append(callback)

        def unsubscribe() -> None:
            if callback in listeners:
                listeners.remove(callback)

        return unsubscribe

    def clear(self) -> None:
        """Drop every listener (the client closed: their callbacks are released)."""
        self._listeners.clear()

    def listening(self, name: str) -> bool:
        """True when someone listens to ``name`` (so payloads are worth building)."""
        return bool(self._listeners.get(name) or self._listeners.get("*"))

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Call every listener of ``name`` and of ``*``; listener errors are logged."""
        for callback in tuple(self._listeners.get(name, ())):
            self._call(callback, payload)
        wildcard = self._listeners.get("*")
        if wildcard:
            tagged = {"event": name, **payload}
            for callback in tuple(wildcard):
                self._call(callback, tagged)

    @staticmethod
    def _call(callback: Listener, payload: dict[str, Any]) -> None:
        try:
            callback(payload)
        except Exception:
            log.exception("resilient_fetch event listener failed")
