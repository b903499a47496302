"""Runs the whole unit suite inside real Pyodide in Chromium and checks nothing was dropped.

The same run as test_unit_suite_in_pyodide (Node), in the browser: a blank page
served on 127.0.0.1 by the demo backend's own static-file server (its MIME types
and CSP) loads the site's Pyodide from dist/pyodide/, unpacks the client wheel
and the pure-Python test wheels fetched from that server, unzips tests/ into
Pyodide's file system and runs pytest (``pytest_main.py``, shared with the Node
runner). Nothing is fetched from anywhere else: a context route fails the test
on any request off the server's origin.

Not pytest-pyodide: its Playwright runner launches Playwright's own Chromium
download (no ``executable_path``; the Selenium one needs chromedriver), it serves
its own page and loads packages from a full Pyodide distribution with
``loadPackage``/micropip (the npm runtime holds neither), and ``--run-in-pyodide``
starts pytest once per test, too slow for several hundred tests here.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from demo_backend import create_app
from demo_backend.serving import serve_in_thread

# pytest-playwright's `browser` launches Debian's Chromium, as in e2e/ (never its download).
from e2e.conftest import browser_type_launch_args  # noqa: F401

from ._suite import PYTEST_ARGS, PYTEST_MAIN, ROOT, assert_suite_passed, suite_wheels

BLANK_PAGE = "<!doctype html><html lang=en><meta charset=utf-8><title>unit suite</title></html>\n"
# In the page: load the site's Pyodide, install the wheels, unzip tests/ to /work/tests,
# run pytest_main.py's main() (from runPythonAsync, so run_sync can use JSPI).
RUN_SUITE = """
async ({ wheels, args }) => {
  const out = [];
  // Raw writes, as under Node: pytest's progress dots are not lines.
  const writer = () => {
    const decoder = new TextDecoder();
    const write = (buf) => { out.push(decoder.decode(buf, { stream: true })); return buf.length; };
    return { write };
  };
  const get = async (path) => {
    const resp = await fetch(path);
    if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
    return resp;
  };
  const { loadPyodide } = await import("/pyodide/pyodide.mjs");
  const py = await loadPyodide();
  py.setStdout(writer());
  py.setStderr(writer());
  for (const name of wheels) {
    const bytes = new Uint8Array(await (await get(`/wheels/${name}`)).arrayBuffer());
    py.unpackArchive(bytes, "wheel", { extractDir: "/lib/python3.14/site-packages" });
  }
  const tests = new Uint8Array(await (await get("/tests.zip")).arrayBuffer());
  py.unpackArchive(tests, "zip", { extractDir: "/work/tests" });
  py.runPython(await (await get("/pytest_main.py")).text());
  py.globals.set("PYTEST_ARGS", py.toPy(args));
  const code = await py.runPythonAsync("main(PYTEST_ARGS)");
  return { code, output: out.join("") };
}
"""
SUITE_TIMEOUT_MS = 600_000


def _zip_tests(target: Path) -> None:
    """tests/conftest.py and tests/unit/ (what the unit suite imports), as /work/tests."""
    tests = ROOT / "tests"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tests / "conftest.py", "conftest.py")
        for path in sorted((tests / "unit").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(tests).as_posix())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The blank page, the site's Pyodide, the wheels and tests.zip on 127.0.0.1."""
    wheels = suite_wheels()
    pyodide = ROOT / "dist" / "pyodide"
    if not (pyodide / "pyodide.mjs").is_file():
        pytest.fail("dist/pyodide is missing: run `python build.py` (make test does)")
    root = tmp_path / "site"
    (root / "wheels").mkdir(parents=True)
    (root / "index.html").write_text(BLANK_PAGE)
    (root / "pyodide").symlink_to(pyodide)
    for whl in wheels:
        shutil.copy2(whl, root / "wheels")
    shutil.copy2(PYTEST_MAIN, root / "pytest_main.py")
    _zip_tests(root / "tests.zip")
    app = create_app({"TESTING": True, "DIST_DIR": str(root)})
    with serve_in_thread(app) as url:
        yield url + "/", [w.name for w in wheels]


@pytest.mark.timeout(900)
def test_unit_suite_passes_inside_pyodide_in_chromium(
    site: tuple[str, list[str]], browser: Browser
) -> None:
    url, wheels = site
    origin = urlsplit(url)[:2]
    off_origin: list[str] = []
    context = browser.new_context()
    context.route(
        lambda u: urlsplit(u).scheme in ("http", "https") and urlsplit(u)[:2] != origin,
        lambda route: (off_origin.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    page.set_default_timeout(SUITE_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url)
        result: dict[str, Any] = page.evaluate(RUN_SUITE, {"wheels": wheels, "args": PYTEST_ARGS})
    finally:
        context.close()
    output = str(result["output"])
    print(output[-5000:])
    assert errors == []
    assert off_origin == []
    assert_suite_passed(int(result["code"]), output)
