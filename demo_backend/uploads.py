"""Resumable, verified uploads: tus 1.0.0 on ``/api/uploads/``.

What the server does, exactly (clients may rely on it; docs/backend.md says the same):

Protocol: tus 1.0.0 core plus the ``creation``, ``checksum``, ``termination`` and
``expiration`` extensions. Not supported: ``creation-with-upload`` (a POST with a
body gets 400), ``creation-defer-length`` (``Upload-Defer-Length`` gets 400),
``concatenation`` (``Upload-Concat`` gets 400). ``X-HTTP-Method-Override: PATCH``
or ``DELETE`` on a ``POST /api/uploads/<id>`` is honoured.

* Every request except OPTIONS and ``GET .../info`` must send ``Tus-Resumable:
  1.0.0``; a missing or other version gets ``412`` with ``Tus-Version: 1.0.0``
  and nothing is done. Every response carries ``Tus-Resumable: 1.0.0``.
* ``OPTIONS /api/uploads/`` -> ``204`` with ``Tus-Version``, ``Tus-Extension:
  creation,checksum,termination,expiration``, ``Tus-Max-Size`` (``UPLOAD_MAX_SIZE``),
  ``Tus-Checksum-Algorithm: sha1,sha256`` (the spec requires sha1) and
  ``Upload-Limit: max-size=<UPLOAD_MAX_SIZE>, max-append-size=<MAX_CONTENT_LENGTH>``.
* ``POST /api/uploads/`` with ``Upload-Length`` (0 to ``UPLOAD_MAX_SIZE``, ASCII
  digits) and optional ``Upload-Metadata`` -> ``201``, ``Location:
  /api/uploads/<32 hex>`` (relative), ``Upload-Offset: 0``, ``Upload-Expires``.
  Over the size: ``413 upload_too_large``. ``UPLOADS_MAX`` uploads held (any
  state, until they expire or are deleted): ``409 too_many_uploads``.
* ``Upload-Metadata``: the tus format (``key base64,key base64``), at most 4096
  characters and 32 pairs. Key ``sha256``: the whole file's SHA-256 as 64 hex
  digits (base64-encoded like every tus value); key ``filename``: UTF-8, at most
  255 bytes. Others are kept and echoed. Malformed -> ``400 invalid_metadata``.
* ``HEAD /api/uploads/<id>`` -> ``200`` with ``Upload-Offset``, ``Upload-Length``,
  ``Upload-Metadata`` (as sent), ``Upload-Expires``, ``Upload-State``
  (``uploading`` | ``complete``) and ``Cache-Control: no-store``. Unknown or
  deleted: ``404``. Expired: ``410`` (``Upload-State: expired``). Failed
  verification: ``410`` with ``Upload-State: failed``: start a new upload.
* ``PATCH /api/uploads/<id>`` with ``Content-Type: application/offset+octet-stream``
  (else ``415``) and ``Upload-Offset`` equal to the current offset (else ``409
  offset_mismatch``, the body says ``offset``). One PATCH body is at most
  ``MAX_CONTENT_LENGTH`` bytes (``413 request_too_large``); it is read in 64 KiB
  pieces into a temporary file, never whole into memory. Past ``Upload-Length``:
  ``413 upload_length_exceeded``, nothing written. ``Upload-Checksum: sha1|sha256
  <base64>`` is checked before anything is written: mismatch ``460
  checksum_mismatch``, unknown algorithm ``400 unsupported_checksum_algorithm``,
  bad value ``400 invalid_checksum``. Success: ``204`` with the new
  ``Upload-Offset``, ``Upload-Expires`` and ``Upload-State``. If the client goes
  away mid-body and sent no ``Upload-Checksum``, the bytes that arrived are kept
  (the spec's "store as much as possible"); HEAD tells where to resume.
* The final chunk (offset reaches ``Upload-Length``): the server hashes the whole
  file. With no declared ``sha256`` the upload is ``complete`` (``verified:
  null``). If it matches, ``complete`` (``verified: true``). If not, the final
  chunk is NOT applied (offset stays), the data is deleted, the upload becomes
  ``failed`` and the PATCH gets ``460 upload_checksum_mismatch`` with
  ``sha256_declared`` and ``sha256_received``; from then on HEAD and PATCH get
  ``410`` (``Upload-State: failed``) and ``GET .../info`` explains it. A
  zero-length upload is checked at creation (``460``, nothing created).
* ``DELETE /api/uploads/<id>`` -> ``204``; then ``404``. Expired: ``410``.
* ``GET /api/uploads/<id>/info`` -> JSON ``{id, state, offset, length,
  bytes_received, filename, metadata, sha256_declared, sha256, verified,
  expires}`` (``sha256`` is the received data's digest once the last byte
  arrived). Not a tus request: no ``Tus-Resumable`` needed.
* Expiry: an upload (any state) expires ``UPLOAD_EXPIRES_S`` after its creation
  or last accepted PATCH; then its data file is deleted and it answers ``410``
  until the record is purged (``UPLOAD_EXPIRES_S`` later, or sooner when
  ``UPLOADS_MAX`` needs the room), then ``404``. Expired uploads are found when
  touched, and by a sweep on creation (at most every 5 s per process, and
  whenever the store is full) that reads at most ``UPLOADS_MAX`` records.
* Concurrency: a PATCH appends under a storage lock (one of 64 stripes, shared
  by every worker in Redis mode) and re-checks the offset there, so of two
  PATCHes at one offset exactly one is applied; the other gets ``409``. The
  body is received before the lock is taken, so the lock is held for a local
  disk write only. A lock not obtained in 10 s: ``423 upload_locked`` with
  ``Retry-After: 1``.
* Counting: every PATCH body byte read counts in the upload's
  ``bytes_received`` and in ``/_stats`` as ``upload_bytes`` (overall and per
  ``X-Fault-Scope``): a chunk refused after it was read (460) counts, one
  refused from its headers alone (409, 412, 415, a fault) is never read.

Storage: records in the hash ``uploads`` (id -> JSON), received bytes in the
hash ``uploads:received``, both in the app's storage (shared in Redis mode).
Chunk data is a file ``<UPLOAD_DIR>/<id>.part`` on local disk: with Redis,
every worker must see the same directory (one host, or a shared disk).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import BadRequest

from .errors import error, header
from .storage import Storage

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
MAX_METADATA_CHARS = 4096
MAX_METADATA_PAIRS = 32
MAX_FILENAME_BYTES = 255
PIECE = 64 * 1024
LOCK_STRIPES = 64
LOCK_TIMEOUT_S = 10.0
SWEEP_EVERY_S = 5.0
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
DIGITS = re.compile(r"[0-9]{1,18}")
META_KEY = re.compile(r"[!-+\--~]+")  # visible ASCII except the comma
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

_RECORDS = "uploads"
_RECEIVED = "uploads:received"
_CREATE_LOCK = "uploads:create"

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")


class Refused(Exception):
    """A request the upload store will not act on; carries the JSON error response."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": code, "message": message, **extra}
        self.headers: dict[str, str] = {}


# -- records --------------------------------------------------------------


def http_date(ts: float) -> str:
    """RFC 9110 date, as ``Upload-Expires`` wants."""
    return email.utils.formatdate(ts, usegmt=True)


def parse_metadata(raw: str) -> dict[str, str]:
    """tus ``Upload-Metadata`` -> {key: base64 value}; ``Refused`` (400) when malformed."""

    def bad(message: str) -> Refused:
        return Refused(400, "invalid_metadata", message, field="Upload-Metadata")

    if len(raw) > MAX_METADATA_CHARS:
        raise bad(f"at most {MAX_METADATA_CHARS} characters")
    pairs: dict[str, str] = {}
    if not raw.strip():
        return pairs
    parts = raw.split(",")
    if len(parts) > MAX_METADATA_PAIRS:
        raise bad(f"at most {MAX_METADATA_PAIRS} key-value pairs")
    for part in parts:
        key, _, value = part.strip().partition(" ")
        value = value.strip()
        if not META_KEY.fullmatch(key):
            raise bad("each pair is 'key base64value'; keys are visible ASCII without commas")
        if key in pairs:
            raise bad(f"key {key!r} appears twice")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise bad(f"the value of {key!r} is not base64") from None
        pairs[key] = value
    return pairs


def _decoded(pairs: dict[str, str], key: str) -> bytes | None:
    return base64.b64decode(pairs[key]) if key in pairs else None


def declared_fields(pairs: dict[str, str]) -> tuple[str | None, str | None]:
    """(sha256 hex lowercased, filename) from parsed metadata; ``Refused`` if invalid."""
    sha = _decoded(pairs, "sha256")
    declared = None
    if sha is not None:
        text = sha.decode("ascii", "replace").strip()
        if not SHA256_HEX.fullmatch(text):
            raise Refused(
                400,
                "invalid_metadata",
                "metadata 'sha256' must be the file's SHA-256 as 64 hex digits (base64-encoded)",
                field="Upload-Metadata",
            )
        declared = text.lower()
    name = _decoded(pairs, "filename")
    filename = None
    if name is not None:
        try:
            filename = name.decode("utf-8")
        except UnicodeDecodeError:
            filename = None
        if filename is None or len(name) > MAX_FILENAME_BYTES:
            raise Refused(
                400,
                "invalid_metadata",
                f"metadata 'filename' must be UTF-8, at most {MAX_FILENAME_BYTES} bytes",
                field="Upload-Metadata",
            )
    return declared, filename


def _stripe(upload_id: str) -> str:
    return f"upload:{zlib.crc32(upload_id.encode()) % LOCK_STRIPES}"


class UploadStore:
    """Upload records in the app's storage; chunk data in files under one directory."""

    def __init__(
        self,
        storage: Storage,
        directory: Path,
        *,
        max_size: int,
        max_uploads: int,
        expires_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self.directory = directory
        self.max_size = max_size
        self.max_uploads = max_uploads
        self.expires_s = expires_s
        self._clock = clock
        self._last_sweep = 0.0
        self._sweep_lock = threading.Lock()

    # paths and raw records

    def path(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.part"

    def get(self, upload_id: str) -> dict[str, Any] | None:
        raw = self._storage.hget(_RECORDS, upload_id)
        return json.loads(raw) if raw else None

    def _put(self, record: dict[str, Any]) -> None:
        self._storage.hset(_RECORDS, record["id"], json.dumps(record, separators=(",", ":")))

    def received(self, upload_id: str) -> int:
        return int(self._storage.hget(_RECEIVED, upload_id) or 0)

    def count_received(self, upload_id: str, amount: int) -> None:
        if amount:
            self._storage.hincr(_RECEIVED, upload_id, amount)

    def lock(self, upload_id: str) -> contextlib.AbstractContextManager[None]:
        return self._storage.lock(_stripe(upload_id), timeout_s=LOCK_TIMEOUT_S)

    def held(self) -> int:
        """How many records (any state, tombstones included) the store holds."""
        return self._storage.hlen(_RECORDS)

    def _remove_file(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(upload_id).unlink()

    # lifecycle

    def create(
        self, length: int, metadata: str, declared: str | None, filename: str | None
    ) -> dict[str, Any]:
        now = self._clock()
        upload_id = uuid.uuid4().hex
        record: dict[str, Any] = {
            "id": upload_id,
            "length": length,
            "offset": 0,
            "state": "uploading",
            "metadata": metadata,
            "sha256_declared": declared,
            "filename": filename,
            "sha256": None,
            "created": now,
            "expires": now + self.expires_s,
        }
        if length == 0:
            digest = hashlib.sha256(b"").hexdigest()
            if declared is not None and declared != digest:
                raise Refused(
                    460,
                    "upload_checksum_mismatch",
                    "the declared sha256 is not the SHA-256 of an empty file",
                    sha256_declared=declared,
                    sha256_received=digest,
                )
            record.update(state="complete", sha256=digest)
        with self._storage.lock(_CREATE_LOCK, timeout_s=LOCK_TIMEOUT_S):
            if self.held() >= self.max_uploads:
                self.sweep(force=True)
            if self.held() >= self.max_uploads:
                raise Refused(
                    409,
                    "too_many_uploads",
                    f"the server holds at most {self.max_uploads} uploads: "
                    "finish or delete some, or wait for them to expire",
                    max=self.max_uploads,
                )
            # O_EXCL: a uuid4 clash would be a bug, never a silent overwrite.
            fd = os.open(self.path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            self._put(record)
        return record

    def live(self, upload_id: str, *, locked: bool = False) -> dict[str, Any]:
        """The record of a usable upload, expiring it first if due; ``Refused`` 404/410.

        ``locked``: the caller holds the upload's lock already.
        """
        record = self.get(upload_id)
        if record is not None and record["state"] != "expired" and self._due(record):
            record = self._expire_locked(upload_id) if locked else self.expire(upload_id)
        if record is None:
            raise Refused(404, "not_found", f"no upload {upload_id}", id=upload_id)
        if record["state"] == "expired":
            raise _gone(record, "upload_expired", "this upload expired: start a new upload")
        return record

    def _due(self, record: dict[str, Any]) -> bool:
        return bool(record["expires"] <= self._clock())

    def expire(self, upload_id: str) -> dict[str, Any] | None:
        """Turn a due upload into a tombstone (its file deleted); returns the current record."""
        with self.lock(upload_id):
            return self._expire_locked(upload_id)

    def _expire_locked(self, upload_id: str) -> dict[str, Any] | None:
        record = self.get(upload_id)
        if record is None or record["state"] == "expired" or not self._due(record):
            return record
        self._remove_file(upload_id)
        tomb = {
            "id": upload_id,
            "state": "expired",
            "was": record["state"],
            "length": record["length"],
            "expires": record["expires"],
            "purge": self._clock() + self.expires_s,
        }
        self._put(tomb)
        return tomb

    def delete(self, upload_id: str) -> None:
        """Termination: the record, its counter and its file go; later requests get 404."""
        with self.lock(upload_id):
            self.live(upload_id, locked=True)  # 404 / 410 first, as for every tus request
            self._purge(upload_id)

    def _purge(self, upload_id: str) -> None:
        self._remove_file(upload_id)
        self._storage.hdel(_RECORDS, upload_id)
        self._storage.hdel(_RECEIVED, upload_id)

    def sweep(self, *, force: bool = False) -> int:
        """Expire due uploads and purge old tombstones (all when ``force`` and full).

        Reads at most ``UPLOADS_MAX`` records; runs at most every ``SWEEP_EVERY_S``
        per process unless forced. Returns how many records it removed.
        """
        now = self._clock()
        with self._sweep_lock:
            if not force and now - self._last_sweep < SWEEP_EVERY_S:
                return 0
            self._last_sweep = now
        removed = 0
        tombs: list[tuple[float, str]] = []
        for upload_id, raw in self._storage.hgetall(_RECORDS).items():
            record = json.loads(raw)
            if record["state"] != "expired" and record["expires"] <= now:
                with contextlib.suppress(TimeoutError):
                    record = self.expire(upload_id) or record
            if record.get("state") == "expired":
                tombs.append((float(record["purge"]), upload_id))
        tombs.sort()
        room = self.held() - self.max_uploads + 1 if force else 0
        for purge_at, upload_id in tombs:
            if purge_at > now and room <= 0:
                break
            with contextlib.suppress(TimeoutError), self.lock(upload_id):
                current = self.get(upload_id)
                if current is not None and current["state"] == "expired":
                    self._purge(upload_id)
                    removed += 1
                    room -= 1
        return removed

    # appending

    def append(self, upload_id: str, offset: int, chunk: IO[bytes], size: int) -> dict[str, Any]:
        """Write ``size`` bytes from ``chunk`` at ``offset`` if that is still the offset.

        Runs under the upload's lock; on the final byte the whole file is hashed
        and compared with the declared SHA-256.
        """
        with self.lock(upload_id):
            record = self.live(upload_id, locked=True)
            if record["state"] == "failed":
                raise _failed(record)
            if record["offset"] != offset:
                raise _offset_mismatch(record)
            if offset + size > record["length"]:
                raise _exceeded(record, size)
            path = self.path(upload_id)
            try:
                fh = path.open("r+b")
            except FileNotFoundError:
                raise _data_missing(upload_id) from None
            with fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() < offset:
                    raise _data_missing(upload_id)
                fh.seek(offset)
                chunk.seek(0)
                shutil.copyfileobj(chunk, fh, PIECE)
                fh.truncate(offset + size)
            now = self._clock()
            new_offset = offset + size
            if new_offset == record["length"]:
                digest = _file_sha256(path)
                declared = record.get("sha256_declared")
                if declared is not None and declared != digest:
                    # The whole file is not what the client meant: the final
                    # chunk is not applied, the data is useless, start again.
                    self._remove_file(upload_id)
                    record.update(state="failed", sha256=digest, expires=now + self.expires_s)
                    self._put(record)
                    raise Refused(
                        460,
                        "upload_checksum_mismatch",
                        "the uploaded file's SHA-256 is not the one declared in Upload-Metadata: "
                        "the upload failed, start a new one",
                        sha256_declared=declared,
                        sha256_received=digest,
                    )
                record.update(state="complete", sha256=digest)
            record.update(offset=new_offset, expires=now + self.expires_s)
            self._put(record)
            return record

    def info(self, record: dict[str, Any]) -> dict[str, Any]:
        """The JSON view of a record for ``GET .../info``."""
        pairs = parse_metadata(record.get("metadata") or "")
        metadata: dict[str, str | None] = {}
        for key, value in pairs.items():
            try:
                metadata[key] = base64.b64decode(value).decode("utf-8")
            except UnicodeDecodeError:
                metadata[key] = None
        declared = record.get("sha256_declared")
        digest = record.get("sha256")
        verified = None if declared is None or digest is None else declared == digest
        return {
            "id": record["id"],
            "state": record["state"],
            "offset": record["offset"],
            "length": record["length"],
            "bytes_received": self.received(record["id"]),
            "filename": record.get("filename"),
            "metadata": metadata,
            "sha256_declared": declared,
            "sha256": digest,
            "verified": verified,
            "expires": http_date(record["expires"]),
        }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for piece in iter(lambda: fh.read(PIECE), b""):
            digest.update(piece)
    return digest.hexdigest()


def _gone(record: dict[str, Any], code: str, message: str, **extra: Any) -> Refused:
    refused = Refused(410, code, message, id=record["id"], **extra)
    refused.headers["Upload-State"] = record["state"]
    return refused


def _failed(record: dict[str, Any]) -> Refused:
    return _gone(
        record,
        "upload_failed",
        "this upload failed verification (its SHA-256 did not match): start a new upload",
        sha256_declared=record.get("sha256_declared"),
        sha256_received=record.get("sha256"),
    )


def _offset_mismatch(record: dict[str, Any]) -> Refused:
    return Refused(
        409,
        "offset_mismatch",
        f"Upload-Offset must be the upload's current offset, {record['offset']}: "
        "ask with HEAD and resume from there",
        field="Upload-Offset",
        offset=record["offset"],
    )


def _exceeded(record: dict[str, Any], size: int) -> Refused:
    return Refused(
        413,
        "upload_length_exceeded",
        f"this chunk would go past Upload-Length {record['length']} "
        f"(offset {record['offset']} + {size} bytes)",
        length=record["length"],
        offset=record["offset"],
    )


def _data_missing(upload_id: str) -> Refused:
    return Refused(
        410,
        "upload_data_missing",
        "this upload's data is not on this server's disk (UPLOAD_DIR): with Redis, every "
        "worker must share one upload directory",
        id=upload_id,
    )


# -- HTTP -------------------------------------------------------------------


def store() -> UploadStore:
    """The current app's upload store."""
    uploads: UploadStore = current_app.extensions["uploads"]
    return uploads


def _respond(refused: Refused) -> Response:
    resp = jsonify(refused.body)
    resp.status_code = refused.status
    resp.headers.update(refused.headers)
    return resp


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> Response:
    return _respond(exc)


@bp.before_request
def _check_version() -> Any:
    if request.method == "OPTIONS" or request.endpoint == "uploads.info":
        return None
    given = header("Tus-Resumable")
    if given == TUS_VERSION:
        return None
    got = "nothing" if given is None else repr(given[:40])
    resp, status = error(
        412,
        "unsupported_tus_version",
        f"send Tus-Resumable: {TUS_VERSION} (got {got})",
        field="Tus-Resumable",
        allowed=[TUS_VERSION],
    )
    resp.headers["Tus-Version"] = TUS_VERSION
    return resp, status


@bp.after_request
def _tus_headers(resp: Response) -> Response:
    resp.headers["Tus-Resumable"] = TUS_VERSION
    if resp.status_code in (201, 204) or (request.method == "HEAD" and resp.status_code == 200):
        # No body: no Content-Type (Flask would say text/html).
        resp.headers.pop("Content-Type", None)
    return resp


def _capabilities() -> Response:
    uploads = store()
    chunk = int(current_app.config["MAX_CONTENT_LENGTH"])
    resp = Response(status=204)
    resp.headers["Tus-Version"] = TUS_VERSION
    resp.headers["Tus-Extension"] = EXTENSIONS
    resp.headers["Tus-Max-Size"] = str(uploads.max_size)
    resp.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUMS)
    resp.headers["Upload-Limit"] = f"max-size={uploads.max_size}, max-append-size={chunk}"
    return resp


def _digits(name: str) -> int | None:
    value = header(name)
    if value is None:
        return None
    if not DIGITS.fullmatch(value):
        raise Refused(
            400,
            f"invalid_{name.lower().replace('-', '_')}",
            f"{name} must be a non-negative integer (ASCII digits)",
            field=name,
        )
    return int(value)


def _has_body() -> bool:
    return (
        bool(request.content_length)
        or "chunked" in (request.headers.get("Transfer-Encoding") or "").lower()
    )


@bp.route("", methods=["OPTIONS", "POST"], provide_automatic_options=False)
@bp.route("/", methods=["OPTIONS", "POST"], provide_automatic_options=False)
def collection() -> Any:
    """OPTIONS: capabilities. POST: create an upload (the creation extension)."""
    if request.method == "OPTIONS":
        return _capabilities()
    uploads = store()
    uploads.sweep()
    if header("Upload-Concat") is not None:
        raise Refused(
            400, "concatenation_unsupported", "this server has no concatenation extension",
            field="Upload-Concat",
        )  # fmt: skip
    if _has_body():
        raise Refused(
            400,
            "creation_with_upload_unsupported",
            "create with an empty POST, then send the data with PATCH",
            field="Content-Length",
        )
    length = _digits("Upload-Length")
    if header("Upload-Defer-Length") is not None:
        raise Refused(
            400,
            "defer_length_unsupported",
            "Upload-Defer-Length is not supported (no creation-defer-length): send Upload-Length",
            field="Upload-Defer-Length",
        )
    if length is None:
        raise Refused(
            400, "missing_upload_length", "send Upload-Length: the file's size in bytes",
            field="Upload-Length",
        )  # fmt: skip
    if length > uploads.max_size:
        raise Refused(
            413,
            "upload_too_large",
            f"Upload-Length {length} is over the limit of {uploads.max_size} bytes",
            field="Upload-Length",
            max_bytes=uploads.max_size,
        )
    raw_meta = header("Upload-Metadata") or ""
    declared, filename = declared_fields(parse_metadata(raw_meta))
    record = uploads.create(length, raw_meta, declared, filename)
    resp = Response(status=201)
    resp.headers["Location"] = url_for("uploads.upload", upload_id=record["id"])
    resp.headers["Upload-Offset"] = "0"
    resp.headers["Upload-Expires"] = http_date(record["expires"])
    resp.headers["Upload-State"] = record["state"]
    return resp


def _checked_id(upload_id: str) -> str:
    if not ID_PATTERN.fullmatch(upload_id):
        raise Refused(404, "not_found", "no such upload: ids are 32 lowercase hex digits")
    return upload_id


def _state_headers(resp: Response, record: dict[str, Any]) -> Response:
    resp.headers["Upload-Offset"] = str(record["offset"])
    resp.headers["Upload-Expires"] = http_date(record["expires"])
    resp.headers["Upload-State"] = record["state"]
    return resp


def _head(upload_id: str) -> Response:
    record = store().live(upload_id)
    if record["state"] == "failed":
        raise _failed(record)
    resp = _state_headers(Response(status=200), record)
    resp.headers["Upload-Length"] = str(record["length"])
    if record.get("metadata"):
        resp.headers["Upload-Metadata"] = record["metadata"]
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _parse_checksum() -> tuple[str, bytes] | None:
    raw = header("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, value = raw.partition(" ")
    if algorithm not in CHECKSUMS:
        raise Refused(
            400,
            "unsupported_checksum_algorithm",
            f"Upload-Checksum algorithm must be one of {', '.join(CHECKSUMS)}",
            field="Upload-Checksum",
            allowed=list(CHECKSUMS),
        )
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        expected = b""
    if len(expected) != CHECKSUMS[algorithm]().digest_size:
        raise Refused(
            400,
            "invalid_checksum",
            f"Upload-Checksum must be '{algorithm} <base64 digest>'",
            field="Upload-Checksum",
        )
    return algorithm, expected


def _count_bytes(upload_id: str, amount: int) -> None:
    store().count_received(upload_id, amount)
    injector = current_app.extensions.get("fault_injector")
    if injector is not None and amount:
        injector.stats.add_upload_bytes(g.get("rf_scope"), amount)


def _receive(
    record: dict[str, Any], spool: IO[bytes], checksum: tuple[str, bytes] | None
) -> tuple[int, bool]:
    """Read the body into ``spool`` in pieces: (bytes read, whether it ended early).

    Raises ``Refused`` 413 past ``room`` and 460 on a checksum mismatch; counts
    every byte read.
    """
    algorithm = checksum[0] if checksum else ""
    digest = CHECKSUMS[algorithm]() if checksum else None
    room = record["length"] - record["offset"]
    size = 0
    broken = False
    stream = request.stream
    try:
        while True:
            piece = stream.read(PIECE)
            if not piece:
                break
            size += len(piece)
            if size > room:
                break
            spool.write(piece)
            if digest is not None:
                digest.update(piece)
    except (OSError, BadRequest):  # the client went away mid-body
        broken = True
    _count_bytes(record["id"], size)
    if size > room:
        raise _exceeded(record, size)
    mismatch = checksum is not None and digest is not None and digest.digest() != checksum[1]
    if mismatch and not broken:
        raise Refused(
            460,
            "checksum_mismatch",
            f"the chunk's {algorithm} is not the one in Upload-Checksum: nothing was "
            "written, send it again",
            field="Upload-Checksum",
        )
    return size, broken


def _patch(upload_id: str) -> Response:
    if request.mimetype != OFFSET_TYPE:
        raise Refused(
            415, "unsupported_media_type", f"send Content-Type: {OFFSET_TYPE}",
            field="Content-Type",
        )  # fmt: skip
    offset = _digits("Upload-Offset")
    if offset is None:
        raise Refused(400, "missing_upload_offset", "send Upload-Offset", field="Upload-Offset")
    checksum = _parse_checksum()
    uploads = store()
    record = uploads.live(upload_id)
    if record["state"] == "failed":
        raise _failed(record)
    if record["offset"] != offset:
        raise _offset_mismatch(record)
    declared = request.content_length
    if declared is not None and offset + declared > record["length"]:
        raise _exceeded(record, declared)
    with tempfile.TemporaryFile(dir=uploads.directory) as spool:
        size, broken = _receive(record, spool, checksum)
        if broken:
            if size and checksum is None:
                # Keep what arrived (tus: store as much as possible); the client resumes.
                with contextlib.suppress(Refused):
                    uploads.append(upload_id, offset, spool, size)
            raise Refused(400, "incomplete_body", "the body ended before its Content-Length")
        if size == 0:
            return _state_headers(Response(status=204), record)
        record = uploads.append(upload_id, offset, spool, size)
    return _state_headers(Response(status=204), record)


def _delete(upload_id: str) -> Response:
    store().delete(upload_id)
    return Response(status=204)


_OVERRIDES = {"PATCH": _patch, "DELETE": _delete}


def _locked(call: Callable[[str], Response], upload_id: str) -> Response:
    try:
        return call(upload_id)
    except TimeoutError:
        refused = Refused(423, "upload_locked", "another request holds this upload: retry")
        refused.headers["Retry-After"] = "1"
        return _respond(refused)


@bp.route("/<upload_id>", methods=["HEAD", "PATCH", "DELETE", "POST", "OPTIONS"],
          provide_automatic_options=False)  # fmt: skip
def upload(upload_id: str) -> Any:
    """One upload: HEAD (offset), PATCH (append), DELETE (terminate)."""
    if request.method == "OPTIONS":
        return _capabilities()
    upload_id = _checked_id(upload_id)
    if request.method == "HEAD":
        return _locked(_head, upload_id)
    if request.method == "POST":
        override = (header("X-HTTP-Method-Override") or "").upper()
        if override not in _OVERRIDES:
            resp, status = error(
                405,
                "method_not_allowed",
                "POST here needs X-HTTP-Method-Override: PATCH or DELETE",
                allowed=["HEAD", "PATCH", "DELETE", "OPTIONS"],
            )
            resp.headers["Allow"] = "HEAD, PATCH, DELETE, OPTIONS, POST"
            return resp, status
        return _locked(_OVERRIDES[override], upload_id)
    return _locked(_OVERRIDES[request.method], upload_id)


@bp.get("/<upload_id>/info")
def info(upload_id: str) -> Any:
    """JSON state of an upload, for people and the demo page (not part of tus)."""
    return _locked(_info, _checked_id(upload_id))


def _info(upload_id: str) -> Response:
    uploads = store()
    return jsonify(uploads.info(uploads.live(upload_id)))


# -- set-up -------------------------------------------------------------------


def upload_directory(config: Any) -> Path:
    """``UPLOAD_DIR``, else a temp dir: per app in memory mode, per Redis URI and prefix."""
    configured = str(config.get("UPLOAD_DIR") or "")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    if str(config["STORAGE_URI"]).startswith("memory:"):
        return Path(tempfile.mkdtemp(prefix="rf-uploads-"))
    # Workers of one host must agree on the directory without being told.
    key = hashlib.sha256(f"{config['STORAGE_URI']}|{config['STORAGE_PREFIX']}".encode())
    path = Path(tempfile.gettempdir()) / f"rf-uploads-{key.hexdigest()[:16]}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def init_app(app: Flask, storage: Storage) -> UploadStore:
    """Attach the upload store and register the blueprint."""
    directory = upload_directory(app.config)
    uploads = UploadStore(
        storage,
        directory,
        max_size=int(app.config["UPLOAD_MAX_SIZE"]),
        max_uploads=int(app.config["UPLOADS_MAX"]),
        expires_s=float(app.config["UPLOAD_EXPIRES_S"]),
    )
    if not app.config.get("UPLOAD_DIR") and storage.kind == "memory":
        # A per-app temp dir goes with the app (tests make many apps).
        weakref.finalize(uploads, shutil.rmtree, str(directory), True)
    app.extensions["uploads"] = uploads
    app.register_blueprint(bp)
    return uploads
