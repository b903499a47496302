"""The demo dashboard: fault buttons scoped to the tab, live client state and the event log."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from .conftest import DemoServer, FaultAdmin


def test_flaky_button_is_scoped_and_the_client_retries_through_it(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page = ready_page
    page.click("text=Flaky (2 failures)")
    expect(page.locator("#fault-status")).to_contain_text("fault on: flaky")
    # The fault belongs to this tab's scope: other callers are untouched.
    assert requests.get(demo_server.url + "api/items", timeout=5).status_code == 200
    page.click("#refresh")
    events = page.locator("#events li")
    expect(events.filter(has_text="retry #2")).to_have_count(1, timeout=20_000)
    expect(events.filter(has_text="← 200 after 3 attempt(s)")).to_have_count(1)
    expect(page.locator("#error")).to_be_hidden()
    scope = page.evaluate("sessionStorage.getItem('rf-fault-scope')")
    routes = faults.stats()["scopes"][scope]["routes"]["GET /api/items"]
    # The read that got through may be a 304: item reads carry an ETag (issue 11);
    # the page's list query may also refetch on its own (focus), hence ">= 1".
    assert routes["503"] == 2 and routes.get("200", 0) + routes.get("304", 0) >= 1


def test_down_opens_the_breaker_on_screen_and_reset_recovers(ready_page: Page) -> None:
    page = ready_page
    page.click("text=Down (503)")
    expect(page.locator("#fault-status")).to_contain_text("fault on: down")
    error = page.locator("#error")
    breaker = page.locator("#state-breaker")
    for _ in range(3):  # 4 attempts per refresh; the 5th failure opens the breaker
        page.click("#refresh")
        page.wait_for_timeout(100)
        expect(error).to_be_visible(timeout=20_000)
        if "open" in (breaker.text_content() or ""):
            break
    expect(breaker).to_contain_text("open")
    page.click("#refresh")
    expect(error).to_contain_text("CIRCUIT_OPEN")
    page.click("#fault-reset")
    expect(page.locator("#fault-status")).to_have_text("faults cleared")
    expect(breaker).to_contain_text("half-open", timeout=10_000)  # open_for is 5 s in the demo
    page.click("#refresh")
    expect(error).to_be_hidden(timeout=10_000)
    page.click("#refresh")
    expect(breaker).to_have_text("closed", timeout=10_000)
