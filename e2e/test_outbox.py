"""The durable outbox in Chromium: offline writes, reloads, lost responses, two tabs, chaos.

What counts is what the server holds (``GET /api/items``, read with requests),
never the page's view. Item names carry a random tag, so tests sharing the demo
server never see each other's items. Failures come from the backend's fault API
(scoped per test), never from Playwright routes; offline is
``context.set_offline``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from typing import Any

import requests
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import READY_TIMEOUT_MS, DemoServer, FaultAdmin

OUTBOX_CLIENT = """
async ([opts, scope]) => {
  const { createClient } = await import("./resilient-fetch.js");
  window.testClient = await createClient({ ...opts, headers: { "X-Fault-Scope": scope } });
  window.testDurations = [];
  window.testClient.on("*", (e) => {
    if (e.event === "response" || e.event === "error") window.testDurations.push(e.durationMs);
  });
  return true;
}
"""


def server_names(demo: DemoServer, tag: str) -> Counter[str]:
    items = requests.get(demo.url + "api/items", timeout=5).json()["items"]
    return Counter(item["name"] for item in items if tag in item["name"])


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def count(page: Page, selector: str) -> int:
    return page.locator(selector).count()


def until_count(page: Page, selector: str, n: int, timeout: float = 15) -> None:
    # Polled from here: the page's CSP forbids the eval wait_for_function uses.
    wait_for(lambda: count(page, selector) == n, timeout, f"{n} x {selector}")


def offline_ready(page: Page) -> None:
    """Wait until the service worker has precached what a reload needs."""
    check = """async () => {
        const reg = await navigator.serviceWorker.ready;
        return !!reg.active && !!(await caches.match("pyodide/pyodide.asm.wasm"));
    }"""
    wait_for(lambda: page.evaluate(check), 60, "the service worker's precache")


def add_item(page: Page, name: str) -> None:
    """Type a name and add it; returns once the form took it (the field is cleared)."""
    page.fill("#item-name", name)
    page.click("#add-button")
    wait_for(lambda: page.input_value("#item-name") == "", 10, f"the form to take {name}")


def pending(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#pending li", "els => els.map(e => e.dataset.state + ':' + e.textContent)"
    )


def test_offline_writes_survive_a_reload_and_are_sent_once(
    ready_page: Page, demo_server: DemoServer
) -> None:
    page, context, tag = ready_page, ready_page.context, uuid.uuid4().hex[:8]
    offline_ready(page)
    context.set_offline(True)
    names = [f"offline-{tag}-{i}" for i in range(2)]
    for name in names:
        add_item(page, name)
    until_count(page, "#pending li[data-state=pending]", 2)

    page.reload()  # offline: the service worker serves the page and the runtime
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    until_count(page, "#pending li[data-state=pending]", 2)
    # ...and the page's own modules: the dashboard's charts and the upload panel.
    until_count(page, "#dashboard canvas", 4)
    page.wait_for_selector("#upload-make:not([disabled])")
    assert all(any(n in p for p in pending(page)) for n in names)
    assert server_names(demo_server, tag) == Counter()

    context.set_offline(False)
    wait_for(lambda: len(server_names(demo_server, tag)) == 2, 20, "both writes on the server")
    until_count(page, "#pending li", 0)
    page.wait_for_selector("#items .badge.saved")
    time.sleep(1.0)  # nothing arrives late
    assert server_names(demo_server, tag) == Counter(names)


def test_a_response_lost_after_the_write_was_applied_is_applied_once(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page, scope, tag = ready_page, f"lost-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    # reset: the connection drops before the server does anything; slow_body:
    # the server applies the write and the answer outlasts the attempt timeout.
    faults.add(type="reset", match="/api/items", methods=["POST"], count=1, scope=scope)
    faults.add(type="slow_body", bytes_per_s=20, match="/api/items", count=1, scope=scope)
    page.evaluate(
        OUTBOX_CLIENT,
        [
            {
                "retry": {"maxRetries": 0},
                "timeout": {"attempt": 0.5, "total": 2},
                "outbox": {"store": "memory", "backoff": 0.1, "backoffCap": 0.5},
            },
            scope,
        ],
    )
    name = f"lost-{tag}"
    result = page.evaluate(
        """async (name) => {
            const actions = [];
            window.testClient.on("outbox", (e) => actions.push(e.action));
            const { id } = await window.testClient.outbox.enqueue("api/items", {
                method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ name }) });
            const resp = await window.testClient.outbox.wait(id);
            return { status: resp.status, replayed: resp.headers.get("Idempotent-Replayed"),
                     body: await resp.json(), actions };
        }""",
        name,
    )
    assert result["status"] == 201 and result["replayed"] == "true", result
    assert result["actions"].count("sending") == 3 and result["actions"][-1] == "sent"
    assert server_names(demo_server, tag) == Counter([name])
    routes = faults.stats()["scopes"][scope]["routes"]["POST /api/items"]
    assert routes.get("dropped") == 1 and routes.get("201") == 2, routes


def test_two_tabs_one_replays_nothing_doubled(page: Page, demo_server: DemoServer) -> None:
    context: BrowserContext = page.context
    tag = uuid.uuid4().hex[:8]
    page.goto(demo_server.url)
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    other = context.new_page()
    other.goto(demo_server.url)
    other.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    context.set_offline(True)
    add_item(page, f"tabs-{tag}-a")
    add_item(other, f"tabs-{tag}-b")
    # Each tab sees both pending writes: one IndexedDB, changes broadcast.
    for tab in (page, other):
        until_count(tab, "#pending li[data-state=pending]", 2)
    page.close()  # the tab that held the replay lock goes away; the other takes over
    context.set_offline(False)
    wait_for(lambda: len(server_names(demo_server, tag)) == 2, 20, "both writes on the server")
    until_count(other, "#pending li", 0)
    time.sleep(1.0)
    assert server_names(demo_server, tag) == Counter([f"tabs-{tag}-a", f"tabs-{tag}-b"])


CHAOS_SEED = 20240610
CHAOS_FAULTS = (
    {"type": "down", "match": "/api/items*"},
    {"type": "flaky", "fail_first_n": 2, "code": 503, "match": "/api/items"},
    {"type": "reset", "count": 2, "match": "/api/items", "methods": ["POST"]},
    {"type": "hang", "count": 1, "match": "/api/items", "methods": ["POST"]},
    {"type": "status", "code": 429, "retry_after": 1, "count": 2, "match": "/api/items"},
    {"type": "slow_body", "bytes_per_s": 20, "count": 1, "match": "/api/items"},
    "offline",
)
TOTAL_TIMEOUT_S = 3.0


def test_chaos_100_writes_none_lost_none_doubled(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page, context = ready_page, ready_page.context
    offline_ready(page)
    rng = random.Random(CHAOS_SEED)
    scope, tag = f"chaos-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    db = f"chaos-{tag}"
    opts = {
        "retry": {"maxRetries": 1, "base": 0.05, "cap": 0.2},
        "breaker": {"openFor": 0.5, "failureThreshold": 5},
        "timeout": {"attempt": 1.0, "total": TOTAL_TIMEOUT_S},
        "outbox": {"store": "indexeddb", "name": db, "backoff": 0.1, "backoffCap": 1.0},
    }
    page.evaluate(OUTBOX_CLIENT, [opts, scope])
    names = [f"chaos-{tag}-{i:03d}" for i in range(100)]
    schedule: list[str] = []
    durations: list[float] = []
    started = time.monotonic()
    for batch in range(10):
        fault = rng.choice(CHAOS_FAULTS)
        schedule.append(fault if isinstance(fault, str) else str(fault["type"]))
        if fault == "offline":
            context.set_offline(True)
        else:
            faults.add(**fault, scope=scope)
        page.evaluate(
            """async (names) => { for (const name of names) {
                await window.testClient.outbox.enqueue("api/items", { method: "POST",
                    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
            } }""",
            names[batch * 10 : batch * 10 + 10],
        )
        time.sleep(rng.uniform(0.3, 1.2))
        context.set_offline(False)
        requests.post(demo_server.url + "_faults/reset", params={"scope": scope}, timeout=5)
        if batch == 5:  # a reload in the middle: the new page replays what is stored
            durations += page.evaluate("window.testDurations")
            schedule.append("reload")
            page.reload()
            page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
            page.evaluate(OUTBOX_CLIENT, [opts, scope])

    def drained() -> bool:
        return page.evaluate("window.testClient.outbox.entries().then((e) => e.length)") == 0

    wait_for(drained, 90, "the outbox to drain")
    elapsed = time.monotonic() - started
    durations += page.evaluate("window.testDurations")
    time.sleep(1.0)
    held = server_names(demo_server, tag)
    lost = [n for n in names if held[n] == 0]
    doubled = [n for n, c in held.items() if c > 1]
    figures = {
        "seed": CHAOS_SEED,
        "writes": len(names),
        "schedule": schedule,
        "lost": len(lost),
        "doubled": len(doubled),
        "requests": len(durations),
        "longest_request_ms": round(max(durations), 1),
        "deadline_ms": TOTAL_TIMEOUT_S * 1000,
        "drained_after_s": round(elapsed, 1),
    }
    print("CHAOS", json.dumps(figures))
    assert not lost and not doubled, figures
    # Every request ended by its total deadline (plus scheduling slack).
    assert max(durations) <= TOTAL_TIMEOUT_S * 1000 + 250, figures


def test_back_online_banner_counts_the_changes_sent(ready_page: Page) -> None:
    page, context = ready_page, ready_page.context
    offline_ready(page)
    context.set_offline(True)
    expect(page.locator("#network-banner")).to_have_attribute("data-state", "offline")
    add_item(page, f"banner-{uuid.uuid4().hex[:8]}")
    page.reload()  # offline: the page comes from the service worker
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    expect(page.locator("#network-banner")).to_have_attribute("data-state", "offline")
    context.set_offline(False)
    expect(page.locator("#network-text")).to_have_text(
        "Back online: 1 change sent", timeout=15_000
    )
