"""Serves the built static site (``dist/``) at ``/`` with the MIME types Pyodide needs."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from flask import Blueprint, current_app, send_from_directory

# Without these, loadPyodide() never resolves (wrong MIME type for wasm/mjs).
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")

# Content-addressed files (the start-up snapshot, name.<16+ hex>.ext) never change.
IMMUTABLE = re.compile(r"\.[0-9a-f]{16,}\.[a-z]+$")
YEAR = 365 * 24 * 3600

bp = Blueprint("site", __name__)


@bp.get("/")
def index() -> Any:
    return send_from_directory(current_app.config["DIST_DIR"], "index.html")


@bp.get("/<path:filename>")
def static_file(filename: str) -> Any:
    if not IMMUTABLE.search(filename):
        return send_from_directory(current_app.config["DIST_DIR"], filename)
    resp = send_from_directory(current_app.config["DIST_DIR"], filename, max_age=YEAR)
    resp.cache_control.immutable = True
    return resp
