"""Screenshot of the demo dashboard for the README: `make screenshot` writes docs/dashboard.png.

Serves the built dist/ with the demo backend on 127.0.0.1 (faults on, as in
`make demo`), opens the real page in Chromium, runs two scenarios from the page's
own buttons so the charts hold data (30 % flaky reads for a few seconds, then a
20 s outage until the client has recovered), and photographs the dashboard
section. The PNG is reduced to a palette (the page is flat colours) to stay small.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo_backend import create_app  # noqa: E402
from demo_backend.serving import serve_in_thread  # noqa: E402
from e2e.conftest import CHROMIUM_ARGS, READY_TIMEOUT_MS  # noqa: E402

VIEWPORT = {"width": 1280, "height": 900}
FLAKY_SECONDS = 8
RECOVERY_TIMEOUT_S = 90


def wait_for(page: Page, expression: str, timeout_s: float) -> None:
    """Poll a page expression (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshot: still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(250)


def shoot(page: Page, url: str, out: Path) -> None:
    page.goto(url)
    page.wait_for_selector("#status.ready", timeout=READY_TIMEOUT_MS)
    wait_for(page, "window.rfDashboard && rfDashboard.stats().draws >= 1", 15)
    page.click("[data-scenario=flaky]")
    page.wait_for_timeout(FLAKY_SECONDS * 1000)
    page.click("#scenario-cancel")
    wait_for(page, "rfDashboard.scenario().running === null", 10)
    page.click("[data-scenario=outage]")
    wait_for(page, "rfDashboard.scenario().running === null", RECOVERY_TIMEOUT_S)
    page.wait_for_timeout(3000)  # a few healthy seconds at the right edge
    page.evaluate("document.getElementById('dashboard').scrollIntoView({ block: 'start' })")
    page.wait_for_timeout(300)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))


def optimise(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    dist = ROOT / "dist"
    if not (dist / "index.html").is_file():
        raise SystemExit("dist/ is not built: run `make build` (make screenshot does)")
    app = create_app({"DEMO_MODE": True, "FAULTS": True, "DIST_DIR": str(dist)})
    for name in ("demo_backend.access", "werkzeug", "waitress"):  # one line per request: quiet
        logging.getLogger(name).setLevel(logging.WARNING)
    chromium = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    with serve_in_thread(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            shoot(page, url + "/", args.out)
        finally:
            browser.close()
    optimise(args.out)
    print(f"wrote {args.out.relative_to(ROOT)} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
