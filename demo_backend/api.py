"""``/api``: items CRUD and batch reads, JSON in and out, 4xx JSON errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from .errors import BodyError, error, json_body
from .idempotency import idempotent
from .items import items

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_NAME = 200
FIELDS = ("name", "done")


class Invalid(Exception):
    """A field failed validation; becomes a 422 naming it."""

    def __init__(self, code: str, message: str, field: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = error(422, code, message, field=field, **extra)


def validate_item(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Checked item fields; ``partial`` (PATCH) makes every field optional but one."""
    if not isinstance(data, dict):
        raise BodyError(400, "invalid_json", "body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise Invalid(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}", unknown[0], allowed=FIELDS
        )
    if partial and not data:
        raise Invalid("missing_field", "send at least one of: name, done", "name", allowed=FIELDS)
    fields: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("invalid_field", "name must be a non-empty string", "name")
        if len(name) > MAX_NAME:
            raise Invalid("invalid_field", f"name must be at most {MAX_NAME} characters", "name")
        fields["name"] = name.strip()
    if "done" in data or not partial:
        done = data.get("done", False)
        if not isinstance(done, bool):
            raise Invalid("invalid_field", "done must be true or false", "done")
        fields["done"] = done
    return fields


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid) -> Any:
    return exc.response


def _not_found(item_id: int) -> Any:
    return error(404, "not_found", f"item {item_id} does not exist", id=item_id)


@bp.get("/items")
def list_items() -> Any:
    return jsonify({"items": items().list()})


@bp.post("/items")
@idempotent
def create_item() -> Any:
    item = items().create(validate_item(json_body()))
    resp = jsonify(item)
    resp.headers["Location"] = url_for("api.get_item", item_id=item["id"])
    return resp, 201


@bp.get("/items/<int:item_id>")
def get_item(item_id: int) -> Any:
    item = items().get(item_id)
    return jsonify(item) if item else _not_found(item_id)


@bp.put("/items/<int:item_id>")
@idempotent
def replace_item(item_id: int) -> Any:
    item = items().update(item_id, validate_item(json_body()), replace=True)
    return jsonify(item) if item else _not_found(item_id)


@bp.patch("/items/<int:item_id>")
@idempotent
def patch_item(item_id: int) -> Any:
    item = items().update(item_id, validate_item(json_body(), partial=True), replace=False)
    return jsonify(item) if item else _not_found(item_id)


@bp.delete("/items/<int:item_id>")
@idempotent
def delete_item(item_id: int) -> Any:
    return ("", 204) if items().delete(item_id) else _not_found(item_id)


def _check_ids(raw: list[Any]) -> list[int]:
    """Positive integer ids, duplicates dropped, order kept, at most BATCH_MAX_IDS."""
    limit = int(current_app.config["BATCH_MAX_IDS"])
    if not raw:
        raise Invalid("invalid_field", "ids must list at least one id", "ids")
    ids: list[int] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise Invalid("invalid_field", f"ids must be positive integers, got {value!r}", "ids")
        if value not in ids:
            ids.append(value)
    if len(ids) > limit:
        raise Invalid("invalid_field", f"at most {limit} ids per batch", "ids", max=limit)
    return ids


def _batch(ids: list[int]) -> Any:
    found, missing = items().get_many(ids)
    return jsonify({"items": found, "missing": missing})


@bp.get("/items/batch")
def batch_get() -> Any:
    """``?ids=1,2,3``: many items in one response; unknown ids are listed in ``missing``."""
    raw: list[Any] = []
    for part in request.args.get("ids", "").split(","):
        part = part.strip()
        if part:
            # Not-a-number stays a string so _check_ids names it in the error.
            raw.append(int(part) if part.isdecimal() else part)
    return _batch(_check_ids(raw))


@bp.post("/batch")
def batch_post() -> Any:
    """``{"ids": [1, 2, 3]}``: same as ``GET /api/items/batch`` for long id lists."""
    data = json_body()
    if not isinstance(data, dict):
        raise BodyError(400, "invalid_json", "body must be a JSON object")
    unknown = sorted(set(data) - {"ids"})
    if unknown:
        raise Invalid(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}", unknown[0], allowed=["ids"]
        )
    if not isinstance(data.get("ids"), list):
        raise Invalid("invalid_field", "ids must be a list of positive integers", "ids")
    return _batch(_check_ids(data["ids"]))
