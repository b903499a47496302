"""The resilience pipeline in Chromium, through the JS shim, against the fault-injection backend.

Each test builds its own client in the page (``createClient`` reuses the page's
Pyodide runtime) with small timings so the suite stays quick, and checks what
really reached the server through ``/_stats`` or the browser's own network log.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from playwright.sync_api import Page

from .conftest import DemoServer, FaultAdmin

CLIENT = """
async (opts) => {
  const { createClient } = await import("./resilient-fetch.js");
  window.testClient = await createClient(opts);
  window.testEvents = [];
  window.testClient.on("*", (e) => window.testEvents.push(e));
  return true;
}
"""


def make_client(page: Page, **options: Any) -> None:
    page.evaluate(CLIENT, options)


def fetch(page: Page, path: str, init: dict[str, Any] | None = None) -> dict[str, Any]:
    """client.fetch in the page; returns {status} or {code} when it rejected."""
    return page.evaluate(
        """async ([path, init]) => {
            try {
                const r = await window.testClient.fetch(path, init || undefined);
                return { status: r.status, body: await r.text() };
            } catch (e) { return { code: e.code, message: e.message, details: e.details }; }
        }""",
        [path, init],
    )


def route_stats(faults: FaultAdmin, route: str) -> dict[str, int]:
    return faults.stats()["routes"].get(route, {})


def test_flaky_backend_recovers_by_retry(ready_page: Page, faults: FaultAdmin) -> None:
    # Scoped: the demo page's own list query must not take the fault's failures.
    scope = f"flaky-{uuid.uuid4().hex[:8]}"
    faults.add(type="flaky", fail_first_n=2, code=503, match="/api/items", scope=scope)
    make_client(ready_page, retry={"base": 0.05, "cap": 0.2}, headers={"X-Fault-Scope": scope})
    result = fetch(ready_page, "api/items")
    assert result["status"] == 200, result
    routes = faults.stats(scope)["routes"]["GET /api/items"]  # the server saw the retries;
    assert routes["503"] == 2 and routes.get("200", 0) + routes.get("304", 0) == 1  # 304: ETag
    retries = [e for e in ready_page.evaluate("window.testEvents") if e["event"] == "retry"]
    assert [r["attempt"] for r in retries] == [1, 2]


def test_down_opens_the_breaker_then_half_opens_and_closes(
    ready_page: Page, faults: FaultAdmin
) -> None:
    scope = f"down-{uuid.uuid4().hex[:8]}"  # the demo page's own reads stay out of it
    faults.add(type="down", match="/api/items*", name="outage", scope=scope)
    make_client(
        ready_page,
        retry={"maxRetries": 0},
        breaker={"failureThreshold": 3, "openFor": 1.5, "closeAfter": 2},
        headers={"X-Fault-Scope": scope},
    )
    for _ in range(3):
        assert fetch(ready_page, "api/items")["status"] == 503
    for _ in range(5):
        result = fetch(ready_page, "api/items")
        assert result["code"] == "CIRCUIT_OPEN", result
        assert 0 < result["details"]["retryAfter"] <= 1.5
    assert faults.stats(scope)["routes"]["GET /api/items"] == {"503": 3}  # fast-fail stayed local

    faults.reset()
    time.sleep(1.6)
    state = ready_page.evaluate("window.testClient.state()")
    (breaker,) = state["breakers"].values()
    assert breaker["state"] == "half_open"
    assert fetch(ready_page, "api/items")["status"] == 200
    assert fetch(ready_page, "api/items")["status"] == 200
    (breaker,) = ready_page.evaluate("window.testClient.state()")["breakers"].values()
    assert breaker["state"] == "closed"
    changes = [
        (e["from"], e["to"])
        for e in ready_page.evaluate("window.testEvents")
        if e["event"] == "breaker"
    ]
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_429_retry_after_is_honoured(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    # Scoped: the demo page's own list query must not take the one 429.
    scope = f"r429-{uuid.uuid4().hex[:8]}"
    faults.add(type="status", code=429, retry_after=2, count=1, match="/api/items", scope=scope)
    make_client(ready_page, headers={"X-Fault-Scope": scope})
    sent: list[float] = []
    url = demo_server.url + "api/items"
    ready_page.on(
        "request",
        # Only this client's requests: the demo page's own list query reads the same URL.
        lambda r: sent.append(time.monotonic())
        if r.url == url and r.headers.get("x-fault-scope") == scope
        else None,
    )
    result = fetch(ready_page, "api/items")
    assert result["status"] == 200, result
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 2.0, sent  # never earlier than the server asked
    assert faults.stats(scope)["routes"]["GET /api/items"] == {"429": 1, "200": 1}


def test_burst_of_50_never_exceeds_concurrency_5_at_the_server(
    ready_page: Page, faults: FaultAdmin
) -> None:
    # A scope of its own: the demo page's own reads (its list query refetches on
    # focus) must not count as this client's requests.
    scope = f"burst-{uuid.uuid4().hex[:8]}"
    faults.add(type="latency", ms=150, match="/api/items", scope=scope)
    make_client(
        ready_page,
        queue={"concurrency": 5},
        limiter={"limit": 1000, "window": 1},
        headers={"X-Fault-Scope": scope},
    )
    statuses = ready_page.evaluate(
        """async () => {
            // Distinct URLs: Chromium's HTTP cache serialises concurrent GETs of one URL.
            const all = Array.from({ length: 50 }, (_, i) =>
                window.testClient.fetch(`api/items?n=${i}`).then((r) => r.status));
            return Promise.all(all);
        }"""
    )
    assert statuses == [200] * 50
    stats = faults.stats(scope)
    assert stats["routes"]["GET /api/items"] == {"200": 50}
    assert stats["inflight"]["max"] == 5, stats["inflight"]  # used fully, never exceeded
    queue = ready_page.evaluate("window.testClient.state().queue")
    assert queue["completed"] == 50 and queue["running"] == 0


def test_hang_times_out_and_the_browser_request_is_cancelled(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    faults.add(type="hang", match="/api/items")
    make_client(ready_page, timeout={"attempt": 1, "total": 5}, retry={"maxRetries": 0})
    failed: list[str] = []
    url = demo_server.url + "api/items"
    ready_page.on(
        "requestfailed", lambda r: failed.append(r.failure or "") if r.url == url else None
    )
    started = time.monotonic()
    result = fetch(ready_page, "api/items")
    assert result["code"] == "TIMEOUT", result
    assert result["details"]["kind"] == "attempt"
    assert 0.9 <= time.monotonic() - started < 4
    ready_page.wait_for_timeout(200)
    assert failed and "ERR_ABORTED" in failed[0], failed  # really cancelled, not abandoned


def test_abort_signal_cancels_a_waiting_request(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    faults.add(type="hang", match="/api/items")
    make_client(ready_page, retry={"maxRetries": 0})
    failed: list[str] = []
    url = demo_server.url + "api/items"
    ready_page.on(
        "requestfailed", lambda r: failed.append(r.failure or "") if r.url == url else None
    )
    result = ready_page.evaluate(
        """async () => {
            const ctl = new AbortController();
            setTimeout(() => ctl.abort(), 300);
            try { await window.testClient.fetch("api/items", { signal: ctl.signal }); return "resolved"; }
            catch (e) { return e.code; }
        }"""
    )
    assert result == "ABORTED"
    ready_page.wait_for_timeout(200)
    assert failed and "ERR_ABORTED" in failed[0], failed


def test_bad_config_rejects_with_field_and_events_are_plain_objects(ready_page: Page) -> None:
    result = ready_page.evaluate(
        """async () => {
            const { createClient } = await import("./resilient-fetch.js");
            try { await createClient({ retry: { jitter: "wild" } }); return null; }
            catch (e) { return { code: e.code, field: e.details.field, message: e.message }; }
        }"""
    )
    assert result["code"] == "CONFIG" and result["field"] == "retry.jitter"
    assert "decorrelated" in result["message"]
    make_client(ready_page)
    assert fetch(ready_page, "health")["status"] == 200
    events = [e for e in ready_page.evaluate("window.testEvents") if e["event"] != "queue"]
    assert [e["event"] for e in events] == ["request", "response"]
    assert events[1]["status"] == 200 and events[1]["durationMs"] > 0
    state = ready_page.evaluate("window.testClient.state()")
    assert state["metrics"]["latency"]["GET /health"]["count"] == 1


def test_offline_browser_rejects_with_offline_code_and_recovers(ready_page: Page) -> None:
    make_client(ready_page, network={"mode": "fail"})  # "pause" (the default): e2e/test_network.py
    ready_page.context.set_offline(True)
    try:
        result = fetch(ready_page, "api/items")
        assert result["code"] == "OFFLINE", result  # not retried into a storm, not "NETWORK"
    finally:
        ready_page.context.set_offline(False)
    assert fetch(ready_page, "api/items")["status"] == 200
    retries = [e for e in ready_page.evaluate("window.testEvents") if e["event"] == "retry"]
    assert retries == []


def test_bad_requests_and_config_name_fields_as_js_writes_them(
    ready_page: Page, faults: FaultAdmin
) -> None:
    result = ready_page.evaluate(
        """async () => {
            const { createClient } = await import("./resilient-fetch.js");
            try { await createClient({ breaker: { openFor: 0 } }); return null; }
            catch (e) { return { code: e.code, field: e.details.field }; }
        }"""
    )
    assert result == {"code": "CONFIG", "field": "breaker.openFor"}
    make_client(ready_page)
    for url in ["ftp://127.0.0.1/x", "javascript:alert(1)", "http://exa mple.com/"]:
        result = fetch(ready_page, url)
        assert result["code"] == "INVALID_REQUEST", (url, result)
    result = fetch(ready_page, "api/items", {"resilience": {"maxRetries": -1}})
    assert result["code"] == "CONFIG" and result["details"]["field"] == "resilience.maxRetries"
    retries = [e for e in ready_page.evaluate("window.testEvents") if e["event"] == "retry"]
    assert retries == []  # a bad request is never retried


def test_base_url_is_a_prefix_in_the_page(ready_page: Page, demo_server: DemoServer) -> None:
    make_client(ready_page, baseUrl=f"{demo_server.url}api")
    for path in ["items", "/items"]:
        result = fetch(ready_page, path)
        assert result["status"] == 200 and result["body"].startswith(("{", "[")), (path, result)
