"""Query cache, in-flight dedupe and the batch loader in Chromium, against the real backend."""

from __future__ import annotations

import re
from typing import Any

import requests
from playwright.sync_api import Page, expect

from .conftest import DemoServer, FaultAdmin

SCOPE = "query-e2e"
CLIENT = """async (options) => {
    const { createClient } = await import("./resilient-fetch.js");
    window.qc = await createClient({
        retry: { maxRetries: 0 }, headers: { "X-Fault-Scope": "query-e2e" }, ...options });
}"""


def scoped(faults: FaultAdmin) -> dict[str, Any]:
    """This test client's own counters (the demo page's client has another scope)."""
    body: dict[str, Any] = requests.get(faults.url + f"_stats?scope={SCOPE}", timeout=5).json()
    return body


def hits(stats: dict[str, Any], route: str, status: str | None = None) -> int:
    counts = stats["routes"].get(route, {})
    return int(counts.get(status, 0)) if status else sum(int(v) for v in counts.values())


def test_twenty_identical_reads_are_one_server_hit_with_twenty_readable_bodies(
    ready_page: Page, faults: FaultAdmin
) -> None:
    ready_page.evaluate(CLIENT, {})
    faults.add(type="latency", ms=300, match="/api/items", scope=SCOPE)  # 20 in flight at once
    result = ready_page.evaluate(
        """async () => {
            const responses = await Promise.all(
                Array.from({ length: 20 }, () => window.qc.fetch("api/items")));
            const bodies = await Promise.all(responses.map((r) => r.json()));
            return { n: bodies.length, ok: bodies.every((b) => Array.isArray(b.items)),
                     real: responses.every((r) => r instanceof Response),
                     distinct: new Set(responses).size };
        }"""
    )
    assert result == {"n": 20, "ok": True, "real": True, "distinct": 20}
    assert hits(scoped(faults), "GET /api/items") == 1


def test_dedupe_off_per_call_and_an_abort_leaves_the_others(
    ready_page: Page, faults: FaultAdmin
) -> None:
    ready_page.evaluate(CLIENT, {})
    faults.add(type="latency", ms=300, match="/api/items", scope=SCOPE)
    result = ready_page.evaluate(
        """async () => {
            const ctl = new AbortController();
            const aborted = window.qc.fetch("api/items", { signal: ctl.signal }).then(
                () => "resolved", (e) => e.code);
            const kept = window.qc.fetch("api/items").then((r) => r.json());
            const own = window.qc.fetch("api/items", { resilience: { dedupe: false } }).then((r) => r.status);
            setTimeout(() => ctl.abort(), 50);
            return { aborted: await aborted, kept: Array.isArray((await kept).items), own: await own };
        }"""
    )
    assert result == {"aborted": "ABORTED", "kept": True, "own": 200}
    assert hits(scoped(faults), "GET /api/items") == 2  # shared one + the dedupe: false one


def test_twenty_loads_are_one_batch_request(
    ready_page: Page, faults: FaultAdmin, demo_server: DemoServer
) -> None:
    ids = [
        requests.post(demo_server.url + "api/items", json={"name": f"b{i}"}, timeout=5).json()["id"]
        for i in range(20)
    ]
    faults.reset()
    ready_page.evaluate(CLIENT, {})
    result = ready_page.evaluate(
        """async (ids) => {
            const loader = window.qc.loader({ url: "api/items/batch", name: "item" });
            const items = await Promise.all(ids.map((id) => loader.load(id)));
            let missing = null;
            try { await loader.load(999999999); } catch (e) { missing = e.code; }
            return { names: items.map((i) => i.name), missing,
                     cached: window.qc.queryState(["item", ids[3]]).data.name };
        }""",
        ids,
    )
    assert result["names"] == [f"b{i}" for i in range(20)]
    assert result["missing"] == "NOT_FOUND" and result["cached"] == "b3"
    assert hits(scoped(faults), "GET /api/items/batch") == 2  # the 20, then the missing one


def test_a_refetch_is_revalidated_with_a_304(ready_page: Page, faults: FaultAdmin) -> None:
    ready_page.evaluate(CLIENT, {})
    result = ready_page.evaluate(
        """async () => {
            const first = await window.qc.query(["items"], "api/items");
            const kept = window.qc.state().revalidation;
            const seen = [];
            const off = window.qc.subscribe(["items"], (s) => seen.push(s.status));
            const again = await window.qc.query(["items"], "api/items");  // stale: refetch
            for (let i = 0; i < 50 && window.qc.queryState(["items"]).isFetching; i++)
                await new Promise((r) => setTimeout(r, 20));
            off();
            return { same: JSON.stringify(first) === JSON.stringify(again), seen, kept,
                     state: window.qc.state().revalidation };
        }"""
    )
    assert result["same"] is True
    assert result["seen"] == []  # the 304 kept the same data: no subscriber woke
    assert result["state"]["revalidated"] == 1, result
    stats = scoped(faults)
    # The refetch was answered 304 (the browser's own cache may revalidate the first, too).
    assert hits(stats, "GET /api/items", "304") >= 1
    assert hits(stats, "GET /api/items") == 2


def test_stale_data_stays_on_screen_while_the_items_api_is_down(
    ready_page: Page, faults: FaultAdmin
) -> None:
    page = ready_page
    expect(page.locator("#freshness")).to_have_text("fresh", timeout=10_000)
    count = page.locator("#items li").count()
    faults.add(type="status", code=503, match="/api/items*")
    page.evaluate("window.resilientClient.invalidate(['items'])")
    page.evaluate("window.resilientClient.query(['items'], 'api/items').catch(() => {})")
    expect(page.locator("#freshness")).to_contain_text(
        "stale: server unreachable, showing data from", timeout=30_000
    )
    assert page.locator("#items li").count() == count
    faults.reset()
    page.evaluate("window.resilientClient.query(['items'], 'api/items')")
    expect(page.locator("#freshness")).to_have_text("fresh", timeout=15_000)


def test_an_optimistic_add_is_rolled_back_when_the_server_rejects_it(
    ready_page: Page, faults: FaultAdmin
) -> None:
    page = ready_page
    expect(page.locator("#freshness")).to_have_text("fresh", timeout=10_000)
    faults.add(type="latency", ms=800, match="/api/items", methods=["POST"])
    faults.add(type="status", code=422, match="/api/items", methods=["POST"])
    page.fill("#quick-name", "rejected-item")
    page.click("#quick-button")
    optimistic = page.locator("#items li.optimistic", has_text="rejected-item")
    expect(optimistic).to_be_visible(timeout=5_000)  # shown before the server answered
    expect(optimistic).to_have_count(0, timeout=10_000)  # rolled back
    expect(page.locator("#error")).to_contain_text("HTTP_STATUS")


def test_demo_buttons_show_dedupe_and_batching(
    page: Page, demo_server: DemoServer, faults: FaultAdmin
) -> None:
    # The loader button loads the listed items: make sure there are some,
    # whatever ran before (this test must pass on its own too).
    for n in range(3):
        created = requests.post(demo_server.url + "api/items", json={"name": f"burst-{n}"}, timeout=5)
        assert created.status_code == 201, created.text
    page.goto(demo_server.url)
    page.wait_for_selector("#status.ready", timeout=60_000)
    expect(page.locator("#freshness")).not_to_have_text("loading", timeout=10_000)
    faults.add(type="latency", ms=300, match="/api/items")
    page.click("#burst")
    try:
        expect(page.locator("#burst-result")).to_have_text(
            "20 reads, 1 request(s) reached the server", timeout=20_000
        )
    except AssertionError:
        # Which step hung, and what the client was doing then.
        print("client state:", page.evaluate("JSON.stringify(window.resilientClient.state())"))
        print("network:", page.evaluate("JSON.stringify(window.resilientClient.network())"))
        raise
    page.click("#load-20")
    expect(page.locator("#loader-result")).to_have_text(
        re.compile(r"^([1-9]\d*) of \1 items loaded, 1 request\(s\) reached the server$"), timeout=10_000
    )


def test_fresh_hits_are_answered_in_the_page_and_every_change_reaches_them(
    ready_page: Page, faults: FaultAdmin, demo_server: DemoServer
) -> None:
    created = requests.post(demo_server.url + "api/items", json={"name": "mirror"}, timeout=5)
    item_id = created.json()["id"]
    ready_page.evaluate(CLIENT, {"cache": {"staleTime": 30}})
    result = ready_page.evaluate(
        """async (id) => {
            const qc = window.qc, key = ["item-mirror", id], url = `api/items/${id}`;
            const first = await qc.query(key, url);
            const again = [];
            for (let i = 0; i < 50; i++) again.push(await qc.query(key, url));
            const same = again.every((d) => d === first);  // answered in the page: one object
            await new Promise((r) => setTimeout(r, 20));  // the hits are reported back once per task
            const hits = qc.state().cache.hits;
            qc.setQueryData(key, { id, name: "set by hand" });
            const afterSet = (await qc.query(key, url)).name;
            qc.invalidate(["item-mirror"]);
            const afterInvalidate = (await qc.query(key, url)).name;  // stale: answered, refetched behind
            await new Promise((r) => setTimeout(r, 1500));
            const refetched = (await qc.query(key, url)).name;
            const shorter = (await qc.query(key, url, undefined, { staleTime: 0 })).name;
            return { same, hits, afterSet, afterInvalidate, refetched, shorter };
        }""",
        item_id,
    )
    assert result["same"] is True and result["hits"] >= 50
    assert result["afterSet"] == "set by hand"  # setQueryData reached the page's copy
    assert result["afterInvalidate"] == "set by hand"  # stale data at once...
    assert result["refetched"] == "mirror"  # ...and the refetch's data after it
    assert result["shorter"] == "mirror"
    route = "GET /api/items/<int:item_id>"
    # 1 first fetch + 1 refetch after invalidate + 1 for staleTime 0 (stale at once).
    assert hits(scoped(faults), route) == 3, scoped(faults)["routes"]


def test_loads_in_one_turn_cross_once_and_fail_one_by_one(
    ready_page: Page, faults: FaultAdmin, demo_server: DemoServer
) -> None:
    ids = [
        requests.post(demo_server.url + "api/items", json={"name": f"t{i}"}, timeout=5).json()["id"]
        for i in range(5)
    ]
    faults.reset()
    ready_page.evaluate(CLIENT, {})
    result = ready_page.evaluate(
        """async (ids) => {
            const loader = window.qc.loader({ url: "api/items/batch", name: "item" });
            const outcomes = await Promise.allSettled(
                [...ids, 999999999, true, ids[0]].map((id) => loader.load(id)));
            return outcomes.map((o) => (o.status === "fulfilled" ? o.value.name : o.reason.code));
        }""",
        ids,
    )
    assert result == ["t0", "t1", "t2", "t3", "t4", "NOT_FOUND", "CONFIG", "t0"]
    assert hits(scoped(faults), "GET /api/items/batch") == 1


def test_page_fetches_that_join_a_python_callers_flight_all_get_their_bodies(
    ready_page: Page, faults: FaultAdmin
) -> None:
    """A query (a Python caller: it reads the body itself) leads the flight and 20
    client.fetch calls join it. Each page caller needs a Response of its own, and the
    leader's body is already read (no clone possible): they must still all resolve."""
    ready_page.evaluate(CLIENT, {})
    faults.add(type="latency", ms=300, match="/api/items", scope=SCOPE)
    result = ready_page.evaluate(
        """async () => {
            const leader = window.qc.query(["items-joined"], "api/items");
            await new Promise((r) => setTimeout(r, 50));  // the query's request is in flight
            const all = Promise.all(Array.from({ length: 20 }, () =>
                window.qc.fetch("api/items").then((r) => r.json())));
            const hung = new Promise((r) => setTimeout(() => r("hung"), 10000));
            const bodies = await Promise.race([all, hung]);
            if (bodies === "hung") return "hung";
            const data = await leader;
            return { n: bodies.length, ok: bodies.every((b) => Array.isArray(b.items)),
                     query: Array.isArray(data.items),
                     shared: window.qc.state().dedupe.shared };
        }"""
    )
    assert result == {"n": 20, "ok": True, "query": True, "shared": 20}
    assert hits(scoped(faults), "GET /api/items") == 1
