"""``/api/items``: list and create items, JSON in and out, 4xx JSON errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from .store import items

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_NAME = 200


def error(status: int, code: str, message: str, **extra: Any) -> Any:
    """A JSON error response."""
    return jsonify({"error": code, "message": message, **extra}), status


def validate_item(data: Any) -> tuple[dict[str, Any] | None, Any]:
    """Return (fields, None) or (None, error response)."""
    if not isinstance(data, dict):
        return None, error(400, "invalid_json", "body must be a JSON object")
    unknown = sorted(set(data) - {"name", "done"})
    if unknown:
        return None, error(
            422,
            "unknown_field",
            f"unknown field(s): {', '.join(unknown)}",
            field=unknown[0],
            allowed=["name", "done"],
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, error(422, "invalid_field", "name must be a non-empty string", field="name")
    if len(name) > MAX_NAME:
        return None, error(
            422, "invalid_field", f"name must be at most {MAX_NAME} characters", field="name"
        )
    done = data.get("done", False)
    if not isinstance(done, bool):
        return None, error(422, "invalid_field", "done must be true or false", field="done")
    return {"name": name.strip(), "done": done}, None


def json_body() -> tuple[Any, Any]:
    """Parse the JSON body; a missing or malformed body is a 400, never a 500."""
    if not request.is_json:
        return None, error(415, "unsupported_media_type", "send Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        return None, error(400, "invalid_json", "body is not valid JSON")
    return data, None


@bp.get("/items")
def list_items() -> Any:
    return jsonify({"items": items().list()})


@bp.post("/items")
def create_item() -> Any:
    data, err = json_body()
    if err:
        return err
    fields, err = validate_item(data)
    if err:
        return err
    assert fields is not None
    return jsonify(items().create(fields)), 201
