"""Unfinished uploads, remembered beside the outbox so the same data resumes later.

Records live in the outbox store's ``sibling("uploads")``: the same kind of
storage (memory, a SQLite file ``<path>-uploads``, an IndexedDB database
``<name>:uploads``) in a namespace of its own, so the outbox neither lists,
replays nor counts them. A record is keyed by a fingerprint of the data (its
SHA-256 and size) and the endpoint, and holds the upload URL the server gave,
the size, the SHA-256 and the last offset the server confirmed. At most
``upload.max_remembered`` are kept (the least recently updated go first), and
a finished, failed or terminated upload is forgotten.

Remembering is a convenience: a store that fails (full, closed, not there)
is logged and the upload goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import Clock
    from .stores.base import Store

log = logging.getLogger("resilient_fetch")

KIND = "upload"


def fingerprint(sha256: str, size: int, endpoint: str) -> str:
    """Same data to the same endpoint: the same fingerprint."""
    return hashlib.sha256(f"{sha256}:{size}:{endpoint}".encode()).hexdigest()[:40]


_MAX_BYTES = 10_000_000  # records are a few hundred bytes; max_remembered is the bound


def uploads_store(store: Any) -> Store | None:
    """The outbox store's sibling for uploads; None for a store without one."""
    sibling = getattr(store, "sibling", None)
    return sibling("uploads") if callable(sibling) else None


class UploadRecords:
    """Find, save and forget remembered uploads in an outbox store."""

    def __init__(self, store: Store | None, *, max_remembered: int, clock: Clock) -> None:
        self.store = store if max_remembered > 0 else None
        self.max_remembered = max_remembered
        self.clock = clock

    async def all(self) -> list[dict[str, Any]]:
        """Every remembered upload, oldest update first."""
        if self.store is None:
            return []
        try:
            rows = [e for _, e in await self.store.all() if e.get("kind") == KIND]
        except Exception:
            log.warning("resilient_fetch: cannot read remembered uploads", exc_info=True)
            return []
        return sorted(rows, key=lambda e: e.get("updated", 0.0))

    async def find(self, fp: str) -> dict[str, Any] | None:
        """The record for this fingerprint, or None."""
        return next((e for e in await self.all() if e["id"] == _id(fp)), None)

    async def save(self, fp: str, **fields: Any) -> None:
        """Create or update the record (``url``, ``size``, ``sha256``, ``offset``...)."""
        if self.store is None:
            return
        now = self.clock.wall()
        record: dict[str, Any] = {
            "id": _id(fp),
            "kind": KIND,
            "fingerprint": fp,
            "created": now,
            **fields,
            "updated": now,
        }
        size = len(json.dumps(record))
        try:
            if await self.store.put(record["id"], size, record):
                return
            await self._make_room()
            await self.store.add(
                record["id"], size, record, max_entries=self.max_remembered, max_bytes=_MAX_BYTES
            )
        except Exception:
            log.warning("resilient_fetch: cannot remember upload %s", fp, exc_info=True)

    async def forget(self, fp: str) -> None:
        """Drop the record (a finished, failed or terminated upload)."""
        if self.store is None:
            return
        try:
            await self.store.delete(_id(fp))
        except Exception:
            log.warning("resilient_fetch: cannot forget upload %s", fp, exc_info=True)

    async def _make_room(self) -> None:
        rows = await self.all()
        for old in rows[: max(0, len(rows) - self.max_remembered + 1)]:
            await self.store.delete(old["id"])  # type: ignore[union-attr]


def _id(fp: str) -> str:
    return f"upload-{fp}"
