"""``GET /metrics``: Prometheus text format, behind the same admin guard as the fault API.

One record per request is built by :mod:`access_log` (route template, status,
duration, faults applied, idempotent replay) and handed to
:meth:`Metrics.observe`, so the log line and the metrics never disagree.
Labels are bounded: ``method`` is an HTTP method or ``OTHER``, ``route`` is the
matched route template (``/api/items/<item_id>``) or ``<unmatched>``, never a
raw path. ``/metrics`` itself is neither counted nor faulted.

Each app has its own :class:`~prometheus_client.CollectorRegistry`. Under
gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn_conf`` sets it),
values live in per-process files and a scrape adds up every worker's
(``MultiProcessCollector``); the in-flight gauge sums live workers only.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .access_log import OBSERVERS
from .faults import HTTP_METHODS, TYPES
from .security import admin_guard

KEY = "metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"
ENDPOINT = "metrics.metrics"
# Seconds. Up to 30 s because hang and latency faults hold requests that long.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

bp = Blueprint("metrics", __name__)
bp.before_request(admin_guard)


class FaultsCollector(Collector):
    """``rf_faults_active{type}``: read from the fault registry at scrape time (shared storage)."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "rf_faults_active", "Faults registered now, by type.", labels=["type"]
        )

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        injector = self._app.extensions.get("fault_injector")
        if injector is None:
            return  # the fault API is off: there is nothing to report
        family = self._family()
        tally = Tally(fault.type for fault in injector.registry.all())
        for kind in sorted(TYPES):
            family.add_metric([kind], tally.get(kind, 0))
        yield family


class Metrics:
    """The app's metrics; ``multiprocess`` when values must add up across gunicorn workers."""

    def __init__(self, app: Flask, *, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        self._faults = FaultsCollector(app)
        # Multi-process values are written to files and collected from them at
        # scrape time; registering the objects too would report them twice.
        own = None if multiprocess else self.registry
        self.requests = Counter(
            "rf_http_requests",
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=own,
        )
        self.duration = Histogram(
            "rf_http_request_duration_seconds",
            "Time until the response headers were ready, by method and route template.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=own,
        )
        self.in_flight = Gauge(
            "rf_http_requests_in_flight",
            "Requests being handled now (fault delays included).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.rate_limited = Counter(
            "rf_rate_limited",
            "Requests refused with 429 by a rate_limit fault (flask-limiter).",
            ["method", "route"],
            registry=own,
        )
        self.replays = Counter(
            "rf_idempotent_replays",
            "Responses replayed for a repeated Idempotency-Key.",
            ["method", "route"],
            registry=own,
        )
        if not multiprocess:
            self.registry.register(self._faults)

    def scrape_registry(self) -> CollectorRegistry:
        """The registry to expose: this app's, or every worker's files plus the fault gauge."""
        if not self.multiprocess:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._faults)
        return registry

    def enter(self) -> None:
        """before_request: count the request in flight (before faults may hold it)."""
        if request.endpoint != ENDPOINT:
            self.in_flight.inc()
            g.rf_metrics_inflight = True

    def observe(self, record: dict[str, Any]) -> None:
        """Count one finished request from its access-log record."""
        if request.endpoint == ENDPOINT:
            return
        method = record["method"] if record["method"] in HTTP_METHODS else "OTHER"
        route = record["route"] or UNMATCHED
        self.requests.labels(method, route, str(record["status"])).inc()
        if record["duration_ms"] is not None:
            self.duration.labels(method, route).observe(record["duration_ms"] / 1000)
        if any(fault.get("limited") for fault in record["faults"]):
            self.rate_limited.labels(method, route).inc()
        if record["idempotent_replay"]:
            self.replays.labels(method, route).inc()


def _leave(_: BaseException | None) -> None:
    if g.pop("rf_metrics_inflight", False):
        current_app.extensions[KEY].in_flight.dec()


@bp.get("/metrics")
def metrics() -> Any:
    """The Prometheus text format (OpenMetrics when the scraper asks for it)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(current_app.extensions[KEY].scrape_registry())
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> Metrics:
    """Create the app's metrics, hook them into the access-log record and add ``/metrics``."""
    found = Metrics(app, multiprocess=bool(os.environ.get(MULTIPROC_ENV)))
    app.extensions[KEY] = found
    app.extensions.setdefault(OBSERVERS, []).append(found.observe)
    app.before_request(found.enter)
    app.teardown_request(_leave)
    app.register_blueprint(bp)
    return found
