// resilient-fetch JS shim: loads Pyodide and the client wheel from files next to
// this module, and forwards fetch() calls to the Python client. No policy lives
// here: load, install, forward, convert.

const HERE = new URL(".", import.meta.url);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const ABSOLUTE_URL = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

let runtimePromise = null;

/** Conversion helper for BrowserTransport: one promise per request, plain data out. */
async function fetchOnce(url, init) {
  const resp = await fetch(url, init);
  const body = new Uint8Array(await resp.arrayBuffer());
  return [resp.status, resp.statusText, [...resp.headers], body, resp.url];
}

async function fetchOk(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`resilient-fetch: cannot load ${url} (HTTP ${resp.status})`);
  return resp;
}

/**
 * Load Pyodide and install the client wheel once per page; later calls share it.
 * Boots from the build's memory snapshot (Python initialised, the client
 * imported) when the manifest has one made from this wheel and this Pyodide,
 * else plain. `{ snapshot: false }` forces a plain boot (the start-up benchmark
 * compares the two). Resolves with { pyodide, manifest, jsApi, boot }, where
 * boot is "snapshot" or "plain".
 */
export function loadRuntime({ snapshot = true } = {}) {
  if (!runtimePromise) {
    runtimePromise = bootRuntime(snapshot);
    runtimePromise.catch(() => { runtimePromise = null; });
  }
  return runtimePromise;
}

// One turn of the page's event loop between start-up steps, so input and
// rendering run between them rather than after one long task.
const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

async function bootRuntime(useSnapshot) {
  const indexURL = new URL("pyodide/", HERE).href;
  // Everything that only waits on the network starts at once.
  const pyodideModule = import(new URL("pyodide.mjs", indexURL).href);
  const manifest = await (await fetchOk(new URL("manifest.json", HERE))).json();
  const wheel = fetchOk(new URL(manifest.wheel, HERE)).then((r) => r.arrayBuffer());
  wheel.catch(() => {}); // awaited below; do not report it unhandled meanwhile
  const { loadPyodide, version } = await pyodideModule;
  const snap = manifest.snapshot;
  const fits = useSnapshot && snap?.file && snap.wheelSha256 === manifest.wheelSha256 &&
    snap.pyodideVersion === version;
  let pyodide = null;
  let boot = "plain";
  if (fits) {
    try {
      const bytes = (await fetchOk(new URL(snap.file, HERE))).arrayBuffer();
      pyodide = await loadPyodide({ indexURL, _loadSnapshot: bytes });
      boot = "snapshot";
    } catch (err) {
      // A missing or unloadable snapshot only costs time: boot the slow way.
      console.warn(`resilient-fetch: booting without the snapshot: ${err?.message ?? err}`);
    }
  }
  pyodide ??= await loadPyodide({ indexURL });
  await yieldToPage();
  pyodide.registerJsModule("_resilient_fetch_js", { fetchOnce });
  // A snapshot restores the `random` module's state as the build left it: every
  // page would draw the same numbers. Reseed it from the browser's entropy.
  const sitePackages = pyodide.runPython("import random, site; random.seed(); site.getsitepackages()[0]");
  // The snapshot holds the imported modules, not the file system: unpack the
  // wheel either way, for anything imported later (and tracebacks).
  pyodide.unpackArchive(new Uint8Array(await wheel), "wheel", { extractDir: sitePackages });
  await yieldToPage();
  const jsApi = pyodide.pyimport("resilient_fetch.js_api");
  return { pyodide, manifest, jsApi, boot };
}

function toError(info) {
  const err = new Error(info.message);
  err.name = info.name || "ResilienceError";
  err.code = info.code;
  err.details = info;
  return err;
}

/** Convert a PyProxy result to plain JS data and free the proxy. */
function unwrap(proxy) {
  if (proxy === undefined || proxy === null || typeof proxy.toJs !== "function") return proxy;
  try {
    return proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  } finally {
    proxy.destroy();
  }
}

/** A sync Python call returns its value, or a {ok: false, error} dict to reject with. */
function checked(result) {
  if (result?.type === "dict") {
    const data = unwrap(result);
    if (data.ok === false) throw toError(data.error);
    return data;
  }
  return result;
}

function buildResponse(data) {
  const body = NULL_BODY_STATUS.has(data.status) ? null : data.body;
  const resp = new Response(body, {
    status: data.status,
    statusText: data.statusText,
    headers: data.headers,
  });
  Object.defineProperty(resp, "url", { value: data.url });
  return resp;
}

/**
 * Create a resilient client. Options are the camelCase versions of the Python
 * Client's keyword arguments, e.g.
 *   { baseUrl, headers, retry: { maxRetries: 5 }, breaker: { openFor: 30 },
 *     limiter: { limit: 10, window: 1 }, queue: { concurrency: 5 }, timeout: { attempt: 10 } }
 * Resolves once Python is ready; rejects with code "CONFIG" on a bad option.
 */
export async function createClient(options = {}) {
  const { pyodide, manifest, jsApi } = await loadRuntime();
  const baseUrl = options.baseUrl ?? (manifest.backendUrl || undefined);
  const pyOptions = pyodide.toPy({ ...options, baseUrl: baseUrl ?? "" });
  let pyClient;
  try {
    pyClient = jsApi.create_client(pyOptions);
  } finally {
    pyOptions.destroy();
  }
  pyClient = checked(pyClient);
  const pageBase = globalThis.document?.baseURI ?? globalThis.location?.href;
  const prefix = baseUrl ? new URL(baseUrl, pageBase).href : null;
  // A baseUrl is a prefix, as in the Python client: "api/items" and "/api/items"
  // both go under it; an absolute URL is used as given.
  const resolveUrl = (input) => {
    if (input instanceof Request) return input;
    const url = String(input);
    if (!prefix || ABSOLUTE_URL.test(url) || url.startsWith("//")) return new URL(url, pageBase).href;
    return url ? `${prefix.replace(/\/+$/, "")}/${url.replace(/^\/+/, "")}` : prefix;
  };
  const invalid = (err) =>
    toError({ code: "INVALID_REQUEST", name: "InvalidRequestError", field: "request", message: err.message });

  return {
    baseUrl,
    pyodide,
    /**
     * Same signature as window.fetch; resolves with a real Response. A
     * non-standard `init.resilience` object overrides per call:
     * { priority: "high"|"normal"|"low", timeout, totalTimeout, maxRetries,
     *   idempotencyKey (string or false), rateLimitMode: "wait"|"reject" }.
     */
    async fetch(input, init = undefined) {
      let req;
      try {
        req = new Request(resolveUrl(input), init);
      } catch (err) {
        throw invalid(err); // fetch would reject with a TypeError: a bad request, not the network
      }
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const body = hasBody ? new Uint8Array(await req.arrayBuffer()) : null;
      const signal = init?.signal ?? (input instanceof Request ? input.signal : null);
      if (signal?.aborted) throw toError({ code: "ABORTED", name: "AbortedError", message: "the request was aborted" });
      const opts = init?.resilience ? pyodide.toPy(init.resilience) : null;
      try {
        const result = unwrap(await pyClient.fetch(req.url, req.method, [...req.headers], body, opts, signal));
        if (!result.ok) throw toError(result.error);
        return buildResponse(result);
      } finally {
        opts?.destroy();
      }
    },
    /** Subscribe to a client event; the callback gets a plain object. Returns an unsubscribe. */
    on(name, callback) {
      const unsubscribe = checked(pyClient.on(name, (json) => callback(JSON.parse(json))));
      let done = false;
      return () => {
        if (done) return;
        done = true;
        unsubscribe();
        unsubscribe.destroy();
      };
    },
    /** A plain-object snapshot: breakers, limiter, queue, budget, metrics. */
    state() {
      return JSON.parse(pyClient.state());
    },
    /** Hold the breaker for `url` (default: baseUrl) open until reset(). */
    isolate(url = "") {
      return JSON.parse(checked(pyClient.breaker_action(url, "isolate")));
    },
    /** Close the breaker for `url` and clear its counters. */
    resetBreaker(url = "") {
      return JSON.parse(checked(pyClient.breaker_action(url, "reset")));
    },
    async close() {
      await pyClient.close();
      pyClient.destroy();
    },
  };
}
