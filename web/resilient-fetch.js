// resilient-fetch JS shim: loads Pyodide and the client wheel from files next to
// this module, and forwards fetch() calls to the Python client. No policy lives
// here: load, install, forward, convert.

const HERE = new URL(".", import.meta.url);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const ABSOLUTE_URL = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

let runtimePromise = null;

/**
 * BrowserTransport's helper: one attempt of a request. `source` is the caller's
 * own Request (cloned, so a retry can send its body again) or RequestInit (its
 * body and fetch options are passed as they are); Python gives the method and
 * the headers it decided on. Returns the attempt's AbortController (Python
 * aborts it to cancel the browser's request) and reports the outcome with
 * `landed(id, response)` or `landed(id, undefined, error)`, from the promise's
 * own reaction: Python's task resumes right there, without waiting for a turn
 * of the event loop (awaiting the promise from Python would cost one or two).
 * With `read` (a Python caller wants the bytes) the response comes as
 * [Response, ArrayBuffer]. A request fetch refuses to build fails with a
 * TypeError flagged `invalidRequest`: a bad request, not the network.
 */
function fetchOnce(url, source, method, headers, body, read, landed, id) {
  const controller = new AbortController();
  const isRequest = source instanceof Request;
  const init = source && !isRequest ? { ...source } : {};
  init.method = method;
  init.headers = headers ?? [];
  init.signal = controller.signal;
  if (body !== undefined) init.body = body;
  let promise;
  try {
    const request = new Request(isRequest ? source.clone() : url, init);
    promise = fetch(request);
    if (read) promise = promise.then(async (resp) => [resp, await resp.arrayBuffer()]);
  } catch (err) {
    const invalid = new TypeError(err?.message ?? String(err));
    invalid.invalidRequest = true;
    promise = Promise.reject(invalid);
  }
  promise.then((resp) => landed(id, resp), (err) => landed(id, undefined, err));
  return controller;
}

/** Browser online/offline events for the network monitor; returns a detach function. */
function watchNetwork(callback) {
  const target = globalThis.window;
  if (!target?.addEventListener) return () => {};
  const online = () => callback(true);
  const offline = () => callback(false);
  target.addEventListener("online", online);
  target.addEventListener("offline", offline);
  return () => {
    target.removeEventListener("online", online);
    target.removeEventListener("offline", offline);
  };
}

const idbResult = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

/**
 * IndexedDBStore's helper (stores/indexeddb.py). One database per outbox name:
 * entries as JSON text keyed by an auto-increment `seq`, the bounds checked in
 * the inserting transaction. Web Locks elect the one tab that replays; a
 * BroadcastChannel tells the other tabs about changes. Text in, text out.
 */
async function outboxStore(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    const entries = open.result.createObjectStore("entries", { keyPath: "seq", autoIncrement: true });
    entries.createIndex("id", "id", { unique: true });
  };
  const db = await idbResult(open);
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(`${name}:outbox`) : null;
  const lockAbort = new AbortController();
  let release = null;
  // Callbacks, not awaits, inside a transaction: it must not commit half-way.
  const tx = (mode, work) => new Promise((resolve, reject) => {
    const t = db.transaction("entries", mode);
    let out;
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error ?? new Error("IndexedDB transaction aborted"));
    work(t.objectStore("entries"), (value) => { out = value; });
  });
  const withSeq = (store, id, then) => {
    store.index("id").getKey(id).onsuccess = (e) => then(e.target.result);
  };
  return {
    add: (id, size, data, maxEntries, maxBytes) => tx("readwrite", (store, set) => {
      store.getAll().onsuccess = (e) => {
        const rows = e.target.result;
        const total = rows.reduce((n, r) => n + r.size, 0);
        if (rows.length + 1 > maxEntries) return set(JSON.stringify({ full: "max_entries" }));
        if (total + size > maxBytes) return set(JSON.stringify({ full: "max_bytes" }));
        store.add({ id, size, data }).onsuccess = (ev) => set(JSON.stringify({ seq: ev.target.result }));
      };
    }),
    put: (id, size, data) => tx("readwrite", (store, set) => {
      set(false);
      withSeq(store, id, (seq) => {
        if (seq !== undefined) store.put({ seq, id, size, data }).onsuccess = () => set(true);
      });
    }),
    delete: (id) => tx("readwrite", (store, set) => {
      set(false);
      withSeq(store, id, (seq) => {
        if (seq !== undefined) store.delete(seq).onsuccess = () => set(true);
      });
    }),
    all: () => tx("readonly", (store, set) => {
      store.getAll().onsuccess = (e) => set(JSON.stringify(e.target.result.map((r) => [r.seq, r.data])));
    }),
    lead() {
      if (!globalThis.navigator?.locks) return Promise.resolve(true);
      return new Promise((granted, refused) => {
        navigator.locks.request(`${name}:replay`, { signal: lockAbort.signal }, () => {
          granted(true);
          return new Promise((resolve) => { release = resolve; }); // held until close or unload
        }).catch(refused);
      });
    },
    subscribe(callback) {
      if (channel) channel.onmessage = (e) => callback(e.data);
    },
    publish(text) {
      channel?.postMessage(text);
    },
    close() {
      lockAbort.abort();
      release?.();
      channel?.close();
      db.close();
    },
  };
}

function base64Bytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `client.outbox`: the durable outbox, forwarded to Python (outbox.py holds the rules). */
function makeOutbox(pyClient, resolveUrl, invalid, options, releases) {
  const method = pyClient.outbox;
  const call = async (action, args = {}, body = null) => {
    const data = JSON.parse(await method(action, JSON.stringify(args), body));
    if (!data.ok) throw toError(data.error);
    return data.value;
  };
  if (options) {
    // Replay what an earlier page stored, and on the page's own `online` event.
    call("start").catch((err) => console.warn(`resilient-fetch: outbox: ${err.message}`));
    const kick = () => call("kick").catch(() => {});
    globalThis.addEventListener?.("online", kick);
    releases.push(() => globalThis.removeEventListener?.("online", kick));
  }
  return {
    /** Store a write (fetch's arguments), then send it; resolves with { id, state } once stored. */
    async enqueue(input, init = undefined) {
      let req;
      try {
        req = new Request(input instanceof Request ? input : resolveUrl(input), init);
      } catch (err) {
        throw invalid(err);
      }
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const body = hasBody ? new Uint8Array(await req.arrayBuffer()) : null;
      return call("enqueue", { method: req.method, url: req.url, headers: [...req.headers] }, body);
    },
    /** The Response once delivered; rejects (code DEAD_LETTER) if the write is dead-lettered. */
    async wait(id) {
      const r = await call("wait", { id });
      const body = NULL_BODY_STATUS.has(r.status) ? null : base64Bytes(r.body);
      const resp = new Response(body, { status: r.status, statusText: r.statusText, headers: r.headers });
      Object.defineProperty(resp, "url", { value: r.url });
      return resp;
    },
    /** Stored entries, pending and dead, oldest first (no bodies). */
    entries: () => call("entries"),
    /** Put a dead entry back in line (same Idempotency-Key). */
    retry: (id) => call("retry", { id }),
    /** Drop an entry for good; its waiters reject with code ABORTED. */
    discard: (id) => call("discard", { id }),
    /** Try pending entries now, skipping their backoff. */
    kick: () => call("kick"),
  };
}

/** Window focus for the query cache (TanStack's rule: the page became visible). */
function onFocus(callback) {
  const doc = globalThis.document;
  if (!doc?.addEventListener) return () => {};
  const listener = () => { if (doc.visibilityState !== "hidden") callback(); };
  doc.addEventListener("visibilitychange", listener);
  return () => doc.removeEventListener("visibilitychange", listener);
}

/** A Python call that answers {ok, data} or {ok: false, error} as JSON. */
function answer(json) {
  const result = JSON.parse(json);
  if (!result.ok) throw toError(result.error);
  return result.data;
}

/** A JS updater (old => new) as the JSON-in, JSON-out function Python calls. */
const jsonUpdater = (updater) => (json) => {
  const out = updater(JSON.parse(json));
  return out === undefined ? undefined : JSON.stringify(out);
};

/** client.query(), queryState(), subscribe(), invalidate(), setQueryData(), mutate(), loader(). */
function makeQueries(pyClient, resolveUrl, invalid) {
  const url = (input) => {
    try { return resolveUrl(input); } catch (err) { throw invalid(err); }
  };
  // Fresh entries are answered here, without crossing into Python: Python
  // hands out { hash, until, staleTime } with a fresh answer and calls back
  // once when that entry changes in any way (new data, invalidate, remove,
  // evict, gc). Hits answered here are reported back once per task (recency, metrics).
  const fresh = new Map(); // JSON key -> { hash, until, staleTime, sig, data }
  const keysOf = new Map(); // hash -> Set of JSON keys (one key may be written several ways)
  let changes = 0;
  let hits = null;
  pyClient.watch_queries((hash) => {
    changes += 1;
    for (const k of keysOf.get(hash) ?? []) fresh.delete(k);
    keysOf.delete(hash);
  });
  const flushHits = () => {
    const counted = hits;
    hits = null;
    pyClient.touch_queries(JSON.stringify(Object.fromEntries(counted)));
  };
  return {
    /**
     * The parsed body (JSON, else text) of GET `input`, cached under `key` (a
     * list). Fresh data comes from the cache; stale data at once, refetched in
     * the background. `options`: { staleTime } (seconds). Fresh hits return
     * the same object each time: treat it as read-only (as TanStack Query).
     */
    async query(key, input, init = undefined, options = undefined) {
      const k = JSON.stringify(key);
      const u = url(input);
      const headers = init?.headers == null ? undefined : headerPairs(new Headers(init.headers));
      const resilience = init?.resilience ? JSON.stringify(init.resilience) : undefined;
      const sig = headers || resilience ? `${u}\n${JSON.stringify(headers ?? null)}\n${resilience ?? ""}` : u;
      const hit = fresh.get(k);
      if (hit !== undefined && hit.sig === sig
          && (options?.staleTime === undefined || options.staleTime === hit.staleTime)
          && (hit.until === null || Date.now() < hit.until)) {
        if (hits === null) {
          hits = new Map();
          setTimeout(flushHits, 0);
        }
        hits.set(hit.hash, (hits.get(hit.hash) ?? 0) + 1);
        return hit.data;
      }
      const seen = changes;
      const result = JSON.parse(await pyClient.query(k, u, headers, resilience, options?.staleTime));
      if (!result.ok) throw toError(result.error);
      // A change heard while the answer travelled could be this entry's: keep no copy then.
      if (result.fresh && changes === seen) {
        const { hash, until, staleTime } = result.fresh;
        fresh.set(k, { hash, until, staleTime, sig, data: result.data });
        if (!keysOf.has(hash)) keysOf.set(hash, new Set());
        keysOf.get(hash).add(k);
      }
      return result.data;
    },
    /** The entry's state: { status, data, error, isStale, isFetching, dataUpdatedAt, ... } or null. */
    queryState(key) {
      return answer(pyClient.query_state(JSON.stringify(key)));
    },
    /** Call `callback(state)` when the entry's status, data or error really change. */
    subscribe(key, callback) {
      return releaser(checked(pyClient.subscribe(JSON.stringify(key), (json) => callback(JSON.parse(json)))));
    },
    /** Mark every entry whose key starts with `prefix` stale; subscribed ones refetch. */
    invalidate(prefix) {
      return answer(pyClient.invalidate(JSON.stringify(prefix)));
    },
    /** Set the data for `key`: a value, or `old => new` (returning undefined changes nothing). */
    setQueryData(key, updater) {
      return typeof updater === "function"
        ? answer(pyClient.set_query_data(JSON.stringify(key), "null", jsonUpdater(updater)))
        : answer(pyClient.set_query_data(JSON.stringify(key), JSON.stringify(updater ?? null)));
    },
    /**
     * A write with optimistic updates, rolled back if it fails, and invalidation on success:
     * { url, method = "POST", json | body, headers, optimistic: [{ key, updater | data }],
     *   invalidate: [prefix, ...], durable, resilience }. Resolves with the parsed body.
     */
    async mutate(spec) {
      const optimistic = spec.optimistic ?? [];
      const headers = spec.headers == null ? undefined : [...new Headers(spec.headers)];
      const plain = {
        method: spec.method ?? "POST", url: url(spec.url), json: spec.json, body: spec.body, headers,
        optimistic: optimistic.map(({ key, data }) => ({ key, data })),
        invalidate: spec.invalidate ?? [], durable: spec.durable, resilience: spec.resilience,
      };
      const updaters = optimistic.map((o) => (typeof o.updater === "function" ? jsonUpdater(o.updater) : null));
      return answer(await pyClient.mutate(JSON.stringify(plain), updaters));
    },
    /**
     * A DataLoader-style batch loader: { url, key = "id", name, maxBatch = 100,
     * windowMs = 0, method = "GET" }; load(id) and loadMany(ids).
     */
    loader(options) {
      const py = checked(pyClient.loader(JSON.stringify({ ...options, url: url(options.url) })));
      const failed = (r) => r && typeof r === "object" && r.error && Object.keys(r).length === 1;
      const results = async (ids) => answer(await py.load_many(JSON.stringify(ids)));
      const loadMany = async (ids) => (await results(ids)).map((r) => (failed(r) ? toError(r.error) : r));
      // load() calls made in one turn cross into Python once, as one loadMany
      // (Python then batches them, with any others, into requests).
      let calls = null;
      const flush = async () => {
        const batch = calls;
        calls = null;
        try {
          (await results(batch.map((c) => c.id))).forEach((r, i) =>
            (failed(r) ? batch[i].reject(toError(r.error)) : batch[i].resolve(r)));
        } catch (err) {
          for (const c of batch) c.reject(err);
        }
      };
      return {
        load(id) {
          return new Promise((resolve, reject) => {
            if (calls === null) {
              calls = [];
              queueMicrotask(flush);
            }
            calls.push({ id, resolve, reject });
          });
        },
        loadMany,
        destroy() { py.destroy(); },
      };
    },
  };
}

const hexOf = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

function base64Of(buffer) {
  let bin = "";
  for (const b of new Uint8Array(buffer)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * An upload's data for Python (upload.py): its size, the SHA-256 of the whole
 * Blob and checksummed chunks, all made here with Web Crypto, so a large file
 * never crosses into Python. A chunk is a Blob slice read into an ArrayBuffer
 * (sendable again on a retry) in a RequestInit the transport sends as it is.
 */
function uploadSource(input) {
  const blob = input instanceof Blob ? input : new Blob([input]);
  return {
    size: blob.size,
    name: typeof input.name === "string" ? input.name : "",
    type: blob.type || "",
    async sha256() {
      return hexOf(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    },
    async chunk(start, end) {
      const body = await blob.slice(start, end).arrayBuffer();
      const checksum = base64Of(await crypto.subtle.digest("SHA-256", body));
      return { size: body.byteLength, checksum, init: { body } };
    },
  };
}

/** `client.upload()`: a promise of the result with pause/resume/abort/state; tus logic is Python's. */
function makeUpload(pyClient, resolveUrl, invalid) {
  return (input, url, options = {}) => {
    const { onProgress, signal, metadata, headers, ...settings } = options;
    let py;
    try {
      if (!(input instanceof Blob || input instanceof ArrayBuffer || ArrayBuffer.isView(input))) {
        throw new TypeError("upload() takes a Blob, a File, an ArrayBuffer or a typed array");
      }
      if (!globalThis.crypto?.subtle) throw new TypeError("Web Crypto is needed: serve the page over https or from localhost");
      const target = resolveUrl(url);
      const progress = onProgress ? (json) => onProgress(JSON.parse(json)) : undefined;
      const headerObject = headers == null ? {} : Object.fromEntries(new Headers(headers));
      py = checked(pyClient.upload(uploadSource(input), target, JSON.stringify(settings),
        JSON.stringify(metadata ?? {}), JSON.stringify(headerObject), progress));
    } catch (err) {
      return Promise.reject(err.code ? err : invalid(err));
    }
    let done = false;
    const onAbort = () => { if (!done) py.abort(false); };
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort);
    const promise = (async () => {
      try {
        return answer(await py.result());
      } finally {
        done = true;
        signal?.removeEventListener("abort", onAbort);
        py.destroy();
      }
    })();
    const live = (fn) => (...args) => (done ? undefined : fn(...args));
    return Object.assign(promise, {
      /** Abort the chunk in flight and send nothing until resume(). */
      pause: live(() => py.pause()),
      /** Go on from the server's offset. */
      resume: live(() => py.resume()),
      /** Stop for good (the promise rejects ABORTED); `terminate` also deletes it on the server. */
      abort: live((terminate = false) => py.abort(Boolean(terminate))),
      /** { phase, sent, total, rate, url, sha256 } now. */
      state: live(() => JSON.parse(py.snapshot())),
    });
  };
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

// Pyodide turns on JSPI (WebAssembly stack switching) when the browser has it
// and then resumes Python on a fresh wasm stack each time a JS promise it
// awaits settles. In Chromium 156 that path crashes the tab now and then (a
// SIGSEGV in the garbage collector's conservative stack scan, which reads past
// the top of the switched stack; a dozen crash dumps all at the same address).
// The client needs no stack switching (it never blocks on a promise with
// run_sync), and without it Pyodide resumes Python directly in the promise's
// callback. So Pyodide is loaded while the browser's JSPI classes are out of
// its sight while it loads, and put back as soon as it has loaded.
const JSPI_NAMES = ["Suspending", "Suspender"];

async function withoutStackSwitching(load) {
  const hidden = [];
  for (const name of JSPI_NAMES) {
    const descriptor = Object.getOwnPropertyDescriptor(WebAssembly, name);
    if (descriptor?.configurable) {
      delete WebAssembly[name];
      hidden.push([name, descriptor]);
    }
  }
  try {
    return await load();
  } finally {
    for (const [name, descriptor] of hidden) Object.defineProperty(WebAssembly, name, descriptor);
  }
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
  const { loadPyodide: load, version } = await pyodideModule;
  const loadPyodide = (options) => withoutStackSwitching(() => load(options));
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
  pyodide.registerJsModule("_resilient_fetch_js", { outboxStore, watchNetwork, fetchOnce, onFocus });
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

/** A rejection as fetch would give it, carrying our `code` and `details`. */
function toError(info) {
  let err;
  if (info.code === "ABORTED") {
    err = new DOMException(info.message, "AbortError");
    // DOMException.code is a getter (the legacy number 20): shadow it with ours.
    Object.defineProperty(err, "code", { value: info.code, enumerable: true });
  } else if (info.code === "NETWORK" || info.code === "OFFLINE") {
    err = new TypeError(info.message); // named TypeError, as fetch's; details.name is ours
    err.code = info.code;
  } else {
    err = new Error(info.message);
    err.name = info.name || "ResilienceError";
    err.code = info.code;
  }
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
/** An unsubscribe for JS: calls Python's once, then frees its proxy; later calls do nothing. */
function releaser(unsubscribe) {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    unsubscribe();
    unsubscribe.destroy();
  };
}

function checked(result) {
  if (result?.type === "dict") {
    const data = unwrap(result);
    if (data.ok === false) throw toError(data.error);
    return data;
  }
  return result;
}

/** A Response rebuilt from plain data: only for responses made in Python (a stage, a mock). */
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
 * How JsClient.start settles a call: fetch's Response, an error as JSON, or
 * plain data as a borrowed PyProxy (Pyodide frees it when settle returns, so it
 * is converted here, synchronously).
 */
function settled(value) {
  if (value instanceof Response) return value;
  if (typeof value === "string") throw toError(JSON.parse(value));
  return buildResponse(value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false }));
}

/** Header pairs for Python, or undefined when there are none (nothing to convert). */
function headerPairs(headers) {
  const pairs = [...headers];
  return pairs.length ? pairs : undefined;
}

const NO_INIT = Object.freeze({});

const abortError = () =>
  toError({ code: "ABORTED", name: "AbortedError", message: "the request was aborted" });

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
  const start = pyClient.start; // one PyProxy for every call, not one per call
  const pageBase = globalThis.document?.baseURI ?? globalThis.location?.href;
  const prefix = baseUrl ? new URL(baseUrl, pageBase).href.replace(/\/+$/, "") : null;
  // A baseUrl is a prefix, as in the Python client: "api/items" and "/api/items"
  // both go under it; an absolute URL is used as given.
  const resolveUrl = (input) => {
    const url = String(input);
    if (!prefix || ABSOLUTE_URL.test(url) || url.startsWith("//")) {
      const parsed = new URL(url, pageBase);
      // The URL parser escapes a space in a host ("exa%20mple.com"): no such host can exist.
      if (parsed.hostname.includes("%")) throw new TypeError(`${url} has an invalid host`);
      return parsed.href;
    }
    return url ? `${prefix}/${url.replace(/^\/+/, "")}` : prefix;
  };
  const releases = []; // page listeners the client added: removed by close()
  const invalid = (err) =>
    toError({ code: "INVALID_REQUEST", name: "InvalidRequestError", field: "request", message: err.message });

  return {
    baseUrl,
    pyodide,
    /**
     * Same signature as window.fetch; resolves with fetch's own Response. A
     * non-standard `init.resilience` object overrides per call:
     * { priority: "high"|"normal"|"low", timeout, totalTimeout, maxRetries,
     *   idempotencyKey (string or false), rateLimitMode: "wait"|"reject" }.
     */
    async fetch(input, init = undefined) {
      // Python gets the URL, the method and the header pairs; the body and the
      // other fetch options stay here and go to fetch as they are.
      let url, method, headers, source, signal;
      try {
        if (input instanceof Request) {
          source = init == null ? input : new Request(input, init);
          url = source.url;
          method = source.method;
          headers = headerPairs(source.headers);
          signal = source.signal;
        } else {
          url = resolveUrl(input);
          source = init ?? NO_INIT; // always a source: it marks the call as from JS
          method = init?.method == null ? "GET" : String(init.method).toUpperCase();
          if (init?.headers != null) headers = headerPairs(new Headers(init.headers));
          signal = init?.signal ?? undefined;
          if (init?.body != null && (method === "GET" || method === "HEAD")) {
            throw new TypeError(`a ${method} request cannot have a body`);
          }
        }
      } catch (err) {
        throw invalid(err); // fetch would reject with a TypeError: a bad request, not the network
      }
      if (signal?.aborted) throw abortError();
      return new Promise((resolve, reject) => {
        const settle = (value) => {
          try { resolve(settled(value)); } catch (err) { reject(err); }
        };
        start(settle, url, method, headers, source, init?.resilience, signal);
      });
    },
    outbox: makeOutbox(pyClient, resolveUrl, invalid, options.outbox, releases),
    ...makeQueries(pyClient, resolveUrl, invalid),
    /**
     * A resumable, verified upload (tus 1.0) of a Blob/File/bytes to the creation
     * URL `url`: { chunkSize, onProgress, signal, metadata, headers, ...upload settings }.
     * Resolves { url, size, sha256, verified, resumedFrom, bytesSent }; has pause(), resume(), abort(), state().
     */
    upload: makeUpload(pyClient, resolveUrl, invalid),
    /** Subscribe to a client event; the callback gets a plain object. Returns an unsubscribe. */
    on(name, callback) {
      return releaser(checked(pyClient.on(name, (json) => callback(JSON.parse(json)))));
    },
    /** A plain-object snapshot: breakers, limiter, queue, budget, metrics. */
    state() {
      return JSON.parse(pyClient.state());
    },
    /** The network monitor: { state: "online"|"offline"|"unreachable", since, nextProbeIn, ... }. */
    network() {
      return JSON.parse(pyClient.network());
    },
    /** Probe the health URL now (the "Retry now" button); resolves with network(). */
    async probeNow() {
      const result = JSON.parse(await pyClient.probe_now());
      if (result.ok === false) throw toError(result.error); // CLOSED
      return result;
    },
    /**
     * The client's figures (state()) in the Prometheus text exposition format
     * 0.0.4, synchronous, so a `pagehide` handler can `navigator.sendBeacon` it.
     * Still answers after close().
     */
    metricsText() {
      return pyClient.metrics_text();
    },
    /** Hold the breaker for `url` (default: baseUrl) open until reset(). */
    isolate(url = "") {
      return JSON.parse(checked(pyClient.breaker_action(url, "isolate")));
    },
    /** Close the breaker for `url` and clear its counters. */
    resetBreaker(url = "") {
      return JSON.parse(checked(pyClient.breaker_action(url, "reset")));
    },
    /**
     * Stop taking calls, let those in flight finish within `timeout` seconds
     * (default `timeout.close`, 10; 0: abort at once; null: no limit), abort the
     * rest (they reject with code CLOSED), then release the outbox store, the
     * network probes and every listener. Resolves once closed; idempotent. Every
     * later call rejects (or throws) with code CLOSED; state(), metricsText(),
     * network() and queryState() still answer with the final figures.
     */
    async close(options = undefined) {
      const timeout = options?.timeout;
      const result = JSON.parse(await pyClient.close(JSON.stringify(timeout === undefined ? {} : { timeout })));
      if (result.ok === false) throw toError(result.error); // CONFIG: close.timeout
      releases.splice(0).forEach((release) => release());
    },
  };
}
