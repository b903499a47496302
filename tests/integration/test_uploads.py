"""tus 1.0 uploads on ``/api/uploads/`` (demo_backend/uploads.py) against a real server.

Each status code has a control case beside it. tuspy, a tus client nobody
here wrote, uploads to the server, is interrupted by a ``reset`` fault and
resumes. The Redis tests run two gunicorn workers on one redis-server and
send each chunk on a fresh connection, so chunks land on both workers.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

from demo_backend import create_app
from demo_backend.config import ConfigError
from demo_backend.uploads import UploadStore

from .conftest import LiveServer
from .processes import Backend, RedisServer, start_gunicorn, stop

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
ENDPOINT = "/api/uploads/"
TIMEOUT = 10


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def sha256_meta(data: bytes, **extra: str) -> str:
    pairs = {"sha256": hashlib.sha256(data).hexdigest(), **extra}
    return ",".join(f"{k} {b64(v)}" for k, v in pairs.items())


def chunk_checksum(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


class Tus:
    """A tiny hand-written tus client for status-code tests (tuspy does the real uploads)."""

    def __init__(self, base: str, scope: str | None = None) -> None:
        self.base = base
        self.headers = {**TUS, **({"X-Fault-Scope": scope} if scope else {})}

    def create(self, length: int, metadata: str | None = None, **headers: str) -> str:
        resp = self.post(length, metadata, **headers)
        assert resp.status_code == 201, resp.text
        location = resp.headers["Location"]
        assert location.startswith(ENDPOINT)
        return self.base + location

    def post(self, length: int | None, metadata: str | None = None, **headers: str) -> Any:
        hdrs = {**self.headers, **headers}
        if length is not None:
            hdrs["Upload-Length"] = str(length)
        if metadata is not None:
            hdrs["Upload-Metadata"] = metadata
        return requests.post(self.base + ENDPOINT, headers=hdrs, timeout=TIMEOUT)

    def patch(self, url: str, offset: int, data: bytes, **headers: str) -> requests.Response:
        hdrs = {**self.headers, "Upload-Offset": str(offset), "Content-Type": OCTETS, **headers}
        return requests.patch(url, data=data, headers=hdrs, timeout=TIMEOUT)

    def head(self, url: str, **headers: str) -> requests.Response:
        return requests.head(url, headers={**self.headers, **headers}, timeout=TIMEOUT)

    def offset(self, url: str) -> int:
        resp = self.head(url)
        assert resp.status_code == 200, resp.status_code
        return int(resp.headers["Upload-Offset"])

    def info(self, url: str) -> dict[str, Any]:
        resp = requests.get(url + "/info", timeout=TIMEOUT)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


def upload_id(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def uploads_of(app: Flask) -> UploadStore:
    store: UploadStore = app.extensions["uploads"]
    return store


def stored_bytes(app: Flask, url: str) -> bytes | None:
    path = uploads_of(app).path(upload_id(url))
    return path.read_bytes() if path.exists() else None


@pytest.fixture
def make_server(serve: Callable[[Flask], LiveServer], tmp_path: Path) -> Callable[..., LiveServer]:
    def _make(**overrides: Any) -> LiveServer:
        config = {
            "TESTING": True, "FAULTS": True, "FAULT_SEED": 7, "ACCESS_LOG": False,
            "UPLOAD_DIR": str(tmp_path / f"uploads-{uuid.uuid4().hex[:6]}"), **overrides,
        }  # fmt: skip
        return serve(create_app(config))

    return _make


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server()


@pytest.fixture
def tus(server: LiveServer) -> Tus:
    return Tus(server.url)


# -- discovery and versions -------------------------------------------------


def test_options_lists_version_extensions_size_and_checksums(server: LiveServer) -> None:
    resp = requests.options(server.url + ENDPOINT, timeout=TIMEOUT)  # no Tus-Resumable needed
    assert resp.status_code == 204
    assert resp.headers["Tus-Resumable"] == "1.0.0" and resp.headers["Tus-Version"] == "1.0.0"
    assert resp.headers["Tus-Extension"] == "creation,checksum,termination,expiration"
    assert resp.headers["Tus-Max-Size"] == str(32 * 1024 * 1024)
    assert resp.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert resp.headers["Upload-Limit"] == f"max-size={32 * 1024 * 1024}, max-append-size=1048576"
    assert "Content-Type" not in resp.headers


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", ""])
def test_missing_or_other_tus_version_is_412_and_nothing_happens(
    server: LiveServer, tus: Tus, version: str | None
) -> None:
    url = tus.create(10)
    bad = {} if version is None else {"Tus-Resumable": version}
    calls = {
        "POST": lambda: requests.post(
            server.url + ENDPOINT, headers={**bad, "Upload-Length": "5"}, timeout=TIMEOUT
        ),
        "HEAD": lambda: requests.head(url, headers=bad, timeout=TIMEOUT),
        "PATCH": lambda: requests.patch(
            url,
            data=b"abc",
            timeout=TIMEOUT,
            headers={**bad, "Upload-Offset": "0", "Content-Type": OCTETS},
        ),
        "DELETE": lambda: requests.delete(url, headers=bad, timeout=TIMEOUT),
    }
    held = uploads_of(server.app).held()
    for method, call in calls.items():
        resp = call()
        assert resp.status_code == 412, method
        assert resp.headers["Tus-Version"] == "1.0.0"
        if method != "HEAD":
            assert resp.json()["error"] == "unsupported_tus_version"
            assert resp.json()["field"] == "Tus-Resumable"
    assert uploads_of(server.app).held() == held  # no upload created
    assert tus.offset(url) == 0  # nothing written, not deleted
    # Control: the same calls with the header work.
    assert tus.patch(url, 0, b"abc").status_code == 204
    assert tus.post(5).status_code == 201


# -- creation -------------------------------------------------------------


def test_create_then_head_reports_offset_length_metadata_and_expiry(
    server: LiveServer, tus: Tus
) -> None:
    meta = sha256_meta(b"0123456789", filename="notes.txt")
    before = time.time()
    resp = tus.post(10, meta)
    assert resp.status_code == 201
    assert resp.headers["Upload-Offset"] == "0" and resp.headers["Tus-Resumable"] == "1.0.0"
    expires = email.utils.parsedate_to_datetime(resp.headers["Upload-Expires"]).timestamp()
    assert before + 3600 - 2 <= expires <= time.time() + 3600 + 1
    url = server.url + resp.headers["Location"]
    head = tus.head(url)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "10"
    assert head.headers["Upload-Metadata"] == meta
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-State"] == "uploading"
    assert "Upload-Expires" in head.headers


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_upload_length"),
        ({"Upload-Length": "-1"}, "invalid_upload_length"),
        ({"Upload-Length": "1e3"}, "invalid_upload_length"),
        ({"Upload-Length": "\u00b2"}, "invalid_upload_length"),  # a digit, not ASCII
        ({"Upload-Defer-Length": "1"}, "defer_length_unsupported"),
        ({"Upload-Length": "5", "Upload-Concat": "partial"}, "concatenation_unsupported"),
        ({"Upload-Length": "5", "Upload-Metadata": "a x,a eA=="}, "invalid_metadata"),
        ({"Upload-Length": "5", "Upload-Metadata": "a !!!"}, "invalid_metadata"),
        ({"Upload-Length": "5", "Upload-Metadata": "bad,,pair"}, "invalid_metadata"),
        ({"Upload-Length": "5", "Upload-Metadata": f"sha256 {b64('abc')}"}, "invalid_metadata"),
        ({"Upload-Length": "5", "Upload-Metadata": "filename " + b64(b"\xff")}, "invalid_metadata"),
        ({"Upload-Length": "5", "Upload-Metadata": "k " + "A" * 5000}, "invalid_metadata"),
    ],
)
def test_bad_creation_requests_are_400_naming_the_header(
    server: LiveServer, headers: dict[str, str], code: str
) -> None:
    resp = requests.post(server.url + ENDPOINT, headers={**TUS, **headers}, timeout=TIMEOUT)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == code and body["message"] and "field" in body
    assert uploads_of(server.app).held() == 0


def test_creation_controls_accept_valid_metadata_and_empty_values(tus: Tus) -> None:
    assert tus.post(5, f"filename {b64('ü.txt')},flag,empty ").status_code == 201
    assert tus.post(5, sha256_meta(b"hello")).status_code == 201


def test_post_with_a_body_is_refused(server: LiveServer) -> None:
    headers = {**TUS, "Upload-Length": "3", "Content-Type": OCTETS}
    resp = requests.post(server.url + ENDPOINT, data=b"abc", headers=headers, timeout=TIMEOUT)
    assert resp.status_code == 400 and resp.json()["error"] == "creation_with_upload_unsupported"


def test_upload_over_max_size_is_413(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(UPLOAD_MAX_SIZE=1000)
    tus = Tus(server.url)
    resp = tus.post(1001)
    assert resp.status_code == 413
    assert resp.json()["error"] == "upload_too_large" and resp.json()["max_bytes"] == 1000
    assert tus.post(1000).status_code == 201  # control: exactly the limit


def test_uploads_max_refuses_creation_until_one_expires_or_goes(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(UPLOADS_MAX=2, UPLOAD_EXPIRES_S=1.0)
    tus = Tus(server.url)
    first, second = tus.create(5), tus.create(5)
    full = tus.post(5)
    assert full.status_code == 409
    assert full.json()["error"] == "too_many_uploads" and full.json()["max"] == 2
    assert requests.delete(first, headers=TUS, timeout=TIMEOUT).status_code == 204
    third = tus.create(5)  # a deleted upload frees its place
    assert tus.post(5).status_code == 409
    time.sleep(1.2)  # both expire: the next creation sweeps them away
    assert tus.post(5).status_code == 201
    for url in (second, third):
        assert stored_bytes(server.app, url) is None  # data files removed
    assert uploads_of(server.app).held() <= 2


# -- appending ------------------------------------------------------------


def test_patch_appends_at_the_offset_and_a_wrong_offset_is_409(
    server: LiveServer, tus: Tus
) -> None:
    url = tus.create(6)
    first = tus.patch(url, 0, b"abc")
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "3"
    assert "Upload-Expires" in first.headers and first.headers["Tus-Resumable"] == "1.0.0"
    for wrong in (0, 2, 4):
        resp = tus.patch(url, wrong, b"XYZ")
        assert resp.status_code == 409
        assert resp.json()["error"] == "offset_mismatch" and resp.json()["offset"] == 3
    assert stored_bytes(server.app, url) == b"abc"
    assert tus.patch(url, 3, b"def").status_code == 204  # control: the right offset
    assert stored_bytes(server.app, url) == b"abcdef"
    assert tus.info(url)["state"] == "complete"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Content-Type": "application/octet-stream"}, 415, "unsupported_media_type"),
        ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ({"Upload-Offset": "-1"}, 400, "invalid_upload_offset"),
        ({"Upload-Offset": "zero"}, 400, "invalid_upload_offset"),
        ({"Upload-Checksum": "md5 " + b64(hashlib.md5(b"abc").digest())}, 400,
         "unsupported_checksum_algorithm"),
        ({"Upload-Checksum": "sha256 not-base64!"}, 400, "invalid_checksum"),
        ({"Upload-Checksum": "sha256 " + b64(b"short")}, 400, "invalid_checksum"),
        ({"Upload-Checksum": chunk_checksum(b"abd")}, 460, "checksum_mismatch"),
        ({"Upload-Checksum": chunk_checksum(b"abd", "sha1")}, 460, "checksum_mismatch"),
    ],
)  # fmt: skip
def test_refused_chunks_write_nothing(
    server: LiveServer, tus: Tus, headers: dict[str, str], status: int, code: str
) -> None:
    url = tus.create(6)
    assert tus.patch(url, 0, b"xyz").status_code == 204
    resp = tus.patch(url, 3, b"abc", **headers)
    assert resp.status_code == status and resp.json()["error"] == code
    assert tus.offset(url) == 3 and stored_bytes(server.app, url) == b"xyz"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_matching_chunk_checksum_is_accepted(server: LiveServer, tus: Tus, algorithm: str) -> None:
    url = tus.create(6)
    assert tus.patch(url, 0, b"xyz").status_code == 204
    resp = tus.patch(url, 3, b"abc", **{"Upload-Checksum": chunk_checksum(b"abc", algorithm)})
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == "6"
    assert stored_bytes(server.app, url) == b"xyzabc"


def test_a_chunk_past_upload_length_is_413(server: LiveServer, tus: Tus) -> None:
    url = tus.create(5)
    resp = tus.patch(url, 0, b"123456")
    assert resp.status_code == 413 and resp.json()["error"] == "upload_length_exceeded"
    assert tus.offset(url) == 0 and stored_bytes(server.app, url) == b""
    # The same with no Content-Length (chunked): found while reading, still nothing written.
    chunked = tus.patch(url, 0, iter([b"123", b"456"]))  # type: ignore[arg-type]
    assert chunked.status_code == 413 and tus.offset(url) == 0
    assert tus.patch(url, 0, b"12345").status_code == 204  # control: exactly the length
    assert tus.patch(url, 5, b"6").status_code == 413  # nothing fits after the end
    assert tus.patch(url, 5, b"").status_code == 204  # an empty PATCH at the end is fine


def test_a_patch_body_over_max_content_length_is_413(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(MAX_CONTENT_LENGTH=64 * 1024)
    tus = Tus(server.url)
    url = tus.create(200 * 1024)
    resp = tus.patch(url, 0, b"x" * (64 * 1024 + 1))
    assert resp.status_code == 413 and resp.json()["error"] == "request_too_large"
    assert tus.offset(url) == 0
    assert tus.patch(url, 0, b"x" * 64 * 1024).status_code == 204  # control


def test_whole_file_sha256_verified(server: LiveServer, tus: Tus) -> None:
    data = os.urandom(50_000)
    url = tus.create(len(data), sha256_meta(data, filename="photo.jpg"))
    for start in range(0, len(data), 16_384):
        assert tus.patch(url, start, data[start : start + 16_384]).status_code == 204
    info = tus.info(url)
    digest = hashlib.sha256(data).hexdigest()
    assert info["state"] == "complete" and info["verified"] is True
    assert info["sha256"] == info["sha256_declared"] == digest
    assert info["offset"] == info["length"] == info["bytes_received"] == len(data)
    assert info["filename"] == "photo.jpg" and info["metadata"]["sha256"] == digest
    assert tus.head(url).headers["Upload-State"] == "complete"
    assert stored_bytes(server.app, url) == data


def test_whole_file_sha256_mismatch_fails_the_upload(server: LiveServer, tus: Tus) -> None:
    data = b"A" * 3000
    declared = hashlib.sha256(b"something else").hexdigest()
    url = tus.create(len(data), f"sha256 {b64(declared)}")
    assert tus.patch(url, 0, data[:2000]).status_code == 204
    last = tus.patch(url, 2000, data[2000:])
    assert last.status_code == 460
    body = last.json()
    assert body["error"] == "upload_checksum_mismatch" and body["sha256_declared"] == declared
    assert body["sha256_received"] == hashlib.sha256(data).hexdigest()
    head = tus.head(url)
    assert head.status_code == 410 and head.headers["Upload-State"] == "failed"
    again = tus.patch(url, 2000, data[2000:])
    assert again.status_code == 410 and again.json()["error"] == "upload_failed"
    info = tus.info(url)
    assert info["state"] == "failed" and info["verified"] is False and info["offset"] == 2000
    assert stored_bytes(server.app, url) is None  # the useless data is gone
    # Control: the same bytes with no declared digest complete (unverified).
    plain = tus.create(len(data))
    assert tus.patch(plain, 0, data).status_code == 204
    assert tus.info(plain)["state"] == "complete" and tus.info(plain)["verified"] is None


def test_zero_length_upload_is_checked_at_creation(tus: Tus) -> None:
    assert tus.post(0, sha256_meta(b"x")).status_code == 460
    url = tus.create(0, sha256_meta(b""))
    assert tus.info(url)["state"] == "complete" and tus.info(url)["verified"] is True


def test_method_override_for_clients_without_patch_or_delete(server: LiveServer, tus: Tus) -> None:
    url = tus.create(4)
    hdrs = {**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
    resp = requests.post(
        url, data=b"ab", headers={**hdrs, "X-HTTP-Method-Override": "PATCH"}, timeout=TIMEOUT
    )
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == "2"
    plain = requests.post(url, data=b"ab", headers=hdrs, timeout=TIMEOUT)
    assert plain.status_code == 405 and "PATCH" in plain.headers["Allow"]
    gone = requests.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}, timeout=10)
    assert gone.status_code == 204 and tus.head(url).status_code == 404


# -- termination, expiry, unknown ids ---------------------------------------


def test_delete_terminates_and_then_404(server: LiveServer, tus: Tus) -> None:
    url = tus.create(10)
    assert tus.patch(url, 0, b"12345").status_code == 204
    keep = tus.create(10)  # control: another upload is untouched
    assert requests.delete(url, headers=TUS, timeout=TIMEOUT).status_code == 204
    assert tus.head(url).status_code == 404
    assert tus.patch(url, 5, b"67890").status_code == 404
    assert requests.delete(url, headers=TUS, timeout=TIMEOUT).status_code == 404
    assert requests.get(url + "/info", timeout=TIMEOUT).status_code == 404
    assert stored_bytes(server.app, url) is None
    assert tus.offset(keep) == 0


@pytest.mark.parametrize("path", ["nothex", "A" * 32, "0" * 31, "0" * 32])
def test_unknown_or_malformed_ids_are_404(server: LiveServer, tus: Tus, path: str) -> None:
    url = server.url + ENDPOINT + path
    assert tus.head(url).status_code == 404
    resp = tus.patch(url, 0, b"x")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    assert requests.get(url + "/info", timeout=TIMEOUT).status_code == 404


def test_expired_upload_is_410_and_its_data_is_removed(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(UPLOAD_EXPIRES_S=1.0)
    tus = Tus(server.url)
    idle, busy = tus.create(10), tus.create(10)
    assert tus.patch(idle, 0, b"12345").status_code == 204
    time.sleep(0.6)
    assert tus.patch(busy, 0, b"12345").status_code == 204  # a PATCH extends the expiry
    time.sleep(0.6)  # idle is past its expiry now, busy is not
    head = tus.head(idle)
    assert head.status_code == 410 and head.headers["Upload-State"] == "expired"
    resp = tus.patch(idle, 5, b"67890")
    assert resp.status_code == 410 and resp.json()["error"] == "upload_expired"
    assert stored_bytes(server.app, idle) is None
    assert tus.offset(busy) == 5  # control
    assert tus.patch(busy, 5, b"67890").status_code == 204


# -- concurrency ------------------------------------------------------------


def test_concurrent_patches_at_one_offset_apply_once(server: LiveServer, tus: Tus) -> None:
    for _ in range(3):
        url = tus.create(4096)
        bodies = [bytes([65 + i]) * 1024 for i in range(8)]
        barrier = threading.Barrier(len(bodies))
        results: list[tuple[bytes, int]] = []

        def send(
            body: bytes,
            url: str = url,
            barrier: threading.Barrier = barrier,
            results: list[tuple[bytes, int]] = results,
        ) -> None:
            barrier.wait(timeout=5)
            results.append((body, tus.patch(url, 0, body).status_code))

        threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        winners = [body for body, status in results if status == 204]
        assert len(results) == len(bodies) and len(winners) == 1, results
        assert all(status in (204, 409, 423) for _, status in results)
        assert tus.offset(url) == 1024 and stored_bytes(server.app, url) == winners[0]


# -- counting, faults and a client gone mid-body ----------------------------


def test_bytes_received_per_upload_and_in_stats(server: LiveServer) -> None:
    scope = f"up-{uuid.uuid4().hex[:8]}"
    tus = Tus(server.url, scope)
    url = tus.create(3000)
    assert tus.patch(url, 0, b"a" * 1000).status_code == 204
    bad = tus.patch(url, 1000, b"b" * 1000, **{"Upload-Checksum": chunk_checksum(b"zz")})
    assert bad.status_code == 460  # refused, but its bytes did arrive
    assert tus.patch(url, 1000, b"b" * 1000).status_code == 204
    assert Tus(server.url).patch(url, 2000, b"c" * 1000).status_code == 204  # no scope
    assert tus.info(url)["bytes_received"] == 4000
    scoped = requests.get(server.url + f"/_stats?scope={scope}", timeout=TIMEOUT).json()
    assert scoped["upload_bytes"] == 3000
    assert scoped["routes"]["PATCH /api/uploads/<upload_id>"] == {"204": 2, "460": 1}
    overall = requests.get(server.url + "/_stats", timeout=TIMEOUT).json()
    assert overall["upload_bytes"] == 4000 and overall["scopes"][scope]["upload_bytes"] == 3000
    requests.post(server.url + f"/_faults/reset?scope={scope}", timeout=TIMEOUT)
    after = requests.get(server.url + "/_stats", timeout=TIMEOUT).json()
    assert scope not in after["scopes"] and after["upload_bytes"] == 4000
    requests.post(server.url + "/_faults/reset", timeout=TIMEOUT)
    assert "upload_bytes" not in requests.get(server.url + "/_stats", timeout=TIMEOUT).json()


def test_faults_apply_to_upload_routes(server: LiveServer) -> None:
    scope = f"up-{uuid.uuid4().hex[:8]}"
    tus = Tus(server.url, scope)
    url = tus.create(10)
    server.add_fault(type="status", code=503, match="/api/uploads/*", scope=scope, count=1)
    assert tus.patch(url, 0, b"12345").status_code == 503
    assert Tus(server.url).offset(url) == 0  # the fault answered before the view
    assert tus.patch(url, 0, b"12345").status_code == 204  # count=1: the next one passes
    server.add_fault(type="reset", match="/api/uploads/*", methods=["PATCH"], scope=scope)
    with pytest.raises(requests.ConnectionError):
        tus.patch(url, 5, b"67890")
    assert Tus(server.url).offset(url) == 5


def _send_partial(base: str, url: str, total: int, sent: bytes, extra: str = "") -> None:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    path = urlsplit(url).path
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {OCTETS}\r\nContent-Length: {total}\r\n{extra}\r\n"
    )
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(head.encode() + sent)
        sock.shutdown(socket.SHUT_WR)  # the client is gone mid-body
        sock.settimeout(5)
        try:  # read until the server has answered or dropped us
            while sock.recv(4096):
                pass
        except OSError:
            pass


def _until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_bytes_of_a_body_cut_short_are_kept_unless_a_checksum_was_sent(
    server: LiveServer, tus: Tus
) -> None:
    url = tus.create(1000)
    _send_partial(server.url, url, 1000, b"p" * 400)
    assert _until(lambda: tus.offset(url) == 400)
    assert stored_bytes(server.app, url) == b"p" * 400
    # Control: with Upload-Checksum a partial chunk cannot be verified, so none of it is kept.
    other = tus.create(1000)
    _send_partial(
        server.url, other, 1000, b"q" * 400, f"Upload-Checksum: {chunk_checksum(b'')}\r\n"
    )
    assert _until(lambda: tus.info(other)["bytes_received"] == 400)
    assert tus.offset(other) == 0 and stored_bytes(server.app, other) == b""


# -- tuspy, a client nobody here wrote ------------------------------------------


class Sha256Uploader(Uploader):
    """tuspy's Uploader with its documented checksum pair switched to sha256."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * 1024 * 1024 + 4321)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path, data


def test_tuspy_uploads_in_small_chunks_and_the_hashes_match(
    server: LiveServer, source: tuple[Path, bytes]
) -> None:
    path, data = source
    client = tus_client.TusClient(server.url + ENDPOINT)
    digest = hashlib.sha256(data).hexdigest()
    uploader = Sha256Uploader(
        file_path=str(path), client=client, chunk_size=256 * 1024, upload_checksum=True,
        metadata={"sha256": digest, "filename": "source.bin"},
    )  # fmt: skip
    uploader.upload()
    info = Tus(server.url).info(uploader.url)
    assert info["verified"] is True and info["sha256"] == digest
    assert info["bytes_received"] == len(data)
    assert hashlib.sha256(stored_bytes(server.app, uploader.url) or b"").hexdigest() == digest


def test_tuspy_resumes_after_a_reset_without_resending_everything(
    server: LiveServer, source: tuple[Path, bytes]
) -> None:
    path, data = source
    scope = f"tuspy-{uuid.uuid4().hex[:8]}"
    chunk = 256 * 1024
    client = tus_client.TusClient(server.url + ENDPOINT, headers={"X-Fault-Scope": scope})
    digest = hashlib.sha256(data).hexdigest()
    first = client.uploader(
        file_path=str(path), chunk_size=chunk, upload_checksum=True,  # tuspy's default: sha1
        metadata={"sha256": digest, "filename": "source.bin"},
    )  # fmt: skip
    first.upload(stop_at=5 * chunk)
    assert Tus(server.url).offset(first.url) == 5 * chunk
    # The next PATCH has its connection reset: tuspy (no retries) gives up.
    server.add_fault(type="reset", match="/api/uploads/*", methods=["PATCH"], scope=scope, count=1)
    with pytest.raises((TusUploadFailed, TusCommunicationError)):
        first.upload()
    # A new uploader for the same URL asks HEAD for the offset and sends only the rest.
    resumed = client.uploader(file_path=str(path), url=first.url, chunk_size=chunk)
    assert resumed.offset == 5 * chunk
    resumed.upload()
    info = Tus(server.url).info(first.url)
    assert info["state"] == "complete" and info["verified"] is True
    assert hashlib.sha256(stored_bytes(server.app, first.url) or b"").hexdigest() == digest
    assert info["bytes_received"] == len(data)  # the reset chunk never reached the view
    stats = requests.get(server.url + f"/_stats?scope={scope}", timeout=TIMEOUT).json()
    assert stats["upload_bytes"] == len(data)
    assert stats["routes"]["PATCH /api/uploads/<upload_id>"]["dropped"] == 1
    assert stats["routes"]["HEAD /api/uploads/<upload_id>"] == {"200": 1}


def test_tuspy_retries_through_a_reset_on_its_own(
    server: LiveServer, source: tuple[Path, bytes]
) -> None:
    path, data = source
    scope = f"tuspy-{uuid.uuid4().hex[:8]}"
    server.add_fault(type="reset", match="/api/uploads/*", methods=["PATCH"], scope=scope, count=2)
    client = tus_client.TusClient(server.url + ENDPOINT, headers={"X-Fault-Scope": scope})
    uploader = client.uploader(
        file_path=str(path), chunk_size=512 * 1024, retries=3, retry_delay=0,
        metadata={"sha256": hashlib.sha256(data).hexdigest()},
    )  # fmt: skip
    uploader.upload()
    assert Tus(server.url).info(uploader.url)["verified"] is True
    stats = requests.get(server.url + f"/_stats?scope={scope}", timeout=TIMEOUT).json()
    assert stats["routes"]["PATCH /api/uploads/<upload_id>"]["dropped"] == 2


def test_tuspy_sees_a_wrong_declared_sha256_as_a_failed_upload(
    server: LiveServer, source: tuple[Path, bytes]
) -> None:
    path, _ = source
    client = tus_client.TusClient(server.url + ENDPOINT)
    uploader = client.uploader(
        file_path=str(path), chunk_size=1024 * 1024, metadata={"sha256": "0" * 64}
    )
    with pytest.raises(TusUploadFailed) as failed:
        uploader.upload()
    assert failed.value.status_code == 460
    assert Tus(server.url).info(uploader.url)["state"] == "failed"


# -- settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"UPLOAD_MAX_SIZE": 0}, "UPLOAD_MAX_SIZE"),
        ({"UPLOADS_MAX": 0}, "UPLOADS_MAX"),
        ({"UPLOADS_MAX": 1.5}, "UPLOADS_MAX"),
        ({"UPLOAD_EXPIRES_S": 0}, "UPLOAD_EXPIRES_S"),
        ({"UPLOAD_DIR": 5}, "UPLOAD_DIR"),
    ],
)
def test_upload_settings_are_validated(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, **config})
    assert info.value.field == field


def test_upload_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEMO_UPLOAD_MAX_SIZE", "2048")
    monkeypatch.setenv("DEMO_UPLOADS_MAX", "3")
    monkeypatch.setenv("DEMO_UPLOAD_EXPIRES_S", "60")
    monkeypatch.setenv("DEMO_UPLOAD_DIR", str(tmp_path / "up"))
    store = uploads_of(create_app({"TESTING": True}))
    assert (store.max_size, store.max_uploads, store.expires_s) == (2048, 3, 60.0)
    assert store.directory == tmp_path / "up" and store.directory.is_dir()
    monkeypatch.setenv("DEMO_UPLOADS_MAX", "many")
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True})
    assert info.value.field == "DEMO_UPLOADS_MAX"


# -- Redis: two gunicorn workers, one offset ----------------------------------


@pytest.fixture(scope="module")
def pair(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Backend, Path]]:
    """One gunicorn with two workers on one Redis prefix and one upload directory."""
    work = Path(tmp_path_factory.mktemp("uploads-redis"))
    env = {
        "DEMO_STORAGE_URI": redis_server.uri,
        "DEMO_STORAGE_PREFIX": f"rf-up-{uuid.uuid4().hex[:8]}:",
        "DEMO_FAULTS": "1",
        "DEMO_UPLOAD_DIR": str(work / "data"),
    }
    backend = start_gunicorn(env, 2, work / "gunicorn.log")
    try:
        yield backend, work / "data"
    finally:
        stop(backend.proc, signal.SIGINT)


def _pids(log: Path, marker: str) -> set[int]:
    found = set()
    for line in log.read_text().splitlines():
        if line.startswith("{") and marker in line:
            found.add(json.loads(line)["pid"])
    return found


def test_two_workers_share_one_offset(pair: tuple[Backend, Path]) -> None:
    backend, data_dir = pair
    tus = Tus(backend.url)
    data = os.urandom(48 * 4096)
    url = tus.create(len(data), sha256_meta(data))
    marker = f"chunk-{uuid.uuid4().hex[:8]}"
    for i, start in enumerate(range(0, len(data), 4096)):
        rid = {"X-Request-ID": f"{marker}-{i}"}  # logged with the worker's pid
        # A fresh connection per chunk (requests without a Session): the kernel picks the worker.
        assert int(tus.head(url).headers["Upload-Offset"]) == start  # from either worker
        resp = tus.patch(url, start, data[start : start + 4096], **rid)
        assert resp.status_code == 204 and resp.headers["Upload-Offset"] == str(start + 4096)
    assert len(_pids(backend.log, marker)) == 2, "only one worker received chunks"
    info = tus.info(url)
    assert info["verified"] is True and info["bytes_received"] == len(data)
    assert (data_dir / f"{upload_id(url)}.part").read_bytes() == data


def test_concurrent_patches_across_workers_apply_once(pair: tuple[Backend, Path]) -> None:
    backend, data_dir = pair
    tus = Tus(backend.url)
    url = tus.create(8192)
    bodies = [bytes([97 + i]) * 2048 for i in range(8)]
    barrier = threading.Barrier(len(bodies))
    statuses: list[tuple[bytes, int]] = []

    def send(body: bytes) -> None:
        barrier.wait(timeout=5)
        statuses.append((body, tus.patch(url, 0, body).status_code))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    winners = [body for body, status in statuses if status == 204]
    assert len(statuses) == len(bodies) and len(winners) == 1, statuses
    assert tus.offset(url) == 2048
    assert (data_dir / f"{upload_id(url)}.part").read_bytes() == winners[0]
