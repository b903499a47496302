"""Property: every jitter stays within its bounds for any config, attempt and seed."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_fetch.policies.retry import RetryPolicy
from unit._support import examples

configs = st.tuples(
    st.floats(0, 10),  # base
    st.floats(1, 5),  # factor
    st.floats(0, 100),  # extra on top of base for the cap
)


@settings(max_examples=examples(150), deadline=None)
@given(
    config=configs,
    jitter=st.sampled_from(["none", "full", "equal", "decorrelated"]),
    attempt=st.integers(1, 200),
    previous=st.none() | st.floats(0, 500),
    seed=st.integers(0, 2**32),
)
def test_backoff_within_bounds(
    config: tuple[float, float, float],
    jitter: str,
    attempt: int,
    previous: float | None,
    seed: int,
) -> None:
    base, factor, extra = config
    cap = base + extra
    policy = RetryPolicy(base=base, factor=factor, cap=cap, jitter=jitter, rng=random.Random(seed))
    delay = policy.backoff(attempt, previous)
    assert 0 <= delay <= cap
    exponential = min(cap, base * factor ** (attempt - 1))
    if jitter == "none":
        assert delay == exponential
    elif jitter == "full":
        assert 0 <= delay <= exponential
    elif jitter == "equal":
        assert exponential / 2 <= delay <= exponential
    else:
        prev = base if previous is None else max(previous, base)
        assert base <= delay <= min(cap, (factor + 1) * prev)


@settings(max_examples=examples(60), deadline=None)
@given(seed=st.integers(0, 2**32), retry_after=st.floats(0, 60))
def test_retry_after_is_never_shortened_or_jittered(seed: int, retry_after: float) -> None:
    policy = RetryPolicy(rng=random.Random(seed))
    assert policy.delay_for(2, 5.0, retry_after) == retry_after


@settings(max_examples=examples(40), deadline=None)
@given(seed=st.integers(0, 2**32), attempts=st.integers(1, 30))
def test_decorrelated_chain_fed_its_own_output_stays_in_range(seed: int, attempts: int) -> None:
    policy = RetryPolicy(rng=random.Random(seed))
    previous: float | None = None
    for attempt in range(1, attempts + 1):
        delay = policy.backoff(attempt, previous)
        assert 1.0 <= delay <= min(30.0, 3 * (previous or 1.0))
        previous = delay
