"""The built site in Chromium: Python loads, and an item added through the form reaches the server."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from .conftest import DemoServer


def test_add_item_through_python_client(ready_page: Page, demo_server: DemoServer) -> None:
    page = ready_page
    expect(page.locator("#status")).to_have_text("ready")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    page.fill("#item-name", "buy milk")
    page.click("#add-button")
    expect(page.locator("#items li", has_text="buy milk")).to_be_visible()
    stored = demo_server.app.extensions["items"].list()
    assert any(item["name"] == "buy milk" for item in stored), stored
    assert f"POST {demo_server.url}api/items" in requests


def test_shim_fetch_returns_real_response_and_coded_errors(
    ready_page: Page, demo_server: DemoServer
) -> None:
    result = ready_page.evaluate(
        """async () => {
            const c = window.resilientClient;
            const r = await c.fetch("health", { headers: { "X-Request-ID": "e2e-1" } });
            const bad = await c.fetch("api/items", {
                method: "POST", headers: { "Content-Type": "application/json" }, body: "{oops",
            });
            let err = null;
            try { await c.fetch("http://127.0.0.1:9/none", { resilience: { maxRetries: 0 } }); } catch (e) { err = { code: e.code, isError: e instanceof Error }; }
            return {
                isResponse: r instanceof Response, status: r.status, body: await r.json(),
                type: r.headers.get("content-type"), badStatus: bad.status, badBody: await bad.json(), err,
            };
        }"""
    )
    assert result["isResponse"] is True
    assert result["status"] == 200
    assert result["body"] == {"status": "ok", "service": "resilient-fetch-demo"}
    assert result["type"] == "application/json"
    assert result["badStatus"] == 400 and result["badBody"]["error"] == "invalid_json"
    assert result["err"] == {"code": "NETWORK", "isError": True}


def test_every_added_item_shows_up_after_its_write_is_sent(ready_page: Page) -> None:
    """Regression: after a write was sent, the page refreshed the list with
    ``await client.query()``, which resolves with the stale list while the
    refetch runs; when the refetch landed first, the stale list was drawn over
    the fresh one and stayed for the list's staleTime. Each add is one chance
    for that order, so several adds in a row."""
    page = ready_page
    for i in range(12):
        name = f"row-{i}-{uuid.uuid4().hex[:6]}"
        page.fill("#item-name", name)
        page.click("#add-button")
        expect(page.locator("#items li", has_text=name)).to_be_visible(timeout=5000)
