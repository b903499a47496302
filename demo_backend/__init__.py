"""Flask demo backend for resilient-fetch: items API, health, the built demo site."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

DEFAULTS: dict[str, Any] = {
    "DEMO_MODE": False,
    "DIST_DIR": None,
    "CORS_ORIGINS": "",
    "MAX_CONTENT_LENGTH": 1 * 1024 * 1024,
}


def _env_value(raw: str) -> Any:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False if lowered else ""
    return raw


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: defaults, then ``test_config``, then ``DEMO_*`` env vars."""
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    if test_config is not None:
        app.config.from_mapping(test_config)
    for key, raw in os.environ.items():
        if key.startswith("DEMO_") and key != "DEMO_MODE":
            name = key.removeprefix("DEMO_")
            app.config[name] = raw if name in {"CORS_ORIGINS", "DIST_DIR"} else _env_value(raw)

    from . import api, cors, health, site, store

    store.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    cors.init_app(app)
    if app.config.get("DIST_DIR"):
        app.register_blueprint(site.bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}
        return jsonify(body), exc.code

    return app
