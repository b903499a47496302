"""`npm pack dist/` gives a package a page can use as it is.

The tarball is packed from the built site (build.py writes dist/package.json),
its file list checked, then extracted into ``node_modules/@resilient-fetch/browser``
of a throwaway project. That folder is served by Python's plain static file
server on 127.0.0.1 (with the two MIME types the README asks for), a minimal
page next to it imports the shim from it, boots from the packed snapshot and
fetches from the demo backend on another port (CORS on for the page's origin);
every file the page loads must come from the package, with no 404 and nothing
from another origin. The same project then compiles a TypeScript file that
imports the package by name, so the types resolve from the tarball.

``NPM_PACK_DIST`` points the test at a build elsewhere (default: dist/).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from demo_backend import create_app
from demo_backend.serving import serve_in_thread

from .conftest import DIST, READY_TIMEOUT_MS, ROOT

PACKAGE = "@resilient-fetch/browser"
BUILD = Path(os.environ.get("NPM_PACK_DIST") or DIST)
RUNTIME = {
    "pyodide/pyodide.mjs",
    "pyodide/pyodide.asm.mjs",
    "pyodide/pyodide.asm.wasm",
    "pyodide/python_stdlib.zip",
    "pyodide/pyodide-lock.json",
}

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>packed</title></head>
<body>
<script type="module">
  import { createClient, loadRuntime } from "./node_modules/@resilient-fetch/browser/resilient-fetch.js";
  const params = new URLSearchParams(location.search);
  try {
    const client = await createClient({ baseUrl: params.get("api"), retry: { maxRetries: 1 } });
    const resp = await client.fetch("api/items?limit=1");
    const body = await resp.json();
    const { boot } = await loadRuntime();
    window.result = { status: resp.status, items: Array.isArray(body.items), boot, url: resp.url };
    await client.close();
  } catch (err) {
    window.result = { error: `${err.code ?? err.name}: ${err.message}` };
  }
</script>
</body>
</html>
"""

CONSUMER = """import { createClient, type ClientState, type ResilienceError } from "@resilient-fetch/browser";

const client = await createClient({ baseUrl: "http://127.0.0.1:8000/", retry: { maxRetries: 2 } });
const resp: Response = await client.fetch("api/items", { resilience: { priority: "high" } });
const state: ClientState = client.state();
const describe = (err: ResilienceError): string =>
  err.code === "CIRCUIT_OPEN" ? `retry in ${err.details.retryAfter} s` : err.code;
// @ts-expect-error the package's types are real, not `any`: no such method
client.refetchEverything();
console.log(resp.status, state.queue.running, describe);
"""


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    """A plain static file server with the MIME types loadPyodide() needs."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``npm pack`` of the build: the tarball and npm's own report of it."""
    if not (BUILD / "package.json").is_file():
        pytest.fail(f"{BUILD}/package.json is missing: run `python build.py`", pytrace=False)
    npm = shutil.which("npm")
    assert npm, "npm is not on PATH"
    out = tmp_path_factory.mktemp("pack")
    proc = subprocess.run(
        [npm, "pack", str(BUILD), "--pack-destination", str(out), "--json", "--ignore-scripts"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out,
    )
    assert proc.returncode == 0, proc.stderr
    (report,) = json.loads(proc.stdout)
    report["tarball"] = out / report["filename"]
    return report


@pytest.fixture(scope="module")
def project(packed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway project with the tarball extracted as node_modules/@resilient-fetch/browser."""
    root = tmp_path_factory.mktemp("project")
    target = root / "node_modules" / PACKAGE
    with tarfile.open(packed["tarball"]) as tar:
        tar.extractall(root / "unpacked", filter="data")
    target.parent.mkdir(parents=True)
    (root / "unpacked" / "package").rename(target)
    return root


@pytest.fixture
def static_site(project: Path) -> Iterator[str]:
    """The project folder on Python's static file server, 127.0.0.1 only."""
    handler = functools.partial(_StaticHandler, directory=str(project))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_tarball_holds_the_shim_its_types_and_everything_it_loads(
    packed: dict[str, Any],
) -> None:
    manifest = json.loads((BUILD / "manifest.json").read_text())
    files = {f["path"] for f in packed["files"]}
    expected = {
        "package.json",
        "resilient-fetch.js",
        "resilient-fetch.d.ts",
        "manifest.json",
        manifest["wheel"],
        *RUNTIME,
    }
    assert manifest.get("snapshot"), "the build made no start-up snapshot"
    expected.add(manifest["snapshot"]["file"])
    assert files == expected
    assert packed["name"] == PACKAGE
    package = json.loads((BUILD / "package.json").read_text())
    assert package["type"] == "module"
    assert package["exports"]["."] == {
        "types": "./resilient-fetch.d.ts",
        "default": "./resilient-fetch.js",
    }
    assert package["types"] == "./resilient-fetch.d.ts"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{packed["version"]}"' in pyproject


def test_a_page_serves_the_extracted_package_as_it_is(
    page: Page, project: Path, static_site: str
) -> None:
    (project / "index.html").write_text(PAGE)
    app = create_app({"TESTING": True, "CORS_ORIGINS": static_site})
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url}: {r.status}"))
    with serve_in_thread(app) as api:
        page.goto(f"{static_site}/index.html?api={api}/")
        page.wait_for_function("() => window.result", timeout=READY_TIMEOUT_MS)
        result = page.evaluate("() => window.result")
    assert result == {
        "status": 200,
        "items": True,
        "boot": "snapshot",
        "url": f"{api}/api/items?limit=1",
    }
    assert failed == []
    package = f"{static_site}/node_modules/{PACKAGE}/"
    loaded = {u[len(package) :] for u in requests if u.startswith(package)}
    manifest = json.loads((project / "node_modules" / PACKAGE / "manifest.json").read_text())
    assert {"resilient-fetch.js", "manifest.json", manifest["wheel"]} <= loaded
    assert manifest["snapshot"]["file"] in loaded
    assert {"pyodide/pyodide.mjs", "pyodide/pyodide.asm.mjs", "pyodide/pyodide.asm.wasm"} <= loaded
    others = [u for u in requests if not u.startswith((package, f"{api}/"))]
    assert others == [f"{static_site}/index.html?api={api}/"]


@pytest.mark.parametrize("resolution", ["bundler", "nodenext"])
def test_the_types_resolve_from_the_packed_package(project: Path, resolution: str) -> None:
    module = "esnext" if resolution == "bundler" else "nodenext"
    work = project / f"ts-{resolution}"
    work.mkdir()
    (work / "package.json").write_text(json.dumps({"type": "module", "private": True}))
    (work / "consumer.ts").write_text(CONSUMER)
    (work / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "strict": True,
                    "noEmit": True,
                    "target": "ES2022",
                    "module": module,
                    "moduleResolution": resolution,
                    "lib": ["ES2022", "DOM"],
                    "types": [],
                },
                "files": ["consumer.ts"],
            }
        )
    )
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    run = subprocess.run(
        [str(tsc), "-p", str(work), "--traceResolution"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    resolved = f"node_modules/{PACKAGE}/resilient-fetch.d.ts"
    assert f"'{PACKAGE}' was successfully resolved to" in run.stdout
    assert resolved in run.stdout.split(f"'{PACKAGE}' was successfully resolved to", 1)[1][:500]
    # Without the package the same file must fail: the check above is not vacuous.
    hidden = project / "node_modules" / PACKAGE
    hidden.rename(hidden.with_name("browser.hidden"))
    try:
        missing = subprocess.run(
            [str(tsc), "-p", str(work)], capture_output=True, text=True, timeout=120
        )
    finally:
        hidden.with_name("browser.hidden").rename(hidden)
    assert missing.returncode != 0 and "TS2307" in missing.stdout, missing.stdout
