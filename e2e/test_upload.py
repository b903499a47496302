"""Resumable, verified uploads in Chromium: the demo page's upload panel and tus-js-client.

What counts is what the server holds, read with requests: the upload's own
``GET /api/uploads/<id>/info`` (the server's SHA-256 of the file it received,
``verified``, ``bytes_received``) and ``/_stats`` for this test's own
``X-Fault-Scope`` (``upload_bytes``: every PATCH body byte the server read,
refused and dropped chunks included). Faults come from the backend's fault API
scoped to the test; offline is ``context.set_offline``.
"""

from __future__ import annotations

import hashlib
import random
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
from playwright.sync_api import BrowserContext, Page

from .conftest import READY_TIMEOUT_MS, DemoServer, FaultAdmin

MiB = 1024 * 1024
SIZE = 20 * MiB
PATCH_ROUTE = "PATCH /api/uploads/<upload_id>"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    # Polled from here: the page's CSP forbids the eval wait_for_function uses.
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def panel(page: Page, name: str) -> str | None:
    return page.locator("#upload-panel").get_attribute(f"data-{name}")


def sent(page: Page) -> int:
    return int(panel(page, "sent") or 0)


def open_demo(page: Page, demo: DemoServer, scope: str) -> None:
    """The demo page with this test's own fault scope (the page keeps it in sessionStorage)."""
    page.add_init_script(f"sessionStorage.setItem('rf-fault-scope', {scope!r})")
    page.goto(demo.url)
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    page.wait_for_selector("#upload-panel[data-state=ready]", timeout=10_000)


def wait_done(page: Page, timeout: float = 45) -> None:
    state = wait_for(
        lambda: (
            (panel(page, "state") or "") in ("done", "failed", "aborted") and panel(page, "state")
        ),
        timeout,
        "the upload to finish",
    )
    assert state == "done", page.locator("#upload-status").text_content()


def server_info(page: Page) -> dict[str, Any]:
    url = panel(page, "url")
    assert url, "the page did not report the upload's URL"
    body: dict[str, Any] = requests.get(url + "/info", timeout=5).json()
    return body


def made_file_bytes(size: int = SIZE) -> bytes:
    """The demo's 'Make a 20 MB test file' bytes (web/upload.js makeTestFile), made here."""
    words, x = [], 0x9E3779B9
    for _ in range(16384):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        words.append(x)
    block = struct.pack("<16384I", *words)
    out = bytearray(block * (size // len(block) + 1))[:size]
    for n, offset in enumerate(range(0, size, len(block))):
        if offset + 4 <= size:
            out[offset : offset + 4] = struct.pack("<I", n)
    return bytes(out)


def test_a_20mb_upload_survives_a_reset_and_an_offline_period(
    page: Page, context: BrowserContext, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    scope = f"e2e-up-{uuid.uuid4().hex[:8]}"
    open_demo(page, demo_server, scope)
    # A little latency per chunk, so the test can act while the upload is mid-way.
    faults.add(type="latency", ms=120, match="/api/uploads/*", methods=["PATCH"], scope=scope)
    data = random.Random(20).randbytes(SIZE)
    page.set_input_files(
        "#upload-file",
        files=[{"name": "e2e-20MB.bin", "mimeType": "application/octet-stream", "buffer": data}],
    )
    wait_for(lambda: sent(page) >= 4 * MiB, 30, "4 MB on the server")
    faults.add(type="reset", match="/api/uploads/*", methods=["PATCH"], count=1, scope=scope)
    wait_for(
        lambda: faults.stats(scope)["routes"].get(PATCH_ROUTE, {}).get("dropped"), 15, "the reset"
    )
    wait_for(lambda: sent(page) >= 10 * MiB, 30, "10 MB on the server")
    context.set_offline(True)
    wait_for(lambda: panel(page, "phase") == "offline", 10, "the panel to say offline")
    held = sent(page)
    time.sleep(2)
    assert sent(page) == held  # nothing moves while offline
    context.set_offline(False)
    wait_done(page)
    info = server_info(page)
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["verified"] is True
    assert info["length"] == SIZE and info["state"] == "complete"
    assert page.locator("#upload-hash").text_content() == info["sha256"]
    assert panel(page, "verified") == "true"
    stats = faults.stats(scope)
    assert stats["routes"][PATCH_ROUTE].get("dropped") == 1, stats
    assert stats["routes"]["POST /api/uploads/"] == {"201": 1}  # resumed, never re-created
    assert info["bytes_received"] < 2 * SIZE and stats["upload_bytes"] < 2 * SIZE


def test_a_reload_mid_upload_resumes_from_the_servers_offset(
    page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    scope = f"e2e-up-{uuid.uuid4().hex[:8]}"
    open_demo(page, demo_server, scope)
    faults.add(type="latency", ms=150, match="/api/uploads/*", methods=["PATCH"], scope=scope)
    page.click("#upload-make")
    before = wait_for(lambda: sent(page) >= 8 * MiB and sent(page), 40, "8 MB on the server")
    page.reload()
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    page.wait_for_selector("#upload-panel[data-state=ready]", timeout=10_000)
    received_at_reload = faults.stats(scope).get("upload_bytes", 0)
    page.click("#upload-make")  # the same bytes again: the same upload
    wait_done(page)
    resumed_from = int(panel(page, "resumed-from") or 0)
    assert resumed_from >= before > 0  # the second session began at the server's offset
    info = server_info(page)
    assert info["sha256"] == hashlib.sha256(made_file_bytes()).hexdigest()
    assert info["verified"] is True
    stats = faults.stats(scope)
    assert stats["routes"]["POST /api/uploads/"] == {"201": 1}
    # Bytes the server read in all: well under two copies; after the reload, only the rest.
    assert info["bytes_received"] == stats["upload_bytes"] < 2 * SIZE
    assert stats["upload_bytes"] - received_at_reload <= SIZE - resumed_from + MiB


TUS_JS = """
async ([scope, size]) => {
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "vendor/tus-js-client/dist/tus.min.js";
    script.onload = resolve;
    script.onerror = () => reject(new Error("no tus-js-client"));
    document.head.append(script);
  });
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  const blob = new Blob([bytes]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const endpoint = new URL("api/uploads/", location.href).href;
  const headers = { "X-Fault-Scope": scope };
  const viaTus = (options) => new Promise((resolve, reject) => {
    const upload = new tus.Upload(blob, {
      ...options, headers, chunkSize: 512 * 1024, retryDelays: [0, 500, 1000],
      onSuccess: () => resolve(upload.url), onError: reject,
    });
    upload.start();
  });
  const client = window.resilientClient;
  // 1. tus-js-client alone.
  const theirs = await viaTus({ endpoint, metadata: { filename: "theirs.bin", sha256: hex } });
  // 2. Ours alone.
  const ours = await client.upload(blob, endpoint, { chunkSize: 512 * 1024, headers });
  // 3. Ours starts (and declares the hash), tus-js-client finishes from our offset.
  let paused;
  const started = new Promise((resolve) => { paused = resolve; });
  const handle = client.upload(blob, endpoint, {
    chunkSize: 512 * 1024, headers, maxRemembered: 0,
    onProgress: (e) => { if (e.sent >= 1024 * 1024 && e.url) { handle.pause(); paused(e); } },
  });
  const atPause = await started;
  const mixed = await viaTus({ uploadUrl: atPause.url });
  const ended = handle.catch((err) => err.code);
  await handle.abort();
  const abortCode = await ended;
  return { hex, theirs, ours, mixed, handedOverAt: atPause.sent, abortCode };
}
"""


def test_tus_js_client_and_ours_agree_on_our_backend(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    scope = f"e2e-tus-{uuid.uuid4().hex[:8]}"
    size = 3 * MiB + 12345
    out = ready_page.evaluate(TUS_JS, [scope, size])
    data = bytes(((i * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(size))
    digest = hashlib.sha256(data).hexdigest()
    assert out["hex"] == digest
    for url in (out["theirs"], out["ours"]["url"], out["mixed"]):
        info = requests.get(url + "/info", timeout=5).json()
        assert info["state"] == "complete" and info["verified"] is True, (url, info)
        assert info["sha256"] == digest and info["length"] == size
    assert out["ours"]["sha256"] == digest and out["ours"]["verified"] is True
    # The hand-over really happened mid-way: tus-js-client sent only the rest.
    mixed = requests.get(out["mixed"] + "/info", timeout=5).json()
    assert MiB <= out["handedOverAt"] < size and out["abortCode"] == "ABORTED"
    # Our chunk in flight when the pause aborted it may have reached the server
    # whole and still be refused (at most one chunk wasted); a restart from 0 by
    # tus-js-client would cost the whole first MiB again.
    assert mixed["bytes_received"] <= size + 512 * 1024
