// Browser overhead page: the same GET through raw fetch, resilient-fetch's
// client.fetch and the cockatiel + p-queue peer, timed per request with
// performance.now(). The Python driver (bench/browser.py) calls
// window.bench.round(...) for interleaved rounds; nothing here decides order.
import { createClient } from "../resilient-fetch.js";
import { makePeer } from "./peers.js";

const ITEMS = new URL("/api/items", location.origin).href;
const contenders = {};
let runtime = null;

// Python for the breakdown: a transport that answers at once, with the same
// body the backend sends, so the shim and the Python pipeline can be timed
// without the network.
const NULL_TRANSPORT = `
from resilient_fetch import Headers, Response

class BenchNullTransport:
    def __init__(self, body):
        self.response = Response(
            status=200,
            headers=Headers({"Content-Type": "application/json"}),
            content=body,
            url="${ITEMS}",
        )

    async def handle(self, request):
        return self.response

    async def close(self):
        pass
`;

// In-page Python probes, each one sequential call, timed in Python over a batch:
// they peel the client.fetch path layer by layer (see bench/browser.py).
const PY_PROBES = `
import json
from pyodide.http import pyfetch
from resilient_fetch import Client, Request
from resilient_fetch.transports.browser import BrowserTransport

_options = json.loads(bench_py_options)
_null_client = Client(transport=BenchNullTransport(bench_body), **_options)
_null_bare_client = Client(
    transport=BenchNullTransport(bench_body), **{**_options, "timeout": {"attempt": None, "total": None}}
)
_net_client = Client(transport=BrowserTransport(), **_options)
_transport = BrowserTransport()
_request = Request("GET", bench_items_url)


async def _pyfetch():
    resp = await pyfetch(bench_items_url)
    await resp.bytes()


bench_probes = {
    "py_pyfetch": _pyfetch,
    "py_transport": lambda: _transport.handle(_request),
    "py_pipeline_net": lambda: _net_client.send(_request),
    "py_pipeline": lambda: _null_client.send(_request),
    "py_pipeline_no_timeouts": lambda: _null_bare_client.send(_request),
}
`;

async function consume(resp) {
  const body = await resp.arrayBuffer();
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  return body.byteLength;
}

/** Build every contender; `settings` holds the client options and the peer's equivalents. */
async function setup(settings) {
  const client = await createClient(settings.client);
  const { pyodide } = client;
  runtime = pyodide;
  const peer = makePeer(settings.peer);
  const sample = await (await fetch(ITEMS)).text();

  // A second shim client whose Python Client gets the null transport: swap the
  // module's default_transport just while createClient() builds it.
  pyodide.runPython(NULL_TRANSPORT);
  pyodide.globals.set("bench_body_text", sample);
  pyodide.runPython(`
import resilient_fetch.client as _rf_client
bench_body = bench_body_text.encode()
_rf_saved_transport = _rf_client.default_transport
_rf_client.default_transport = lambda *_: BenchNullTransport(bench_body)
`);
  let nullClient;
  try {
    nullClient = await createClient(settings.client);
  } finally {
    pyodide.runPython("_rf_client.default_transport = _rf_saved_transport");
  }
  pyodide.globals.set("bench_py_options", JSON.stringify(settings.pyClient));
  pyodide.globals.set("bench_items_url", ITEMS);
  pyodide.runPython(PY_PROBES);
  contenders.raw = (url) => fetch(url);
  contenders.ours = (url) => client.fetch(url);
  contenders.peer = (url) => peer.fetch(url);
  contenders.shim_null = (url) => nullClient.fetch(url);
  return {
    pyodideVersion: pyodide.version,
    userAgent: navigator.userAgent,
    bodyBytes: new TextEncoder().encode(sample).byteLength,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
}

/** `n` GETs with `concurrency` workers; per-request latency (ms) and wall time. */
async function round(name, n, concurrency) {
  const call = contenders[name];
  if (!call) throw new Error(`unknown contender ${name}`);
  const latencies = new Array(n);
  const errors = [];
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const started = performance.now();
      try {
        await consume(await call(ITEMS));
      } catch (err) {
        errors.push(`${err.code || err.name}: ${err.message}`);
      }
      latencies[i] = performance.now() - started;
    }
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  return { latencies, wallMs, errors: errors.slice(0, 5), errorCount: errors.length };
}

/** A Python probe called `n` times in a row inside Pyodide: mean ms per call. */
async function pyRound(name, n) {
  const ms = await runtime.runPythonAsync(`
import time as _t
_probe = bench_probes["${name}"]
_started = _t.perf_counter()
for _ in range(${n}):
    await _probe()
(_t.perf_counter() - _started) / ${n} * 1000
`);
  return ms;
}

window.bench = { setup, round, pyRound };
const status = document.getElementById("status");
status.textContent = "ready";
status.dataset.state = "ready";
