"""Retry policy: which failures are retried, for which methods, and how long to back off.

Backoff strategies (``none``, ``full``, ``equal``, ``decorrelated``, as in the AWS
"Exponential Backoff and Jitter" article) are small functions keyed by name.
A server's ``Retry-After`` wins over backoff and is honoured exactly; one longer
than ``max_retry_after`` is not waited for: ``delay_for`` raises RateLimitedError.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from .. import _validate
from .._errors import (
    ConfigError,
    NetworkError,
    OfflineError,
    RateLimitedError,
    TimeoutError,
)

if TYPE_CHECKING:
    from .._models import Request, Response

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
KEYED_METHODS = frozenset({"POST", "PATCH"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _exponential(policy: RetryPolicy, attempt: int) -> float:
    try:
        return min(policy.cap, policy.base * policy.factor ** (attempt - 1))
    except OverflowError:
        return policy.cap


def _no_jitter(policy: RetryPolicy, attempt: int, previous: float | None) -> float:
    return _exponential(policy, attempt)


def _full_jitter(policy: RetryPolicy, attempt: int, previous: float | None) -> float:
    ceiling = _exponential(policy, attempt)
    return min(ceiling, policy.rng.uniform(0.0, ceiling))


def _equal_jitter(policy: RetryPolicy, attempt: int, previous: float | None) -> float:
    ceiling = _exponential(policy, attempt)
    return min(ceiling, ceiling / 2 + policy.rng.uniform(0.0, ceiling / 2))


def _decorrelated_jitter(policy: RetryPolicy, attempt: int, previous: float | None) -> float:
    # A previous sleep below base (e.g. a Retry-After of 0) would let the range collapse.
    prev = policy.base if previous is None else max(previous, policy.base)
    return min(policy.cap, max(policy.base, policy.rng.uniform(policy.base, prev * 3)))


JITTERS: dict[str, Callable[[RetryPolicy, int, float | None], float]] = {
    "none": _no_jitter,
    "full": _full_jitter,
    "equal": _equal_jitter,
    "decorrelated": _decorrelated_jitter,
}


class RetryPolicy:
    """Exponential backoff with jitter plus the rules for what may be retried."""

    def __init__(
        self,
        max_retries: int = 3,
        base: float = 1.0,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: str = "decorrelated",
        retry_statuses: Iterable[int] = DEFAULT_RETRY_STATUSES,
        max_retry_after: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.max_retries = _validate.integer("retry.max_retries", max_retries, low=0)
        self.base = _validate.number("retry.base", base, low=0.0, allowed="seconds >= 0")
        self.factor = _validate.number("retry.factor", factor, low=1.0, allowed="a number >= 1")
        self.cap = _validate.number(
            "retry.cap", cap, low=self.base, allowed=f"seconds >= retry.base ({self.base})"
        )
        if jitter not in JITTERS:
            raise ConfigError("retry.jitter", jitter, f"one of {sorted(JITTERS)}")
        self.jitter = jitter
        self.max_retry_after = _validate.number(
            "retry.max_retry_after", max_retry_after, low=0.0, allowed="seconds >= 0"
        )
        statuses = _statuses(retry_statuses)
        self.retry_statuses = statuses
        self.rng = rng if rng is not None else random.Random()
        self._strategy = JITTERS[jitter]

    def backoff(self, attempt: int, previous: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based); within [0, cap]."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ConfigError("retry.attempt", attempt, "an int >= 1 (the first retry is 1)")
        return min(self.cap, max(0.0, self._strategy(self, attempt, previous)))

    def delay_for(
        self,
        attempt: int,
        previous: float | None = None,
        retry_after: float | None = None,
        *,
        request: Request | None = None,
        response: Response | None = None,
    ) -> float:
        """The wait before retry ``attempt``: Retry-After exactly when given, else backoff.

        A Retry-After longer than ``max_retry_after`` raises RateLimitedError instead.
        """
        if retry_after is None or math.isnan(retry_after):
            return self.backoff(attempt, previous)
        if retry_after > self.max_retry_after:
            raise RateLimitedError(
                f"server asked to retry after {retry_after}s, more than "
                f"max_retry_after={self.max_retry_after}s",
                retry_after=retry_after,
                request=request,
                response=response,
            )
        return max(retry_after, 0.0)

    def can_retry(self, attempt: int) -> bool:
        """True while retry number ``attempt`` (1-based) is within ``max_retries``."""
        return 1 <= attempt <= self.max_retries

    def should_retry_status(self, status: int) -> bool:
        """True for the statuses worth another attempt (408, 429, 5xx gateway errors)."""
        return status in self.retry_statuses

    def should_retry_error(self, exc: BaseException) -> bool:
        """True for network errors, per-attempt timeouts and a bounded RateLimitedError."""
        if isinstance(exc, OfflineError):
            return False  # the offline gate waits for the network instead
        if isinstance(exc, NetworkError):
            return True
        if isinstance(exc, TimeoutError):
            return exc.kind == "attempt"
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is not None and exc.retry_after <= self.max_retry_after
        return False

    @staticmethod
    def is_retryable_method(method: str, headers: Mapping[str, str] | None = None) -> bool:
        """Idempotent methods always; POST and PATCH only with an Idempotency-Key header."""
        method = method.upper()
        if method in IDEMPOTENT_METHODS:
            return True
        return method in KEYED_METHODS and has_idempotency_key(headers)

    def should_retry(
        self,
        attempt: int,
        method: str,
        headers: Mapping[str, str] | None = None,
        *,
        status: int | None = None,
        error: BaseException | None = None,
    ) -> bool:
        """All rules at once: retry ``attempt`` of this method after this status or error."""
        if not self.can_retry(attempt) or not self.is_retryable_method(method, headers):
            return False
        if error is not None:
            return self.should_retry_error(error)
        return status is not None and self.should_retry_status(status)

    def snapshot(self) -> dict[str, Any]:
        """The configuration as plain data."""
        return {
            "maxRetries": self.max_retries,
            "base": self.base,
            "factor": self.factor,
            "cap": self.cap,
            "jitter": self.jitter,
            "retryStatuses": sorted(self.retry_statuses),
            "maxRetryAfter": self.max_retry_after,
        }


def has_idempotency_key(headers: Mapping[str, str] | None) -> bool:
    """True when the headers carry a non-empty Idempotency-Key (any letter case)."""
    if not headers:
        return False
    wanted = IDEMPOTENCY_HEADER.lower()
    return any(name.lower() == wanted and str(value).strip() for name, value in headers.items())


def parse_retry_after(value: str | None, *, wall_now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date), else None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zoneless one is not trustworthy
    return max(0.0, when.timestamp() - wall_now)


def _statuses(value: Iterable[int]) -> frozenset[int]:
    try:
        statuses = frozenset(value)
    except TypeError:
        raise ConfigError("retry.retry_statuses", value, "a set of HTTP statuses") from None
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigError("retry.retry_statuses", status, "HTTP statuses in 100..599")
    return statuses
