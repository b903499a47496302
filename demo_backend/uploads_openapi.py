"""The tus upload routes (:mod:`uploads`) in the OpenAPI document (merged by :mod:`openapi`).

Every status a request can earn is listed, so schemathesis can hold the
server to it. HEAD answers carry no body, so their responses have no content.
"""

from __future__ import annotations

from typing import Any

from .uploads import EXTENSIONS, OFFSET_TYPE, TUS_VERSION

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}

_TEXT = {
    400: "a bad header (Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum) or "
    "an unsupported extension",
    404: "no such upload (or it was deleted)",
    405: "POST on an upload needs X-HTTP-Method-Override: PATCH or DELETE",
    409: "Upload-Offset is not the current offset, or the server holds UPLOADS_MAX uploads",
    410: "the upload expired, or failed its SHA-256 check (Upload-State says which)",
    412: f"Tus-Resumable is missing or not {TUS_VERSION} (Tus-Version says what is)",
    413: "over UPLOAD_MAX_SIZE, past Upload-Length, or a PATCH body over MAX_CONTENT_LENGTH",
    415: f"a PATCH must send Content-Type: {OFFSET_TYPE}",
    423: "another request holds the upload's lock: retry",
    460: "Checksum Mismatch: the chunk's Upload-Checksum, or the whole file's sha256",
}


def _errors(*codes: int, body: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        out[str(code)] = (
            {"description": _TEXT[code], "content": {JSON: {"schema": ERROR}}}
            if body
            else {"description": _TEXT[code]}
        )
    return out


def _header(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


TUS_RESUMABLE = _header("Tus-Resumable", {"type": "string", "enum": [TUS_VERSION]}, True)
UPLOAD_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
DIGITS = {"type": "string", "pattern": "^[0-9]{1,18}$"}
METADATA = {"type": "string", "maxLength": 4096}
CHECKSUM = {"type": "string", "pattern": "^(sha1|sha256) [A-Za-z0-9+/=]+$"}

UPLOAD_INFO = {
    "type": "object",
    "required": ["id", "state", "offset", "length", "bytes_received", "verified", "expires"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["uploading", "complete", "failed"]},
        "offset": {"type": "integer", "minimum": 0},
        "length": {"type": "integer", "minimum": 0},
        "bytes_received": {"type": "integer", "minimum": 0},
        "filename": {"type": ["string", "null"]},
        "metadata": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "sha256_declared": {"type": ["string", "null"]},
        "sha256": {"type": ["string", "null"]},
        "verified": {"type": ["boolean", "null"]},
        "expires": {"type": "string"},
    },
}


def upload_paths(scoped: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``/api/uploads/...`` path items; ``scoped`` are the usual X-Fault-Scope params."""
    options = {
        "summary": f"tus capabilities ({EXTENSIONS})",
        "parameters": scoped,
        "responses": {
            "204": {"description": "Tus-Version, Tus-Extension, Tus-Max-Size"},
            **_errors(400),
        },
    }
    body = {
        "required": True,
        "content": {OFFSET_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
    patch_params = [
        UPLOAD_ID,
        TUS_RESUMABLE,
        _header("Upload-Offset", DIGITS, True),
        _header("Upload-Checksum", CHECKSUM),
        *scoped,
    ]
    patch_errors = _errors(400, 404, 409, 410, 412, 413, 415, 423, 460)
    return {
        "/api/uploads/": {
            "options": options,
            "post": {
                "summary": "create an upload (tus creation); Location names it",
                "parameters": [
                    TUS_RESUMABLE,
                    _header("Upload-Length", DIGITS),
                    _header("Upload-Metadata", METADATA),
                    *scoped,
                ],
                "responses": {
                    "201": {"description": "created: Location, Upload-Offset, Upload-Expires"},
                    **_errors(400, 409, 412, 413, 460),
                },
            },
        },
        "/api/uploads/{upload_id}": {
            "options": {**options, "parameters": [UPLOAD_ID, *scoped]},
            "head": {
                "summary": "the upload's offset (Upload-Offset, Upload-Length, Upload-State)",
                "parameters": [UPLOAD_ID, TUS_RESUMABLE, *scoped],
                "responses": {
                    "200": {"description": "Upload-Offset and the rest, Cache-Control: no-store"},
                    **_errors(400, 404, 410, 412, 423, body=False),
                },
            },
            "patch": {
                "summary": "append a chunk at Upload-Offset",
                "parameters": patch_params,
                "requestBody": body,
                "responses": {"204": {"description": "the new Upload-Offset"}, **patch_errors},
            },
            "delete": {
                "summary": "terminate the upload (tus termination)",
                "parameters": [UPLOAD_ID, TUS_RESUMABLE, *scoped],
                "responses": {
                    "204": {"description": "deleted"},
                    **_errors(400, 404, 410, 412, 423),
                },
            },
            "post": {
                "summary": "PATCH or DELETE for clients that cannot send them",
                "parameters": [
                    *patch_params,
                    _header("X-HTTP-Method-Override", {"type": "string", "enum": ["PATCH"]}, True),
                ],
                "requestBody": body,
                "responses": {
                    "204": {"description": "as PATCH"},
                    **patch_errors,
                    **_errors(405),
                },
            },
        },
        "/api/uploads/{upload_id}/info": {
            "get": {
                "summary": "the upload's state as JSON: offset, bytes received, SHA-256 verified",
                "parameters": [UPLOAD_ID, *scoped],
                "responses": {
                    "200": {"description": "the state", "content": {JSON: {"schema": UPLOAD_INFO}}},
                    **_errors(400, 404, 410, 423),
                },
            },
        },
    }
