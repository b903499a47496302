"""Network awareness in Chromium: the offline and unreachable banners, and recovery."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from .conftest import FaultAdmin

OFFLINE_TEXT = "You're offline: changes are saved on this device and will be sent"


def scope_of(page: Page) -> str:
    return str(page.evaluate("sessionStorage.getItem('rf-fault-scope')"))


def test_offline_banner_within_a_second_then_back_online(ready_page: Page) -> None:
    page = ready_page
    banner = page.locator("#network-banner")
    expect(banner).to_be_hidden()
    page.context.set_offline(True)
    started = time.monotonic()
    try:
        expect(banner).to_have_attribute("data-state", "offline", timeout=1000)
        assert time.monotonic() - started < 1.0
        expect(page.locator("#network-text")).to_have_text(OFFLINE_TEXT)
        assert page.locator("#network-banner [aria-live=polite]").count() == 1
        assert page.evaluate("window.resilientClient.network().state") == "offline"
        # A read made now waits for the network instead of failing.
        page.evaluate(
            """() => { window.pausedRead = window.resilientClient.fetch("api/items")
                .then((r) => r.status, (e) => e.code); }"""
        )
        page.wait_for_timeout(300)
        assert page.evaluate("window.resilientClient.state().network.paused") == 1
    finally:
        page.context.set_offline(False)
    expect(banner).to_have_attribute("data-state", "online", timeout=3000)
    expect(page.locator("#network-text")).to_have_text("Back online")
    assert page.evaluate("window.pausedRead") == 200
    events = page.evaluate("window.resilientClient.network()")
    assert events["state"] == "online"


def test_control_banner_stays_hidden_while_online(ready_page: Page) -> None:
    # The control for the test above: without going offline nothing is shown.
    page = ready_page
    page.wait_for_timeout(1500)
    expect(page.locator("#network-banner")).to_be_hidden()
    assert page.evaluate("window.resilientClient.network().state") == "online"


def test_unreachable_banner_when_api_and_probe_are_down_then_recovery(
    ready_page: Page, faults: FaultAdmin
) -> None:
    page = ready_page
    scope = scope_of(page)
    faults.add(type="down", match="/api/items*", scope=scope, name="api-down")
    faults.add(type="down", match="/health/live", scope=scope, name="probe-down")
    # A read through the client meets the 503; the probe confirms the server is gone.
    page.evaluate(
        """() => { window.pausedRead = window.resilientClient.fetch("api/items")
            .then((r) => r.status, (e) => e.code); }"""
    )
    banner = page.locator("#network-banner")
    expect(banner).to_have_attribute("data-state", "unreachable", timeout=5000)
    expect(page.locator("#network-text")).to_have_text("Can't reach the server")
    expect(page.locator("#network-countdown")).to_contain_text("retrying in")
    expect(page.locator("#network-retry")).to_be_visible()
    routes = faults.stats()["scopes"][scope]["routes"]
    assert routes["GET /health/live"].get("503", 0) >= 1  # the probe reached the server
    # "Retry now" probes; still down, so the banner stays. Polled, not read once
    # after a fixed wait: a clean CI run once saw no new probe at the server
    # within 500 ms of the click (a probe already in flight is shared, too).
    before = routes["GET /health/live"]["503"]
    page.click("#network-retry")
    probes = before
    for _ in range(60):
        probes = faults.stats()["scopes"][scope]["routes"]["GET /health/live"]["503"]
        if probes > before:
            break
        page.wait_for_timeout(50)
    assert probes > before
    expect(banner).to_have_attribute("data-state", "unreachable")
    # Remove the faults: the next probe (or Retry now) brings the page back.
    for name in ("api-down", "probe-down"):
        assert faults_delete(faults, name, scope) == 204
    page.click("#network-retry")
    expect(banner).to_have_attribute("data-state", "online", timeout=5000)
    expect(page.locator("#network-text")).to_have_text("Back online")
    routes = faults.stats()["scopes"][scope]["routes"]
    assert routes["GET /health/live"].get("200", 0) >= 1
    # The paused read went through once the server was back.
    page.wait_for_function("window.pausedRead !== undefined")
    assert page.evaluate("window.pausedRead") == 200


def faults_delete(faults: FaultAdmin, name: str, scope: str) -> int:
    import requests

    return requests.delete(f"{faults.url}_faults/{name}?scope={scope}", timeout=5).status_code
