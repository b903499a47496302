"""resilient-fetch: an HTTP resilience client for the browser (Pyodide) and CPython."""

from ._clock import Clock, FakeClock, SystemClock
from ._errors import (
    AbortedError,
    ChecksumMismatchError,
    CircuitOpenError,
    ClosedError,
    ConfigError,
    DeadLetterError,
    HashMismatchError,
    HTTPStatusError,
    InternalError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    OfflineError,
    OutboxFullError,
    QueueFullError,
    RateLimitedError,
    ResilienceError,
    RetryBudgetExceededError,
    TimeoutError,
    UploadError,
)
from ._models import Headers, Request, Response
from .client import Client
from .stages import Call, Stage
from .transports import BrowserTransport, MockTransport, RequestsTransport, Transport
from .upload import Upload, UploadResult

__version__ = "0.1.0"

__all__ = [
    "AbortedError",
    "BrowserTransport",
    "Call",
    "ChecksumMismatchError",
    "CircuitOpenError",
    "Client",
    "Clock",
    "ClosedError",
    "ConfigError",
    "DeadLetterError",
    "FakeClock",
    "HTTPStatusError",
    "HashMismatchError",
    "Headers",
    "InternalError",
    "InvalidRequestError",
    "MockTransport",
    "NetworkError",
    "NotFoundError",
    "OfflineError",
    "OutboxFullError",
    "QueueFullError",
    "RateLimitedError",
    "Request",
    "RequestsTransport",
    "ResilienceError",
    "Response",
    "RetryBudgetExceededError",
    "Stage",
    "SystemClock",
    "TimeoutError",
    "Transport",
    "Upload",
    "UploadError",
    "UploadResult",
]
