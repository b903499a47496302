"""The demo page under an injected outage: a clear error while /api/items answers 503, then recovery."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import Page, expect

from .conftest import DemoServer, FaultAdmin

# Generous: the client may retry before it gives up, and a breaker may need a probe.
SETTLE_MS = 20_000


def _click_until_no_error(page: Page, deadline_s: float) -> None:
    """Refresh like a user would, until the error is gone (a breaker may need a moment)."""
    error = page.locator("#error")
    end = time.monotonic() + deadline_s
    while True:
        page.click("#refresh")
        try:
            expect(error).to_be_hidden(timeout=3_000)
            return
        except AssertionError:
            if time.monotonic() > end:
                raise


def test_status_503_shows_an_error_and_reset_recovers(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page = ready_page
    error = page.locator("#error")
    expect(error).to_be_hidden()

    # Retry-After: 0 lets a retrying client give up quickly, whatever its backoff.
    faults.add(type="status", code=503, retry_after=0, match="/api/items*", name="outage")
    page.click("#refresh")
    expect(error).to_be_visible(timeout=SETTLE_MS)
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("503")
    assert faults.stats()["routes"]["GET /api/items"].get("503", 0) >= 1  # the server said so

    faults.reset()
    name = f"after outage {time.monotonic_ns()}"
    created = requests.post(demo_server.url + "api/items", json={"name": name}, timeout=5)
    assert created.status_code == 201
    _click_until_no_error(page, deadline_s=SETTLE_MS / 1000)
    expect(page.locator("#items li", has_text=name)).to_be_visible(timeout=SETTLE_MS)
    assert faults.stats()["routes"]["GET /api/items"].get("200", 0) >= 1
