"""client.fetch behaves as the browser's fetch: its own Response, its errors, every body kind.

A small test-only Flask app serves the built shim next to an echo endpoint
(the demo backend caps request bodies at 1 MiB and has no echo), so bodies of
every kind fetch accepts, binary and multi-megabyte, are compared byte for byte
with what the same call through native ``fetch`` sends.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, redirect, request, send_from_directory
from playwright.sync_api import Page

from demo_backend.serving import serve_in_thread

from .conftest import DIST, READY_TIMEOUT_MS

BIG = 5 * 1024 * 1024 + 7  # an odd size, a few megabytes
MIME = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript"}


def pattern(n: int) -> bytes:
    """Deterministic binary: every byte value, not valid UTF-8."""
    return bytes((i * 31 + (i >> 8)) & 0xFF for i in range(n))


def parity_app(dist: Path) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024

    @app.get("/")
    def blank() -> Any:
        return "<!doctype html><title>parity</title><p>parity</p>"

    @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo() -> Any:
        data = request.get_data(cache=True)
        out: dict[str, Any] = {
            "method": request.method,
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "contentType": request.headers.get("Content-Type"),
            "xTest": request.headers.get("X-Test"),
            "cookie": request.headers.get("Cookie"),
        }
        if request.mimetype == "multipart/form-data":
            form = request.form.to_dict(flat=False)
            files = {
                k: [f.filename, f.mimetype, hashlib.sha256(f.read()).hexdigest()]
                for k, f in request.files.items()
            }
            out.update(form=form, files=files, sha256=None, length=None)
        return out

    @app.get("/blob")
    def blob() -> Any:
        return Response(pattern(int(request.args["n"])), mimetype="application/octet-stream")

    @app.get("/redirect")
    def to_echo() -> Any:
        return redirect("/echo", code=302)

    @app.get("/slow")
    def slow() -> Any:
        time.sleep(float(request.args.get("s", "3")))
        return "late"

    @app.get("/<path:name>")
    def static_file(name: str) -> Any:
        resp = send_from_directory(dist, name)
        suffix = Path(name).suffix
        if suffix in MIME:
            resp.mimetype = MIME[suffix]
        return resp

    return app


@pytest.fixture(scope="module")
def parity_url() -> Iterator[str]:
    if not (DIST / "resilient-fetch.js").is_file():
        pytest.fail("dist/ is not built: run `python build.py` (make test does)", pytrace=False)
    with serve_in_thread(parity_app(DIST)) as url:
        yield url + "/"


@pytest.fixture
def parity(page: Page, parity_url: str) -> Page:
    """A blank page on the parity app with `window.client` from createClient({ baseUrl: "" })."""
    page.goto(parity_url)
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.evaluate(
        """async () => {
            const { createClient } = await import("./resilient-fetch.js");
            // baseUrl "" (no prefix) must work; no retries: each call is one request.
            window.client = await createClient({ baseUrl: "", retry: { maxRetries: 0 } });
            window.sha256 = async (buf) => [...new Uint8Array(
              await crypto.subtle.digest("SHA-256", buf))].map((b) => b.toString(16).padStart(2, "0")).join("");
            window.pattern = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 8)) & 255);
            return true;
        }"""
    )
    return page


BODIES = """
(kind) => {
  const bin = window.pattern(300);
  switch (kind) {
    case "string": return "h\\u00e9llo \\u2603 \\ud83d\\ude00";
    case "blob": return new Blob([bin, "tail"], { type: "application/x-test" });
    case "arraybuffer": return bin.buffer;
    case "typed": return new Uint8Array(bin.buffer, 7, 100);  // a view with an offset
    case "dataview": return new DataView(bin.buffer, 3, 50);
    case "int16": return new Int16Array([1, -2, 300, -32768]);
    case "urlsearchparams": return new URLSearchParams({ a: "1 2", b: "\\u00e9&=" });
    case "formdata": {
      const form = new FormData();
      form.append("field", "value \\u00e9");
      form.append("file", new File([bin], "data.bin", { type: "application/octet-stream" }));
      return form;
    }
    case "big": return window.pattern(%d);
  }
}
""" % BIG  # noqa: UP031 - JS braces everywhere


@pytest.mark.parametrize(
    "kind",
    [
        "string",
        "blob",
        "arraybuffer",
        "typed",
        "dataview",
        "int16",
        "urlsearchparams",
        "formdata",
        "big",
    ],
)
def test_request_bodies_arrive_as_native_fetch_sends_them(parity: Page, kind: str) -> None:
    result = parity.evaluate(
        """async ([kind, bodies]) => {
            const make = eval(bodies);  // the test page has no CSP
            const send = async (f) => (await f("echo", { method: "POST", body: make(kind) })).json();
            return { ours: await send(window.client.fetch), native: await send(fetch) };
        }""",
        [kind, BODIES],
    )
    ours, native = result["ours"], result["native"]
    assert ours["method"] == "POST"
    if kind == "formdata":  # the multipart boundary is random: compare what the server parsed
        assert ours["form"] == native["form"] == {"field": ["value é"]}
        assert ours["files"] == native["files"]
        assert ours["files"]["file"][0] == "data.bin"
        assert ours["contentType"].startswith("multipart/form-data; boundary=")
    else:
        assert ours == native, kind
    if kind == "big":
        assert ours["length"] == BIG
        assert ours["sha256"] == hashlib.sha256(pattern(BIG)).hexdigest()


def test_multi_megabyte_binary_response_is_byte_exact(parity: Page) -> None:
    got = parity.evaluate(
        """async (n) => {
            const resp = await window.client.fetch(`blob?n=${n}`);
            return { n: (await resp.clone().arrayBuffer()).byteLength,
                     sha: await window.sha256(await resp.arrayBuffer()) };
        }""",
        BIG,
    )
    assert got == {"n": BIG, "sha": hashlib.sha256(pattern(BIG)).hexdigest()}


def test_the_response_is_fetchs_own(parity: Page, parity_url: str) -> None:
    got = parity.evaluate(
        """async () => {
            const pick = (r) => ({ isResponse: r instanceof Response, type: r.type, status: r.status,
                                   redirected: r.redirected, url: r.url, bodyUsed: r.bodyUsed });
            const out = {};
            for (const [name, f] of [["ours", window.client.fetch], ["native", fetch]]) {
              out[name] = {
                follow: pick(await f("redirect")),
                manual: pick(await f("redirect", { redirect: "manual" })),
                plain: pick(await f("echo")),
              };
              try { await f("redirect", { redirect: "error" }); out[name].error = "resolved"; }
              catch (e) { out[name].error = [e.constructor.name, e.name]; }
            }
            return out;
        }"""
    )
    assert got["ours"] == got["native"]
    assert got["ours"]["follow"] == {
        "isResponse": True,
        "type": "basic",
        "status": 200,
        "redirected": True,
        "url": parity_url + "echo",
        "bodyUsed": False,
    }
    assert got["ours"]["manual"]["type"] == "opaqueredirect"
    assert got["ours"]["manual"]["status"] == 0
    assert got["ours"]["error"] == ["TypeError", "TypeError"]


def test_abort_rejects_with_an_abort_error_and_cancels_the_request(
    parity: Page, parity_url: str
) -> None:
    failed: list[str] = []
    parity.on(
        "requestfailed", lambda r: failed.append(r.failure or "") if "/slow" in r.url else None
    )
    got = parity.evaluate(
        """async () => {
            const describe = (e) => ({ isDOMException: e instanceof DOMException, name: e.name,
                                       code: e.code, detailsCode: e.details?.code });
            const out = {};
            const controller = new AbortController();
            const pending = window.client.fetch("slow?s=3", { signal: controller.signal });
            setTimeout(() => controller.abort(), 200);
            const started = performance.now();
            try { await pending; out.during = "resolved"; } catch (e) { out.during = describe(e); }
            out.ms = performance.now() - started;
            try { await window.client.fetch("echo", { signal: AbortSignal.abort() }); out.before = "resolved"; }
            catch (e) { out.before = describe(e); }
            const aborted = new AbortController();
            const req = new Request("echo", { signal: aborted.signal });
            aborted.abort();
            try { await window.client.fetch(req); out.request = "resolved"; }
            catch (e) { out.request = describe(e); }
            return out;
        }"""
    )
    expected = {"isDOMException": True, "name": "AbortError", "code": "ABORTED", "detailsCode": "ABORTED"}
    assert got["during"] == got["before"] == got["request"] == expected
    assert got["ms"] < 2000
    parity.wait_for_timeout(200)
    assert failed and "ERR_ABORTED" in failed[0], failed  # really cancelled in the browser


def test_network_failure_rejects_with_a_type_error_and_a_code(parity: Page) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    got = parity.evaluate(
        """async (url) => {
            try { await window.client.fetch(url); return "resolved"; }
            catch (e) { return { isTypeError: e instanceof TypeError, code: e.code,
                                 detailsCode: e.details?.code, message: e.message }; }
        }""",
        f"http://127.0.0.1:{closed}/x",
    )
    assert got["isTypeError"] is True and got["code"] == "NETWORK" == got["detailsCode"], got
    other = parity.evaluate(
        """async () => {
            try { await window.client.fetch("echo", { resilience: { maxRetries: -1 } }); return "resolved"; }
            catch (e) { return { isTypeError: e instanceof TypeError, isError: e instanceof Error,
                                 code: e.code, field: e.details?.field }; }
        }"""
    )
    assert other == {"isTypeError": False, "isError": True, "code": "CONFIG", "field": "resilience.maxRetries"}


def test_a_request_object_keeps_method_headers_body_credentials_and_mode(
    parity: Page, parity_url: str
) -> None:
    got = parity.evaluate(
        """async (origin) => {
            document.cookie = "session=abc; path=/";
            const body = window.pattern(1000);
            const put = new Request("echo", { method: "PUT", headers: { "X-Test": "kept" }, body });
            const echo = async (r) => (await window.client.fetch(r)).json();
            const out = { put: await echo(put), bodySha: await window.sha256(body) };
            out.withCookie = (await echo(new Request("echo"))).cookie;
            out.omit = (await echo(new Request("echo", { credentials: "omit" }))).cookie;
            // mode "same-origin" to another origin: fetch refuses, so must we.
            const other = origin.replace("127.0.0.1", "localhost") + "echo";
            try { await window.client.fetch(new Request(other, { mode: "same-origin" })); out.mode = "resolved"; }
            catch (e) { out.mode = [e instanceof TypeError, e.code]; }
            // init merged over a Request, as fetch(request, init) does
            out.merged = await (await window.client.fetch(put.clone(), { headers: { "X-Test": "init" } })).json();
            return out;
        }""",
        parity_url,
    )
    assert got["put"]["method"] == "PUT" and got["put"]["xTest"] == "kept"
    assert got["put"]["sha256"] == got["bodySha"] and got["put"]["length"] == 1000
    assert got["withCookie"] == "session=abc" and got["omit"] is None
    assert got["mode"][0] is True and got["mode"][1] in {"NETWORK", "INVALID_REQUEST"}
    assert got["merged"]["xTest"] == "init" and got["merged"]["sha256"] == got["bodySha"]


def test_a_get_with_a_body_is_refused_as_fetch_refuses_it(parity: Page) -> None:
    got = parity.evaluate(
        """async () => {
            try { await window.client.fetch("echo", { body: "x" }); return "resolved"; }
            catch (e) { return [e.code, e.details.field]; }
        }"""
    )
    assert got == ["INVALID_REQUEST", "request"]


def test_python_callers_in_the_page_still_get_content_bytes(parity: Page, parity_url: str) -> None:
    got = parity.evaluate(
        """async (url) => {
            const py = window.client.pyodide;
            py.globals.set("parity_url", url);
            return await py.runPythonAsync(`
import hashlib, json
from resilient_fetch import Client
async def _run():
    async with Client(parity_url, retry={"max_retries": 0}) as c:
        blob = await c.get("blob?n=70000")
        echo = await c.post("echo", body=bytes(range(256)) * 3)
        return json.dumps([len(blob.content), hashlib.sha256(blob.content).hexdigest(),
                           echo.json()["sha256"], blob.headers["Content-Type"], blob.raw.bodyUsed])
await _run()
`);
        }""",
        parity_url,
    )
    n, sha, echoed, ctype, used = json.loads(got)
    assert n == 70000 and sha == hashlib.sha256(pattern(70000)).hexdigest()
    assert echoed == hashlib.sha256(bytes(range(256)) * 3).hexdigest()
    assert ctype == "application/octet-stream" and used is True
