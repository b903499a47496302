"""The fault base class, the spec error, and the context a fault acts through."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from flask import Response, jsonify

if TYPE_CHECKING:  # the concrete types import this module
    from .types import RateLimit

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# CORS preflights pass unless a fault lists OPTIONS: a failed preflight would
# hide the injected status from a cross-origin page behind a CORS error.
DEFAULT_METHODS = tuple(m for m in HTTP_METHODS if m != "OPTIONS")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
NAME_RULE = "1-64 characters: letters, digits, _ . : - (starting with a letter or digit)"
COMMON_FIELDS = ("type", "name", "match", "methods", "toxicity", "count", "scope")
MAX_DELAY_MS = 60_000


class FaultSpecError(ValueError):
    """A bad fault spec; ``to_dict()`` is the 400 body naming the field and what is allowed."""

    def __init__(self, field: str, message: str, allowed: Any = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.allowed = allowed

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body."""
        body: dict[str, Any] = {
            "error": "invalid_fault",
            "field": self.field,
            "message": self.message,
        }
        if self.allowed is not None:
            body["allowed"] = self.allowed
        return body


class FaultContext(Protocol):
    """What a fault may do to the current request (implemented by the injector)."""

    hang_max_s: float

    def wait(self, seconds: float) -> None: ...
    def uniform(self, low: float, high: float) -> float: ...
    def first_seen(self, fault: Fault) -> int: ...
    def drop_connection(self) -> Response: ...
    def throttle_body(self, bytes_per_s: int) -> None: ...
    def rate_limit(self, fault: RateLimit) -> None: ...
    def note(self, **info: Any) -> None: ...


def int_field(spec: dict[str, Any], key: str, low: int, high: int, default: Any = ...) -> Any:
    """Validated integer field ``key`` in [low, high]; ``...`` means required."""
    value = spec.get(key, default)
    if value is ...:
        raise FaultSpecError(key, "is required", f"an integer from {low} to {high}")
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(
            key, f"must be an integer from {low} to {high}, got {value!r}", [low, high]
        )
    return value


def status_field(spec: dict[str, Any], key: str, default: Any = ...) -> int:
    """Validated HTTP error status field (400-599)."""
    code: int = int_field(spec, key, 400, 599, default)
    return code


def fault_response(fault: Fault, status: int, message: str) -> Response:
    """The JSON body of an injected error, naming the fault so tests can tell it apart."""
    resp = jsonify(
        {"error": "injected_fault", "message": message, "fault": fault.name, "type": fault.type}
    )
    resp.status_code = status
    return resp


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Common fields and matching; subclasses add their fields and ``act``."""

    type: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[str, ...]] = ()

    name: str
    match: str = "*"
    methods: tuple[str, ...] = DEFAULT_METHODS
    toxicity: float = 1.0
    count: int | None = None
    scope: str | None = None
    id: str = ""
    seq: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(fnmatch.translate(self.match)))

    def matches(self, method: str, path: str) -> bool:
        """Does this fault apply to a request with this method and path?"""
        return method in self.methods and self._pattern.match(path) is not None

    def visible_to(self, scope: str | None) -> bool:
        """Global faults hit everyone; scoped ones only requests sending that X-Fault-Scope."""
        return self.scope is None or self.scope == scope

    def wants(self, ctx: FaultContext) -> bool:
        """Whether to hit this request at all (flaky passes after its first n)."""
        return True

    def act(self, ctx: FaultContext) -> Response | None:
        """Do the fault; a response ends the request."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stored and as listed by ``GET /_faults``."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            if not f.name.startswith("_"):
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def parse_fields(cls, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate this type's own fields."""
        return {}
