"""A DataLoader-style batch loader: many ``load(id)`` calls, one request per batch.

Calls made within ``window_ms`` (0: the same turn of the event loop) are
collected; duplicate ids are sent once; batches over ``max_batch`` are split.
Each batch is ONE request through the pipeline (one retry schedule, one
breaker outcome, one queue slot). The answer, ``{"items": [...]}``, is mapped
back by ``key`` (compared as strings, so ``load(7)`` finds ``{"id": 7}`` and
``{"id": "7"}``); an id missing from it rejects only its own caller with
``NotFoundError``. Loaded items also fill the query cache under ``[name, id]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote

from ._clock import Clock
from ._errors import ClosedError, ConfigError, HTTPStatusError, NotFoundError
from ._models import Response
from .query import QueryCache

Send = Callable[..., Awaitable[Response]]


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"loader.{name}", value, allowed)


class Loader:
    """Batches ``load(id)`` calls into requests to a batch endpoint."""

    def __init__(
        self,
        send: Send,
        *,
        url: str,
        key: str = "id",
        name: str | None = None,
        max_batch: int = 100,
        window_ms: float = 0,
        method: str = "GET",
        param: str = "ids",
        items_field: str = "items",
        cache: QueryCache | None = None,
        clock: Clock,
    ) -> None:
        _check("url", url, isinstance(url, str) and bool(url), "the batch endpoint's URL")
        _check("key", key, isinstance(key, str) and bool(key), "the id field of an item")
        _check("name", name, name is None or (isinstance(name, str) and bool(name)), "a string")
        _check(
            "max_batch",
            max_batch,
            isinstance(max_batch, int) and not isinstance(max_batch, bool) and max_batch >= 1,
            "an integer >= 1",
        )
        _check(
            "window_ms",
            window_ms,
            isinstance(window_ms, int | float)
            and not isinstance(window_ms, bool)
            and 0 <= window_ms <= 60_000,
            "milliseconds between 0 and 60000",
        )
        method = method.upper() if isinstance(method, str) else method
        _check("method", method, method in ("GET", "POST"), "'GET' (ids in the query) or 'POST'")
        self._send = send
        self.url = url
        self.key = key
        self.name = name or url
        self.max_batch = max_batch
        self.window = window_ms / 1000
        self.method = method
        self.param = param
        self.items_field = items_field
        self.cache = cache
        self.clock = clock
        self._pending: dict[str, tuple[Any, list[asyncio.Future[Any]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False
        self._window_timer: asyncio.Future[None] | None = None
        self.batches = 0

    async def load(self, id: Any) -> Any:
        """The item whose ``key`` is ``id``; NotFoundError if the server does not have it."""
        return await self._enqueue(id)

    async def load_many(self, ids: Sequence[Any]) -> list[Any]:
        """Load every id; a failed one is its exception in the list (DataLoader's loadMany)."""
        waits: list[asyncio.Future[Any]] = []
        for id in ids:
            try:
                waits.append(self._enqueue(id))
            except ConfigError as exc:  # a bad id fails only its own place
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                waits.append(failed)
        # Futures, not coroutines: gather starts no task per id.
        return list(await asyncio.gather(*waits, return_exceptions=True))

    def _enqueue(self, id: Any) -> asyncio.Future[Any]:
        """A future for ``id``'s item, in the batch being collected."""
        _check("id", id, isinstance(id, str | int) and not isinstance(id, bool), "a str or int")
        if self._closed:
            raise ClosedError("the client is closed: this loader takes no new loads")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        slot = self._pending.get(str(id))
        if slot is None:
            self._pending[str(id)] = (id, [future])
        else:
            slot[1].append(future)
        if not self._scheduled:
            self._scheduled = True
            if self.window > 0:
                self._window_timer = asyncio.ensure_future(self._dispatch_later())
            else:
                loop.call_soon(self._dispatch)
        return future

    def close(self) -> None:
        """Refuse new loads and fail those whose batch is not sent yet (``ClosedError``).

        A batch already sent is a call in flight: the client's ``close()`` drains it.
        """
        self._closed = True
        pending, self._pending = self._pending, {}
        for _, futures in pending.values():
            for future in futures:
                if not future.done():
                    future.set_exception(ClosedError("the client closed before the batch was sent"))
        if self._window_timer is not None:
            self._window_timer.cancel()  # the batch it would send is gone
            self._window_timer = None

    async def _dispatch_later(self) -> None:
        await self.clock.sleep(self.window)
        self._window_timer = None
        self._dispatch()

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._closed:
            return
        pending, self._pending = self._pending, {}
        slots = list(pending.values())
        for start in range(0, len(slots), self.max_batch):
            self._spawn(self._run(slots[start : start + self.max_batch]))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _run(self, slots: list[tuple[Any, list[asyncio.Future[Any]]]]) -> None:
        self.batches += 1
        ids = [id for id, _ in slots]
        try:
            items = await self._fetch(ids)
        except BaseException as exc:
            for _, futures in slots:
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        found = {str(item.get(self.key)): item for item in items if isinstance(item, dict)}
        for id, futures in slots:
            item = found.get(str(id))
            if item is not None and self.cache is not None:
                self.cache.set_data([self.name, id], item)
            for future in futures:
                if future.done():
                    continue  # its caller gave up
                if item is None:
                    future.set_exception(
                        NotFoundError(f"{self.url}: no item with {self.key}={id!r}", key=id)
                    )
                else:
                    future.set_result(item)

    async def _fetch(self, ids: list[Any]) -> list[Any]:
        if self.method == "GET":
            joined = ",".join(quote(str(i), safe="") for i in ids)
            sep = "&" if "?" in self.url else "?"
            response = await self._send("GET", f"{self.url}{sep}{self.param}={joined}")
        else:
            response = await self._send("POST", self.url, json={self.param: ids})
        if not response.ok:
            raise HTTPStatusError(
                f"batch request answered HTTP {response.status}", response=response
            )
        body = response.json()
        items = body.get(self.items_field) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise HTTPStatusError(
                f"batch answer has no {self.items_field!r} list", response=response
            )
        return items

    def snapshot(self) -> dict[str, Any]:
        """Batches sent and ids waiting."""
        return {"name": self.name, "batches": self.batches, "pending": len(self._pending)}
