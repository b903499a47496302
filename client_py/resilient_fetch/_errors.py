"""The error tree of resilient-fetch.

Every error the client raises on purpose derives from ``ResilienceError`` and
carries a stable ``code`` string, which the JS shim copies onto the rejected
``Error`` so page code can branch on it::

    ResilienceError                code
    ├── ConfigError (ValueError)   CONFIG
    ├── InvalidRequestError        INVALID_REQUEST  (ValueError; never retried)
    ├── InternalError              INTERNAL  (a bug: something raised a non-library error)
    ├── NetworkError               NETWORK
    │   └── OfflineError           OFFLINE
    ├── TimeoutError               TIMEOUT   (also a builtins.TimeoutError)
    ├── AbortedError               ABORTED
    ├── CircuitOpenError           CIRCUIT_OPEN
    ├── RateLimitedError           RATE_LIMITED
    ├── QueueFullError             QUEUE_FULL
    ├── RetryBudgetExceededError   RETRY_BUDGET
    ├── HTTPStatusError            HTTP_STATUS  (only from query()/mutate()/loaders)
    ├── NotFoundError              NOT_FOUND    (a batch loader's id was missing)
    ├── OutboxFullError            OUTBOX_FULL  (enqueue stored nothing)
    ├── DeadLetterError            DEAD_LETTER  (an outbox write will not be sent)
    └── UploadError                UPLOAD_FAILED  (a tus upload gave up; ``offset`` kept)
        ├── ChecksumMismatchError  CHECKSUM_MISMATCH  (a chunk refused with 460 too often)
        └── HashMismatchError      HASH_MISMATCH  (the server's file is not our file)

HTTP error statuses are not exceptions: like ``fetch``, the client returns the
``Response``, so callers decide what a 404 means.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Request, Response


class ResilienceError(Exception):
    """Base of every error raised by resilient-fetch."""

    code = "RESILIENCE"

    def __init__(
        self,
        message: str,
        *,
        request: Request | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.response = response

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, used by the JS shim."""
        out: dict[str, Any] = {
            "code": self.code,
            "name": type(self).__name__,
            "message": self.message,
        }
        if self.request is not None:
            out["method"] = self.request.method
            out["url"] = self.request.url
        if self.response is not None:
            out["status"] = self.response.status
        return out


class ConfigError(ResilienceError, ValueError):
    """A configuration value is invalid; the message names field, value and what is allowed."""

    code = "CONFIG"

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(f"invalid config {field}={value!r}: expected {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the offending field."""
        out = super().to_dict()
        out["field"] = self.field
        out["allowed"] = self.allowed
        return out


class InvalidRequestError(ResilienceError, ValueError):
    """The request cannot be sent as given (bad URL, scheme, port or header); never retried.

    Raised before any policy runs, so it never counts against a breaker, a rate
    limit or the retry budget (httpx's ``InvalidURL`` / ``UnsupportedProtocol``).
    """

    code = "INVALID_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        field: str = "url",
        request: Request | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the part of the request at fault."""
        out = super().to_dict()
        out["field"] = self.field
        return out


class InternalError(ResilienceError):
    """Something below the client (a transport, a custom stage) raised a non-library error.

    The original exception is the ``__cause__``; the client never retries it.
    """

    code = "INTERNAL"


class NetworkError(ResilienceError):
    """The request never got an HTTP response (DNS, refused, reset, CORS)."""

    code = "NETWORK"


class OfflineError(NetworkError):
    """The client knows the device is offline."""

    code = "OFFLINE"


class TimeoutError(ResilienceError, builtins.TimeoutError):
    """A per-attempt or total deadline passed; ``kind`` says which."""

    code = "TIMEOUT"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "attempt",
        timeout: float | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.kind = kind
        self.timeout = timeout

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with which deadline fired."""
        out = super().to_dict()
        out["kind"] = self.kind
        out["timeout"] = self.timeout
        return out


class AbortedError(ResilienceError):
    """The caller aborted the request (abort signal or cancellation)."""

    code = "ABORTED"


class CircuitOpenError(ResilienceError):
    """The circuit breaker for this key is open: the call failed fast."""

    code = "CIRCUIT_OPEN"

    def __init__(
        self,
        message: str,
        *,
        key: str = "",
        state: str = "open",
        retry_after: float | None = None,
        last_failure: str | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.key = key
        self.state = state
        self.retry_after = retry_after
        self.last_failure = last_failure

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with when the breaker half-opens and why it opened."""
        out = super().to_dict()
        out.update(
            key=self.key,
            state=self.state,
            retryAfter=self.retry_after,
            lastFailure=self.last_failure,
        )
        return out


class RateLimitedError(ResilienceError):
    """The rate limit for this key is spent; ``retry_after`` is in seconds."""

    code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        *,
        key: str = "",
        retry_after: float | None = None,
        request: Request | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.key = key
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the wait the limiter asks for."""
        out = super().to_dict()
        out.update(key=self.key, retryAfter=self.retry_after)
        return out


class QueueFullError(ResilienceError):
    """The concurrency queue is at its maximum size (backpressure)."""

    code = "QUEUE_FULL"


class RetryBudgetExceededError(ResilienceError):
    """Retrying would exceed the client's retry budget."""

    code = "RETRY_BUDGET"


class HTTPStatusError(ResilienceError):
    """A query or mutation got a non-2xx answer (plain ``request()`` returns it instead)."""

    code = "HTTP_STATUS"


class NotFoundError(ResilienceError):
    """A batch loader's answer did not include the id this caller asked for."""

    code = "NOT_FOUND"

    def __init__(self, message: str, *, key: Any = None, request: Request | None = None) -> None:
        super().__init__(message, request=request)
        self.key = key

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the missing id."""
        out = super().to_dict()
        out["key"] = self.key
        return out


class OutboxFullError(ResilienceError):
    """The outbox is at ``max_entries`` or ``max_bytes``: the write was NOT stored."""

    code = "OUTBOX_FULL"

    def __init__(self, message: str, *, limit: str = "", value: int = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the bound that was hit."""
        out = super().to_dict()
        out.update(limit=self.limit, value=self.value)
        return out


class DeadLetterError(ResilienceError):
    """An outbox write was moved to the dead letter; ``reason`` says why.

    ``response`` is the server's answer when there was one (a 4xx other than
    408/429, or the last answer before max attempts).
    """

    code = "DEAD_LETTER"

    def __init__(
        self,
        message: str,
        *,
        id: str = "",
        reason: str = "",
        response: Response | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.id = id
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with the entry id and the reason."""
        out = super().to_dict()
        out.update(id=self.id, reason=self.reason)
        return out


class UploadError(ResilienceError):
    """A resumable upload stopped: the server refused it, or it failed too often in a row.

    ``url`` is the upload's URL on the server (None before it was created),
    ``offset`` the bytes the server had confirmed, ``status`` its last answer.
    """

    code = "UPLOAD_FAILED"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        offset: int = 0,
        size: int = 0,
        status: int | None = None,
        request: Request | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.url = url
        self.offset = offset
        self.size = size
        self.status = status if status is not None or response is None else response.status

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with where the upload stopped."""
        out = super().to_dict()
        out.update(uploadUrl=self.url, offset=self.offset, size=self.size)
        if self.status is not None:
            out["status"] = self.status
        if isinstance(self.__cause__, ResilienceError):
            out["cause"] = self.__cause__.code
        return out


class ChecksumMismatchError(UploadError):
    """The server refused the same chunk with 460 (checksum mismatch) more times than allowed."""

    code = "CHECKSUM_MISMATCH"


class HashMismatchError(UploadError):
    """The server's SHA-256 of the whole file is not the one we declared: it is not our file."""

    code = "HASH_MISMATCH"

    def __init__(self, message: str, *, expected: str = "", actual: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.expected = expected
        self.actual = actual

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description, with both hashes."""
        out = super().to_dict()
        out.update(expected=self.expected, actual=self.actual)
        return out


class ClosedError(ResilienceError):
    """The client is closed (or closing): it takes no new work.

    ``in_flight`` is True for a call that had started and was cancelled (its
    request really aborted) because it was still running when ``close()``'s
    ``timeout`` passed; False for a call refused because close had begun.
    """

    code = "CLOSED"

    def __init__(
        self,
        message: str = "the client is closed",
        *,
        in_flight: bool = False,
        timeout: float | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.in_flight = in_flight
        self.timeout = timeout

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description: whether the call was cut short, and the close timeout."""
        out = super().to_dict()
        out.update(inFlight=self.in_flight, timeout=self.timeout)
        return out
