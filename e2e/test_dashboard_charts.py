"""The dashboard (web/dashboard.js): live uPlot charts and the scenario runner.

The plots' data is read back through the page's debug hook ``window.rfDashboard``;
faults go through the fault API in the tab's own ``X-Fault-Scope`` (demo.js makes
one per tab), so the tests never break each other or the page's neighbours.
"""

from __future__ import annotations

import re
import time
from typing import Any

import requests
from playwright.sync_api import Page, expect

from .conftest import DemoServer, FaultAdmin

# Playwright's own timeouts are in ms.
OUTAGE_OPEN_MS = 25_000  # the breaker opens within the 20 s outage
RECOVERY_MS = 80_000  # 20 s outage + the breaker's grown open period (up to 20 s) + slack


def wait_for(page: Page, expression: str, timeout: int) -> Any:
    """Poll a page expression until it is truthy (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"still false after {timeout} ms: {expression}"
        page.wait_for_timeout(200)


def dashboard_page(page: Page) -> Page:
    """The page with its dashboard started and drawn at least once."""
    wait_for(page, "window.rfDashboard && rfDashboard.stats().draws >= 1", 15_000)
    return page


def series(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate("rfDashboard.series()")
    return data


def narration(page: Page) -> list[str]:
    return [line["text"] for line in page.evaluate("rfDashboard.narration()")]


def scope_of(page: Page) -> str:
    scope: str = page.evaluate("sessionStorage.getItem('rf-fault-scope')")
    assert scope, "demo.js gives each tab a fault scope"
    return scope


def scope_faults(server: DemoServer, scope: str) -> list[dict[str, Any]]:
    resp = requests.get(server.url + "_faults", params={"scope": scope}, timeout=5)
    faults: list[dict[str, Any]] = resp.json()["faults"]
    return faults


def record_events(page: Page, *names: str) -> None:
    """Keep the client's raw events in window.__rawEvents (what the narration must match)."""
    page.evaluate(
        """(names) => {
          window.__rawEvents = [];
          for (const n of names) resilientClient.on(n, (e) => window.__rawEvents.push({ event: n, ...e }));
        }""",
        list(names),
    )


def raw_events(page: Page) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate("window.__rawEvents")
    return events


def test_four_charts_are_made_once_and_fed_every_second(ready_page: Page) -> None:
    page = dashboard_page(ready_page)
    expect(page.locator("#charts canvas")).to_have_count(4)
    page.click("#refresh")
    wait_for(page, "rfDashboard.stats().samples >= 4", 15_000)
    data = series(page)
    n = len(data["t"])
    assert 4 <= n <= page.evaluate("rfDashboard.capacity") == 300
    # Every plot holds one value per sample, on the same time axis, one second apart.
    for chart in ("latency", "rates", "states", "queue"):
        for label, values in data[chart].items():
            assert len(values) == n, (chart, label)
    steps = [b - a for a, b in zip(data["t"], data["t"][1:], strict=False)]
    assert all(0.5 < s < 3 for s in steps), steps
    # The page's own reads show up: a call time, and ok requests in some second.
    assert any(v is not None for v in data["latency"]["p50"])
    assert any(v > 0 for v in data["rates"]["ok"])
    # A healthy client: the breaker band is closed throughout, the network online.
    assert set(data["breaker"]) == {"closed"} and set(data["network"]) == {"online"}
    assert all(v == 2 for v in data["states"]["breaker closed"])
    assert all(v is None for v in data["states"]["breaker open"])
    assert all(v == 1 for v in data["states"]["network online"])
    # Live updates are setData on the same four plots, never new ones.
    before = page.evaluate("rfDashboard.stats()")
    wait_for(page, f"rfDashboard.stats().draws >= {before['draws'] + 2}", 10_000)
    assert page.evaluate("rfDashboard.stats().plotsCreated") == 4
    expect(page.locator("#charts canvas")).to_have_count(4)


def test_history_is_a_bounded_ring(ready_page: Page) -> None:
    page = dashboard_page(ready_page)
    kept = page.evaluate(
        """async () => {
          const m = await import(new URL("dashboard.js", location.href).href);
          const r = new m.Ring(3);
          for (let i = 0; i < 10; i++) r.push(i);
          return { ring: r.toArray(), last: r.last(), history: m.HISTORY_SECONDS,
                   latency: m.MAX_LATENCY_SAMPLES, narration: m.MAX_NARRATION };
        }"""
    )
    assert kept == {"ring": [7, 8, 9], "last": 9, "history": 300, "latency": 2000, "narration": 60}


def test_outage_opens_the_breaker_band_and_it_closes_after(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page = dashboard_page(ready_page)
    scope = scope_of(page)
    record_events(page, "breaker")
    assert "open" not in series(page)["breaker"]  # control: no open band before the outage
    page.click("[data-scenario=outage]")
    expect(page.locator("#scenario-status")).to_contain_text("s left")  # faults are set
    expect(page.locator("#scenario-status")).to_contain_text("Outage for 20 s:")
    expect(page.locator("[data-scenario]:not([disabled])")).to_have_count(0)  # one at a time
    expect(page.locator("#scenario-cancel")).to_be_enabled()
    # The fault is this tab's only: a request without its scope is served.
    assert [f["type"] for f in scope_faults(demo_server, scope)] == ["down"]
    assert requests.get(demo_server.url + "api/items", timeout=5).status_code == 200

    wait_for(page, "rfDashboard.series().breaker.includes('open')", OUTAGE_OPEN_MS)
    during = series(page)
    assert any(v == 2 for v in during["states"]["breaker open"])
    wait_for(page, "rfDashboard.scenario().running === null", RECOVERY_MS)
    after = series(page)
    states = after["breaker"]
    first_open = states.index("open")
    assert states[-1] == "closed" and "closed" in states[first_open:]
    assert (
        after["states"]["breaker closed"][-1] == 2 and after["states"]["breaker open"][-1] is None
    )
    assert any(v > 0 for v in after["rates"]["failed fast"])
    assert page.evaluate("rfDashboard.scenario().history.at(-1).outcome") == "done"

    # The narration tells each real breaker change, with the event's own numbers.
    lines = narration(page)
    events = raw_events(page)
    assert [e["to"] for e in events][:2] == ["open", "half_open"]
    assert events[-1]["to"] == "closed"
    for e in events:
        if e["to"] == "open" and e["reason"] == "failures":
            want = f"breaker opened after 5 failures in a row: requests fail fast (CIRCUIT_OPEN) for {e['openFor']:.1f} s"
        elif e["to"] == "open":
            want = f"the probe failed: breaker open again, now for {e['openFor']:.1f} s"
        elif e["to"] == "half_open":
            want = "breaker half-open after "
        else:
            want = "probes succeeded: breaker closed"
        assert any(line.startswith(want) for line in lines), (want, lines)
    assert any(line.startswith("faults removed after 20 s") for line in lines), lines
    assert any(line.startswith("recovered: breaker closed") for line in lines), lines
    # ...in the page's event log too.
    expect(
        page.locator("#events li.narration", has_text="recovered: breaker closed")
    ).to_have_count(1)
    # The faults are gone, and they were real: the server answered this scope 503s.
    assert scope_faults(demo_server, scope) == []
    assert faults.stats()["scopes"][scope]["routes"]["GET /api/items"]["503"] >= 5


def test_rate_limited_narrates_429_and_retry_after_and_cancel_removes_the_fault(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page = dashboard_page(ready_page)
    scope = scope_of(page)
    record_events(page, "retry", "rate_limited")
    page.click("[data-scenario=rateLimited]")
    expect(page.locator("#scenario-status")).to_contain_text("s left")  # faults are set
    assert page.evaluate("rfDashboard.scenario().running") == "rateLimited"
    assert [f["type"] for f in scope_faults(demo_server, scope)] == ["rate_limit"]
    wait_for(
        page,
        """rfDashboard.narration().some((l) => l.text.includes("(the server's Retry-After) following HTTP_429"))""",
        20_000,
    )
    lines = narration(page)
    events = raw_events(page)
    # Each "retrying after N s (Retry-After)" line is a real retry after a 429 with that delay,
    # right after the server's own signal of the same length.
    pattern = re.compile(
        r"retrying after ([0-9.]+) s \(the server's Retry-After\) following HTTP_429"
    )
    said = [float(m.group(1)) for line in lines if (m := pattern.match(line))]
    assert said
    retries = [
        e for e in events if e["event"] == "retry" and e["reason"] == "HTTP_429" and e.get("delay")
    ]
    for delay in said:
        assert any(abs(e["delay"] - delay) < 0.051 for e in retries), (delay, retries)
    signals = [e for e in events if e["event"] == "rate_limited" and e["source"] == "server"]
    assert signals
    assert any(line.startswith("the server asked us to slow down") for line in lines), lines
    # The server really answered this tab 429s.
    assert faults.stats()["scopes"][scope]["routes"]["GET /api/items"]["429"] >= 1

    page.click("#scenario-cancel")
    expect(page.locator("#scenario-status")).to_have_text("last scenario cancelled")
    expect(page.locator("[data-scenario]:not([disabled])")).to_have_count(4)
    assert scope_faults(demo_server, scope) == []
    assert narration(page)[-1] == 'scenario "Rate limited" cancelled'


def test_unreachable_server_pauses_requests_and_they_resume(
    ready_page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    page = dashboard_page(ready_page)
    scope = scope_of(page)
    page.click("[data-scenario=unreachable]")
    expect(page.locator("#scenario-status")).to_contain_text("s left")  # faults are set
    assert sorted(f["match"] for f in scope_faults(demo_server, scope)) == ["/api/*", "/health/*"]
    wait_for(
        page,
        "rfDashboard.narration().some((l) => l.text.startsWith('requests are paused: server unreachable'))",
        15_000,
    )
    # The browser itself stays online: nothing fakes navigator.onLine.
    assert page.evaluate("navigator.onLine") is True
    wait_for(page, "rfDashboard.scenario().running === null", 60_000)
    data = series(page)
    assert "unreachable" in data["network"] and data["network"][-1] == "online"
    assert any(v == 1 for v in data["states"]["network unreachable"])
    lines = narration(page)
    assert any(line.startswith("network online again") for line in lines), lines
    assert scope_faults(demo_server, scope) == []


LONG_TASKS = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask" });
  window.__inputEvents = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name.startsWith("key")) window.__inputEvents.push({ name: e.name, duration: e.duration });
    }
  }).observe({ type: "event", durationThreshold: 16 });
}"""

OVERLAPS = """([from, to]) => {
  const work = rfDashboard.workLog().filter((w) => w.end >= from && w.start <= to);
  const tasks = window.__longTasks.filter((t) => t.start + t.duration >= from && t.start <= to);
  const overlapping = tasks.filter((t) => work.some((w) => w.start < t.start + t.duration && t.start < w.end));
  return { work: work.length, draws: work.filter((w) => w.kind === "draw").length,
           longestWork: Math.max(0, ...work.map((w) => w.end - w.start)),
           tasks, overlapping, input: window.__inputEvents };
}"""


def test_chart_updates_cause_no_long_tasks_while_typing(
    ready_page: Page, faults: FaultAdmin
) -> None:
    page = dashboard_page(ready_page)
    page.evaluate(LONG_TASKS)
    page.click("[data-scenario=flaky]")  # traffic, retries and narration while the charts update
    page.wait_for_timeout(1500)
    field = page.locator("#item-name")
    field.click()
    text = "typing while the charts update " * 2
    start = page.evaluate("performance.now()")
    field.press_sequentially(text, delay=80)  # about 5 s of keystrokes
    end = page.evaluate("performance.now()")
    assert end - start >= 4500
    expect(field).to_have_value(text)
    seen = page.evaluate(OVERLAPS, [start, end])
    assert seen["draws"] >= 4, seen  # the charts really updated during the window
    assert seen["overlapping"] == [], seen  # no long task while the dashboard worked
    assert seen["longestWork"] < 50, seen
    assert all(e["duration"] < 200 for e in seen["input"]), seen["input"]

    # Control: a chart update that blocks for 120 ms is caught, and blamed on the dashboard.
    start = page.evaluate("performance.now()")
    page.evaluate("rfDashboard.debugBusyNextDraw(120)")
    wait_for(page, "window.__longTasks.some((t) => t.duration >= 100)", 5_000)
    page.wait_for_timeout(200)
    end = page.evaluate("performance.now()")
    caught = page.evaluate(OVERLAPS, [start, end])
    assert any(t["duration"] >= 120 for t in caught["overlapping"]), caught
    assert caught["longestWork"] >= 120, caught
    page.click("#scenario-cancel")
    expect(page.locator("#scenario-status")).to_have_text("last scenario cancelled")
