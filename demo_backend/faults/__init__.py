"""Typed fault objects, toxiproxy style: validated from JSON specs, one class per type.

Every fault has the common fields ``name``, ``match`` (a glob on the path),
``methods``, ``toxicity`` (0..1, the chance a matching request is hit),
``count`` (the fault ends after that many hits) and ``scope`` (None = global).
A fault's ``act`` runs for each request it hits and either returns a response
(the request stops there) or None (the next fault, then the view, runs).
"""

from __future__ import annotations

from typing import Any

from .base import (
    COMMON_FIELDS,
    DEFAULT_METHODS,
    HTTP_METHODS,
    NAME_PATTERN,
    NAME_RULE,
    Fault,
    FaultContext,
    FaultSpecError,
    fault_response,
    int_field,
)
from .types import TYPES, Down, Flaky, Hang, Latency, RateLimit, Reset, SlowBody, Status

__all__ = [
    "COMMON_FIELDS",
    "HTTP_METHODS",
    "TYPES",
    "Down",
    "Fault",
    "FaultContext",
    "FaultSpecError",
    "Flaky",
    "Hang",
    "Latency",
    "RateLimit",
    "Reset",
    "SlowBody",
    "Status",
    "build",
    "check_scope",
    "fault_response",
    "parse",
]

# These are routes under /_faults/, so no fault may be named like them.
RESERVED_NAMES = ("reset", "types")


def _scope_or_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise FaultSpecError(key, f"invalid {key} {value!r}", NAME_RULE)
    if key == "name" and value in RESERVED_NAMES:
        raise FaultSpecError(key, f"{value!r} is reserved", NAME_RULE + f", not {RESERVED_NAMES}")
    return value


def check_scope(value: Any) -> str | None:
    """A valid scope string, or None for global."""
    return None if value is None else _scope_or_name(value, "scope")


def parse(spec: Any, *, default_scope: str | None = None) -> dict[str, Any]:
    """Validate a ``POST /_faults`` body; returns the constructor arguments (name may be None)."""
    if not isinstance(spec, dict):
        raise FaultSpecError("body", "must be a JSON object", list(COMMON_FIELDS))
    kind = spec.get("type")
    # A list or object here is unhashable: check the type before the lookup.
    if not isinstance(kind, str) or kind not in TYPES:
        shown = kind if isinstance(kind, str) and len(kind) <= 40 else type(kind).__name__
        raise FaultSpecError("type", f"unknown fault type {shown!r}", sorted(TYPES))
    cls = TYPES[kind]
    unknown = sorted(set(spec) - set(COMMON_FIELDS) - set(cls.FIELDS))
    if unknown:
        raise FaultSpecError(
            unknown[0], f"unknown field for type {kind!r}", [*COMMON_FIELDS, *cls.FIELDS]
        )
    args: dict[str, Any] = {
        "name": None if spec.get("name") is None else _scope_or_name(spec["name"], "name")
    }
    match = spec.get("match", "*")
    if not isinstance(match, str) or not match.startswith(("/", "*")) or len(match) > 200:
        raise FaultSpecError(
            "match", f"invalid glob {match!r}", "a glob on the path such as '/api/items*' or '*'"
        )
    args["match"] = match
    methods = spec.get("methods", list(DEFAULT_METHODS))
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods)
    ):
        raise FaultSpecError("methods", f"invalid methods {methods!r}", list(HTTP_METHODS))
    args["methods"] = tuple(dict.fromkeys(m.upper() for m in methods))
    toxicity = spec.get("toxicity", 1.0)
    if (
        isinstance(toxicity, bool)
        or not isinstance(toxicity, int | float)
        or not 0 <= toxicity <= 1
    ):
        raise FaultSpecError("toxicity", f"must be a number from 0 to 1, got {toxicity!r}", [0, 1])
    args["toxicity"] = float(toxicity)
    args["count"] = int_field(spec, "count", 1, 1_000_000_000, None)
    args["scope"] = check_scope(spec["scope"]) if "scope" in spec else default_scope
    args.update(cls.parse_fields(spec))
    return args


def build(kind: str, **args: Any) -> Fault:
    """Construct a fault of ``kind`` from validated (or stored) arguments."""
    if isinstance(args.get("methods"), list):
        args["methods"] = tuple(args["methods"])
    return TYPES[kind](**args)
