"""Retry policy: defaults, backoff shapes, what is retried, method rules, Retry-After."""

from __future__ import annotations

import random
from typing import Any

import pytest

from resilient_fetch import (
    AbortedError,
    CircuitOpenError,
    ConfigError,
    NetworkError,
    OfflineError,
    QueueFullError,
    RateLimitedError,
    RetryBudgetExceededError,
    TimeoutError,
)
from resilient_fetch._errors import InvalidRequestError
from resilient_fetch._models import Headers, Request
from resilient_fetch.policies.retry import RetryPolicy, has_idempotency_key


def test_defaults_are_the_issue_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 3
    assert (policy.base, policy.factor, policy.cap) == (1.0, 2.0, 30.0)
    assert policy.jitter == "decorrelated"
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert policy.max_retry_after == 60.0


def test_no_jitter_is_exponential_and_capped() -> None:
    policy = RetryPolicy(jitter="none")
    assert [policy.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.backoff(5000) == 30.0  # no OverflowError for absurd attempts


def test_full_and_equal_jitter_ranges() -> None:
    full = RetryPolicy(jitter="full", rng=random.Random(1))
    equal = RetryPolicy(jitter="equal", rng=random.Random(1))
    fulls = [full.backoff(3) for _ in range(300)]
    equals = [equal.backoff(3) for _ in range(300)]
    assert all(0 <= d <= 4 for d in fulls) and min(fulls) < 1 and max(fulls) > 3
    assert all(2 <= d <= 4 for d in equals) and max(equals) > 3.5


def test_decorrelated_grows_from_previous_and_starts_from_base() -> None:
    policy = RetryPolicy(rng=random.Random(7))
    firsts = [policy.backoff(1) for _ in range(200)]
    assert all(1 <= d <= 3 for d in firsts)  # previous defaults to base: uniform(1, 3)
    later = [policy.backoff(2, previous=8.0) for _ in range(200)]
    assert all(1 <= d <= 24 for d in later) and max(later) > 20
    assert all(policy.backoff(3, previous=25.0) <= 30 for _ in range(200))


def test_factor_sets_the_growth_of_decorrelated_jitter() -> None:
    # Decorrelated draws from uniform(base, prev * (factor + 1)): factor 2 is AWS's x3.
    def draws(factor: float) -> list[float]:
        policy = RetryPolicy(factor=factor, cap=1000.0, rng=random.Random(3))
        return [policy.backoff(2, previous=8.0) for _ in range(300)]

    default, wide, narrow = draws(2.0), draws(5.0), draws(1.0)
    assert max(default) <= 24.0 and max(default) > 22.0
    assert max(wide) <= 48.0 and max(wide) > 40.0  # was capped at 3 * prev whatever the factor
    assert max(narrow) <= 16.0 and max(narrow) > 15.0
    assert sum(wide) / len(wide) > 1.5 * sum(default) / len(default)

    # And a whole chain of retries grows faster with a larger factor.
    def chain(factor: float) -> float:
        policy = RetryPolicy(factor=factor, cap=1e9, rng=random.Random(11))
        previous: float | None = None
        for attempt in range(1, 9):
            previous = policy.backoff(attempt, previous)
        assert previous is not None
        return previous

    assert chain(4.0) > chain(2.0) > chain(1.0)


def test_seeded_rng_makes_backoff_reproducible() -> None:
    a = RetryPolicy(jitter="full", rng=random.Random(42))
    b = RetryPolicy(jitter="full", rng=random.Random(42))
    assert [a.backoff(n) for n in range(1, 6)] == [b.backoff(n) for n in range(1, 6)]


def test_statuses_retried_and_not() -> None:
    policy = RetryPolicy()
    for status in (408, 429, 500, 502, 503, 504):
        assert policy.should_retry_status(status), status
    for status in (200, 201, 301, 400, 401, 403, 404, 409, 422, 501, 505):
        assert not policy.should_retry_status(status), status
    assert RetryPolicy(retry_statuses={418}).should_retry_status(418)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (NetworkError("reset"), True),
        (TimeoutError("t", kind="attempt", timeout=30), True),
        (TimeoutError("t", kind="total", timeout=60), False),
        (TimeoutError("t", kind="queue", timeout=5), False),
        (OfflineError("offline"), False),
        (CircuitOpenError("open"), False),
        (QueueFullError("full"), False),
        (AbortedError("aborted"), False),
        (ConfigError("f", 1, "x"), False),
        (RetryBudgetExceededError("spent"), False),
        (InvalidRequestError("http://exa mple.com/"), False),
        (RateLimitedError("slow down", retry_after=2.0), True),
        (RateLimitedError("slow down", retry_after=60.0), True),
        (RateLimitedError("slow down", retry_after=61.0), False),
        (RateLimitedError("slow down"), False),
        (ValueError("bug"), False),
    ],
)
def test_error_classification(error: BaseException, retryable: bool) -> None:
    assert RetryPolicy().should_retry_error(error) is retryable


def test_idempotent_methods_always_mutations_only_with_a_key() -> None:
    is_ok = RetryPolicy.is_retryable_method
    for method in ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "get"):
        assert is_ok(method, {}), method
    for method in ("POST", "PATCH"):
        assert not is_ok(method, {}), method
        assert not is_ok(method, None), method
        assert is_ok(method, {"idempotency-key": "abc"}), method
        assert is_ok(method, Headers({"IDEMPOTENCY-KEY": "abc"})), method
        assert not is_ok(method, {"Idempotency-Key": " "}), method
    assert not is_ok("CONNECT", {"Idempotency-Key": "k"})
    request = Request("POST", "http://x/", Headers({"Idempotency-Key": "k1"}))
    assert is_ok(request.method, request.headers)
    assert has_idempotency_key(Headers([("idempotency-KEY", "k")]))


def test_retry_after_is_honoured_exactly_without_jitter() -> None:
    policy = RetryPolicy(rng=random.Random(3))
    assert policy.delay_for(1, None, 2.0) == 2.0
    assert policy.delay_for(3, 20.0, 0.25) == 0.25  # never earlier, even below base
    assert policy.delay_for(1, None, 60.0) == 60.0  # above cap is fine up to max_retry_after
    assert policy.delay_for(1, None, -3.0) == 0.0
    assert 1 <= policy.delay_for(1, None, None) <= 3


def test_retry_after_beyond_the_maximum_raises_rate_limited() -> None:
    request = Request("GET", "http://x/")
    with pytest.raises(RateLimitedError) as info:
        RetryPolicy(max_retry_after=10).delay_for(1, None, 11.0, request=request)
    assert info.value.retry_after == 11.0 and info.value.request is request
    assert info.value.code == "RATE_LIMITED"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"jitter": "random"}, "retry.jitter"),
        ({"max_retries": -1}, "retry.max_retries"),
        ({"max_retries": 1.5}, "retry.max_retries"),
        ({"base": -1}, "retry.base"),
        ({"factor": 0.5}, "retry.factor"),
        ({"base": 10, "cap": 5}, "retry.cap"),
        ({"cap": float("inf")}, "retry.cap"),
        ({"max_retry_after": -1}, "retry.max_retry_after"),
        ({"retry_statuses": {200, 999}}, "retry.retry_statuses"),
        ({"retry_statuses": 503}, "retry.retry_statuses"),
    ],
)
def test_bad_config_names_field_value_and_allowed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)
    assert info.value.field == field
    assert "expected" in str(info.value)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy().backoff(0)
    assert info.value.field == "retry.attempt"
