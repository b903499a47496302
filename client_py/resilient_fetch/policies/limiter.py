"""Client-side rate limiting: token bucket and exact sliding window, per key, plus
server signals (Retry-After, RateLimit-*, X-RateLimit-*) turned into shared cooldowns.

A key is the rule's pattern plus the request's origin, so every route rule keeps its
own counter per origin. Waiters for one key queue FIFO behind an ``asyncio.Lock``;
tokens are only ever taken synchronously, so a cancelled waiter takes nothing.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from .. import _validate
from .._clock import Clock, SystemClock
from .._errors import ConfigError, RateLimitedError
from .._events import EventSink
from .._models import Headers
from ._bounded import BoundedKeys

KINDS = ("token_bucket", "sliding_window")
MODES = ("wait", "reject")

# Refusals always ask for a positive wait, so a waiter can never spin without time
# moving; and a bucket a float rounding short of a whole token counts as full (so
# `now + wait` always finds the token, at the cost of a millionth of a token).
_MIN_WAIT = 1e-9
_TOKEN_SLACK = 1e-6


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; starts full."""

    def __init__(self, rate: float, burst: int, *, clock: Clock | None = None) -> None:
        self.rate = _validate.number("limiter.rate", rate, low_inclusive=False)
        self.burst = _validate.integer("limiter.burst", burst, low=1)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._tokens = float(self.burst)
        self._updated = self._clock.now()

    def _refill(self, now: float) -> float:
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
        return self._tokens

    def try_acquire(self, now: float | None = None) -> float:
        """0.0 and one token taken, or the seconds until a token is available (none taken)."""
        tokens = self._refill(self._clock.now() if now is None else now)
        if tokens >= 1.0 - _TOKEN_SLACK:
            self._tokens = max(0.0, tokens - 1.0)
            return 0.0
        return max((1.0 - tokens) / self.rate, _MIN_WAIT)

    def wait_time(self, count: int = 1, now: float | None = None) -> float:
        """Seconds until ``count`` more admissions are possible (takes nothing)."""
        tokens = self._refill(self._clock.now() if now is None else now)
        if tokens >= count - _TOKEN_SLACK:
            return 0.0
        return (count - tokens) / self.rate

    def idle(self, now: float) -> bool:
        """True when the bucket is full again (a fresh one would behave the same)."""
        return self._refill(now) >= self.burst - _TOKEN_SLACK

    def snapshot(self) -> dict[str, Any]:
        """Tokens left now, rate and burst."""
        return {
            "kind": "token_bucket",
            "tokens": self._refill(self._clock.now()),
            "rate": self.rate,
            "burst": self.burst,
        }


class SlidingWindow:
    """At most ``limit`` admissions in any closed interval of ``window`` seconds.

    Same rule as the ``limits`` moving window: a call at ``now`` is refused while the
    ``limit``-th most recent admission is at or after ``now - window``. Keeps only the
    last ``limit`` admission times.
    """

    def __init__(self, limit: int, window: float, *, clock: Clock | None = None) -> None:
        self.limit = _validate.integer("limiter.limit", limit, low=1)
        self.window = _validate.number("limiter.window", window, low_inclusive=False)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._times: deque[float] = deque(maxlen=self.limit)

    @staticmethod
    def _wait_until(release: float, now: float) -> float:
        # Admission needs a time > release, and a sleeper wakes at `now + wait` in
        # float arithmetic: nudge the wait until that sum lands past the release.
        wait = max(release - now, _MIN_WAIT)
        for _ in range(64):
            if now + wait > release:
                return wait
            wait = math.nextafter(wait, math.inf)
        return wait + _MIN_WAIT  # pragma: no cover - a few ulps always suffice

    def try_acquire(self, now: float | None = None) -> float:
        """0.0 and the admission recorded, or the seconds until one is allowed."""
        now = self._clock.now() if now is None else now
        times = self._times
        if len(times) == self.limit and times[0] >= now - self.window:
            return self._wait_until(times[0] + self.window, now)
        times.append(now)
        return 0.0

    def wait_time(self, count: int = 1, now: float | None = None) -> float:
        """Seconds until ``count`` more admissions are possible (takes nothing)."""
        now = self._clock.now() if now is None else now
        rounds, count = divmod(count - 1, self.limit)
        index = len(self._times) + count - self.limit
        if index < 0 or self._times[index] < now - self.window:
            return rounds * self.window
        return self._wait_until(self._times[index] + self.window, now) + rounds * self.window

    def idle(self, now: float) -> bool:
        """True when no admission is left in the window ending at ``now``."""
        return not self._times or self._times[-1] < now - self.window

    def snapshot(self) -> dict[str, Any]:
        """Use of the window ending now and when the oldest admission in it expires."""
        now = self._clock.now()
        live = [t for t in self._times if t >= now - self.window]
        return {
            "kind": "sliding_window",
            "used": len(live),
            "limit": self.limit,
            "window": self.window,
            "resetIn": live[0] + self.window - now if live else 0.0,
        }


# -- server signals ------------------------------------------------------------

_DELTA = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
# Above ten years a "delta" is an epoch timestamp; above 1e12, epoch milliseconds.
_EPOCH_SECONDS = 10 * 365 * 86400.0
_EPOCH_MILLIS = 1e12
# The longest wait any server signal can produce. A larger (or overflowing, e.g.
# 400-digit) value still means "back off", so it is clamped here rather than dropped;
# the limiter then caps it at ``max_cooldown`` and the retry stage refuses to wait
# longer than ``retry.max_retry_after``. Nothing downstream ever sees inf or NaN.
MAX_SERVER_WAIT = 365 * 86400.0
# Statuses on which Retry-After asks *this* client to wait (RFC 9110 section 10.2.3
# also allows it on 3xx, where it only delays a redirect).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def _clamp(seconds: float) -> float:
    if seconds != seconds:  # NaN: only reachable through a NaN wall clock
        return MAX_SERVER_WAIT
    return min(max(seconds, 0.0), MAX_SERVER_WAIT)


def parse_retry_after(value: str, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After value, in [0, MAX_SERVER_WAIT]; None if invalid.

    Accepts delta-seconds (a negative one means "now") and HTTP dates (a date
    without a zone is read as UTC); absurdly large values are clamped, never inf.
    """
    if not isinstance(value, str):
        return None
    if _DELTA.match(value):
        return _clamp(float(value))
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - Python < 3.10 returned None
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time
        when = when.replace(tzinfo=UTC)
    return _clamp(when.timestamp() - now_wall)


def _number(value: str | None) -> float | None:
    return float(value) if value is not None and _DELTA.match(value) else None


def _reset_seconds(value: str | None, now_wall: float) -> float | None:
    number = _number(value)
    if number is None:
        return None
    if number > _EPOCH_MILLIS:
        number = number / 1000.0 - now_wall
    elif number > _EPOCH_SECONDS:
        number -= now_wall
    return _clamp(number)


def _split_list(value: str) -> list[str]:
    """Top-level comma-separated members, ignoring commas inside quoted strings."""
    members: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            members.append("".join(current))
            current = []
            continue
        current.append(char)
    members.append("".join(current))
    return members


def _combined_policies(value: str) -> list[dict[str, str]]:
    """Policies of a ``RateLimit`` header, each as a dict of its parameters.

    Two drafts are in use: ``limit=100, remaining=0, reset=30`` (one policy, a
    parameter per member) and ``"burst";r=0;t=1, "daily";r=50;t=3600`` (a member per
    policy, ``r`` remaining and ``t`` seconds to reset).
    """
    legacy: dict[str, str] = {}
    policies: list[dict[str, str]] = []
    for member in _split_list(value):
        head, *params = member.split(";")
        name, sep, item = head.partition("=")
        if sep and not name.strip().startswith('"'):
            legacy.setdefault(name.strip().lower(), item.strip().strip('"'))
            continue
        policy: dict[str, str] = {}
        for param in params:
            key, sep, item = param.partition("=")
            if sep:
                policy.setdefault(key.strip().lower(), item.strip().strip('"'))
        policies.append(policy)
    if legacy:
        policies.append(legacy)
    return policies


def server_wait(headers: Mapping[str, str], status: int, now_wall: float) -> float | None:
    """The wait (seconds) the server asks for, or None when it sends no such signal.

    ``Retry-After`` counts only on 429 and 503 (a 200 or a redirect carrying one asks
    nothing of us). A rate-limit policy (``RateLimit-*``, ``X-RateLimit-*`` or each
    policy of a ``RateLimit`` header) with nothing remaining asks for a wait until its
    reset, on any status; a 429 with no Retry-After waits for the resets it names.
    When several policies apply the most restrictive (the longest wait) wins. The
    result is always finite, within [0, MAX_SERVER_WAIT].
    """
    headers = headers if isinstance(headers, Headers) else Headers(headers)
    if status in RETRY_AFTER_STATUSES:
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            wait = parse_retry_after(retry_after, now_wall)
            if wait is not None:
                return wait
    policies = [
        (headers.get("RateLimit-Remaining"), headers.get("RateLimit-Reset")),
        (headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")),
    ]
    combined = headers.get("RateLimit")
    if combined is not None:
        for policy in _combined_policies(combined):
            remaining = policy.get("r", policy.get("remaining"))
            policies.append((remaining, policy.get("t", policy.get("reset"))))
    exhausted: list[float] = []
    resets: list[float] = []
    for remaining, reset in policies:
        wait = _reset_seconds(reset, now_wall)
        if wait is None:
            continue
        resets.append(wait)
        left = _number(remaining)
        if left is not None and left <= 0:
            exhausted.append(wait)
    if exhausted:
        return max(exhausted)
    if status == 429 and resets:
        return max(resets)
    return None


# -- rules and the limiter -----------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One limit: ``pattern`` (fnmatch glob on the full URL; None = default, per origin).

    sliding_window uses ``limit`` per ``window`` seconds. token_bucket uses ``rate``
    tokens/s and ``burst``, which default to ``limit / window`` and ``limit``.
    """

    pattern: str | None = None
    kind: str = "sliding_window"
    limit: int = 100
    window: float = 60.0
    rate: float | None = None
    burst: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], field: str = "limiter.rule") -> Rule:
        """Build from config such as ``{"pattern": "*/upload*", "limit": 5, "window": 60}``."""
        if not isinstance(data, Mapping):
            raise ConfigError(field, data, "a mapping of rule settings")
        known = {f.name for f in fields(cls)}
        for name in data:
            if name not in known:
                raise ConfigError(f"{field}.{name}", data[name], f"one of {sorted(known)}")
        rule = cls(**data)
        rule.validate(field)
        return rule

    def validate(self, field: str = "limiter.rule") -> None:
        """Raise ConfigError naming ``field.<name>`` for any invalid setting."""
        if self.pattern is not None and (not isinstance(self.pattern, str) or not self.pattern):
            raise ConfigError(f"{field}.pattern", self.pattern, "a non-empty glob string or None")
        if self.kind not in KINDS:
            raise ConfigError(f"{field}.kind", self.kind, f"one of {list(KINDS)}")
        _validate.integer(f"{field}.limit", self.limit, low=1)
        _validate.number(f"{field}.window", self.window, low_inclusive=False)
        if self.kind == "sliding_window":
            for name in ("rate", "burst"):
                if getattr(self, name) is not None:
                    raise ConfigError(
                        f"{field}.{name}", getattr(self, name), "None for sliding_window"
                    )
        if self.rate is not None:
            _validate.number(f"{field}.rate", self.rate, low_inclusive=False)
        if self.burst is not None:
            _validate.integer(f"{field}.burst", self.burst, low=1)

    def build(self, clock: Clock) -> TokenBucket | SlidingWindow:
        """A fresh counter for one key."""
        if self.kind == "token_bucket":
            rate = self.rate if self.rate is not None else self.limit / self.window
            burst = self.burst if self.burst is not None else self.limit
            return TokenBucket(rate, burst, clock=clock)
        return SlidingWindow(self.limit, self.window, clock=clock)


class _KeyState:
    __slots__ = ("cooldown_until", "counter", "lock", "waiting")

    def __init__(self, counter: TokenBucket | SlidingWindow) -> None:
        self.counter = counter
        self.cooldown_until = -math.inf
        self.lock = asyncio.Lock()
        self.waiting = 0

    def pinned(self, now: float) -> bool:
        """True while evicting would lose something callers rely on."""
        return self.waiting > 0 or self.lock.locked() or self.cooldown_until > now

    def idle(self, now: float) -> bool:
        """True when a fresh counter would behave exactly the same."""
        return not self.pinned(now) and self.counter.idle(now)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased ("" for a relative URL)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""


class RateLimiter:
    """Per-key limits with route rules, wait-or-reject, and shared server cooldowns.

    Per-key state is bounded (see ``_bounded``). A key is dropped when idle (its
    counter is back to fresh: the window has passed or the bucket is full, with no
    cooldown and no waiters); sweeps run as new keys arrive, and ``prune()`` runs one
    now. At ``max_keys`` a new key evicts the least recently used key that has no
    active cooldown and no waiters (forgetting its recent admissions). Keys with a
    cooldown or waiters are never evicted, so only they can take the count past
    ``max_keys``.

    A server's wait (``observe``) is capped at ``max_cooldown`` seconds.
    """

    def __init__(
        self,
        *,
        rules: Sequence[Rule | Mapping[str, Any]] | None = None,
        default: Rule | Mapping[str, Any] | None = None,
        mode: str = "wait",
        clock: Clock | None = None,
        on_event: EventSink | None = None,
        key_fn: Callable[[str], str] | None = None,
        max_cooldown: float = 60.0,
        max_keys: int = 1000,
    ) -> None:
        if mode not in MODES:
            raise ConfigError("limiter.mode", mode, f"one of {list(MODES)}")
        if rules is not None and not isinstance(rules, list | tuple):
            raise ConfigError("limiter.rules", rules, "a list of rules")
        self.mode = mode
        self.rules = [
            _rule(rule, f"limiter.rules[{i}]", route=True) for i, rule in enumerate(rules or [])
        ]
        self.default = _rule(Rule() if default is None else default, "limiter.default", route=False)
        if key_fn is not None and not callable(key_fn):
            raise ConfigError("limiter.key_fn", key_fn, "a callable url -> key or None")
        self.max_cooldown = _validate.number("limiter.max_cooldown", max_cooldown)
        self.max_keys = _validate.integer("limiter.max_keys", max_keys, low=1)
        self._key_fn = key_fn or origin_of
        self._matchers = [re.compile(fnmatch.translate(r.pattern or "")) for r in self.rules]
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_event = on_event
        self._keys: BoundedKeys[_KeyState] = BoundedKeys(
            self.max_keys, pinned=_KeyState.pinned, idle=_KeyState.idle
        )

    def _match(self, url: str) -> tuple[str, Rule]:
        rule = self.default
        for candidate, matcher in zip(self.rules, self._matchers, strict=True):
            if matcher.match(url):
                rule = candidate
                break
        base = self._key_fn(url)
        return (base if rule.pattern is None else f"{base}|{rule.pattern}"), rule

    def _resolve(self, url: str, now: float) -> tuple[str, _KeyState]:
        key, rule = self._match(url)
        state = self._keys.get(key)
        if state is None:
            state = self._keys.insert(key, _KeyState(rule.build(self._clock)), now)
        return key, state

    def prune(self) -> int:
        """Drop every idle key now; returns how many were dropped."""
        now = self._clock.now()
        return self._keys.sweep(now, now)

    def key_for(self, url: str) -> str:
        """The limiter key a URL counts against."""
        return self._match(url)[0]

    def _emit(self, key: str, wait: float, source: str, action: str) -> None:
        if self._on_event is not None:
            self._on_event(
                "rate_limited", {"key": key, "retryAfter": wait, "source": source, "action": action}
            )

    def _refuse(self, key: str, wait: float, why: str) -> RateLimitedError:
        return RateLimitedError(
            f"rate limit for {key or '<default>'} {why}; retry in {wait:.3f}s",
            key=key,
            retry_after=wait,
        )

    async def acquire(
        self, url: str, *, deadline: float | None = None, mode: str | None = None
    ) -> None:
        """Take one admission for ``url``: wait (bounded by ``deadline``) or reject.

        ``mode`` overrides the limiter's mode for this call; ``deadline`` is absolute
        clock time.
        """
        if mode is None:
            mode = self.mode
        elif mode not in MODES:
            raise ConfigError("limiter.mode", mode, f"one of {list(MODES)}")
        now = self._clock.now()
        key, state = self._resolve(url, now)
        cooldown = state.cooldown_until - now
        if state.waiting == 0 and cooldown <= 0 and state.counter.try_acquire(now) == 0.0:
            return
        # Behind `waiting` others, our turn comes once waiting + 1 admissions are possible.
        wait = max(cooldown, state.counter.wait_time(state.waiting + 1, now), _MIN_WAIT)
        source = "server" if cooldown > 0 else "local"
        if mode == "reject":
            self._emit(key, wait, source, "reject")
            raise self._refuse(key, wait, "is exhausted")
        if deadline is not None and now + wait > deadline:
            self._emit(key, wait, source, "reject")
            raise self._refuse(key, wait, "needs a wait past the deadline")
        self._emit(key, wait, source, "wait")
        state.waiting += 1
        try:
            async with state.lock:
                while True:
                    now = self._clock.now()
                    wait = state.cooldown_until - now
                    if wait <= 0:
                        wait = state.counter.try_acquire(now)
                        if wait == 0.0:
                            return
                    if deadline is not None and now + wait > deadline:
                        raise self._refuse(key, wait, "needs a wait past the deadline")
                    await self._clock.sleep(wait)
        finally:
            state.waiting -= 1

    def observe(self, url: str, status: int, headers: Mapping[str, str]) -> float | None:
        """Turn a response's rate-limit signal into a cooldown for its key.

        Returns the cooldown applied (the server's wait capped at ``max_cooldown``),
        or None when the response carries no signal (see ``server_wait``).
        """
        wait = server_wait(headers, status, self._clock.wall())
        if wait is None:
            return None
        wait = min(wait, self.max_cooldown)
        now = self._clock.now()
        key, state = self._resolve(url, now)
        state.cooldown_until = max(state.cooldown_until, now + wait)
        self._emit(key, wait, "server", "cooldown")
        return wait

    def cooldown_remaining(self, url: str) -> float:
        """Seconds left in the server-imposed cooldown for ``url``'s key."""
        state = self._keys.peek(self._match(url)[0])
        return 0.0 if state is None else max(0.0, state.cooldown_until - self._clock.now())

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per key: counter state, cooldown remaining and callers waiting."""
        now = self._clock.now()
        return {
            key: {
                **state.counter.snapshot(),
                "cooldown": max(0.0, state.cooldown_until - now),
                "waiting": state.waiting,
            }
            for key, state in self._keys.items()
        }


def _rule(value: Rule | Mapping[str, Any], field: str, *, route: bool) -> Rule:
    rule = value if isinstance(value, Rule) else Rule.from_dict(value, field)
    rule.validate(field)
    if route and rule.pattern is None:
        raise ConfigError(f"{field}.pattern", None, "a glob string (the default rule has none)")
    if not route and rule.pattern is not None:
        raise ConfigError(f"{field}.pattern", rule.pattern, "None (the default rule is per origin)")
    return rule
