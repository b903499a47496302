"""The OpenAPI 3.1 document of the backend, served at ``/openapi.json``.

It is what the schemathesis suite fuzzes against, so it lists every status
an operation may answer: the request-derived 4xx (with the JSON error
body), the fault API's 403/415 for callers it refuses, and 400 for a bad
``X-Fault-Scope``. Injected faults can answer anything; they are not
described here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from .api import MAX_ID, MAX_NAME
from .faults import COMMON_FIELDS, HTTP_METHODS, NAME_PATTERN, TYPES
from .faults.base import MAX_DELAY_MS
from .uploads_openapi import upload_paths

bp = Blueprint("openapi", __name__)

JSON = "application/json"
_NAME = NAME_PATTERN.pattern


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


_ERROR_TEXT = {
    400: "bad JSON, header or fault spec",
    401: "DEMO_ADMIN_TOKEN is set: send Authorization: Bearer <token>",
    403: "the caller or its Origin may not use the fault API",
    404: "no such resource",
    408: "the request was not received in time (server layer)",
    409: "a conflict: idempotency key in progress, duplicate fault, store full",
    413: "the body is larger than MAX_CONTENT_LENGTH",
    415: "the body is not application/json",
    422: "a field failed validation (the body names it)",
    503: "a dependency (Redis) is unreachable",
}

SCOPE_PARAM = {
    "name": "X-Fault-Scope",
    "in": "header",
    "required": False,
    "description": "the fault scope this request sees (global faults plus this scope's)",
    "schema": {"type": "string", "pattern": f"^{_NAME}$"},
}
IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "apply once; a repeat with the same key replays the first answer",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
ID_PARAM = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
SCOPE_QUERY = {
    "name": "scope",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": f"^{_NAME}$"},
}
FAULT_NAME_PARAM = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{_NAME}$"},
}


def _fault_spec() -> dict[str, Any]:
    # One loose object: type-specific fields the chosen type does not take get a 400.
    props: dict[str, Any] = {
        "type": {"type": "string", "enum": sorted(TYPES)},
        "name": {"type": "string", "pattern": f"^{_NAME}$"},
        "match": {"type": "string", "maxLength": 200, "pattern": "^[/*]"},
        "methods": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(HTTP_METHODS)},
        },
        "toxicity": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "scope": {"type": "string", "pattern": f"^{_NAME}$"},
        "ms": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS},
        "jitter_ms": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS},
        "code": {"type": "integer", "minimum": 400, "maximum": 599},
        "retry_after": {"type": "integer", "minimum": 0, "maximum": 86_400},
        "fail_first_n": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "bytes_per_s": {"type": "integer", "minimum": 1, "maximum": 100_000_000},
        "limit": {"type": "string", "examples": ["5/second", "100 per 10 minutes"]},
    }
    assert set(COMMON_FIELDS) <= set(props)
    return {
        "type": "object",
        "required": ["type"],
        "properties": props,
        "additionalProperties": False,
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a new dict each call)."""
    item = {
        "type": "object",
        "required": ["id", "name", "done"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string"},
            "done": {"type": "boolean"},
        },
    }
    fields = {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": "\\S"},
        "done": {"type": "boolean"},
    }
    create = {
        "type": "object",
        "required": ["name"],
        "properties": fields,
        "additionalProperties": False,
    }
    patch = {
        "type": "object",
        "minProperties": 1,
        "properties": fields,
        "additionalProperties": False,
    }
    fault = {
        "type": "object",
        "required": ["type", "name", "id", "hits"],
        "properties": {
            "type": {"type": "string"},
            "name": {"type": "string"},
            "id": {"type": "string"},
            "hits": {"type": "integer"},
            "scope": {"type": ["string", "null"]},
        },
    }
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    inflight = {
        "type": "object",
        "required": ["current", "max"],
        "properties": {"current": {"type": "integer"}, "max": {"type": "integer"}},
    }
    stats = {
        "type": "object",
        "required": ["total", "routes", "inflight"],
        "properties": {
            "total": {"type": "integer"},
            "routes": {"type": "object", "additionalProperties": counts},
            "inflight": inflight,
            "scope": {"type": "string"},
            "scopes": {"type": "object"},
        },
    }
    health = {
        "type": "object",
        "required": ["status", "service"],
        "properties": {"status": {"type": "string"}, "service": {"type": "string"}},
    }
    scoped = [SCOPE_PARAM]
    admin = [SCOPE_PARAM, SCOPE_QUERY]
    write = [SCOPE_PARAM, IDEMPOTENCY_PARAM]
    body_errors = _errors(400, 409, 413, 415, 422)

    def op(
        summary: str,
        responses: dict[str, Any],
        params: list[dict[str, Any]],
        body: dict[str, Any] | None = None,
        *,
        body_required: bool = True,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "parameters": params, "responses": responses}
        if body is not None:
            out["requestBody"] = {
                "required": body_required,
                "content": {JSON: {"schema": body}},
            }
        return out

    ok_item = _json(_ref("Item"), "the item")
    paths: dict[str, Any] = {
        "/health": {"get": op("health", {"200": _json(health, "ok"), **_errors(400)}, scoped)},
        "/health/live": {
            "get": op("the process answers", {"200": _json(health, "ok"), **_errors(400)}, scoped)
        },
        "/health/ready": {
            "get": op(
                "the storage answers and the process is not draining",
                {
                    "200": _json(health, "ready"),
                    "503": _json(health, "not ready: draining, or the storage is unreachable"),
                    **_errors(400),
                },
                scoped,
            )
        },
        "/api/items": {
            "get": op(
                "every item, oldest first",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": _ref("Item")}},
                        },
                        "the items",
                    ),
                    **_errors(400),
                },
                scoped,
            ),
            "post": op(
                "create an item",
                {"201": _json(_ref("Item"), "created"), **body_errors},
                write,
                create,
            ),
        },
        "/api/items/{item_id}": {
            "get": op("one item", {"200": ok_item, **_errors(400, 404)}, [ID_PARAM, *scoped]),
            "put": op(
                "replace an item",
                {"200": ok_item, **_errors(404), **body_errors},
                [ID_PARAM, *write],
                create,
            ),
            "patch": op(
                "change an item",
                {"200": ok_item, **_errors(404), **body_errors},
                [ID_PARAM, *write],
                patch,
            ),
            "delete": op(
                "delete an item",
                {"204": {"description": "deleted"}, **_errors(400, 404, 409, 422)},
                [ID_PARAM, *write],
            ),
        },
        "/api/items/batch": {
            "get": op(
                "many items by id",
                {"200": _json(_ref("Batch"), "found and missing"), **_errors(400, 422)},
                [
                    {
                        "name": "ids",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}(,[0-9]{1,18})*$"},
                    },
                    *scoped,
                ],
            )
        },
        "/api/batch": {
            "post": op(
                "many items by id, ids in the body",
                {"200": _json(_ref("Batch"), "found and missing"), **_errors(400, 413, 415, 422)},
                scoped,
                {
                    "type": "object",
                    "required": ["ids"],
                    "additionalProperties": False,
                    "properties": {
                        "ids": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        }
                    },
                },
            )
        },
        "/_faults": {
            "get": op(
                "list faults",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["faults"],
                            "properties": {"faults": {"type": "array", "items": fault}},
                        },
                        "the faults",
                    ),
                    **_errors(400, 403),
                },
                admin,
            ),
            "post": op(
                "add a fault",
                {"201": _json(fault, "the new fault"), **_errors(400, 403, 409, 413, 415)},
                admin,
                _fault_spec(),
            ),
        },
        "/_faults/types": {
            "get": op(
                "fault types and their fields",
                {"200": _json({"type": "object"}, "the types"), **_errors(403)},
                [],
            )
        },
        "/_faults/{name}": {
            "get": op(
                "one fault",
                {"200": _json(fault, "the fault"), **_errors(400, 403, 404)},
                [FAULT_NAME_PARAM, *admin],
            ),
            "delete": op(
                "remove a fault",
                {"204": {"description": "removed"}, **_errors(400, 403, 404, 415)},
                [FAULT_NAME_PARAM, *admin],
            ),
        },
        "/_faults/reset": {
            "post": op(
                "clear faults and stats (all, or one scope)",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["reset", "faults_removed"],
                            "properties": {
                                "reset": {"type": "string"},
                                "faults_removed": {"type": "integer"},
                            },
                        },
                        "what was cleared",
                    ),
                    **_errors(400, 403, 413, 415),
                },
                admin,
                {"type": "object", "maxProperties": 0},
                body_required=False,
            )
        },
        "/_stats": {
            "get": op(
                "request counts", {"200": _json(stats, "the counts"), **_errors(400, 403)}, admin
            )
        },
        "/metrics": {
            "get": op(
                "Prometheus metrics (admin)",
                {
                    "200": {
                        "description": "the Prometheus text format (OpenMetrics on request)",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(401, 403),
                },
                [],
            )
        },
        "/openapi.json": {
            "get": op("this document", {"200": _json({"type": "object"}, "OpenAPI 3.1")}, [])
        },
    }
    error_schema = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "a stable snake_case code"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "the field, header or parameter at fault"},
        },
    }
    paths.update(upload_paths(scoped))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "resilient-fetch demo backend",
            "version": "1",
            "description": "Items API, health and the fault-injection API. Every error is JSON.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Item": item,
                "Error": error_schema,
                "Batch": {
                    "type": "object",
                    "required": ["items", "missing"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Item")},
                        "missing": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
            "responses": {
                f"E{code}": _json(_ref("Error"), text) for code, text in _ERROR_TEXT.items()
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    doc = document()
    if not current_app.extensions.get("fault_injector"):
        # The fault API is off: do not describe it.
        doc["paths"] = {p: v for p, v in doc["paths"].items() if not p.startswith("/_")}
    return jsonify(doc)
