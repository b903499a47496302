"""Playwright fixtures: Debian's Chromium, and the backend serving the built ``dist/``.

The browser, context and page fixtures are pytest-playwright's (one browser per
session, one context per test). `make test` passes ``--tracing
retain-on-failure --screenshot only-on-failure --output test-results/playwright``
(pyproject's addopts), so a failed browser test leaves its trace
(``playwright show-trace <dir>/trace.zip``) and a screenshot there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page

from demo_backend import create_app
from demo_backend.serving import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_MS = 60_000


def chromium_path() -> str:
    """CHROMIUM_PATH, else Debian's chromium; never Playwright's download."""
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        return env
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    pytest.fail("no Chromium: `apt-get install chromium` or set CHROMIUM_PATH", pytrace=False)


@dataclass
class DemoServer:
    app: Flask
    url: str


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    if not (DIST / "index.html").is_file():
        pytest.fail("dist/ is not built: run `python build.py` (make test does)", pytrace=False)
    # Demo mode turns the fault API on already; FAULTS says so explicitly. The
    # CSP lets the page reach other loopback ports, so a fetch to a closed port
    # fails as a real network error rather than as a CSP block.
    app = create_app(
        {
            "TESTING": True,
            "DEMO_MODE": True,
            "FAULTS": True,
            "DIST_DIR": str(DIST),
            "CSP_CONNECT_SRC": "http://127.0.0.1:*",
        }
    )
    with serve_in_thread(app) as url:
        yield DemoServer(app, url + "/")


@dataclass
class FaultAdmin:
    """Drives the demo server's fault API (open: the server is on 127.0.0.1, no token)."""

    url: str

    def add(self, **spec: Any) -> dict[str, Any]:
        """POST /_faults; fails the test unless the fault was created."""
        resp = requests.post(self.url + "_faults", json=spec, timeout=5)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def reset(self) -> None:
        """POST /_faults/reset: no faults, zeroed stats."""
        assert requests.post(self.url + "_faults/reset", timeout=5).status_code == 200

    def stats(self, scope: str | None = None) -> dict[str, Any]:
        """GET /_stats (``scope``: only requests that carried that X-Fault-Scope)."""
        params = {"scope": scope} if scope else None
        body: dict[str, Any] = requests.get(self.url + "_stats", params=params, timeout=5).json()
        return body


@pytest.fixture
def faults(demo_server: DemoServer) -> Iterator[FaultAdmin]:
    """The fault API of the shared demo server, reset before and after the test."""
    admin = FaultAdmin(demo_server.url)
    admin.reset()
    try:
        yield admin
    finally:
        admin.reset()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium once per session, never its own download."""
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture
def page(page: Page) -> Iterator[Page]:
    """pytest-playwright's page (traced, screenshotted on failure), failing on uncaught page errors."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"uncaught page errors: {errors}"


@pytest.fixture
def ready_page(page: Page, demo_server: DemoServer) -> Page:
    """The demo page, loaded, with Python ready."""
    page.goto(demo_server.url)
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    return page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each browser test one rerun.

    These tests drive Chromium, Pyodide and a real server on a shared 2-core
    machine, next to a demo page whose own queries refetch in the background;
    now and then one misses a timing bound. One rerun (reported as "rerun" in
    the summary) keeps such noise from failing the build; a test that fails
    twice in a row fails it.
    """
    reruns = int(os.environ.get("E2E_RERUNS", "1"))  # 0 to see every first failure
    for item in items:
        if "e2e" in item.nodeid.split("/")[0]:
            item.add_marker(pytest.mark.flaky(reruns=reruns))
