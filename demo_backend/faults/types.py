"""The fault types, one small class each (toxiproxy style)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Response
from limits import parse_many

from .base import (
    MAX_DELAY_MS,
    Fault,
    FaultContext,
    FaultSpecError,
    fault_response,
    int_field,
    status_field,
)


@dataclass(frozen=True, kw_only=True)
class Latency(Fault):
    """Delay the request by ``ms`` plus or minus up to ``jitter_ms``."""

    type = "latency"
    FIELDS = ("ms", "jitter_ms")
    ms: int
    jitter_ms: int = 0

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "ms": int_field(spec, "ms", 0, MAX_DELAY_MS),
            "jitter_ms": int_field(spec, "jitter_ms", 0, MAX_DELAY_MS, 0),
        }

    def act(self, ctx: FaultContext) -> Response | None:
        delay_ms = max(0.0, self.ms + ctx.uniform(-self.jitter_ms, self.jitter_ms))
        ctx.note(delay_ms=round(delay_ms, 3))
        ctx.wait(delay_ms / 1000)
        return None


@dataclass(frozen=True, kw_only=True)
class Status(Fault):
    """Answer with HTTP ``code`` (e.g. 500, 503, 429), optionally with ``Retry-After``."""

    type = "status"
    FIELDS = ("code", "retry_after")
    code: int
    retry_after: int | None = None

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "code": status_field(spec, "code"),
            "retry_after": int_field(spec, "retry_after", 0, 86_400, None),
        }

    def act(self, ctx: FaultContext) -> Response | None:
        resp = fault_response(self, self.code, f"injected HTTP {self.code} by fault '{self.name}'")
        if self.retry_after is not None:
            resp.headers["Retry-After"] = str(self.retry_after)
        return resp


@dataclass(frozen=True, kw_only=True)
class Flaky(Fault):
    """Fail the first ``fail_first_n`` matching requests with ``code``, then pass."""

    type = "flaky"
    FIELDS = ("fail_first_n", "code")
    fail_first_n: int
    code: int = 503

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "fail_first_n": int_field(spec, "fail_first_n", 1, 1_000_000),
            "code": status_field(spec, "code", 503),
        }

    def wants(self, ctx: FaultContext) -> bool:
        return ctx.first_seen(self) <= self.fail_first_n

    def act(self, ctx: FaultContext) -> Response | None:
        return fault_response(self, self.code, f"flaky fault '{self.name}': HTTP {self.code}")


@dataclass(frozen=True, kw_only=True)
class Down(Fault):
    """The service is down: 503 for every matching request, /health included."""

    type = "down"

    def act(self, ctx: FaultContext) -> Response | None:
        resp = fault_response(self, 503, "service is down (injected)")
        resp.headers["Connection"] = "close"
        return resp


@dataclass(frozen=True, kw_only=True)
class Hang(Fault):
    """Never answer: hold the request up to ``HANG_MAX_S`` (server-side bound), then drop it."""

    type = "hang"

    def act(self, ctx: FaultContext) -> Response | None:
        ctx.wait(ctx.hang_max_s)
        return ctx.drop_connection()


@dataclass(frozen=True, kw_only=True)
class Reset(Fault):
    """Close the connection without any response."""

    type = "reset"

    def act(self, ctx: FaultContext) -> Response | None:
        return ctx.drop_connection()


@dataclass(frozen=True, kw_only=True)
class SlowBody(Fault):
    """Stream the response body at ``bytes_per_s``."""

    type = "slow_body"
    FIELDS = ("bytes_per_s",)
    bytes_per_s: int

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        return {"bytes_per_s": int_field(spec, "bytes_per_s", 1, 100_000_000)}

    def act(self, ctx: FaultContext) -> Response | None:
        ctx.throttle_body(self.bytes_per_s)
        return None


# `N/unit` or `N per M units`, units second to day: the limiter's storage
# overflows on huge amounts or windows, and `1/month` is not documented.
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
MAX_AMOUNT = 1_000_000
MAX_WINDOW_S = 86_400
MAX_LIMITS = 4
LIMIT_RULE = (
    f"'N/second', 'N/minute', 'N/hour' or 'N/day' (or 'N per M minutes'), N from 1 to "
    f"{MAX_AMOUNT}, a window of at most one day, up to {MAX_LIMITS} joined by ';'"
)
_LIMIT = re.compile(
    r"([0-9]{1,7})\s*(?:/|\s+per\s+)\s*(?:([0-9]{1,5})\s+)?(second|minute|hour|day)s?",
    re.IGNORECASE,
)


def _window_ok(text: str) -> bool:
    found = _LIMIT.fullmatch(text)
    if found is None:
        return False
    amount, multiple = int(found[1]), int(found[2] or 1)
    window = multiple * UNIT_SECONDS[found[3].lower()]
    return 1 <= amount <= MAX_AMOUNT and multiple >= 1 and window <= MAX_WINDOW_S


@dataclass(frozen=True, kw_only=True)
class RateLimit(Fault):
    """Enforce ``limit`` (e.g. ``"5/second"``) with flask-limiter: 429, Retry-After, RateLimit-*."""

    type = "rate_limit"
    FIELDS = ("limit",)
    limit: str

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        limit = spec.get("limit")
        if not isinstance(limit, str) or len(limit) > 200:
            raise FaultSpecError("limit", "is required, a string such as '5/second'", LIMIT_RULE)
        parts = [p.strip() for p in limit.split(";")]
        if not 1 <= len(parts) <= MAX_LIMITS or not all(_window_ok(p) for p in parts):
            raise FaultSpecError("limit", f"cannot use {limit[:60]!r}", LIMIT_RULE)
        # Our grammar is a subset of the limits library's; parse with it to be sure.
        try:
            parse_many(limit)
        except ValueError:
            raise FaultSpecError("limit", f"cannot use {limit[:60]!r}", LIMIT_RULE) from None
        return {"limit": limit}

    def act(self, ctx: FaultContext) -> Response | None:
        ctx.rate_limit(self)
        return None


TYPES: dict[str, type[Fault]] = {
    cls.type: cls for cls in (Latency, Status, Flaky, Down, Hang, Reset, SlowBody, RateLimit)
}
