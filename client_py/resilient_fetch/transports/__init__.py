"""Transports: the seam between the pipeline and the network."""

from .base import Transport
from .browser import BrowserTransport
from .mock import MockTransport
from .requests_transport import RequestsTransport

__all__ = ["BrowserTransport", "MockTransport", "RequestsTransport", "Transport"]
