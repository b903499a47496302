"""One validated configuration tree, with every default in one place.

Built from keyword arguments in Python (``Client(retry={"max_retries": 5})``
or ``retry=RetryConfig(...)``) and from the camelCase object given to the JS
``createClient()`` (converted by ``js_api``). Every field carries its check in
its metadata and ``__post_init__`` runs them all, so a value is validated once,
here, however the dataclass is made; the policies are built from these objects
and do not check again. An invalid value fails with a ``ConfigError`` naming the
field, the value and what is allowed (``js_api`` renames the field to the
camelCase the JS caller wrote); unknown names are errors too, so a typo never
silently means "default".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _validate
from ._errors import ConfigError

Check = Callable[[str, Any], Any]
C = TypeVar("C")

PRIORITIES = ("high", "normal", "low")


def number(
    *, min: float = 0.0, max: float = math.inf, exclusive: bool = False, optional: bool = False
) -> Check:
    """A finite int/float >= min (or > min) and <= max, or None when optional."""

    def check(path: str, value: Any) -> Any:
        if value is None and optional:
            return None
        allowed = None
        if optional:
            upper = "" if max == math.inf else f" and <= {max:g}"
            allowed = f"a number {'>' if exclusive else '>='} {min:g}{upper} or null"
        return _validate.number(
            path, value, low=min, low_inclusive=not exclusive, high=max, allowed=allowed
        )

    return check


def integer(*, min: int = 0) -> Check:
    """An int >= min (bools refused)."""
    return lambda path, value: _validate.integer(path, value, low=min)


def choice(*options: Any) -> Check:
    """One of the given values."""
    return lambda path, value: _validate.one_of(path, value, options)


def boolean(path: str, value: Any) -> Any:
    """True or False."""
    if not isinstance(value, bool):
        raise ConfigError(path, value, "true or false")
    return value


def statuses(path: str, value: Any) -> Any:
    """A list of HTTP status codes (100-599)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ConfigError(path, value, "a list of HTTP status codes")
    out = frozenset(integer(min=100)(f"{path}[{i}]", v) for i, v in enumerate(value))
    if any(v > 599 for v in out):
        raise ConfigError(path, sorted(out), "status codes between 100 and 599")
    return out


def optional_text(path: str, value: Any) -> Any:
    """A string or None."""
    if value is not None and not isinstance(value, str):
        raise ConfigError(path, value, "a string or null")
    return value


def _f(default: Any, check: Check) -> Any:
    return field(default=default, metadata={"check": check})


class _Checked:
    """Runs every field's check (normalising the value) and then ``_cross_check``."""

    _section = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            check = f.metadata.get("check")
            if check is not None:
                value = check(f"{self._section}.{f.name}", getattr(self, f.name))
                object.__setattr__(self, f.name, value)
        self._cross_check()

    def _cross_check(self) -> None:
        """Checks that involve several fields."""


@dataclass(frozen=True)
class BreakerConfig(_Checked):
    """Circuit breaker; defaults as documented in the README."""

    _section = "breaker"

    enabled: bool = _f(True, boolean)
    key: str = _f("origin", choice("origin", "host", "global"))
    strategy: str = _f("consecutive", choice("consecutive", "count_rate", "time_rate"))
    failure_threshold: int = _f(5, integer(min=1))
    failure_rate: float = _f(0.5, number(min=0.0, exclusive=True))
    window_size: int = _f(20, integer(min=1))
    window: float = _f(30.0, number(min=0.0, exclusive=True))
    buckets: int = _f(10, integer(min=1))
    min_calls: int = _f(10, integer(min=1))
    open_for: float = _f(60.0, number(min=0.0, exclusive=True))
    half_open_max_probes: int = _f(1, integer(min=1))
    close_after: int = _f(2, integer(min=1))
    open_backoff_factor: float = _f(2.0, number(min=1.0))
    max_open_for: float = _f(600.0, number(min=0.0, exclusive=True))
    slow_call_threshold: float | None = _f(None, number(min=0.0, exclusive=True, optional=True))
    max_keys: int = _f(1000, integer(min=1))

    def _cross_check(self) -> None:
        if self.failure_rate > 1:
            raise ConfigError("breaker.failure_rate", self.failure_rate, "a rate in (0, 1]")
        if self.max_open_for < self.open_for:
            raise ConfigError("breaker.max_open_for", self.max_open_for, ">= breaker.open_for")
        if self.strategy == "count_rate" and self.min_calls > self.window_size:
            # The window never holds more than window_size calls: it could never open.
            raise ConfigError("breaker.min_calls", self.min_calls, "<= breaker.window_size")


@dataclass(frozen=True)
class RateLimitRule(_Checked):
    """A limit for URLs matching ``pattern`` (fnmatch glob on the full URL)."""

    _section = "rule"

    pattern: str | None = _f(None, optional_text)
    kind: str = _f("sliding_window", choice("sliding_window", "token_bucket"))
    limit: int = _f(100, integer(min=1))
    window: float = _f(60.0, number(min=0.0, exclusive=True))
    rate: float | None = _f(None, number(min=0.0, exclusive=True, optional=True))
    burst: int | None = _f(None, lambda p, v: None if v is None else integer(min=1)(p, v))

    def _cross_check(self) -> None:
        if self.pattern is not None and not self.pattern:
            raise ConfigError("rule.pattern", self.pattern, "a non-empty glob string")
        _kind_fields(self, "rule")


def _kind_fields(cfg: Any, section: str) -> None:
    """``rate`` and ``burst`` belong to token_bucket; a sliding window has neither."""
    if cfg.kind == "sliding_window":
        for name in ("rate", "burst"):
            if getattr(cfg, name) is not None:
                raise ConfigError(
                    f"{section}.{name}", getattr(cfg, name), "null unless kind is 'token_bucket'"
                )


@dataclass(frozen=True)
class LimiterConfig(_Checked):
    """Client-side rate limiting; ``kind``/``limit``/``window`` are the per-origin default."""

    _section = "limiter"

    enabled: bool = _f(True, boolean)
    mode: str = _f("wait", choice("wait", "reject"))
    kind: str = _f("sliding_window", choice("sliding_window", "token_bucket"))
    limit: int = _f(100, integer(min=1))
    window: float = _f(60.0, number(min=0.0, exclusive=True))
    rate: float | None = _f(None, number(min=0.0, exclusive=True, optional=True))
    burst: int | None = _f(None, lambda p, v: None if v is None else integer(min=1)(p, v))
    rules: tuple[RateLimitRule, ...] = _f((), lambda p, v: _rules(p, v))
    max_keys: int = _f(1000, integer(min=1))

    def _cross_check(self) -> None:
        _kind_fields(self, "limiter")


@dataclass(frozen=True)
class QueueConfig(_Checked):
    """Concurrency limit and waiting room."""

    _section = "queue"

    concurrency: int = _f(10, integer(min=1))
    max_waiting: int = _f(1000, integer(min=0))
    max_wait: Mapping[str, float | None] | None = _f(None, lambda p, v: _max_wait(p, v))


@dataclass(frozen=True)
class RetryConfig(_Checked):
    """Retries with backoff and jitter, plus the retry budget."""

    _section = "retry"

    max_retries: int = _f(3, integer(min=0))
    base: float = _f(1.0, number(min=0.0))
    factor: float = _f(2.0, number(min=1.0))
    cap: float = _f(30.0, number(min=0.0))
    jitter: str = _f("decorrelated", choice("none", "full", "equal", "decorrelated"))
    retry_statuses: frozenset[int] = _f(frozenset({408, 429, 500, 502, 503, 504}), statuses)
    max_retry_after: float = _f(60.0, number(min=0.0))
    budget_ratio: float = _f(0.2, number(min=0.0, max=1000.0))
    budget_min_per_second: float = _f(10.0, number(min=0.0))
    budget_ttl: float = _f(10.0, number(min=0.0, exclusive=True))

    def _cross_check(self) -> None:
        if self.cap < self.base:
            raise ConfigError("retry.cap", self.cap, ">= retry.base")


@dataclass(frozen=True)
class TimeoutConfig(_Checked):
    """Per-attempt and total (across retries) deadlines in seconds; null disables one."""

    _section = "timeout"

    attempt: float | None = _f(30.0, number(min=0.0, exclusive=True, optional=True))
    total: float | None = _f(120.0, number(min=0.0, exclusive=True, optional=True))
    # How long close() lets calls in flight finish before aborting them (0: at once).
    close: float | None = _f(10.0, number(min=0.0, optional=True))


def _probe_url(path: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not (
        value.startswith("/") or value.lower().startswith(("http://", "https://"))
    ):
        raise ConfigError(path, value, "an http(s) URL, a path starting with '/', or null")
    return value


@dataclass(frozen=True)
class NetworkConfig(_Checked):
    """Network awareness: the offline gate and the reachability probe; times in seconds."""

    _section = "network"

    mode: str = _f("pause", choice("pause", "fail", "always"))
    probe: bool = _f(True, boolean)
    probe_url: str | None = _f(None, _probe_url)
    probe_timeout: float = _f(5.0, number(min=0.0, exclusive=True))
    probe_base: float = _f(1.0, number(min=0.0, exclusive=True))
    probe_cap: float = _f(30.0, number(min=0.0, exclusive=True))
    debounce: float = _f(0.5, number(min=0.0, max=60.0))
    resume_jitter: float = _f(1.0, number(min=0.0, max=60.0))
    failures_to_unreachable: int = _f(1, integer(min=1))

    def _cross_check(self) -> None:
        if self.probe_cap < self.probe_base:
            raise ConfigError("network.probe_cap", self.probe_cap, ">= network.probe_base")


@dataclass(frozen=True)
class CacheConfig(_Checked):
    """The query cache (TanStack Query's model) and HTTP revalidation; times in seconds."""

    _section = "cache"

    enabled: bool = _f(True, boolean)
    stale_time: float = _f(0.0, number(min=0.0))
    gc_time: float = _f(300.0, number(min=0.0))
    max_bytes: int = _f(10_000_000, integer(min=1))
    refetch_on_window_focus: bool = _f(True, boolean)
    refetch_on_reconnect: bool = _f(True, boolean)
    revalidate: bool = _f(True, boolean)


@dataclass(frozen=True)
class DedupeConfig(_Checked):
    """In-flight dedupe of identical GET/HEAD requests."""

    _section = "dedupe"

    enabled: bool = _f(True, boolean)


def build(cls: type[C], value: Any, path: str) -> C:
    """Validate a mapping (or an instance, or None for defaults) into ``cls``."""
    if value is None:
        value = {}
    if isinstance(value, cls):
        return value
    if isinstance(value, bool) and hasattr(cls, "enabled"):
        value = {"enabled": value}
    if not isinstance(value, Mapping):
        raise ConfigError(path, value, f"an object with fields {_names(cls)}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, raw in value.items():
        if key not in names:
            raise ConfigError(f"{path}.{key}", raw, f"a known field: {_names(cls)}")
    try:
        return cls(**value)
    except ConfigError as exc:
        # The dataclass names its own section; the caller knows where it sits.
        if exc.field.startswith(f"{path}."):
            raise
        raise ConfigError(f"{path}.{exc.field.split('.', 1)[-1]}", exc.value, exc.allowed) from None


def _names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _rules(path: str, value: Any) -> tuple[RateLimitRule, ...]:
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise ConfigError(path, value, "a list of rule objects")
    rules = tuple(build(RateLimitRule, rule, f"{path}[{i}]") for i, rule in enumerate(value))
    for i, rule in enumerate(rules):
        if rule.pattern is None:
            raise ConfigError(f"{path}[{i}].pattern", None, "a glob string such as '*/upload*'")
    return rules


def _max_wait(path: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(path, value, f"an object keyed by priority ({', '.join(PRIORITIES)})")
    out: dict[str, float | None] = {}
    for key, seconds in value.items():
        if key not in PRIORITIES:
            raise ConfigError(f"{path}.{key}", seconds, f"priority keys {', '.join(PRIORITIES)}")
        out[key] = number(min=0.0, exclusive=True, optional=True)(f"{path}.{key}", seconds)
    return out


@dataclass(frozen=True)
class OutboxConfig(_Checked):
    """The durable outbox: where writes are kept, its bounds, and its replay backoff."""

    _section = "outbox"

    store: str = _f("memory", choice("memory", "sqlite", "indexeddb"))
    # The IndexedDB database name, or the SQLite file path.
    name: str = _f("resilient-fetch-outbox", lambda p, v: _text(p, v))
    max_entries: int = _f(1000, integer(min=1))
    max_bytes: int = _f(5_000_000, integer(min=1))
    max_attempts: int = _f(25, integer(min=1))
    # 24 h: the demo backend keeps idempotency keys that long, so no replay outlives its key.
    max_age: float = _f(86_400.0, number(min=0.0, exclusive=True))
    backoff: float = _f(1.0, number(min=0.0, exclusive=True))
    backoff_cap: float = _f(300.0, number(min=0.0, exclusive=True))

    def _cross_check(self) -> None:
        if self.backoff_cap < self.backoff:
            raise ConfigError("outbox.backoff_cap", self.backoff_cap, ">= outbox.backoff")


def _text(path: str, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise ConfigError(path, value, "a non-empty string")
    return value


@dataclass(frozen=True)
class UploadConfig(_Checked):
    """Resumable uploads (tus 1.0): chunks, per-request limits, giving up, remembered uploads."""

    _section = "upload"

    # 1 MiB: fits the demo backend's request size limit; a 413 halves it.
    chunk_size: int = _f(1_048_576, integer(min=1))
    priority: str = _f("low", choice(*PRIORITIES))
    # Per attempt (a chunk on a slow link), and per request including waits in
    # the queue, the limiter and the offline gate.
    timeout: float = _f(120.0, number(min=0.0, exclusive=True))
    total_timeout: float = _f(300.0, number(min=0.0, exclusive=True))
    # Failures in a row with no byte confirmed by the server, then UPLOAD_FAILED.
    max_stalls: int = _f(8, integer(min=1))
    retry_base: float = _f(1.0, number(min=0.0))
    retry_cap: float = _f(30.0, number(min=0.0))
    # Re-sends of one chunk the server refused with 460, then CHECKSUM_MISMATCH.
    checksum_retries: int = _f(3, integer(min=0))
    # Longest wait for the network to come back before UPLOAD_FAILED (null: no limit).
    max_offline: float | None = _f(3600.0, number(min=0.0, exclusive=True, optional=True))
    # Unfinished uploads remembered in the outbox's store, so the same data resumes.
    max_remembered: int = _f(20, integer(min=0))

    def _cross_check(self) -> None:
        if self.total_timeout < self.timeout:
            raise ConfigError("upload.total_timeout", self.total_timeout, ">= upload.timeout")
        if self.retry_cap < self.retry_base:
            raise ConfigError("upload.retry_cap", self.retry_cap, ">= upload.retry_base")


@dataclass(frozen=True)
class RequestOptions(_Checked):
    """Per-request overrides; None means "use the client's setting"."""

    _section = "request"

    priority: str = _f("normal", choice(*PRIORITIES))
    timeout: float | None = _f(None, number(min=0.0, exclusive=True, optional=True))
    total_timeout: float | None = _f(None, number(min=0.0, exclusive=True, optional=True))
    max_retries: int | None = _f(None, lambda p, v: None if v is None else integer(min=0)(p, v))
    idempotency_key: str | bool | None = _f(None, lambda p, v: _idem(p, v))
    rate_limit_mode: str | None = _f(
        None, lambda p, v: None if v is None else choice("wait", "reject")(p, v)
    )
    dedupe: bool | None = _f(None, lambda p, v: None if v is None else boolean(p, v))


@dataclass(frozen=True)
class CloseOptions(_Checked):
    """``close(timeout=...)`` for one call; None waits for every call in flight."""

    _section = "close"

    timeout: float | None = _f(None, number(min=0.0, optional=True))


def _idem(path: str, value: Any) -> Any:
    if value is None or value is False or (isinstance(value, str) and 0 < len(value) <= 255):
        return value
    raise ConfigError(path, value, "a non-empty string (max 255 chars), false or null")
