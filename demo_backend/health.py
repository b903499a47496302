"""Health: ``/health`` (a body the client can verify), ``/health/live``, ``/health/ready``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from . import lifecycle

bp = Blueprint("health", __name__)

SERVICE = "resilient-fetch-demo"


@bp.get("/health")
def health() -> Any:
    return jsonify({"status": "ok", "service": SERVICE})


@bp.get("/health/live")
def live() -> Any:
    """The process answers (no dependency is checked)."""
    return jsonify({"status": "ok", "service": SERVICE})


@bp.get("/health/ready")
def ready() -> Any:
    """Ready when the storage answers: 503 while Redis is unreachable or the process drains."""
    storage = current_app.extensions["storage"]
    if lifecycle.of(current_app).draining:
        # A graceful stop began: a load balancer should send new work elsewhere.
        return jsonify({"status": "draining", "service": SERVICE, "storage": storage.kind}), 503
    if storage.ping():
        return jsonify({"status": "ready", "service": SERVICE, "storage": storage.kind})
    return jsonify({"status": "unavailable", "service": SERVICE, "storage": storage.kind}), 503
