"""The validated config tree: defaults, camelCase from JS, and errors naming field/value/allowed."""

from __future__ import annotations

import pytest

from resilient_fetch import Client, ConfigError, MockTransport, Response
from resilient_fetch.config import (
    BreakerConfig,
    LimiterConfig,
    QueueConfig,
    RequestOptions,
    RetryConfig,
    TimeoutConfig,
    build,
)
from resilient_fetch.js_api import create_client, options_from_js


def ok(_request: object) -> Response:
    return Response(200)


def test_defaults_match_the_documented_values() -> None:
    b, r, q, t, lim = (
        BreakerConfig(),
        RetryConfig(),
        QueueConfig(),
        TimeoutConfig(),
        LimiterConfig(),
    )
    assert (b.strategy, b.failure_threshold, b.open_for, b.half_open_max_probes, b.close_after) == (
        "consecutive",
        5,
        60.0,
        1,
        2,
    )
    assert (r.max_retries, r.base, r.factor, r.cap, r.jitter) == (3, 1.0, 2.0, 30.0, "decorrelated")
    assert r.retry_statuses == {408, 429, 500, 502, 503, 504}
    assert (r.budget_ratio, r.budget_min_per_second) == (0.2, 10.0)
    assert (q.concurrency, q.max_waiting) == (10, 1000)
    assert (t.attempt, t.total) == (30.0, 120.0)
    assert (lim.kind, lim.limit, lim.window, lim.mode) == ("sliding_window", 100, 60.0, "wait")


@pytest.mark.parametrize(
    ("section", "cls", "value", "field", "allowed"),
    [
        ("retry", RetryConfig, {"jitter": "wild"}, "retry.jitter", "decorrelated"),
        ("retry", RetryConfig, {"max_retrys": 2}, "retry.max_retrys", "max_retries"),
        ("retry", RetryConfig, {"max_retries": -1}, "retry.max_retries", "integer >= 0"),
        ("retry", RetryConfig, {"max_retries": True}, "retry.max_retries", "integer"),
        ("retry", RetryConfig, {"retry_statuses": [503, 999]}, "retry.retry_statuses", "599"),
        ("breaker", BreakerConfig, {"open_for": 0}, "breaker.open_for", "> 0"),
        ("breaker", BreakerConfig, {"failure_rate": 1.5}, "breaker.failure_rate", "(0, 1]"),
        ("breaker", BreakerConfig, {"strategy": "magic"}, "breaker.strategy", "consecutive"),
        ("limiter", LimiterConfig, {"mode": "drop"}, "limiter.mode", "'wait', 'reject'"),
        ("limiter", LimiterConfig, {"rules": [{"limit": 0}]}, "limiter.rules[0].limit", ">= 1"),
        ("queue", QueueConfig, {"concurrency": 0}, "queue.concurrency", ">= 1"),
        ("queue", QueueConfig, {"max_wait": {"urgent": 1}}, "queue.max_wait.urgent", "high"),
        ("timeout", TimeoutConfig, {"attempt": "fast"}, "timeout.attempt", "number"),
        ("timeout", TimeoutConfig, 5, "timeout", "an object"),
    ],
)
def test_bad_values_name_field_value_and_allowed(
    section: str, cls: type, value: object, field: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(cls, value, section)
    assert info.value.field == field
    assert allowed in info.value.allowed
    assert field in str(info.value)


def test_client_validates_sections_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"queue\.concurrency"):
        Client(transport=MockTransport(ok), queue={"concurrency": -3})
    client = Client(transport=MockTransport(ok), breaker=False, limiter=False)
    assert client.breakers is None and client.limiter is None


def test_breaker_combinations_fail_at_construction_not_first_request() -> None:
    with pytest.raises(ConfigError) as info:
        Client(transport=MockTransport(ok), breaker={"strategy": "count_rate", "min_calls": 30})
    assert info.value.field == "breaker.min_calls"


def test_request_options_validate() -> None:
    with pytest.raises(ConfigError, match=r"request\.priority"):
        build(RequestOptions, {"priority": "urgent"}, "request")
    assert build(RequestOptions, {"idempotency_key": False}, "request").idempotency_key is False


def test_js_options_are_converted_from_camel_case_nested() -> None:
    opts = options_from_js(
        {
            "baseUrl": "http://x/",
            "retry": {"maxRetries": 5, "retryStatuses": [503]},
            "headers": {"X-Api-Key": "k"},
        }
    )
    assert opts == {
        "base_url": "http://x/",
        "retry": {"max_retries": 5, "retry_statuses": [503]},
        "headers": {"X-Api-Key": "k"},
    }


def test_js_create_client_returns_config_error_as_data() -> None:
    out = create_client({"retry": {"jitter": "wild"}})
    assert isinstance(out, dict) and out["ok"] is False
    assert out["error"]["code"] == "CONFIG" and out["error"]["field"] == "retry.jitter"
    out = create_client({"retires": {}})
    assert isinstance(out, dict) and out["error"]["field"] == "retires"
