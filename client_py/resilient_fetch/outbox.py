"""The durable outbox: a write is stored first, then sent, and replayed until it lands once.

It sits beside the pipeline, not in it. ``enqueue`` persists the request
(method, URL, headers, body and an ``Idempotency-Key`` made once and reused on
every attempt) in a ``Store`` and returns as soon as it is stored; one replay
task (the leader, one per store: one tab, one process) sends the entries
through the client's pipeline, oldest first per origin, and removes each one
when the server has answered it. Exactly once rests on two things: an entry
leaves the store only after a final answer, and the server's idempotency makes
a repeat of a write that did land (response lost, crash, reload, another tab
taking over) harmless.

What happens to an attempt's outcome::

    2xx/3xx                                 sent: removed, ``wait()`` resolves
    408, 429, 5xx, any 4xx with Retry-After kept, retried with backoff (counts)
    network error, timeout                  kept, retried with backoff (counts)
    offline, open breaker, local limits     kept, retried; not counted (never left)
    other 4xx, unsendable request           dead letter (the response is kept)
    max_attempts or max_age reached         dead letter

A dead entry stays (it counts against the bounds) until ``retry`` or
``discard``. Times are wall-clock seconds, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._clock import wait_done
from ._errors import (
    AbortedError,
    CircuitOpenError,
    ClosedError,
    DeadLetterError,
    InvalidRequestError,
    NetworkError,
    OfflineError,
    QueueFullError,
    RateLimitedError,
    ResilienceError,
    RetryBudgetExceededError,
    TimeoutError,
)
from ._events import EVENT_NAMES
from ._models import HeaderInput, Headers, Request, Response
from .config import OutboxConfig, RequestOptions
from .stores.base import Entry, Message, Store

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("resilient_fetch")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Refused before anything left the device: retried, but not counted as an attempt.
_LOCAL_REFUSALS = (
    OfflineError,
    CircuitOpenError,
    RateLimitedError,
    QueueFullError,
    RetryBudgetExceededError,
)
_KEEP_DELIVERED = 100
_PREVIEW_BYTES = 4096


def make_store(config: OutboxConfig) -> Store:
    """The store named by ``outbox.store`` (``memory``, ``sqlite`` or ``indexeddb``)."""
    from .stores import IndexedDBStore, MemoryStore, SQLiteStore

    if config.store == "sqlite":
        return SQLiteStore(config.name)
    if config.store == "indexeddb":
        return IndexedDBStore(config.name)
    return MemoryStore()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def response_to_data(resp: Response) -> dict[str, Any]:
    """A response as JSON-able data (stored with a dead letter, posted to other tabs)."""
    return {
        "status": resp.status,
        "reason": resp.reason,
        "headers": [list(p) for p in resp.headers.pairs()],
        "body": _b64(resp.content),
        "url": resp.url,
    }


def response_from_data(data: dict[str, Any]) -> Response:
    """The inverse of ``response_to_data``."""
    return Response(
        status=int(data["status"]),
        headers=Headers((str(k), str(v)) for k, v in data["headers"]),
        content=_unb64(data.get("body")) or b"",
        url=str(data.get("url", "")),
        reason=str(data.get("reason", "")),
    )


def _size(entry: Entry, body: bytes | None) -> int:
    """Bytes an entry costs against ``max_bytes``: body, URL and headers."""
    head = sum(len(k) + len(v) for k, v in entry["headers"])
    return len(body or b"") + len(entry["url"]) + head + len(entry["key"])


def _public(seq: int, entry: Entry) -> dict[str, Any]:
    """What ``entries()`` shows: the stored fields, a text preview instead of the body."""
    out = {k: v for k, v in entry.items() if k not in ("body", "response")}
    out["seq"] = seq
    body = _unb64(entry.get("body"))
    # A short text body is shown (the demo lists pending items by name); bytes are not.
    out["body_text"] = None
    if body is not None and len(body) <= _PREVIEW_BYTES:
        with contextlib.suppress(UnicodeDecodeError):
            out["body_text"] = body.decode("utf-8")
    resp = entry.get("response")
    if resp is not None:
        answer = _unb64(resp.get("body")) or b""
        out["response"] = {
            "status": resp["status"],
            "headers": resp["headers"],
            "text": answer.decode("utf-8", errors="replace"),
        }
    return out


class Outbox:
    """Durable write-ahead queue in front of a ``Client``: ``client.outbox``."""

    def __init__(
        self,
        client: Client,
        config: OutboxConfig | None = None,
        store: Store | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.config = config or OutboxConfig()
        self.store: Store = store if store is not None else make_store(self.config)
        self._clock = client.clock
        self._rng = rng or random.Random()
        self._waiters: dict[str, list[asyncio.Future[Response]]] = {}
        self._delivered: OrderedDict[str, Response] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._leader = False
        self._closed = False  # stop(): no new work, no new attempt
        self._released = False  # close(): the store is closed
        # What the store held at the last look (each replay pass, entries()), plus
        # what this outbox stored since: the metrics' outbox gauges.
        self.stored = {"pending": 0, "dead": 0, "bytes": 0}
        self._sending: str | None = None
        self._kicked_at = float("-inf")
        self._unsubscribe: list[Callable[[], None]] = [self.store.subscribe(self._on_message)]
        # Network awareness (a ``network`` event {from, to, reason}) replays at once on reconnect.
        if "network" in EVENT_NAMES:
            self._unsubscribe.append(client.on("network", self._on_network))

    # -- public API ---------------------------------------------------------

    async def start(self) -> None:
        """Start the replay task (idempotent; every other method starts it too)."""
        if self._closed:
            raise ClosedError("the outbox is closed")
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def enqueue(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        json: Any = None,
        body: bytes | str | None = None,
    ) -> dict[str, Any]:
        """Store a write, then deliver it in the background; returns ``{id, state}`` once stored.

        Raises ``InvalidRequestError`` for a request that could never be sent
        and ``OutboxFullError`` past ``max_entries``/``max_bytes``; in both
        cases nothing is stored.
        """
        await self.start()
        request = self.client.build_request(method, url, headers=headers, json=json, body=body)
        if request.method not in WRITE_METHODS:
            raise InvalidRequestError(
                f"the outbox takes writes ({', '.join(sorted(WRITE_METHODS))}), "
                f"not {request.method}",
                field="method",
            )
        key = request.headers.get("Idempotency-Key") or str(uuid.uuid4())
        pairs = [(n, v) for n, v in request.headers.pairs() if n.lower() != "idempotency-key"]
        pairs.append(("Idempotency-Key", key))
        now = self._clock.wall()
        entry: Entry = {
            "id": uuid.uuid4().hex,
            "method": request.method,
            "url": request.url,
            "origin": _origin(request.url),
            "headers": [list(p) for p in pairs],
            "body": _b64(request.body),
            "key": key,
            "created": now,
            "since": now,
            "attempts": 0,
            "next_at": now,
            "state": "pending",
            "status": None,
            "error": None,
            "response": None,
        }
        size = _size(entry, request.body)
        entry["size"] = size
        await self.store.add(
            entry["id"],
            size,
            entry,
            max_entries=self.config.max_entries,
            max_bytes=self.config.max_bytes,
        )
        self.stored["pending"] += 1
        self.stored["bytes"] += size
        self._event("queued", entry)
        self._nudge()
        return {"id": entry["id"], "state": "pending"}

    async def wait(self, id: str) -> Response:
        """The response once entry ``id`` is delivered; ``DeadLetterError`` if it is dead-lettered.

        Works for any entry still in the store (after a restart too), and for
        the last 100 delivered by this outbox; an unknown id is an
        ``InvalidRequestError``. A discarded entry rejects with ``AbortedError``.
        """
        await self.start()
        if id in self._delivered:
            return self._delivered[id]
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(id, []).append(fut)
        try:
            entry = await self._find(id)
            if not fut.done():
                if id in self._delivered:
                    fut.set_result(self._delivered[id])
                elif entry is None:
                    fut.set_exception(InvalidRequestError(f"no outbox entry {id!r}", field="id"))
                elif entry["state"] == "dead":
                    fut.set_exception(_dead_error(entry))
            return await fut
        finally:
            waiters = self._waiters.get(id)
            if waiters is not None and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[id]

    async def entries(self) -> list[dict[str, Any]]:
        """Every stored entry (pending and dead), oldest first, without bodies."""
        await self.start()
        rows = await self.store.all()
        self._count(entry for _, entry in rows)
        return [_public(seq, entry) for seq, entry in rows]

    async def retry(self, id: str) -> dict[str, Any]:
        """Put a dead entry back in line: attempts and age start again, the key stays."""
        await self.start()
        entry = await self._find(id)
        if entry is None:
            raise InvalidRequestError(f"no outbox entry {id!r}", field="id")
        if entry["state"] == "dead":
            now = self._clock.wall()
            entry.update(
                state="pending", attempts=0, since=now, next_at=now, error=None, response=None
            )
            await self.store.put(id, entry["size"], entry)
            self._event("queued", entry)
        self._nudge()
        return {"id": id, "state": entry["state"]}

    async def discard(self, id: str) -> bool:
        """Remove an entry for good; its waiters reject with ``AbortedError``.

        A write being sent at that moment may still reach the server.
        """
        await self.start()
        removed = await self.store.delete(id)
        if removed:
            self._event("discarded", {"id": id, "status": None})
            self._settle(id, exc=AbortedError(f"outbox entry {id} was discarded"))
            self._nudge()
        return removed

    def kick(self, reason: str = "") -> None:
        """Try every pending entry once now, skipping its backoff (the network came back)."""
        self._kicked_at = self._clock.wall()
        if self._wake is not None:
            self._wake.set()
        if not self._leader:
            self.store.publish({"type": "kick"})

    def _nudge(self) -> None:
        """Look at the store again (a new or changed entry); backoffs still hold."""
        if self._wake is not None:
            self._wake.set()
        if not self._leader:
            self.store.publish({"type": "changed"})

    @property
    def leader(self) -> bool:
        """True when this outbox is the one replaying its store."""
        return self._leader

    def stop(self) -> None:
        """Take no new work and start no new attempt; the attempt in flight may finish."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()

    async def close(self) -> None:
        """Stop replaying (entries stay stored) and release the store.

        A replay pass in flight finishes its store writes first (the client's
        ``close()`` has already drained or aborted the attempt it was sending);
        waiters reject with ``ClosedError``.
        """
        if self._released:
            return
        self.stop()
        self._released = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        task = self._task
        if task is not None:
            if self._leader:
                await wait_done(task, self._clock, 1.0)
            task.cancel()  # still waiting to lead (another tab replays), or stuck
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for id in list(self._waiters):
            self._settle(id, exc=ClosedError("the outbox was closed before this write was sent"))
        await self.store.close()

    # -- replay -------------------------------------------------------------

    async def _run(self) -> None:
        await self.store.lead(self._clock)
        self._leader = True
        assert self._wake is not None
        while not self._closed:
            self._wake.clear()
            try:
                delay = await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store failure must not end replay for good
                log.exception("resilient_fetch outbox replay failed; trying again")
                delay = self.config.backoff
            if delay is not None and delay <= 0:
                continue
            poll = getattr(self.store, "poll_interval", None)
            if delay is None or (poll is not None and poll < delay):
                delay = poll
            await self._sleep_or_wake(delay)

    async def _sleep_or_wake(self, delay: float | None) -> None:
        assert self._wake is not None
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
        if delay is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _pass(self) -> float | None:
        """Send every due head of line once; return seconds until the next is due (None: idle)."""
        now = self._clock.wall()
        heads: dict[str, Entry] = {}
        rows = await self.store.all()
        self._count(entry for _, entry in rows)
        for _, entry in rows:
            if entry["state"] == "pending" and entry["origin"] not in heads:
                heads[entry["origin"]] = entry
        if self._closed:
            return None
        soonest: float | None = None
        for entry in heads.values():
            if now - entry["since"] >= self.config.max_age:
                await self._dead(entry, "max_age", "older than outbox.max_age")
                return 0.0
            if entry["next_at"] <= now or entry.get("last_at", now) < self._kicked_at:
                await self._attempt(entry)
                return 0.0
            wait = entry["next_at"] - now
            soonest = wait if soonest is None else min(soonest, wait)
        return soonest

    async def _attempt(self, entry: Entry) -> None:
        entry["attempts"] += 1
        entry["last_at"] = entry["next_at"] = self._clock.wall()
        # Counted before sending: a crash mid-send still used up the attempt.
        if not await self.store.put(entry["id"], entry["size"], entry):
            return  # discarded meanwhile
        self._event("sending", entry)
        request = Request(
            entry["method"],
            entry["url"],
            Headers((k, v) for k, v in entry["headers"]),
            _unb64(entry["body"]),
        )
        self._sending = entry["id"]
        try:
            response = await self.client.send(request, RequestOptions(idempotency_key=entry["key"]))
        except ResilienceError as exc:
            await self._failed(entry, exc)
        else:
            await self._answered(entry, response)
        finally:
            self._sending = None

    async def _answered(self, entry: Entry, response: Response) -> None:
        status = response.status
        entry["status"] = status
        if status < 400:
            if await self.store.delete(entry["id"]):
                self._remember(entry["id"], response)
                self._event("sent", entry, response=response_to_data(response))
                self._settle(entry["id"], response=response)
            return
        if status in (408, 429) or status >= 500 or "Retry-After" in response.headers:
            entry["error"] = {"code": f"HTTP_{status}", "message": response.reason}
            await self._later(entry, _retry_after(response), counted=True, response=response)
            return
        entry["response"] = response_to_data(response)
        await self._dead(entry, "status", f"the server answered {status}")

    async def _failed(self, entry: Entry, exc: ResilienceError) -> None:
        entry["error"] = {"code": exc.code, "message": exc.message}
        if isinstance(exc, ClosedError):
            # The client closed under the attempt: it stays due, for the next client
            # (counted, as a crash would be, if it may have reached the server).
            if not exc.in_flight:
                entry["attempts"] -= 1
            await self.store.put(entry["id"], entry["size"], entry)
        elif isinstance(exc, _LOCAL_REFUSALS):
            entry["attempts"] -= 1
            await self._later(entry, getattr(exc, "retry_after", None), counted=False)
        elif isinstance(exc, NetworkError | TimeoutError | AbortedError):
            await self._later(entry, None, counted=True)
        else:  # INVALID_REQUEST, INTERNAL...: sending again cannot help
            await self._dead(entry, "error", f"{exc.code}: {exc.message}")

    async def _later(
        self,
        entry: Entry,
        retry_after: float | None,
        *,
        counted: bool,
        response: Response | None = None,
    ) -> None:
        if counted and entry["attempts"] >= self.config.max_attempts:
            if response is not None:
                entry["response"] = response_to_data(response)
            await self._dead(entry, "max_attempts", f"{entry['attempts']} attempts failed")
            return
        delay = self._backoff(max(entry["attempts"], 1) if counted else 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_cap))
        entry["next_at"] = self._clock.wall() + delay
        await self.store.put(entry["id"], entry["size"], entry)

    def _backoff(self, attempt: int) -> float:
        """Exponential with equal jitter: half fixed, half random (never a herd, never ~0)."""
        cfg = self.config
        full = min(cfg.backoff_cap, cfg.backoff * 2.0 ** min(attempt - 1, 60))
        return full / 2 + self._rng.uniform(0, full / 2)

    async def _dead(self, entry: Entry, reason: str, message: str) -> None:
        entry["state"] = "dead"
        entry["error"] = {"code": "DEAD_LETTER", "reason": reason, "message": message}
        if await self.store.put(entry["id"], entry["size"], entry):
            self._event("dead", entry)
            self._settle(entry["id"], exc=_dead_error(entry))

    # -- bookkeeping --------------------------------------------------------

    def _count(self, entries: Any) -> None:
        stored = {"pending": 0, "dead": 0, "bytes": 0}
        for entry in entries:
            stored["dead" if entry["state"] == "dead" else "pending"] += 1
            stored["bytes"] += int(entry.get("size", 0))
        self.stored = stored

    async def _find(self, id: str) -> Entry | None:
        for _, entry in await self.store.all():
            if entry["id"] == id:
                return entry
        return None

    def _remember(self, id: str, response: Response) -> None:
        self._delivered[id] = response
        while len(self._delivered) > _KEEP_DELIVERED:
            self._delivered.popitem(last=False)

    def _settle(
        self, id: str, *, response: Response | None = None, exc: BaseException | None = None
    ) -> None:
        for fut in self._waiters.pop(id, []):
            if fut.done():
                continue
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(response)  # type: ignore[arg-type]

    def _event(self, action: str, entry: Entry, *, response: dict[str, Any] | None = None) -> None:
        payload = {"action": action, "id": entry["id"], "status": entry.get("status")}
        self.client.events.emit("outbox", payload)
        message: Message = {"type": "outbox", **payload}
        if response is not None:
            message["response"] = response
        if action == "dead":
            message["entry"] = entry
        self.store.publish(message)

    def _on_message(self, message: Message) -> None:
        """Another tab changed the store: wake the replayer, settle waiters, re-emit."""
        kind = message.get("type")
        if kind == "kick" and self._leader:
            self.kick("another tab")
        elif (kind == "changed" or message.get("action") == "queued") and self._wake is not None:
            self._wake.set()
        if message.get("type") != "outbox":
            return
        id = str(message.get("id"))
        self.client.events.emit(
            "outbox", {"action": message["action"], "id": id, "status": message.get("status")}
        )
        if message["action"] == "sent" and message.get("response"):
            response = response_from_data(message["response"])
            self._remember(id, response)
            self._settle(id, response=response)
        elif message["action"] == "dead" and message.get("entry"):
            self._settle(id, exc=_dead_error(message["entry"]))
        elif message["action"] == "discarded":
            self._settle(id, exc=AbortedError(f"outbox entry {id} was discarded"))

    def _on_network(self, payload: dict[str, Any]) -> None:
        if payload.get("to") == "online":
            self.kick("online")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff is a fine substitute


def _dead_error(entry: Entry) -> DeadLetterError:
    error = entry.get("error") or {}
    resp = entry.get("response")
    return DeadLetterError(
        f"outbox entry {entry['id']} is dead-lettered: {error.get('message', '')}",
        id=entry["id"],
        reason=str(error.get("reason", "")),
        response=response_from_data(resp) if resp else None,
    )
