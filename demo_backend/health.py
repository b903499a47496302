"""Health endpoints: a body the client can verify."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)

SERVICE = "resilient-fetch-demo"


@bp.get("/health")
def health() -> Any:
    return jsonify({"status": "ok", "service": SERVICE})
