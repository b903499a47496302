"""Serves the built static site (``dist/``) at ``/`` with the MIME types Pyodide needs."""

from __future__ import annotations

import mimetypes
from typing import Any

from flask import Blueprint, current_app, send_from_directory

# Without these, loadPyodide() never resolves (wrong MIME type for wasm/mjs).
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")

bp = Blueprint("site", __name__)


@bp.get("/")
def index() -> Any:
    return send_from_directory(current_app.config["DIST_DIR"], "index.html")


@bp.get("/<path:filename>")
def static_file(filename: str) -> Any:
    return send_from_directory(current_app.config["DIST_DIR"], filename)
