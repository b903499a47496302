"""The upload client (RequestsTransport) against the real tus backend on 127.0.0.1.

What the server holds is checked on the server (``GET /api/uploads/<id>/info``:
its own SHA-256 of the received file, ``verified``, and ``bytes_received``,
refused and dropped chunks included), never from the client's view. Faults are
scoped per test (``X-Fault-Scope``).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from tusclient import client as tus_client

from resilient_fetch import Client, RequestsTransport
from resilient_fetch._errors import HashMismatchError
from resilient_fetch._upload_sources import BytesSource, Chunk, checksum
from resilient_fetch.stores import SQLiteStore

from .conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
KiB, MiB = 1024, 1024 * 1024
ENDPOINT = "api/uploads/"


def data_of(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def info(server: LiveServer, upload_url: str) -> dict[str, Any]:
    resp = requests.get(upload_url + "/info", timeout=5)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def client_for(server: LiveServer, scope: str, tmp_path: Path | None = None, **kw: Any) -> Client:
    store = SQLiteStore(str(tmp_path / "outbox.db")) if tmp_path is not None else None
    return Client(
        server.url,
        transport=RequestsTransport(),
        headers={"X-Fault-Scope": scope},
        retry={"base": 0.05, "cap": 0.2},
        network={"probe": False},
        store=store,
        **kw,
    )


@pytest.fixture
def server(serve: Any, app_factory: Any) -> LiveServer:
    live: LiveServer = serve(app_factory(HANG_MAX_S=3.0))
    return live


@pytest.fixture
def scope() -> str:
    return f"up-{uuid.uuid4().hex[:8]}"


async def test_a_reset_mid_upload_resumes_from_the_servers_offset(
    server: LiveServer, scope: str
) -> None:
    data = data_of(3 * MiB)
    client = client_for(server, scope, upload={"chunk_size": 256 * KiB, "retry_base": 0.05})
    faulted: list[int] = []

    def on_progress(event: dict[str, Any]) -> None:
        if event["sent"] >= MiB and not faulted:  # mid-way: the next PATCH is dropped
            faulted.append(event["sent"])
            server.add_fault(
                type="reset", match="/api/uploads/*", methods=["PATCH"], count=1, scope=scope
            )

    result = await client.upload(data, ENDPOINT, on_progress=on_progress)
    server_side = info(server, result.url)
    assert server_side["sha256"] == hashlib.sha256(data).hexdigest() == result.sha256
    assert server_side["verified"] is True and result.verified
    assert faulted and server_side["state"] == "complete"
    stats = requests.get(server.url + "/_stats", params={"scope": scope}, timeout=5).json()
    dropped = {k: v for k, v in stats["routes"].get("PATCH /api/uploads/<upload_id>", {}).items()}
    assert dropped.get("dropped") == 1, stats  # the reset really happened
    assert server_side["bytes_received"] < 2 * len(data)
    await client.close()


async def test_a_killed_connection_resumes(server: LiveServer, scope: str) -> None:
    """A PATCH that hangs is cut by the upload's attempt timeout (the socket is shut)."""
    data = data_of(2 * MiB, 2)
    client = client_for(
        server, scope, upload={"chunk_size": 256 * KiB, "timeout": 1.0, "retry_base": 0.05}
    )
    hung: list[int] = []

    def on_progress(event: dict[str, Any]) -> None:
        if event["sent"] >= 512 * KiB and not hung:
            hung.append(event["sent"])
            server.add_fault(
                type="hang", match="/api/uploads/*", methods=["PATCH"], count=1, scope=scope
            )

    started = time.monotonic()
    result = await client.upload(data, ENDPOINT, on_progress=on_progress)
    assert time.monotonic() - started < 20
    server_side = info(server, result.url)
    assert server_side["sha256"] == hashlib.sha256(data).hexdigest() and server_side["verified"]
    assert hung and server_side["bytes_received"] < 2 * len(data)
    await client.close()


# A client process that uploads with a SQLite store and prints its progress; killed mid-way.
CHILD = textwrap.dedent(
    """
    import asyncio, random, sys
    from resilient_fetch import Client, RequestsTransport
    from resilient_fetch.stores import SQLiteStore

    async def main(url, db, scope, size, seed):
        data = random.Random(int(seed)).randbytes(int(size))
        client = Client(url, transport=RequestsTransport(), store=SQLiteStore(db),
                        headers={"X-Fault-Scope": scope}, network={"probe": False},
                        upload={"chunk_size": 128 * 1024})
        up = client.upload(data, "api/uploads/",
                           on_progress=lambda e: print(e["phase"], e["sent"], flush=True))
        result = await up
        print("done", result.resumed_from, result.url, flush=True)
        await client.close()

    asyncio.run(main(*sys.argv[1:]))
    """
)


def test_a_restarted_python_client_resumes_from_the_servers_offset(
    server: LiveServer, scope: str, tmp_path: Path
) -> None:
    size, seed = 4 * MiB, 3
    db = str(tmp_path / "outbox.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "client_py"), str(ROOT)])}
    args = [sys.executable, "-c", CHILD, server.url, db, scope, str(size), str(seed)]
    # Slow the server's reads so the child is surely mid-way when it is killed.
    server.add_fault(type="latency", ms=150, match="/api/uploads/*", methods=["PATCH"], scope=scope)
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    sent = 0
    for line in first.stdout:
        parts = line.split()
        if parts[0] == "uploading" and int(parts[1]) >= MiB:
            sent = int(parts[1])
            break
    first.send_signal(signal.SIGKILL)  # no clean-up: the process just dies
    first.wait(timeout=10)
    assert sent >= MiB
    requests.post(server.url + "/_faults/reset", timeout=5)
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    done = second.stdout.strip().splitlines()[-1].split()
    assert done[0] == "done"
    resumed_from, url = int(done[1]), done[2]
    assert resumed_from >= sent  # not from 0
    data = random.Random(seed).randbytes(size)
    server_side = info(server, url)
    assert server_side["sha256"] == hashlib.sha256(data).hexdigest() and server_side["verified"]
    assert server_side["bytes_received"] < 2 * size


class Garbled(BytesSource):
    """Sends the first ``garble`` chunks with a wrong checksum (damage in transit)."""

    def __init__(self, data: bytes, garble: int) -> None:
        super().__init__(data)
        self.garble = garble

    async def chunk(self, start: int, end: int) -> Chunk:
        chunk = await super().chunk(start, end)
        if self.garble > 0:
            self.garble -= 1
            return Chunk(size=chunk.size, checksum=checksum(b"other bytes"), body=chunk.body)
        return chunk


async def test_a_460_chunk_is_sent_again(server: LiveServer, scope: str) -> None:
    data = data_of(600 * KiB, 4)
    client = client_for(server, scope, upload={"chunk_size": 256 * KiB})
    result = await client.upload(Garbled(data, garble=2), ENDPOINT)
    server_side = info(server, result.url)
    assert server_side["sha256"] == hashlib.sha256(data).hexdigest() and server_side["verified"]
    stats = requests.get(server.url + "/_stats", params={"scope": scope}, timeout=5).json()
    assert stats["routes"]["PATCH /api/uploads/<upload_id>"].get("460") == 2
    await client.close()


class Mislabelled(BytesSource):
    """Declares the SHA-256 of other data: the server's check of the whole file fails."""

    async def sha256(self) -> str:
        return hashlib.sha256(b"something else").hexdigest()


async def test_a_file_that_is_not_what_was_declared_is_a_hash_mismatch(
    server: LiveServer, scope: str, tmp_path: Path
) -> None:
    data = data_of(300 * KiB, 5)
    client = client_for(server, scope, tmp_path, upload={"chunk_size": 128 * KiB})
    with pytest.raises(HashMismatchError) as raised:
        await client.upload(Mislabelled(data), ENDPOINT)
    err = raised.value
    assert err.code == "HASH_MISMATCH" and err.status == 460
    assert err.actual == hashlib.sha256(data).hexdigest()
    assert err.expected == hashlib.sha256(b"something else").hexdigest()
    assert err.url is not None and info(server, err.url)["state"] == "failed"
    # Forgotten: nothing left to resume.
    assert await client.outbox.store.sibling("uploads").all() == []
    # Control: the same bytes declared rightly are verified.
    result = await client.upload(data, ENDPOINT)
    assert result.verified and info(server, result.url)["verified"] is True
    await client.close()


def test_a_client_nobody_here_wrote_tuspy_gets_the_same_result(
    server: LiveServer, scope: str
) -> None:
    data = data_of(700 * KiB, 6)
    digest = hashlib.sha256(data).hexdigest()
    tus = tus_client.TusClient(server.url + "/" + ENDPOINT, headers={"X-Fault-Scope": scope})
    uploader = tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=256 * KiB,
        metadata={"filename": "theirs.bin", "sha256": digest},
    )
    uploader.upload()
    assert uploader.url is not None
    theirs = info(server, uploader.url)

    async def ours() -> dict[str, Any]:
        client = client_for(server, scope)
        result = await client.upload(data, ENDPOINT, filename="ours.bin")
        await client.close()
        return info(server, result.url)

    mine = asyncio.run(ours())
    for side in (theirs, mine):
        assert side["state"] == "complete" and side["verified"] is True
        assert side["sha256"] == digest and side["length"] == len(data)
