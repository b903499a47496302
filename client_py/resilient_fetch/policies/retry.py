"""Retry policy: which failures are retried, for which methods, and how long to back off.

Backoff strategies (as in the AWS "Exponential Backoff and Jitter" article) are
small functions keyed by name. For retry ``n`` (1-based) with ``exp(n) = min(cap,
base * factor ** (n - 1))`` and ``prev`` the previous delay (``base`` at first, and
never less than ``base``)::

    none          exp(n)
    full          uniform(0, exp(n))
    equal         exp(n) / 2 + uniform(0, exp(n) / 2)
    decorrelated  min(cap, uniform(base, prev * (factor + 1)))

so ``factor`` sets the growth of every strategy: with the default factor 2,
decorrelated is AWS's ``uniform(base, prev * 3)``; a larger factor widens the range
each retry draws from (the expected delay grows about ``(factor + 1) / 2`` times
per retry), and factor 1 keeps the delays near ``base``.

A server's ``Retry-After`` (read by ``policies.limiter.server_wait``) wins over
backoff and is honoured exactly; one longer than ``max_retry_after`` is not waited
for: ``delay_for`` raises RateLimitedError.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

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
    high = prev * (policy.factor + 1)
    return min(policy.cap, max(policy.base, policy.rng.uniform(policy.base, high)))


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

    def should_retry_status(self, status: int) -> bool:
        """True for the statuses worth another attempt (408, 429, 5xx gateway errors)."""
        return status in self.retry_statuses

    def should_retry_error(self, exc: BaseException) -> bool:
        """True for network errors, per-attempt timeouts and a bounded RateLimitedError."""
        if isinstance(exc, OfflineError):
            return False  # another attempt cannot help before the network is back
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


def has_idempotency_key(headers: Mapping[str, str] | None) -> bool:
    """True when the headers carry a non-empty Idempotency-Key (any letter case)."""
    if not headers:
        return False
    wanted = IDEMPOTENCY_HEADER.lower()
    return any(name.lower() == wanted and str(value).strip() for name, value in headers.items())


def _statuses(value: Iterable[int]) -> frozenset[int]:
    try:
        statuses = frozenset(value)
    except TypeError:
        raise ConfigError("retry.retry_statuses", value, "a set of HTTP statuses") from None
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigError("retry.retry_statuses", status, "HTTP statuses in 100..599")
    return statuses
