"""Start-up in Chromium: the built snapshot boots the client, a request made while
start-up runs is served, and a missing or stale snapshot falls back to a plain boot.

Timings are the start-up benchmark's business (``python -m bench.run --only
startup``); these tests check behaviour only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from .conftest import DIST, READY_TIMEOUT_MS, DemoServer

# A bare page beside the built site (served by a route, so dist/ stays as built):
# it starts the client at once and, in the same turn, asks for /api/items
# through it, long before the runtime can be ready.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>start-up</title></head>
<body><p id="status">starting</p>
<script type="module">
import { createClient, loadRuntime } from "./resilient-fetch.js";
const status = document.getElementById("status");
let ready = false;
const runtime = loadRuntime();
runtime.then(() => { ready = true; }, () => {});
const client = createClient();
const issuedBeforeReady = !ready;
const response = client.then((c) => c.fetch("api/items"));
Promise.all([runtime, client, response])
  .then(async ([rt, c, resp]) => {
    const again = await loadRuntime();
    window.startup = {
      issuedBeforeReady, boot: rt.boot, sameRuntime: again === rt,
      status: resp.status, isResponse: resp instanceof Response, body: await resp.json(),
      python: rt.pyodide.runPython("import sys; 'resilient_fetch.js_api' in sys.modules"),
      random: rt.pyodide.runPython("import random; random.random()"),
      stackSwitching: rt.pyodide._module.jspiSupported,
      browserHasJspi: "Suspending" in WebAssembly,
    };
    status.dataset.state = "done";
  })
  .catch((err) => { window.startup = { error: String(err?.stack || err) }; status.dataset.state = "done"; });
</script></body></html>
"""


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DIST / "manifest.json").read_text())
    return data


def _run(page: Page, demo_server: DemoServer) -> dict[str, Any]:
    url = demo_server.url + "startup-test.html"
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=PAGE))
    page.goto(url)
    page.wait_for_selector("#status[data-state=done]", state="attached", timeout=READY_TIMEOUT_MS)
    result: dict[str, Any] = page.evaluate("() => window.startup")
    assert "error" not in result, result["error"]
    return result


def _serve_manifest(
    page: Page, demo_server: DemoServer, edit: Callable[[dict[str, Any]], object]
) -> None:
    def handler(route: Route) -> None:
        manifest = _manifest()
        edit(manifest)
        route.fulfill(content_type="application/json", body=json.dumps(manifest))

    page.route(demo_server.url + "manifest.json", handler)


def test_build_records_what_the_snapshot_was_made_from() -> None:
    manifest = _manifest()
    snap = manifest.get("snapshot")
    assert snap, "dist/ was built without a snapshot (build.py --no-snapshot, or node failed)"
    assert snap["wheelSha256"] == manifest["wheelSha256"]
    assert snap["pyodideVersion"] == manifest["pyodideVersion"]
    path = DIST / snap["file"]
    assert path.is_file() and path.stat().st_size == snap["bytes"]
    assert snap["sha256"][:16] in snap["file"]  # content-addressed: safe to cache for good


def test_client_boots_from_the_snapshot_and_serves_a_request_made_during_startup(
    page: Page, demo_server: DemoServer
) -> None:
    result = _run(page, demo_server)
    assert result["boot"] == "snapshot"
    assert result["issuedBeforeReady"] is True
    assert result["isResponse"] and result["status"] == 200
    assert isinstance(result["body"], (list, dict))
    assert result["sameRuntime"] and result["python"] is True
    # Chromium has JSPI (the control), but the client's Pyodide runs without
    # it: JSPI's stack switching crashes the tab now and then (see the shim).
    assert result["browserHasJspi"] is True
    assert result["stackSwitching"] is False
    # Each page restores the same memory; its `random` must not replay the build's draws.
    again = _run(page, demo_server)
    assert again["boot"] == "snapshot" and again["random"] != result["random"]


def test_snapshot_is_served_with_long_cache_headers(demo_server: DemoServer) -> None:
    import requests

    snap = _manifest()["snapshot"]
    resp = requests.head(demo_server.url + snap["file"], timeout=10)
    assert resp.status_code == 200
    assert "immutable" in resp.headers["Cache-Control"]
    # The manifest names the snapshot, so it must be revalidated, never kept stale.
    manifest = requests.head(demo_server.url + "manifest.json", timeout=10)
    assert "immutable" not in manifest.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m.pop("snapshot"), id="no-snapshot"),
        pytest.param(lambda m: m["snapshot"].update(wheelSha256="0" * 64), id="other-wheel"),
        pytest.param(lambda m: m["snapshot"].update(pyodideVersion="0.0.0"), id="other-pyodide"),
    ],
)
def test_a_missing_or_stale_snapshot_boots_plain(
    page: Page, demo_server: DemoServer, edit: Callable[[dict[str, Any]], object]
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    _serve_manifest(page, demo_server, edit)
    result = _run(page, demo_server)
    assert result["boot"] == "plain"
    assert result["status"] == 200 and result["python"] is True
    assert result["stackSwitching"] is False and result["browserHasJspi"] is True
    assert not [u for u in requested if "python-snapshot" in u]  # not even downloaded


def test_an_unloadable_snapshot_falls_back_to_plain(page: Page, demo_server: DemoServer) -> None:
    snap = _manifest()["snapshot"]
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.route(demo_server.url + snap["file"], lambda route: route.fulfill(status=404, body=""))
    result = _run(page, demo_server)
    assert result["boot"] == "plain"
    assert result["status"] == 200
    assert any("booting without the snapshot" in w for w in warnings), warnings
