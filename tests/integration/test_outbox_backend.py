"""The outbox with SQLiteStore and RequestsTransport against the real backend on 127.0.0.1.

What the server holds is checked on the server (``GET /api/items``), never from
the client's view. Faults are scoped per test (``X-Fault-Scope``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import requests

from resilient_fetch import Client, RequestsTransport
from resilient_fetch.stores import SQLiteStore

from .conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]

# A client process: "enqueue" stores one write per name and then lives until killed;
# "replay" delivers whatever the store holds and prints each status.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from resilient_fetch import Client, RequestsTransport
    from resilient_fetch.stores import SQLiteStore

    async def main(mode, url, db, scope, names):
        client = Client(url, transport=RequestsTransport(), store=SQLiteStore(db),
                        headers={"X-Fault-Scope": scope},
                        retry={"max_retries": 0}, timeout={"attempt": 5, "total": 10},
                        outbox={"backoff": 0.05, "backoff_cap": 0.2})
        if mode == "enqueue":
            for name in names:
                out = await client.outbox.enqueue("POST", "api/items", json={"name": name})
                print(out["id"], flush=True)
            print("stored", flush=True)
            await asyncio.sleep(3600)
        else:
            for entry in await client.outbox.entries():
                resp = await client.outbox.wait(entry["id"])
                print(resp.status, flush=True)
            print("done", flush=True)
            await client.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]))
    """
)


def child(mode: str, url: str, db: Path, scope: str, *names: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "client_py"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, url + "/", str(db), scope, *names],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen[str], last: str, timeout: float = 30) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline().strip()
        if not line and proc.poll() is not None:
            break
        if line:
            lines.append(line)
        if line == last:
            return lines
    raise AssertionError(f"child did not print {last!r}: {lines}")


def names_on_server(url: str) -> list[str]:
    items = requests.get(url + "/api/items", timeout=5).json()["items"]
    return [item["name"] for item in items]


def add_fault(url: str, scope: str, **spec: object) -> None:
    resp = requests.post(url + "/_faults", json={**spec, "scope": scope}, timeout=5)
    assert resp.status_code == 201, resp.text


def test_writes_stored_before_a_kill_are_delivered_once_after_restart(
    fault_server: LiveServer, tmp_path: Path
) -> None:
    url, db, scope = fault_server.url, tmp_path / "outbox.db", f"s{uuid.uuid4().hex[:8]}"
    add_fault(url, scope, type="down", match="/api/items*", name="down")
    names = [f"kill-{scope}-{i}" for i in range(3)]
    proc = child("enqueue", url, db, scope, *names)
    read_until(proc, "stored")
    time.sleep(0.3)  # a few failed attempts against the outage
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert names_on_server(url) == []
    requests.delete(url + "/_faults/down", params={"scope": scope}, timeout=5)

    proc = child("replay", url, db, scope)
    lines = read_until(proc, "done")
    assert proc.wait(timeout=10) == 0
    assert lines == ["201", "201", "201", "done"]
    assert names_on_server(url) == names  # in order, once each


def test_a_kill_while_the_server_applies_the_write_is_still_applied_once(
    fault_server: LiveServer, tmp_path: Path
) -> None:
    url, db, scope = fault_server.url, tmp_path / "outbox.db", f"s{uuid.uuid4().hex[:8]}"
    # The write reaches the server, waits 1 s there, and is applied after the
    # client process is gone: its response is lost for good.
    add_fault(url, scope, type="latency", ms=1000, match="/api/items", methods=["POST"], count=1)
    name = f"inflight-{scope}"
    proc = child("enqueue", url, db, scope, name)
    read_until(proc, "stored")
    time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc = child("replay", url, db, scope)
    assert read_until(proc, "done") == ["201", "done"]
    assert proc.wait(timeout=10) == 0
    time.sleep(1.0)  # let the first request finish, should it still be running
    assert names_on_server(url) == [name]


async def test_a_response_lost_after_the_server_applied_it_is_replayed_once(
    fault_server: LiveServer, tmp_path: Path
) -> None:
    url, scope = fault_server.url, f"s{uuid.uuid4().hex[:8]}"
    # First a reset: the connection drops with no answer at all (before the
    # server applies anything: faults answer first). Then slow_body: the server
    # applies the write and the answer trickles out slower than the attempt
    # timeout, so the client never sees it. The third attempt gets the replay.
    add_fault(url, scope, type="reset", match="/api/items", methods=["POST"], count=1)
    add_fault(url, scope, type="slow_body", bytes_per_s=20, match="/api/items", count=1)
    client = Client(
        url,
        transport=RequestsTransport(),
        store=SQLiteStore(str(tmp_path / "o.db")),
        headers={"X-Fault-Scope": scope},
        retry={"max_retries": 0},
        timeout={"attempt": 0.5, "total": 5},
        outbox={"backoff": 0.05, "backoff_cap": 0.2},
    )
    outcomes: list[str] = []
    client.on("outbox", lambda e: outcomes.append(f"{e['action']}:{e['status']}"))
    name = f"lost-{scope}"
    out = await client.outbox.enqueue("POST", "/api/items", json={"name": name})
    resp = await client.outbox.wait(out["id"])
    assert resp.status == 201 and resp.headers.get("Idempotent-Replayed") == "true"
    assert names_on_server(url) == [name]
    assert outcomes.count("sending:None") == 3 and outcomes[-1] == "sent:201"
    await client.close()


async def test_a_rejected_write_is_dead_lettered_with_the_servers_answer(
    live_server: LiveServer, tmp_path: Path
) -> None:
    client = Client(
        live_server.url,
        transport=RequestsTransport(),
        store=SQLiteStore(str(tmp_path / "o.db")),
    )
    out = await client.outbox.enqueue("POST", "/api/items", json={"name": ""})
    try:
        await client.outbox.wait(out["id"])
    except Exception as exc:
        assert getattr(exc, "code", None) == "DEAD_LETTER"
        assert exc.response is not None and exc.response.status == 422  # type: ignore[attr-defined]
    else:
        raise AssertionError("a 422 must dead-letter")
    (entry,) = await client.outbox.entries()
    assert entry["state"] == "dead" and entry["response"]["status"] == 422
    assert "invalid_field" in entry["response"]["text"]
    assert await client.outbox.discard(out["id"]) is True
    assert names_on_server(live_server.url) == []
    await client.close()
