"""``Idempotency-Key`` for creates and updates: apply once, replay the first response.

A key is claimed with an atomic "pending" marker (``Storage.add``, i.e. Redis
``SET NX``), so concurrent duplicates -- in this process or another worker --
apply once. A duplicate that arrives while the first is still running waits up
to ``IDEMPOTENCY_WAIT_S`` and then replays its response; if the first is still
running after that, it gets ``409 idempotency_in_progress`` with ``Retry-After``.
The same key with a different method, path or body is a ``422``. Every first
response below 500 is recorded (validation errors too); a 5xx is not (the
marker is dropped), so a retry runs the request again.
Keys live ``IDEMPOTENCY_TTL_S`` (24 h); in memory mode at most
``IDEMPOTENCY_MAX_KEYS`` are kept, the oldest dropped first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, request

from .errors import error, header, read_body
from .storage import Storage

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# A worker that dies mid-request must not block its key for 24 h.
PENDING_TTL_S = 60.0
POLL_S = 0.02
_KEPT_HEADERS = ("Content-Type", "Location")

F = TypeVar("F", bound=Callable[..., Any])


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of what the key promises: same method, path and (canonical JSON) body."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class IdempotencyStore:
    """Claims keys, records first responses and replays them."""

    def __init__(
        self, storage: Storage, ttl_s: float, wait_s: float, max_keys: int = 10_000
    ) -> None:
        self._storage = storage
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.max_keys = max_keys
        # Memory mode only: keys in the order they were first claimed, so the
        # oldest record goes first past max_keys. Redis expires them by TTL.
        self._order: OrderedDict[str, None] | None = (
            OrderedDict() if storage.kind == "memory" else None
        )
        self._order_lock = threading.Lock()

    def tracked_keys(self) -> int:
        """How many keys this process tracks (memory mode; 0 with Redis)."""
        return len(self._order) if self._order is not None else 0

    def _claimed(self, skey: str) -> None:
        if self._order is None:
            return
        with self._order_lock:
            self._order[skey] = None
            self._order.move_to_end(skey)
            doomed = []
            while len(self._order) > self.max_keys:
                doomed.append(self._order.popitem(last=False)[0])
        if doomed:
            self._storage.delete(*doomed)

    def run(self, key: str, fp: str, call: Callable[[], Response]) -> Response:
        """Run ``call`` once per key; duplicates get the recorded response."""
        skey = "idem:" + key
        deadline = time.monotonic() + self.wait_s
        pending = json.dumps({"state": "pending", "fp": fp})
        while not self._storage.add(skey, pending, ttl_s=PENDING_TTL_S):
            raw = self._storage.get(skey)
            if raw is None:
                continue  # the holder failed with a 5xx and released the key: claim it
            record = json.loads(raw)
            if record["fp"] != fp:
                return _respond(
                    error(
                        422,
                        "idempotency_key_reused",
                        f"{HEADER} was already used with a different request",
                        field=HEADER,
                    )
                )
            if record["state"] == "done":
                return _replay(record)
            if time.monotonic() >= deadline:
                resp = _respond(
                    error(
                        409,
                        "idempotency_in_progress",
                        f"a request with this {HEADER} is still being processed",
                        field=HEADER,
                    )
                )
                resp.headers["Retry-After"] = "1"
                return resp
            time.sleep(POLL_S)
        self._claimed(skey)
        try:
            resp = call()
        except BaseException:
            self._storage.delete(skey)
            raise
        if resp.status_code >= 500:
            self._storage.delete(skey)
            return resp
        record = {
            "state": "done",
            "fp": fp,
            "status": resp.status_code,
            "body": resp.get_data(as_text=True),
            "headers": {h: resp.headers[h] for h in _KEPT_HEADERS if h in resp.headers},
        }
        self._storage.set(skey, json.dumps(record), ttl_s=self.ttl_s)
        return resp


def _respond(rv: Any) -> Response:
    return current_app.make_response(rv)


def _replay(record: dict[str, Any]) -> Response:
    resp = Response(record["body"], status=record["status"], headers=record["headers"])
    resp.headers[REPLAYED] = "true"
    return resp


def idempotent(view: F) -> F:
    """Decorator: honour ``Idempotency-Key`` on this view (no header, no change)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = header(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            return error(
                400, "invalid_idempotency_key", "1 to 255 visible ASCII characters", field=HEADER
            )
        store: IdempotencyStore = current_app.extensions["idempotency"]
        fp = fingerprint(request.method, request.path, read_body())

        def call() -> Response:
            # Errors the view raises (validation, 404) become responses here, so
            # they are recorded and replayed like any other answer below 500.
            try:
                rv = view(*args, **kwargs)
            except Exception as exc:
                rv = current_app.handle_user_exception(exc)
            return _respond(rv)

        return store.run(key, fp, call)

    return cast(F, wrapper)


def init_app(app: Flask, storage: Storage) -> None:
    """Attach the idempotency store to the app."""
    app.extensions["idempotency"] = IdempotencyStore(
        storage,
        float(app.config["IDEMPOTENCY_TTL_S"]),
        float(app.config["IDEMPOTENCY_WAIT_S"]),
        int(app.config["IDEMPOTENCY_MAX_KEYS"]),
    )
