"""The query cache: TanStack Query's model in Python.

Entries are keyed by lists (``["items"]``, ``["items", 7]``); ``invalidate``
matches by prefix. An entry is fresh for ``stale_time`` seconds after its data
arrived; a stale entry is answered at once and refetched in the background,
one fetch at a time per key (stale-while-revalidate). When that refetch fails
the data is kept and the error is recorded in the entry's state
(stale-if-error): a caller or subscriber that has data never gets the error
thrown at it. An entry nobody subscribes to is dropped ``gc_time`` seconds
after it was last fetched or last unsubscribed; on top of that the cache is an
LRU bounded by ``max_bytes`` (an entry costs its response's bytes). Subscribers
are called only when the status, the data (deep equality) or the error
changed, so a refetch that returns the same JSON wakes nobody.

Expired entries are collected on the next cache operation (no timers), so a
cache on a ``FakeClock`` is fully deterministic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json as _json
import math
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._clock import Clock
from ._errors import HTTPStatusError, InvalidRequestError, ResilienceError
from ._events import EVENT_NAMES, EventEmitter, log
from ._models import Response
from .config import CacheConfig
from .stages.cache import buffered

Fetcher = Callable[[], Awaitable[tuple[Any, int]]]
"""Fetches fresh data: returns ``(data, size_in_bytes)``."""
Updater = Any
"""New data, or a callable ``old -> new`` (returning None leaves the data as it is)."""
Subscriber = Callable[[dict[str, Any]], None]
FocusSource = Callable[[Callable[[], None]], Callable[[], None]]

_IN_BROWSER = sys.platform == "emscripten"
_ENTRY_OVERHEAD = 200  # bytes charged per entry for its key and bookkeeping


# One encoder each, built once: json.dumps with options builds a new one per call.
_KEY_JSON = _json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)
_SIZE_JSON = _json.JSONEncoder(separators=(",", ":"), default=str)


def key_hash(key: Any, field: str = "key") -> str:
    """A stable string for a query key (a non-empty list of JSON values)."""
    if not isinstance(key, list | tuple) or not key:
        raise InvalidRequestError(f"{field} must be a non-empty list, not {key!r}", field=field)
    try:
        return _KEY_JSON.encode(list(key))
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{field} must hold JSON values: {exc}", field=field) from None


def data_size(data: Any) -> int:
    """Approximate bytes of JSON-like data (its JSON length)."""
    try:
        return len(_SIZE_JSON.encode(data))
    except ValueError:
        return 0


class Entry:
    """One cached query."""

    __slots__ = (
        "data",
        "data_at",
        "error",
        "error_at",
        "fetcher",
        "gc_at",
        "hash",
        "invalidated",
        "key",
        "size",
        "stale_time",
        "status",
        "task",
    )

    def __init__(self, key: list[Any], hash: str, stale_time: float) -> None:
        self.key = key
        self.hash = hash
        self.data: Any = None
        self.status = "pending"  # pending (no data yet) | success (has data) | error (no data)
        self.error: ResilienceError | Exception | None = None
        self.data_at: float | None = None  # clock seconds
        self.error_at: float | None = None
        self.invalidated = False
        self.task: asyncio.Future[Any] | None = None
        self.fetcher: Fetcher | None = None
        self.size = _ENTRY_OVERHEAD
        self.stale_time = stale_time
        self.gc_at: float | None = None


def _error_info(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    if isinstance(exc, ResilienceError):
        return exc.to_dict()
    return {"code": "INTERNAL", "name": type(exc).__name__, "message": str(exc)}


class QueryCache:
    """Cached query data with stale-while-revalidate, subscribers, gc and a byte-bounded LRU."""

    def __init__(
        self,
        *,
        clock: Clock,
        stale_time: float = 0.0,
        gc_time: float = 300.0,
        max_bytes: int = 10_000_000,
        refetch_on_window_focus: bool = True,
        refetch_on_reconnect: bool = True,
        focus_source: FocusSource | None = None,
    ) -> None:
        self.clock = clock
        self.stale_time = stale_time
        self.gc_time = gc_time
        self.max_bytes = max_bytes
        self.refetch_on_window_focus = refetch_on_window_focus
        self.refetch_on_reconnect = refetch_on_reconnect
        self._focus_source = focus_source if refetch_on_window_focus else None
        self._detach_focus: Callable[[], None] | None = None
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}  # what subscribers last heard, per key
        self._gc: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        # One sweep at a time, due at the earliest gc time (see _arm_gc).
        self._sweep: asyncio.Future[None] | None = None
        self._sweep_at: float | None = None
        self._closed = False
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        # Entries a caller keeps a copy of while fresh (the page's shim answers
        # fresh hits itself): each is told once when the entry changes.
        self._mirrored: set[str] = set()
        self._on_change: Callable[[str], None] | None = None

    # -- reading ------------------------------------------------------------------

    async def fetch(
        self,
        key: Sequence[Any],
        fetcher: Fetcher,
        *,
        stale_time: float | None = None,
    ) -> Any:
        """The data for ``key``: cached (refetched in the background when stale) or fetched."""
        h = key_hash(key)
        self.collect()
        entry = self._entries.get(h)
        if entry is None:
            entry = self._add(list(_json.loads(h)), h)
        entry.fetcher = fetcher
        if stale_time is not None and stale_time != entry.stale_time:
            entry.stale_time = stale_time
            self._changed(h)
        self._entries.move_to_end(h)
        if entry.status == "success":
            self.hits += 1
            if self._is_stale(entry, self.clock.now()):
                self._start(entry)
            return entry.data
        self.misses += 1
        # shield: a caller that gives up does not cancel the fetch others may share.
        return await asyncio.shield(self._start(entry))

    def get_data(self, key: Sequence[Any]) -> Any:
        """The cached data for ``key`` (None when there is none); no fetch."""
        entry = self._entries.get(key_hash(key))
        return entry.data if entry is not None else None

    def state(self, key: Sequence[Any]) -> dict[str, Any] | None:
        """The entry's state as plain data, or None when nothing is cached."""
        self.collect()
        entry = self._entries.get(key_hash(key))
        return None if entry is None else self._view(entry)

    def _view(self, entry: Entry) -> dict[str, Any]:
        now = self.clock.now()
        wall = self.clock.wall()

        def epoch_ms(at: float | None) -> float | None:
            return None if at is None else round((wall - (now - at)) * 1000, 3)

        return {
            "key": entry.key,
            "status": entry.status,
            "data": entry.data,
            "error": _error_info(entry.error),
            "isStale": entry.status != "success" or self._is_stale(entry, now),
            "isFetching": entry.task is not None,
            "isInvalidated": entry.invalidated,
            "dataUpdatedAt": epoch_ms(entry.data_at),
            "errorUpdatedAt": epoch_ms(entry.error_at),
        }

    def _is_stale(self, entry: Entry, now: float) -> bool:
        if entry.invalidated or entry.data_at is None:
            return True
        return now - entry.data_at >= entry.stale_time

    # -- fetching -----------------------------------------------------------------

    def _start(self, entry: Entry) -> asyncio.Future[Any]:
        """Start a fetch for the entry unless one is running (one at a time per key)."""
        if entry.task is None:
            fetcher = entry.fetcher
            assert fetcher is not None
            entry.task = asyncio.ensure_future(self._run(entry, fetcher))
            entry.task.add_done_callback(_retrieve)
        return entry.task

    async def _run(self, entry: Entry, fetcher: Fetcher) -> Any:
        try:
            data, size = await fetcher()
        except asyncio.CancelledError:
            entry.task = None
            self._schedule_gc(entry)
            raise
        except Exception as exc:
            entry.task = None
            self._schedule_gc(entry)
            entry.error = exc
            entry.error_at = self.clock.now()
            if entry.status != "success":
                entry.status = "error"
            self._notify(entry)
            raise
        entry.task = None
        self._put(entry, data, size)
        return data

    def refetch(self, key: Sequence[Any]) -> asyncio.Future[Any] | None:
        """Refetch ``key`` now (joining a fetch in flight); None without a known fetcher."""
        entry = self._entries.get(key_hash(key))
        if entry is None or entry.fetcher is None:
            return None
        return self._start(entry)

    def _refetch_where(self, wanted: Callable[[Entry], bool]) -> int:
        now = self.clock.now()
        count = 0
        for h in list(self._subscribers):
            entry = self._entries.get(h)
            if (
                entry is not None
                and entry.fetcher is not None
                and wanted(entry)
                and (entry.status != "success" or self._is_stale(entry, now))
            ):
                self._start(entry)
                count += 1
        return count

    def on_window_focus(self) -> int:
        """Hook for the page regaining focus: refetch stale subscribed queries."""
        if not self.refetch_on_window_focus:
            return 0
        return self._refetch_where(lambda e: True)

    def on_reconnect(self) -> int:
        """Hook for the network coming back: refetch stale or failed subscribed queries."""
        if not self.refetch_on_reconnect:
            return 0
        return self._refetch_where(lambda e: True)

    # -- writing ------------------------------------------------------------------

    def set_data(self, key: Sequence[Any], updater: Updater) -> Any:
        """Set the data for ``key`` (a value, or ``old -> new``); returns the data now cached."""
        h = key_hash(key)
        self.collect()
        entry = self._entries.get(h)
        old = entry.data if entry is not None else None
        new = updater(old) if callable(updater) else updater
        if new is None and callable(updater):
            return old
        if entry is None:
            entry = self._add(list(_json.loads(h)), h)
        self._put(entry, new, data_size(new) + _ENTRY_OVERHEAD)
        return new

    def _put(self, entry: Entry, data: Any, size: int) -> None:
        entry.data = data
        entry.status = "success"
        entry.error = None
        entry.error_at = None
        entry.data_at = self.clock.now()
        entry.invalidated = False
        self._changed(entry.hash)
        if self._entries.get(entry.hash) is not entry:
            # Evicted or collected while it was fetching: it comes back.
            self._entries[entry.hash] = entry
            self.bytes += entry.size
        self.bytes += size - entry.size
        entry.size = size
        self._entries.move_to_end(entry.hash)
        self._schedule_gc(entry)
        self._notify(entry)
        self._evict()

    def invalidate(self, prefix: Sequence[Any]) -> int:
        """Mark every entry whose key starts with ``prefix`` stale; refetch subscribed ones."""
        key_hash(prefix, "prefix")
        prefix = list(_json.loads(key_hash(prefix, "prefix")))
        n = len(prefix)
        count = 0
        for entry in list(self._entries.values()):
            if entry.key[:n] == prefix:
                entry.invalidated = True
                self._changed(entry.hash)
                count += 1
                if entry.hash in self._subscribers and entry.fetcher is not None:
                    self._start(entry)
        return count

    def remove(self, key: Sequence[Any]) -> bool:
        """Forget ``key`` (subscribers stay subscribed); True if it was cached."""
        entry = self._entries.pop(key_hash(key), None)
        if entry is None:
            return False
        self.bytes -= entry.size
        self._changed(entry.hash)
        return True

    def snapshot_entry(self, key: Sequence[Any]) -> Entry | None:
        """A detached copy of the entry (for a mutation's rollback)."""
        entry = self._entries.get(key_hash(key))
        if entry is None:
            return None
        copy = Entry(entry.key, entry.hash, entry.stale_time)
        for name in ("data", "status", "error", "data_at", "error_at", "invalidated", "size"):
            setattr(copy, name, getattr(entry, name))
        copy.fetcher = entry.fetcher
        return copy

    def restore(self, key: Sequence[Any], saved: Entry | None) -> None:
        """Put back what ``snapshot_entry`` saved (None: the key had no entry)."""
        h = key_hash(key)
        if saved is None:
            self.remove(key)
            self._notify_hash(h, None)
            return
        entry = self._entries.get(h)
        if entry is None:
            entry = self._add(saved.key, h)
        for name in ("data", "status", "error", "data_at", "error_at", "invalidated"):
            setattr(entry, name, getattr(saved, name))
        self._changed(h)
        self.bytes += saved.size - entry.size
        entry.size = saved.size
        self._notify(entry)
        self._evict()

    # -- subscribers --------------------------------------------------------------

    def subscribe(self, key: Sequence[Any], callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(state)`` whenever the entry's status, data or error changes."""
        h = key_hash(key)
        if not callable(callback):
            raise InvalidRequestError("callback must be callable", field="callback")
        listeners = self._subscribers.setdefault(h, [])
        listeners.append(callback)
        entry = self._entries.get(h)
        if entry is not None:
            entry.gc_at = None  # observed entries are never collected
            self._seen.setdefault(h, self._signature(entry))
        if self._focus_source is not None and self._detach_focus is None:
            self._detach_focus = self._focus_source(lambda: void(self.on_window_focus()))

        def unsubscribe() -> None:
            if callback not in listeners:
                return
            listeners.remove(callback)
            if not listeners:
                self._subscribers.pop(h, None)
                self._seen.pop(h, None)
                current = self._entries.get(h)
                if current is not None:
                    self._schedule_gc(current)
                if not self._subscribers and self._detach_focus is not None:
                    self._detach_focus()
                    self._detach_focus = None

        return unsubscribe

    @staticmethod
    def _signature(entry: Entry) -> tuple[Any, ...]:
        error = entry.error
        code = (getattr(error, "code", type(error).__name__), str(error)) if error else None
        return entry.status, entry.data, code

    def _notify(self, entry: Entry) -> None:
        listeners = self._subscribers.get(entry.hash)
        if not listeners:
            return
        signature = self._signature(entry)
        # Deep equality: parsed JSON compares by value, so equal data wakes nobody.
        if self._seen.get(entry.hash) == signature:
            return
        self._seen[entry.hash] = signature
        view = self._view(entry)
        for callback in tuple(listeners):
            _call(callback, view)

    def _notify_hash(self, h: str, entry: Entry | None) -> None:
        if entry is not None:
            self._notify(entry)
            return
        listeners = self._subscribers.get(h)
        if not listeners:
            return
        self._seen.pop(h, None)
        view = {"key": _json.loads(h), "status": "pending", "data": None, "error": None}
        for callback in tuple(listeners):
            _call(callback, view)

    # -- memory ---------------------------------------------------------------------

    def _add(self, key: list[Any], h: str) -> Entry:
        entry = Entry(key, h, self.stale_time)
        self._entries[h] = entry
        self.bytes += entry.size
        self._schedule_gc(entry)
        self._evict()
        return entry

    def _schedule_gc(self, entry: Entry) -> None:
        if entry.hash in self._subscribers:
            entry.gc_at = None
            return
        entry.gc_at = self.clock.now() + self.gc_time
        heapq.heappush(self._gc, (entry.gc_at, next(self._seq), entry.hash))
        self._arm_gc(entry.gc_at)

    def _arm_gc(self, at: float) -> None:
        """Sweep at ``at`` on the clock, unless an earlier sweep is already due.

        gcTime is kept on time even when nothing touches the cache (TanStack's
        per-query timer); with a constant gcTime each new entry is due after
        the ones before it, so one sweep task is re-armed only after it ran.
        """
        if self._closed or (self._sweep is not None and self._sweep_at is not None
                            and self._sweep_at <= at):
            return
        try:
            # The page's WebLoop always exists, and the shim's synchronous calls
            # (setQueryData, invalidate) run outside any task; elsewhere only a
            # running loop is used, never one made up for a synchronous caller.
            loop = asyncio.get_event_loop() if _IN_BROWSER else asyncio.get_running_loop()
        except RuntimeError:
            return  # used without a loop: collected on the next cache operation
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_at = at
        self._sweep = loop.create_task(self._sweep_after(at))

    async def _sweep_after(self, at: float) -> None:
        await self.clock.sleep(max(0.0, at - self.clock.now()))
        self._sweep = self._sweep_at = None
        self.collect()
        if self._gc:
            self._arm_gc(self._gc[0][0])

    def collect(self) -> int:
        """Drop unobserved entries whose gc time has passed; returns how many."""
        now = self.clock.now()
        heap = self._gc
        dropped = 0
        while heap and heap[0][0] <= now:
            at, _, h = heapq.heappop(heap)
            entry = self._entries.get(h)
            if entry is None or entry.gc_at != at or entry.task is not None:
                continue  # gone, rescheduled, or fetching (rescheduled when it lands)
            del self._entries[h]
            self.bytes -= entry.size
            self._changed(h)
            dropped += 1
        if not self._entries:
            heap.clear()
        return dropped

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _, entry = self._entries.popitem(last=False)
            self.bytes -= entry.size
            self.evictions += 1
            self._changed(entry.hash)

    # -- fresh copies held by the caller (the page's shim) ----------------------

    def watch(self, on_change: Callable[[str], None] | None) -> None:
        """Call ``on_change(hash)`` once when an entry handed out by ``mirror`` changes."""
        self._on_change = on_change
        self._mirrored.clear()

    def mirror(self, key: Sequence[Any]) -> dict[str, Any] | None:
        """What a caller needs to answer fresh hits of ``key`` itself, or None.

        ``{"hash", "until" (wall-clock ms), "staleTime" (s)}`` while the entry
        is fresh; the watcher then hears of any change to it (new data,
        invalidation, removal, eviction, collection, a new stale time), and the
        caller drops its copy. Hits the caller answers are reported with ``touch``.
        """
        if self._on_change is None:
            return None
        h = key_hash(key)
        entry = self._entries.get(h)
        now = self.clock.now()
        if entry is None or entry.status != "success" or self._is_stale(entry, now):
            return None
        assert entry.data_at is not None
        self._mirrored.add(h)
        left = entry.data_at + entry.stale_time - now
        # An infinite stale time never expires: "until" is None (JSON has no Infinity).
        until = None if math.isinf(left) else round((self.clock.wall() + left) * 1000, 3)
        stale = None if math.isinf(entry.stale_time) else entry.stale_time
        return {"hash": h, "until": until, "staleTime": stale}

    def touch(self, hits: dict[str, int]) -> None:
        """Count hits a caller answered from its copies (hash -> hits): recency and metrics."""
        for h, n in hits.items():
            if h in self._entries:
                self._entries.move_to_end(h)
                self.hits += int(n)
        self.collect()

    def _changed(self, h: str) -> None:
        if h in self._mirrored:
            self._mirrored.discard(h)
            assert self._on_change is not None
            self._on_change(h)

    def close(self) -> None:
        """Release subscribers, the focus listener and fetches still running (the data stays)."""
        for h in list(self._mirrored):
            self._changed(h)  # holders drop their copies: later reads reach the closed client
        if self._detach_focus is not None:
            self._detach_focus()
            self._detach_focus = None
        self._subscribers.clear()
        self._seen.clear()
        for entry in self._entries.values():
            if entry.task is not None:
                entry.task.cancel()
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = self._sweep_at = None

    def snapshot(self) -> dict[str, Any]:
        """Entries, bytes, hits, misses, evictions."""
        self.collect()
        return {
            "cache": {
                "entries": len(self._entries),
                "bytes": self.bytes,
                "maxBytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "subscribed": len(self._subscribers),
            }
        }


def make_query_cache(
    config: CacheConfig, clock: Clock, transport: Any, events: EventEmitter
) -> QueryCache | None:
    """The client's query cache for these settings (None when ``cache.enabled`` is false).

    Window focus comes from the page (``transports.browser.on_window_focus``);
    reconnects from the network-awareness ``network`` event, once it exists.
    """
    if not config.enabled:
        return None
    focus: FocusSource | None = getattr(transport, "on_window_focus", None)
    if focus is None and sys.platform == "emscripten":
        from .transports.browser import on_window_focus

        focus = on_window_focus
    cache = QueryCache(
        clock=clock,
        stale_time=config.stale_time,
        gc_time=config.gc_time,
        max_bytes=config.max_bytes,
        refetch_on_window_focus=config.refetch_on_window_focus,
        refetch_on_reconnect=config.refetch_on_reconnect,
        focus_source=focus,
    )
    if "network" in EVENT_NAMES and config.refetch_on_reconnect:
        events.on("network", lambda event: _reconnected(cache, event))
    return cache


def _reconnected(cache: QueryCache, event: dict[str, Any]) -> None:
    if event.get("to") == "online" and event.get("from") != "online":
        cache.on_reconnect()


async def parsed(response: Response) -> tuple[Any, int]:
    """The body parsed as JSON (else text) and its size; HTTPStatusError unless 2xx."""
    response = await buffered(response)
    if not response.ok:
        raise HTTPStatusError(
            f"HTTP {response.status} from {response.url or 'the server'}",
            request=response.request,
            response=response,
        )
    content = response.content
    try:
        data = _json.loads(content)
    except ValueError:
        data = content.decode("utf-8", errors="replace")
    return data, len(content) + _ENTRY_OVERHEAD


async def run_mutation(
    cache: QueryCache,
    send: Callable[[], Awaitable[Any]],
    *,
    optimistic: Sequence[tuple[Sequence[Any], Updater]] = (),
    invalidate: Sequence[Sequence[Any]] = (),
) -> Any:
    """Apply optimistic updates, ``send()``, roll back on failure, invalidate on success."""
    saved: list[tuple[Sequence[Any], Entry | None]] = []
    for key, updater in optimistic:
        saved.append((key, cache.snapshot_entry(key)))
        cache.set_data(key, updater)
    try:
        result = await send()
    except BaseException:
        for key, entry in reversed(saved):
            cache.restore(key, entry)
        raise
    for prefix in invalidate:
        cache.invalidate(prefix)
    return result


def void(_: Any) -> None:
    """Drop a value (a focus callback returns nothing)."""


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A background refetch's error lives in the entry's state; mark it retrieved.
    if not task.cancelled():
        task.exception()


def _call(callback: Subscriber, view: dict[str, Any]) -> None:
    try:
        callback(view)
    except Exception:
        log.exception("resilient_fetch query subscriber failed")
