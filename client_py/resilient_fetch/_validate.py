"""Value checks shared by the config tree and every policy's constructor.

Each returns the normalised value or raises ``ConfigError(field, value, allowed)``
so a bad setting is reported the same way wherever it enters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

from ._errors import ConfigError

T = TypeVar("T")


def number(
    field: str,
    value: Any,
    *,
    low: float = 0.0,
    low_inclusive: bool = True,
    high: float = math.inf,
    allowed: str | None = None,
) -> float:
    """A finite int/float within [low, high] (or (low, high]); bools are refused."""
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= low if low_inclusive else value > low)
        and value <= high
    )
    if not ok:
        if allowed is None:
            bound = f">= {low:g}" if low_inclusive else f"> {low:g}"
            upper = "" if high == math.inf else f" and <= {high:g}"
            allowed = f"a finite number {bound}{upper}"
        raise ConfigError(field, value, allowed)
    return float(value)


def integer(field: str, value: Any, *, low: int = 0, high: int | None = None) -> int:
    """An int within [low, high]; integral floats (JS numbers) are accepted, bools refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        upper = f" and <= {high}" if high is not None else ""
        raise ConfigError(field, value, f"an integer >= {low}{upper}")
    return value


def one_of(field: str, value: T, options: Iterable[Any]) -> T:
    """One of ``options``."""
    options = tuple(options)
    if value not in options:
        raise ConfigError(field, value, f"one of {', '.join(map(repr, options))}")
    return value
