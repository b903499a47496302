"""Flask demo backend for resilient-fetch: items API, fault injection, health, the demo site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import config as _config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: defaults, then ``test_config``, then ``DEMO_*`` env vars."""
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(_config.load(test_config))

    from . import (
        access_log,
        api,
        cors,
        errors,
        health,
        idempotency,
        items,
        metrics,
        openapi,
        security,
        site,
        uploads,
    )
    from .storage import storage_from_uri

    storage = storage_from_uri(str(app.config["STORAGE_URI"]), str(app.config["STORAGE_PREFIX"]))
    app.extensions["storage"] = storage
    items.init_app(app, storage)
    api.init_app(app)
    idempotency.init_app(app, storage)

    # Hook order matters: Flask runs before_request hooks in registration order
    # and after_request hooks in reverse. The request id and timer come first,
    # faults before the rate limiter, and the log line is written last.
    access_log.init_app(app)
    metrics.init_app(app)  # in flight from here, before faults may hold the request
    security.init_app(app)
    errors.init_app(app)
    cors.init_app(app)
    if _config.faults_enabled(app.config):
        from . import faults_api, injector

        injector.init_app(app, storage)
        app.register_blueprint(faults_api.bp)

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    uploads.init_app(app, storage)
    if app.config.get("DIST_DIR"):
        app.register_blueprint(site.bp)
    return app
