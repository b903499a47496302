"""Resumable uploads (tus 1.0) against a fake tus server, with FakeClock and MockTransport."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from resilient_fetch import (
    AbortedError,
    Client,
    ConfigError,
    FakeClock,
    InvalidRequestError,
    MockTransport,
    NetworkError,
    OfflineError,
    Request,
    Response,
    TimeoutError,
)
from resilient_fetch._errors import ChecksumMismatchError, HashMismatchError, UploadError
from resilient_fetch._models import Headers
from resilient_fetch.config import UploadConfig
from resilient_fetch.stores import MemoryStore
from resilient_fetch.upload import Upload, encode_metadata

BASE = "http://api.test"
ENDPOINT = "/files/"
KiB = 1024


def data_of(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class TusServer:
    """tus 1.0 core + creation + checksum + termination, like the demo backend.

    The last chunk is checked against the declared ``sha256``: a match answers
    ``Upload-State: complete``, a mismatch ``460`` naming ``sha256_received``
    (then ``410`` with ``Upload-State: failed``). ``faults`` maps a request
    number (1-based, per method) to what happens: an int status, "network"
    (nothing stored), "partial" (half the chunk stored, then the connection
    drops), "timeout", "offline", "corrupt" (the chunk arrives damaged: 460).
    ``received`` counts PATCH body bytes.
    """

    def __init__(self, report_state: bool = True, max_body: int | None = None) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}
        self.faults: dict[tuple[str, int], Any] = {}
        self.counts: dict[str, int] = {}
        self.received = 0
        self.log: list[tuple[str, str, int | None]] = []  # method, path, offset
        self.report_state = report_state
        self.max_body = max_body
        self.corrupt_file = False  # the server's copy of the file goes bad (a disk error)
        # PATCH number ``hold_from`` and later wait for ``gate`` (a chunk in flight).
        self.hold_from: int | None = None
        self.gate = asyncio.Event()

    def file(self, n: int = 0) -> bytes:
        return bytes(list(self.uploads.values())[n]["data"])

    async def __call__(self, request: Request) -> Response:
        method = request.method
        path = request.url.removeprefix(BASE)
        if method == "GET":  # the network monitor's probe: any answer proves reachability
            return Response(404, request=request)
        self.counts[method] = self.counts.get(method, 0) + 1
        number = self.counts[method]
        fault = self.faults.get((method, number))
        offset_header = request.headers.get("Upload-Offset")
        self.log.append((method, path, int(offset_header) if offset_header else None))
        assert request.headers.get("Tus-Resumable") == "1.0.0", request.headers
        if method == "PATCH" and self.hold_from is not None and number >= self.hold_from:
            await self.gate.wait()
        if fault == "network":
            raise NetworkError("connection reset", request=request)
        if fault == "offline":
            raise OfflineError("offline", request=request)
        if fault == "timeout":
            raise TimeoutError("attempt timed out", request=request)
        if isinstance(fault, int):
            return Response(fault, Headers({"Retry-After": "2"}), b"", request.url, "", request)
        if method == "POST" and path == ENDPOINT:
            return self._create(request)
        upload = self.uploads.get(path)
        if upload is None:
            return Response(404, request=request)
        if upload["state"] == "failed" and method != "DELETE":
            return Response(410, Headers({"Upload-State": "failed"}), request=request)
        if method == "HEAD":
            return Response(200, self._headers(upload, cache="no-store"), request=request)
        if method == "DELETE":
            del self.uploads[path]
            return Response(204, request=request)
        assert method == "PATCH"
        assert request.headers["Content-Type"] == "application/offset+octet-stream"
        body = request.body or b""
        self.received += len(body)
        if self.max_body is not None and len(body) > self.max_body:
            return Response(413, request=request)
        if int(request.headers["Upload-Offset"]) != len(upload["data"]):
            return Response(409, request=request)
        algo, _, digest = request.headers["Upload-Checksum"].partition(" ")
        assert algo == "sha256"
        if fault == "corrupt" or digest != b64sha(body):
            return Response(460, request=request)
        if fault == "partial":
            upload["data"] += body[: len(body) // 2]
            raise NetworkError("connection reset mid-body", request=request)
        if len(upload["data"]) + len(body) == upload["length"]:
            whole = bytes(upload["data"] + body)
            if self.corrupt_file:
                whole = whole[:-1] + b"?"
            if "sha256" in upload["meta"] and sha(whole) != upload["meta"]["sha256"]:
                upload["state"] = "failed"
                answer = {"error": "upload_checksum_mismatch", "sha256_received": sha(whole)}
                return Response(460, content=json.dumps(answer).encode(), request=request)
            upload["state"] = "complete"
        upload["data"] += body
        return Response(204, self._headers(upload), request=request)

    def _create(self, request: Request) -> Response:
        length = int(request.headers["Upload-Length"])
        meta = {}
        for pair in request.headers["Upload-Metadata"].split(","):
            key, _, value = pair.partition(" ")
            meta[key] = base64.b64decode(value).decode()
        path = f"{ENDPOINT}{len(self.uploads) + 1}-{random.Random(length).randrange(10**6)}"
        state = "complete" if length == 0 else "uploading"
        self.uploads[path] = {"length": length, "data": bytearray(), "meta": meta, "state": state}
        # A relative Location, as many servers send: resolved against the POST URL.
        headers = self._headers(self.uploads[path])
        headers.set("Location", path)
        return Response(201, headers, request=request)

    def _headers(self, upload: dict[str, Any], cache: str = "") -> Headers:
        h = Headers(
            {"Upload-Offset": str(len(upload["data"])), "Upload-Length": str(upload["length"])}
        )
        if cache:
            h.set("Cache-Control", cache)
        if self.report_state:
            h.set("Upload-State", upload["state"])
        return h


def make(
    server: TusServer, clock: FakeClock, store: MemoryStore | None = None, **kw: Any
) -> Client:
    return Client(
        BASE,
        transport=MockTransport(server),
        clock=clock,
        rng=random.Random(3),
        breaker=False,
        store=store or MemoryStore(),
        **kw,
    )


async def finish(clock: FakeClock, up: Upload, step: float = 1.0, limit: int = 2000) -> Any:
    """Run the upload to its end, moving fake time (backoffs) as needed."""
    task = up.start()
    for _ in range(limit):
        if task.done():
            return task.result()
        await clock.advance(step)
    raise AssertionError("the upload did not finish in fake time")


def progress_log() -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], None]]:
    seen: list[dict[str, Any]] = []
    return seen, seen.append


class WatchingTransport(MockTransport):
    """A mock transport that hands the client's network monitor its browser-event hook."""

    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self.callbacks: list[Callable[[bool], None]] = []

    def watch_network(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: None


def watched(
    server: TusServer, clock: FakeClock, network: dict[str, Any]
) -> tuple[Client, WatchingTransport]:
    """A client whose 'browser' online/offline events the test fires through the transport."""
    transport = WatchingTransport(server)
    client = Client(BASE, transport=transport, clock=clock, rng=random.Random(1), network=network)
    return client, transport


# -- the protocol --------------------------------------------------------------------


async def test_uploads_in_checksummed_chunks_and_the_server_confirms_the_hash() -> None:
    server, clock = TusServer(), FakeClock()
    client = make(server, clock)
    data = data_of(100 * KiB)
    seen, on_progress = progress_log()
    priorities: list[str] = []
    client.on("request", lambda e: priorities.append(e["priority"]))
    up = client.upload(
        data,
        ENDPOINT,
        chunk_size=32 * KiB,
        on_progress=on_progress,
        filename="photo.jpg",
        metadata={"album": "holidays"},
    )
    result = await finish(clock, up)
    assert server.file() == data
    assert result.sha256 == sha(data) and result.verified and result.size == len(data)
    assert result.resumed_from == 0 and result.bytes_sent == len(data)
    assert result.url.startswith(BASE + ENDPOINT)
    assert [m for m, _, _ in server.log] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"]
    assert [o for m, _, o in server.log if m == "PATCH"] == [0, 32 * KiB, 64 * KiB, 96 * KiB]
    meta = next(iter(server.uploads.values()))["meta"]
    assert meta == {"filename": "photo.jpg", "album": "holidays", "sha256": sha(data)}
    assert set(priorities) == {"low"}  # uploads default to low priority
    sent = [e["sent"] for e in seen if e["phase"] == "uploading"]
    assert sent == sorted(sent) and seen[-1]["phase"] == "done"
    assert seen[-1]["sent"] == seen[-1]["total"] == len(data)
    assert seen[0]["phase"] == "hashing"
    await client.close()


async def test_each_request_gets_the_upload_attempt_timeout_not_the_clients() -> None:
    server, clock = TusServer(), FakeClock()
    client = make(server, clock, timeout={"attempt": 5})
    seen: list[tuple[str, float | None, int | None]] = []

    class Spy:
        name = "spy"

        async def __call__(self, call: Any, next: Any) -> Response:
            seen.append((call.request.method, call.options.timeout, call.options.max_retries))
            return await next(call)  # type: ignore[no-any-return]

    client.use(Spy(), before="retry")
    await finish(clock, client.upload(data_of(10), ENDPOINT))
    assert seen == [("POST", 120.0, None), ("PATCH", 120.0, 0)]
    # Control: a plain request keeps the client's own settings.
    seen.clear()
    await client.get("/files/nothing")
    assert seen == [("GET", None, None)]
    await client.close()


async def test_a_dropped_connection_mid_chunk_resumes_from_the_servers_offset() -> None:
    server, clock = TusServer(), FakeClock()
    server.faults[("PATCH", 2)] = "partial"  # half of chunk 2 lands, then the reset
    client = make(server, clock)
    data = data_of(64 * KiB)
    result = await finish(clock, client.upload(data, ENDPOINT, chunk_size=16 * KiB))
    assert server.file() == data and result.verified
    # After the reset the client asked (HEAD) and went on from 24 KiB, not from 16 KiB.
    heads = [i for i, (m, _, _) in enumerate(server.log) if m == "HEAD"]
    assert len(heads) == 1
    assert server.log[heads[0] + 1] == ("PATCH", server.log[heads[0] + 1][1], 24 * KiB)
    assert server.received < 2 * len(data)
    await client.close()


@pytest.mark.parametrize("fault", ["network", "timeout", 409, 503, 429])
async def test_failures_back_off_ask_the_offset_and_go_on(fault: Any) -> None:
    server, clock = TusServer(), FakeClock()
    server.faults[("PATCH", 2)] = fault
    client = make(server, clock, retry={"max_retries": 0})
    data = data_of(48 * KiB)
    result = await finish(clock, client.upload(data, ENDPOINT, chunk_size=16 * KiB))
    assert server.file() == data and result.verified
    methods = [m for m, _, _ in server.log]
    assert methods == ["POST", "PATCH", "PATCH", "HEAD", "PATCH", "PATCH"]
    await client.close()


async def test_a_460_sends_the_same_chunk_again_and_too_many_are_an_error() -> None:
    server, clock = TusServer(), FakeClock()
    server.faults[("PATCH", 1)] = "corrupt"
    client = make(server, clock)
    data = data_of(20 * KiB)
    result = await finish(clock, client.upload(data, ENDPOINT, chunk_size=16 * KiB))
    assert server.file() == data and result.verified
    assert [o for m, _, o in server.log if m == "PATCH"] == [0, 0, 16 * KiB]

    server2 = TusServer()
    for n in range(1, 10):
        server2.faults[("PATCH", n)] = "corrupt"
    client2 = make(server2, clock)
    with pytest.raises(ChecksumMismatchError) as info:
        await finish(clock, client2.upload(data, ENDPOINT, chunk_size=16 * KiB, checksum_retries=2))
    assert info.value.code == "CHECKSUM_MISMATCH" and info.value.offset == 0
    assert server2.counts["PATCH"] == 3  # the first try and two re-sends
    await client.close()
    await client2.close()


async def test_a_final_hash_mismatch_is_its_own_error_and_a_match_is_verified() -> None:
    server, clock, store = TusServer(), FakeClock(), MemoryStore()
    server.corrupt_file = True
    client = make(server, clock, store)
    data = data_of(40 * KiB)
    with pytest.raises(HashMismatchError) as info:
        await finish(clock, client.upload(data, ENDPOINT, chunk_size=16 * KiB))
    err = info.value
    bad = data[:-1] + b"?"
    assert err.code == "HASH_MISMATCH" and err.actual == sha(bad) and err.status == 460
    assert err.expected == sha(data) and err.to_dict()["expected"] == err.expected
    assert err.offset == 32 * KiB and server.counts["PATCH"] == 3  # not re-sent
    assert await store.sibling("uploads").all() == []  # forgotten: resuming cannot help
    # Resuming an upload the server says "failed" (410 on HEAD) is a mismatch too.
    server2 = TusServer()
    data2 = data_of(64 * KiB, 2)
    await _half_upload(server2, clock, store, data2)
    next(iter(server2.uploads.values()))["state"] = "failed"
    with pytest.raises(HashMismatchError) as info:
        await finish(clock, make(server2, clock, store).upload(data2, ENDPOINT))
    assert info.value.status == 410 and server2.counts.get("POST") == 1
    # Control: a server that reports no state leaves the result unverified, not failed.
    quiet = TusServer(report_state=False)
    client2 = make(quiet, clock)
    result = await finish(clock, client2.upload(data_of(10 * KiB), ENDPOINT))
    assert not result.verified and quiet.file() == data_of(10 * KiB)
    # ... and one that does, verified.
    server.corrupt_file = False
    result = await finish(clock, client.upload(data_of(10 * KiB), ENDPOINT))
    assert result.verified
    await client.close()
    await client2.close()


async def test_a_413_on_a_chunk_halves_the_chunk_size() -> None:
    server, clock = TusServer(max_body=100 * KiB), FakeClock()
    client = make(server, clock)
    data = data_of(300 * KiB)
    result = await finish(clock, client.upload(data, ENDPOINT, chunk_size=400 * KiB))
    assert server.file() == data and result.verified
    sizes = [o for m, _, o in server.log if m == "PATCH"]
    assert sizes == [0, 0, 0, 100 * KiB, 200 * KiB]  # 400 -> 200 -> 100 KiB
    # Control: never below 64 KiB; then it is the server's refusal.
    tiny = TusServer(max_body=10 * KiB)
    with pytest.raises(UploadError) as info:
        await finish(clock, make(tiny, clock).upload(data, ENDPOINT, chunk_size=128 * KiB))
    assert info.value.status == 413 and tiny.counts["PATCH"] == 2
    await client.close()


@pytest.mark.parametrize("status", [413, 409, 400])
async def test_a_refused_creation_is_never_retried(status: int) -> None:
    server, clock = TusServer(), FakeClock()
    server.faults[("POST", 1)] = status
    client = make(server, clock)
    with pytest.raises(UploadError) as info:
        await finish(clock, client.upload(data_of(100), ENDPOINT))
    assert info.value.code == "UPLOAD_FAILED" and info.value.status == status
    assert server.counts == {"POST": 1}
    await client.close()


async def test_too_many_failures_without_progress_give_up_with_the_offset() -> None:
    server, clock = TusServer(), FakeClock()
    for n in range(2, 50):
        server.faults[("PATCH", n)] = "network"
    client = make(server, clock, retry={"max_retries": 0})
    with pytest.raises(UploadError) as info:
        await finish(
            clock, client.upload(data_of(32 * KiB), ENDPOINT, chunk_size=16 * KiB, max_stalls=3)
        )
    err = info.value
    assert err.offset == 16 * KiB and err.url is not None and err.to_dict()["cause"] == "NETWORK"
    assert isinstance(err.__cause__, NetworkError)
    assert server.counts["PATCH"] == 1 + 4  # one good chunk, then 1 + max_stalls tries
    await client.close()


async def test_an_upload_the_server_lost_is_created_again() -> None:
    server, clock = TusServer(), FakeClock()
    store = MemoryStore()
    client = make(server, clock, store)
    data = data_of(32 * KiB)
    server.hold_from = 2
    up = client.upload(data, ENDPOINT, chunk_size=16 * KiB)
    task = up.start()
    while server.counts.get("PATCH", 0) < 2:
        await clock.advance(0)
    await up.abort()
    with pytest.raises(AbortedError):
        await task
    server.hold_from = None
    server.uploads.clear()  # expired on the server
    again = make(server, clock, store)
    result = await finish(clock, again.upload(data, ENDPOINT, chunk_size=16 * KiB))
    assert server.file() == data and result.resumed_from == 0
    assert [m for m, _, _ in server.log][-4:] == ["HEAD", "POST", "PATCH", "PATCH"]
    await client.close()


# -- remembered uploads: resume after a restart ---------------------------------------


async def _half_upload(
    server: TusServer, clock: FakeClock, store: MemoryStore, data: bytes, **kw: Any
) -> Client:
    """Upload until the server has two chunks, then the 'process dies' (abort)."""
    client = make(server, clock, store)
    server.hold_from = 3
    up = client.upload(data, ENDPOINT, chunk_size=16 * KiB, **kw)
    task = up.start()
    while server.counts.get("PATCH", 0) < 3:
        await clock.advance(0)
    await up.abort()  # the third chunk was in flight
    with pytest.raises(AbortedError):
        await task
    server.hold_from = None
    return client


async def test_the_same_data_after_a_restart_resumes_from_the_servers_offset() -> None:
    server, clock, store = TusServer(), FakeClock(), MemoryStore()
    data = data_of(64 * KiB)
    first = await _half_upload(server, clock, store, data)
    before = server.received
    second = make(server, clock, store)  # a new process on the same store
    seen, on_progress = progress_log()
    result = await finish(
        clock, second.upload(data, ENDPOINT, chunk_size=16 * KiB, on_progress=on_progress)
    )
    assert server.file() == data and len(server.uploads) == 1
    assert result.resumed_from == 32 * KiB and result.bytes_sent == 32 * KiB
    assert server.received - before == 32 * KiB
    assert next(e for e in seen if e["phase"] == "uploading")["sent"] == 32 * KiB
    assert server.counts["POST"] == 1
    # Finished: forgotten, so the same data again is a new upload.
    assert await store.sibling("uploads").all() == []
    await first.close()
    await second.close()


async def test_control_without_remembering_a_restart_starts_over() -> None:
    server, clock, store = TusServer(), FakeClock(), MemoryStore()
    data = data_of(64 * KiB)
    await _half_upload(server, clock, store, data, max_remembered=0)
    second = make(server, clock, store)
    result = await finish(
        clock, second.upload(data, ENDPOINT, chunk_size=16 * KiB, max_remembered=0)
    )
    assert result.resumed_from == 0 and server.counts["POST"] == 2
    await second.close()


async def test_other_data_is_not_resumed_and_remembered_uploads_are_bounded() -> None:
    server, clock, store = TusServer(), FakeClock(), MemoryStore()
    for seed in range(4):
        server.counts.clear()
        await _half_upload(server, clock, store, data_of(64 * KiB, seed), max_remembered=2)
    rows = await store.sibling("uploads").all()
    assert len(rows) == 2  # upload.max_remembered
    assert {r["sha256"] for _, r in rows} == {sha(data_of(64 * KiB, s)) for s in (2, 3)}
    other = make(server, clock, store)
    assert await other.outbox.entries() == []  # not outbox writes
    await other.close()


# -- pause, resume, abort -------------------------------------------------------------


async def test_pause_aborts_the_chunk_in_flight_and_resume_goes_on_from_the_offset() -> None:
    server, clock = TusServer(), FakeClock()
    client = make(server, clock)
    data = data_of(48 * KiB)
    seen, on_progress = progress_log()
    up = client.upload(data, ENDPOINT, chunk_size=16 * KiB, on_progress=on_progress)
    server.hold_from = 2  # the second chunk hangs on the server
    task = up.start()
    while server.counts.get("PATCH", 0) < 2:
        await clock.advance(0)
    up.pause()
    await clock.advance(5)
    assert up.paused and not task.done() and seen[-1]["phase"] == "paused"
    count = len(server.log)
    await clock.advance(60)
    assert len(server.log) == count  # nothing sent while paused
    server.hold_from = None
    up.resume()
    result = await finish(clock, up)
    assert server.file() == data and result.verified
    assert [m for m, _, _ in server.log][count:] == ["HEAD", "PATCH", "PATCH"]
    await client.close()


async def test_abort_raises_aborted_and_terminate_deletes_and_forgets() -> None:
    server, clock, store = TusServer(), FakeClock(), MemoryStore()
    client = make(server, clock, store)
    server.hold_from = 2
    up = client.upload(data_of(64 * KiB), ENDPOINT, chunk_size=16 * KiB)
    task = up.start()
    while server.counts.get("PATCH", 0) < 2:
        await clock.advance(0)
    await up.abort(terminate=True)
    with pytest.raises(AbortedError) as info:
        await task
    assert info.value.code == "ABORTED"
    assert server.counts.get("DELETE") == 1 and server.uploads == {}
    assert await store.sibling("uploads").all() == []
    await client.close()


async def test_offline_waits_for_the_network_without_giving_up() -> None:
    server, clock = TusServer(), FakeClock()
    server.faults[("PATCH", 2)] = "offline"
    server.hold_from = 2
    client, transport = watched(server, clock, {"mode": "fail", "probe": False, "debounce": 0})
    data = data_of(48 * KiB)
    up = client.upload(data, ENDPOINT, chunk_size=16 * KiB, max_stalls=1)
    task = up.start()
    while server.counts.get("PATCH", 0) < 2:
        await clock.advance(0)
    for cb in transport.callbacks:
        cb(False)
    server.hold_from = None
    server.gate.set()  # the chunk in flight fails: the device went offline
    await clock.advance(600)  # ten minutes offline: far more than max_stalls backoffs
    assert not task.done() and up.phase == "offline"
    for cb in transport.callbacks:
        cb(True)
    result = await finish(clock, up)
    assert server.file() == data and result.verified
    await client.close()


# -- sources, settings, metadata -----------------------------------------------------


async def test_a_binary_file_is_read_chunk_by_chunk() -> None:
    server, clock = TusServer(), FakeClock()
    client = make(server, clock)
    data = data_of(40 * KiB)
    result = await finish(clock, client.upload(io.BytesIO(data), ENDPOINT, chunk_size=16 * KiB))
    assert server.file() == data and result.sha256 == sha(data)
    with pytest.raises(InvalidRequestError) as info:
        client.upload(io.StringIO("text"), ENDPOINT)
    assert info.value.field == "data"
    with pytest.raises(InvalidRequestError):
        client.upload(12345, ENDPOINT)
    await client.close()


async def test_an_empty_upload_is_created_and_verified_without_a_patch() -> None:
    server, clock = TusServer(), FakeClock()
    client = make(server, clock)
    result = await finish(clock, client.upload(b"", ENDPOINT))
    assert result.verified and result.sha256 == sha(b"")
    assert "PATCH" not in server.counts
    await client.close()


def test_settings_are_validated_once_and_name_their_field() -> None:
    assert UploadConfig().priority == "low" and UploadConfig().timeout == 120.0
    with pytest.raises(ConfigError) as info:
        UploadConfig(chunk_size=0)
    assert info.value.field == "upload.chunk_size"
    with pytest.raises(ConfigError) as info:
        UploadConfig(timeout=200, total_timeout=100)
    assert info.value.field == "upload.total_timeout"
    with pytest.raises(ConfigError) as info:
        Client(BASE, transport=MockTransport(TusServer()), upload={"max_remembered": -1})
    assert info.value.field == "upload.max_remembered"
    client = Client(BASE, transport=MockTransport(TusServer()), upload={"chunk_size": 10})
    with pytest.raises(ConfigError) as info:
        client.upload(b"x", ENDPOINT, priority="urgent")
    assert info.value.field == "upload.priority"
    with pytest.raises(ConfigError) as info:
        client.upload(b"x", ENDPOINT, chunk_sise=5)
    assert info.value.field == "upload.chunk_sise"
    with pytest.raises(InvalidRequestError) as bad:
        client.upload(b"x", "ftp://nope/")
    assert bad.value.field == "url"


def test_metadata_is_base64_and_keys_are_checked() -> None:
    assert encode_metadata({"filename": "a b.txt", "empty": ""}) == "filename YSBiLnR4dA==,empty"
    for key in ("has space", "a,b", "", "ключ"):
        with pytest.raises(InvalidRequestError) as info:
            encode_metadata({key: "v"})
        assert info.value.field == "metadata"


async def test_the_phase_says_offline_while_the_network_gate_holds_the_upload() -> None:
    server, clock = TusServer(), FakeClock()
    server.hold_from = 2
    # mode "pause" (the default): the gate holds requests
    client, transport = watched(server, clock, {"probe": False, "debounce": 0})
    seen, on_progress = progress_log()
    data = data_of(48 * KiB)
    up = client.upload(data, ENDPOINT, chunk_size=16 * KiB, on_progress=on_progress)
    task = up.start()
    while server.counts.get("PATCH", 0) < 2:
        await clock.advance(0)
    for cb in transport.callbacks:
        cb(False)
    await clock.advance(0)
    assert up.phase == "offline" and seen[-1]["phase"] == "offline"
    for cb in transport.callbacks:
        cb(True)
    await clock.advance(0)
    assert up.phase == "uploading"
    server.hold_from = None
    server.gate.set()
    result = await finish(clock, up)
    assert server.file() == data and result.verified and task.done()
    await client.close()
