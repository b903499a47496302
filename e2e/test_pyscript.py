"""The PyScript page (web/pyscript.html): the client imported by PyScript's Python, in Chromium.

Each test loads the page from the real demo backend with a fault scope of its
own (``?scope=``; the page sends it as ``X-Fault-Scope``), drives it with the
page's own buttons, and counts what reached the server with ``/_stats``. A
context route fails any request that leaves the server's origin: PyScript
fetches Pyodide from a CDN unless its config says otherwise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect

from .conftest import READY_TIMEOUT_MS, DemoServer, FaultAdmin

API_ROUTE = "GET /api/items"
RESULT_TIMEOUT_MS = 30_000
# Where PyScript 0.7.31 loads Pyodide from when its config names no interpreter.
CDN_PYODIDE = "https://cdn.jsdelivr.net/pyodide/v314.0.5/full/pyodide.mjs"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


@dataclass
class OriginGuard:
    """Aborts and records every http(s)/ws request that is not to ``origin``."""

    origin: str
    off_origin: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def leaves(self, url: str) -> bool:
        scheme = urlsplit(url).scheme
        return scheme in ("http", "https", "ws", "wss") and _origin(url) != _origin(self.origin)

    def block(self, route: Route) -> None:
        self.off_origin.append(route.request.url)
        route.abort("blockedbyclient")

    def attach(self, page: Page) -> None:
        page.context.route(self.leaves, self.block)
        page.on("request", lambda req: self.seen.append(req.url))


@pytest.fixture
def guard(page: Page, demo_server: DemoServer) -> Iterator[OriginGuard]:
    """Every request of the test's page is checked; the test fails on one off-origin."""
    g = OriginGuard(demo_server.url)
    g.attach(page)
    yield g
    assert g.off_origin == [], f"requests left {demo_server.url}: {g.off_origin}"
    strays = [u for u in g.seen if g.leaves(u)]
    assert strays == [], strays


@dataclass
class PyScriptPage:
    page: Page
    scope: str
    csp_errors: list[str]

    def text(self, element_id: str) -> str:
        return self.page.locator(f"#{element_id}").inner_text()

    def click(self, element_id: str) -> None:
        self.page.locator(f"#{element_id}").click()

    def get(self, expected: str) -> None:
        """Click GET and wait until the result starts with ``expected``."""
        self.page.evaluate("document.getElementById('result').textContent = ''")
        self.click("get")
        try:
            expect(self.page.locator("#result")).to_have_text(
                re.compile("^" + re.escape(expected)), timeout=RESULT_TIMEOUT_MS
            )
        except AssertionError:
            print(self.page.locator("main").inner_text())
            raise

    def fault(self, button: str, shown: str) -> None:
        """Click a fault button and wait until the page says the backend took it."""
        self.click(button)
        expect(self.page.locator("#faults")).to_have_text(
            re.compile("^" + re.escape(shown)), timeout=RESULT_TIMEOUT_MS
        )


@pytest.fixture
def pyscript_page(
    page: Page, demo_server: DemoServer, faults: FaultAdmin, guard: OriginGuard
) -> Iterator[PyScriptPage]:
    scope = f"pyscript-{uuid.uuid4().hex[:12]}"
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{demo_server.url}pyscript.html?scope={scope}")
    try:
        page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    except Exception:
        print(page.locator("body").inner_text())
        raise
    yield PyScriptPage(page, scope, csp_errors)
    assert csp_errors == [], csp_errors


def test_pyscript_page_gets_through_a_flaky_backend_with_retries(
    pyscript_page: PyScriptPage, faults: FaultAdmin
) -> None:
    p = pyscript_page
    assert p.text("scope") == p.scope
    p.fault("flaky", "flaky")
    p.get("200 OK")
    assert p.text("attempts") == "3"
    events = p.text("events")
    assert "retry #1" in events and "retry #2" in events, events
    # The server saw the two failures and the success, all from this page's scope.
    assert faults.stats(p.scope)["routes"][API_ROUTE] == {"503": 2, "200": 1}
    assert p.text("breaker") == "closed"
    # Client("/") was resolved against the page: one breaker, keyed by the real origin.
    assert p.text("breaker-key") == p.page.evaluate("location.origin")


def test_pyscript_page_breaker_opens_and_then_nothing_reaches_the_server(
    pyscript_page: PyScriptPage, faults: FaultAdmin
) -> None:
    p = pyscript_page
    p.fault("down", "down")
    p.get("CIRCUIT_OPEN")
    # failure_threshold 3: the third 503 opened it, and the retry after it failed fast.
    assert p.text("attempts") == "3"
    assert p.text("breaker") == "open"
    assert faults.stats(p.scope)["routes"][API_ROUTE] == {"503": 3}

    # The backend is healthy again (and the scope's counters are cleared), but the
    # breaker is open: the call fails fast and the server sees nothing.
    p.fault("clear", "none")
    p.get("CIRCUIT_OPEN")
    assert p.text("attempts") == "0"
    assert API_ROUTE not in faults.stats(p.scope)["routes"]

    # Control: with the breaker closed the same button does reach the server.
    p.click("reset-breaker")
    expect(p.page.locator("#breaker")).to_have_text("closed")
    p.get("200 OK")
    assert p.text("attempts") == "1"
    assert faults.stats(p.scope)["routes"][API_ROUTE] == {"200": 1}


def test_origin_guard_catches_a_request_to_a_cdn(browser: Browser, demo_server: DemoServer) -> None:
    """Control for the guard: a request to PyScript's default CDN is caught (and never sent)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        g = OriginGuard(demo_server.url)
        g.attach(page)
        page.goto("about:blank")
        fetch = "(url) => fetch(url, {mode: 'no-cors'}).then(() => 'sent', () => 'failed')"
        assert page.evaluate(fetch, CDN_PYODIDE) == "failed"
        assert g.off_origin == [CDN_PYODIDE]
        # ...and what the pages load from their own server is not.
        assert not g.leaves(f"{demo_server.url}pyodide/pyodide.mjs")
        assert g.leaves(demo_server.url.replace("127.0.0.1", "localhost"))
    finally:
        context.close()


def test_only_the_pyscript_page_may_eval(demo_server: DemoServer) -> None:
    """PyScript needs 'unsafe-eval' (it builds functions from strings); no other file gets it."""

    def csp(path: str) -> str:
        resp = requests.get(demo_server.url + path, timeout=10)
        assert resp.status_code == 200, path
        return resp.headers["Content-Security-Policy"]

    assert "'unsafe-eval'" in csp("pyscript.html")
    for path in ("", "index.html", "pyscript_demo.py", "pyscript.toml", "resilient-fetch.js"):
        policy = csp(path)
        assert "'unsafe-eval'" not in policy, path
        assert "script-src 'self' 'wasm-unsafe-eval';" in policy, path


def test_pyscript_config_names_the_built_wheel(demo_server: DemoServer) -> None:
    """build.py wrote the wheel's real name into pyscript.toml, and that URL serves it."""
    manifest = requests.get(demo_server.url + "manifest.json", timeout=10).json()
    config = requests.get(demo_server.url + "pyscript.toml", timeout=10).text
    assert "__WHEEL__" not in config
    assert f'"./{manifest["wheel"]}" = "/lib/python3.14/site-packages/*"' in config
    assert 'interpreter = "./pyodide/pyodide.mjs"' in config
    wheel = requests.get(demo_server.url + manifest["wheel"], timeout=10)
    assert wheel.status_code == 200 and wheel.content[:2] == b"PK"
