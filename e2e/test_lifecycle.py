"""client.close({ timeout }) and client.metricsText() in Chromium, against the real backend."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page
from prometheus_client.parser import text_string_to_metric_families

from .conftest import FaultAdmin

SCOPE = "lifecycle-e2e"
CLIENT = """async () => {
    const { createClient } = await import("./resilient-fetch.js");
    window.lc = await createClient({
        retry: { maxRetries: 0 }, headers: { "X-Fault-Scope": "lifecycle-e2e" } });
}"""
# Each later call's outcome: its rejection's code, or what it returned.
AFTER_CLOSE = """async () => {
    const code = async (work) => {
        try { await work(); return "resolved"; } catch (err) { return err.code; }
    };
    return {
        fetch: await code(() => window.lc.fetch("api/items")),
        query: await code(() => window.lc.query(["items"], "api/items")),
        outbox: await code(() => window.lc.outbox.entries()),
        probeNow: await code(() => window.lc.probeNow()),
        on: await code(() => window.lc.on("error", () => {})),
        loader: await code(() => window.lc.loader({ url: "api/items/batch" }).load(1)),
        isolate: await code(() => window.lc.isolate()),
        closeAgain: await code(() => window.lc.close()),
        lifecycle: window.lc.state().lifecycle,
    };
}"""


def test_close_drains_aborts_at_the_timeout_and_every_later_call_is_closed(
    ready_page: Page, faults: FaultAdmin
) -> None:
    ready_page.evaluate(CLIENT)
    faults.add(type="latency", ms=300, match="/api/items", scope=SCOPE)
    faults.add(type="hang", match="/api/items/7", scope=SCOPE)
    result: dict[str, Any] = ready_page.evaluate(
        """async () => {
            const slow = window.lc.fetch("api/items").then((r) => r.status, (e) => e.code);
            const hung = window.lc.fetch("api/items/7").then(
                (r) => ({ status: r.status }), (e) => ({ code: e.code, details: e.details }));
            await new Promise((resolve) => setTimeout(resolve, 100));
            const inFlight = window.lc.state().lifecycle.inFlight;
            const t0 = performance.now();
            await window.lc.close({ timeout: 1 });
            return { inFlight, ms: performance.now() - t0, slow: await slow, hung: await hung };
        }"""
    )
    assert result["inFlight"] == 2
    assert result["slow"] == 200  # finished within the timeout
    assert result["hung"]["code"] == "CLOSED" and result["hung"]["details"]["inFlight"] is True
    assert result["hung"]["details"]["timeout"] == 1
    assert 950 <= result["ms"] < 3000, result["ms"]
    later = ready_page.evaluate(AFTER_CLOSE)
    assert later == {
        **dict.fromkeys(("fetch", "query", "outbox", "probeNow", "on", "loader", "isolate"),
                        "CLOSED"),
        "closeAgain": "resolved",
        "lifecycle": {"state": "closed", "inFlight": 0, "abortedAtClose": 1},
    }


def test_metrics_text_is_prometheus_text_the_real_parser_reads(
    ready_page: Page, faults: FaultAdmin
) -> None:
    ready_page.evaluate(CLIENT)
    faults.add(type="status", code=503, match="/api/items/99", scope=SCOPE)
    text: str = ready_page.evaluate(
        """async () => {
            await window.lc.fetch("api/items");
            await window.lc.fetch("api/items/99");
            return window.lc.metricsText();
        }"""
    )
    families = {f.name: f for f in text_string_to_metric_families(text)}
    outcomes = {s.labels["outcome"]: s.value for s in families["resilient_fetch_requests"].samples}
    assert outcomes == {"success": 1.0, "http_5xx": 1.0}
    latency = families["resilient_fetch_request_duration_seconds"]
    assert latency.type == "summary"
    routes = {s.labels["route"] for s in latency.samples if s.name.endswith("_count")}
    assert routes == {"/api/items", "/api/items/:id"}
    assert families["resilient_fetch_breaker_state"].type == "gauge"
    closed = ready_page.evaluate(
        """async () => {
            let bad = null;
            try { await window.lc.close({ timeout: -1 }); } catch (err) { bad = err.details.field; }
            await window.lc.close({ timeout: 0 });
            return { bad, text: window.lc.metricsText() };  // still answers: the final figures
        }"""
    )
    assert closed["bad"] == "close.timeout"
    assert 'resilient_fetch_client_state{state="closed"} 1' in closed["text"]
