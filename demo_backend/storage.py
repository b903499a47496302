"""Shared state behind one small interface, chosen by URI like flask-limiter.

``memory://`` keeps everything in this process (the default, one process only).
``redis://host:port[/db]`` (or ``rediss://``) shares items, idempotency keys,
the fault registry and stats between processes, e.g. several gunicorn workers.
Values are strings (callers store JSON); every multi-step update that must be
atomic is one storage call (``add``, ``incr``, ``hincr``, ``hsetnx``) or runs
under ``lock(name)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from .config import ConfigError

REDIS_SCHEMES = ("redis", "rediss")


class Storage(Protocol):
    """The operations the backend needs; both implementations are thread-safe."""

    uri: str
    kind: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl_s: float | None = None) -> None: ...
    def add(self, key: str, value: str, ttl_s: float | None = None) -> bool: ...
    def delete(self, *keys: str) -> None: ...
    def incr(self, key: str) -> int: ...
    def hget(self, key: str, field: str) -> str | None: ...
    def hset(self, key: str, field: str, value: str) -> None: ...
    def hsetnx(self, key: str, field: str, value: str) -> bool: ...
    def hdel(self, key: str, *fields: str) -> int: ...
    def hgetall(self, key: str) -> dict[str, str]: ...
    def hlen(self, key: str) -> int: ...
    def hincr(self, key: str, field: str, amount: int = 1) -> int: ...
    def hincr_max(self, key: str, field: str, max_field: str) -> int: ...
    def lock(self, name: str, timeout_s: float = 10.0) -> AbstractContextManager[None]: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


class MemoryStorage:
    """In-process storage: one re-entrant lock around plain dicts."""

    kind = "memory"
    _SWEEP_EVERY = 256

    def __init__(self, uri: str = "memory://") -> None:
        self.uri = uri
        self._mutex = threading.RLock()
        self._values: dict[str, tuple[str, float | None]] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._named_locks: dict[str, threading.Lock] = {}
        self._writes = 0

    def _live(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    def _store(self, key: str, value: str, ttl_s: float | None) -> None:
        expires = time.monotonic() + ttl_s if ttl_s else None
        self._values[key] = (value, expires)
        # Expired idempotency keys are only dropped lazily; sweep now and then
        # so a long-running demo does not grow without bound.
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:
            now = time.monotonic()
            for k in [k for k, (_, e) in self._values.items() if e is not None and e <= now]:
                del self._values[k]

    def get(self, key: str) -> str | None:
        with self._mutex:
            return self._live(key)

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        with self._mutex:
            self._store(key, value, ttl_s)

    def add(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        with self._mutex:
            if self._live(key) is not None:
                return False
            self._store(key, value, ttl_s)
            return True

    def delete(self, *keys: str) -> None:
        with self._mutex:
            for key in keys:
                self._values.pop(key, None)
                self._hashes.pop(key, None)

    def incr(self, key: str) -> int:
        with self._mutex:
            value = int(self._live(key) or 0) + 1
            entry = self._values.get(key)
            self._values[key] = (str(value), entry[1] if entry else None)
            return value

    def hget(self, key: str, field: str) -> str | None:
        with self._mutex:
            return self._hashes.get(key, {}).get(field)

    def hset(self, key: str, field: str, value: str) -> None:
        with self._mutex:
            self._hashes.setdefault(key, {})[field] = value

    def hsetnx(self, key: str, field: str, value: str) -> bool:
        with self._mutex:
            fields = self._hashes.setdefault(key, {})
            if field in fields:
                return False
            fields[field] = value
            return True

    def hdel(self, key: str, *fields: str) -> int:
        with self._mutex:
            existing = self._hashes.get(key, {})
            removed = sum(1 for f in fields if existing.pop(f, None) is not None)
            if not existing:
                self._hashes.pop(key, None)
            return removed

    def hgetall(self, key: str) -> dict[str, str]:
        with self._mutex:
            return dict(self._hashes.get(key, {}))

    def hlen(self, key: str) -> int:
        with self._mutex:
            return len(self._hashes.get(key, {}))

    def hincr(self, key: str, field: str, amount: int = 1) -> int:
        with self._mutex:
            fields = self._hashes.setdefault(key, {})
            value = int(fields.get(field, "0")) + amount
            fields[field] = str(value)
            return value

    def hincr_max(self, key: str, field: str, max_field: str) -> int:
        """Add 1 to ``field`` and raise ``max_field`` to the new value if higher, atomically."""
        with self._mutex:
            value = self.hincr(key, field)
            fields = self._hashes[key]
            if value > int(fields.get(max_field, "0")):
                fields[max_field] = str(value)
            return value

    @contextmanager
    def lock(self, name: str, timeout_s: float = 10.0) -> Iterator[None]:
        with self._mutex:
            named = self._named_locks.setdefault(name, threading.Lock())
        if not named.acquire(timeout=timeout_s):
            raise TimeoutError(f"storage lock {name!r} not acquired within {timeout_s}s")
        try:
            yield
        finally:
            named.release()

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


_INCR_MAX_LUA = """
local value = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local top = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if value > top then redis.call('HSET', KEYS[1], ARGV[2], value) end
return value
"""


class RedisStorage:
    """Redis storage (redis-py); every key carries ``prefix`` so apps can share a server."""

    kind = "redis"

    def __init__(self, uri: str, prefix: str = "") -> None:
        import redis  # only needed in Redis mode: the `redis` extra

        self.uri = uri
        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(
            uri, decode_responses=True, socket_timeout=5, socket_connect_timeout=2
        )
        # One script, so concurrent workers never lower the recorded maximum.
        self._incr_max = self._redis.register_script(_INCR_MAX_LUA)

    def _k(self, key: str) -> str:
        return self.prefix + key

    @staticmethod
    def _px(ttl_s: float | None) -> int | None:
        return max(1, int(ttl_s * 1000)) if ttl_s else None

    def get(self, key: str) -> str | None:
        return cast(str | None, self._redis.get(self._k(key)))

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._redis.set(self._k(key), value, px=self._px(ttl_s))

    def add(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return bool(self._redis.set(self._k(key), value, nx=True, px=self._px(ttl_s)))

    def delete(self, *keys: str) -> None:
        if keys:
            self._redis.delete(*(self._k(k) for k in keys))

    def incr(self, key: str) -> int:
        return int(self._redis.incr(self._k(key)))

    def hget(self, key: str, field: str) -> str | None:
        return cast(str | None, self._redis.hget(self._k(key), field))

    def hset(self, key: str, field: str, value: str) -> None:
        self._redis.hset(self._k(key), field, value)

    def hsetnx(self, key: str, field: str, value: str) -> bool:
        return bool(self._redis.hsetnx(self._k(key), field, value))

    def hdel(self, key: str, *fields: str) -> int:
        return int(self._redis.hdel(self._k(key), *fields)) if fields else 0

    def hgetall(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], self._redis.hgetall(self._k(key)))

    def hlen(self, key: str) -> int:
        return int(self._redis.hlen(self._k(key)))

    def hincr(self, key: str, field: str, amount: int = 1) -> int:
        return int(self._redis.hincrby(self._k(key), field, amount))

    def hincr_max(self, key: str, field: str, max_field: str) -> int:
        """Add 1 to ``field`` and raise ``max_field`` to the new value if higher, atomically."""
        return int(self._incr_max(keys=[self._k(key)], args=[field, max_field]))

    @contextmanager
    def lock(self, name: str, timeout_s: float = 10.0) -> Iterator[None]:
        # The lock expires after timeout_s, so a crashed worker cannot wedge the others.
        lock = self._redis.lock(
            self._k("lock:" + name), timeout=timeout_s, blocking_timeout=timeout_s
        )
        if not lock.acquire():
            raise TimeoutError(f"storage lock {name!r} not acquired within {timeout_s}s")
        try:
            yield
        finally:
            lock.release()

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except Exception:  # any connection failure means "not ready"
            return False

    def close(self) -> None:
        self._redis.close()


def storage_from_uri(uri: str, prefix: str = "") -> Storage:
    """``memory://`` or ``redis://host:port[/db]``; anything else fails naming STORAGE_URI."""
    scheme = urlsplit(uri).scheme
    if scheme == "memory":
        return MemoryStorage(uri)
    if scheme in REDIS_SCHEMES:
        return RedisStorage(uri, prefix)
    raise ConfigError("STORAGE_URI", uri, "memory:// or redis://host:port[/db] (or rediss://)")


def limiter_uri(storage: Storage) -> str:
    """The flask-limiter storage URI matching ours, so limiter counters are shared the same way."""
    return storage.uri if storage.kind == "redis" else "memory://"
