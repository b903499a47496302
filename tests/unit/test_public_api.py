"""The public API: sorted ``__all__``, every name importable, every error has a code."""

from __future__ import annotations

import resilient_fetch
from resilient_fetch import ResilienceError


def test_all_is_sorted_and_importable() -> None:
    assert resilient_fetch.__all__ == sorted(resilient_fetch.__all__)
    for name in resilient_fetch.__all__:
        assert hasattr(resilient_fetch, name), name


def test_every_error_has_a_distinct_code() -> None:
    errors = [
        getattr(resilient_fetch, n)
        for n in resilient_fetch.__all__
        if isinstance(getattr(resilient_fetch, n), type)
        and issubclass(getattr(resilient_fetch, n), ResilienceError)
    ]
    codes = [e.code for e in errors]
    assert len(errors) >= 8
    assert len(codes) == len(set(codes)), codes
    assert all(code.isupper() for code in codes)


def test_timeout_error_is_also_builtin_timeout() -> None:
    err = resilient_fetch.TimeoutError("t", kind="total", timeout=1.0)
    assert isinstance(err, TimeoutError)
    assert err.to_dict()["kind"] == "total"
