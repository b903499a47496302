// Query cache, dedupe and batching page: resilient-fetch's client.query,
// loader and client.fetch side by side with TanStack Query's QueryClient,
// DataLoader and the cockatiel + p-queue peer, in this one page. The Python
// driver (bench/query_bench.py) calls window.bench.* for interleaved rounds;
// nothing here decides order. Timed with performance.now().
import { createClient } from "../resilient-fetch.js";
import { makePeer } from "./peers.js";
import { QueryClient } from "./vendor/tanstack-query-core/index.js";
import DataLoader from "./vendor/dataloader/index.js";

const origin = location.origin;
const ITEMS = `${origin}/api/items`;
const BATCH = `${origin}/api/items/batch`;
const STATS = `${origin}/_stats`;
const BIG_STALE_S = 1e9; // ours: seconds; TanStack: ms (Infinity)

let settings = null;
let client = null; // for the cache-hit and 100k rounds
let tanstack = null;
let ids = [];
let roundNo = 0;

async function json(resp) {
  if (!resp.ok) throw new Error(`HTTP ${resp.status} for ${resp.url}`);
  return resp.json();
}

/** Requests the backend counted so far per route ("GET /api/items/batch": n), all statuses. */
async function serverCounts() {
  const stats = await json(await fetch(STATS, { cache: "no-store" }));
  const out = {};
  for (const [route, byStatus] of Object.entries(stats.routes)) {
    out[route] = Object.values(byStatus).reduce((a, b) => a + b, 0);
  }
  return out;
}

function diffCounts(before, after, prefix) {
  let n = 0;
  for (const [route, count] of Object.entries(after)) {
    if (route.startsWith(prefix)) n += count - (before[route] ?? 0);
  }
  return n;
}

/** Create `n` items (the loader and the workload need ids that exist), 10 at a time. */
async function createItems(n) {
  const made = new Array(n);
  let next = 0;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const item = await json(await fetch(ITEMS, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: `bench item ${i}` }),
      }));
      made[i] = item.id;
    }
  }
  await Promise.all(Array.from({ length: 10 }, worker));
  return made;
}

async function setup(s) {
  settings = s;
  client = await createClient(s.client);
  tanstack = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  tanstack.mount();
  ids = await createItems(s.items);
  // Both caches hold the list and the item once before the hit rounds.
  for (const t of ["list", "item"]) for (const call of Object.values(hitCalls)) await call(t);
  const listBytes = (await (await fetch(ITEMS)).arrayBuffer()).byteLength;
  return {
    pyodideVersion: client.pyodide.version,
    userAgent: navigator.userAgent,
    items: ids.length,
    firstId: ids[0],
    lastId: ids[ids.length - 1],
    listBytes,
  };
}

// -- 1. cache hit ----------------------------------------------------------------------

// Two targets: the item list (GET /api/items: ~1,000 items after setup) and one item.
const hitTargets = { list: ["bench", "items"], item: ["bench", "item"] };
const hitUrls = () => ({ list: ITEMS, item: `${ITEMS}/${ids[0]}` });
const hitCalls = {
  ours: (t) => client.query(hitTargets[t], hitUrls()[t], undefined, { staleTime: BIG_STALE_S }),
  tanstack: (t) => tanstack.fetchQuery({
    queryKey: hitTargets[t], queryFn: () => fetch(hitUrls()[t]).then(json), staleTime: Infinity,
  }),
};

/** `n` sequential hits on `target`: mean ms per call, and the server requests seen (0). */
async function hitRound(name, target, n) {
  const call = hitCalls[name];
  const before = await serverCounts();
  let last = null;
  const started = performance.now();
  for (let i = 0; i < n; i++) last = await call(target);
  const ms = performance.now() - started;
  const after = await serverCounts();
  if (!last || (target === "list" ? !Array.isArray(last.items) : last.id !== ids[0])) {
    throw new Error(`${name}: wrong data in the ${target} hit`);
  }
  return { msPerCall: ms / n, requests: diffCounts(before, after, "GET /api/items") };
}

// -- 2. batch loading ------------------------------------------------------------------

function makeDataLoader(maxBatch) {
  return new DataLoader(async (keys) => {
    const body = await json(await fetch(`${BATCH}?ids=${keys.join(",")}`));
    const byId = new Map(body.items.map((item) => [String(item.id), item]));
    return keys.map((k) => byId.get(String(k)) ?? new Error(`no item ${k}`));
  }, { maxBatchSize: maxBatch });
}

/** `n` loads of distinct ids in one tick through a fresh loader: wall ms and batch requests. */
async function loadRound(name, n) {
  const chosen = ids.slice(0, n);
  const maxBatch = settings.maxBatch;
  const before = await serverCounts();
  const started = performance.now();
  let out;
  let done;
  if (name === "ours_load" || name === "ours_loadMany") {
    const loader = client.loader({ url: BATCH, name: `bench${++roundNo}`, maxBatch, windowMs: 0 });
    out = name === "ours_load" ? await Promise.all(chosen.map((id) => loader.load(id)))
      : await loader.loadMany(chosen);
    done = performance.now();
    loader.destroy();
  } else {
    const loader = makeDataLoader(maxBatch);
    out = name === "dataloader_load" ? await Promise.all(chosen.map((id) => loader.load(id)))
      : await loader.loadMany(chosen);
    done = performance.now();
  }
  const after = await serverCounts();
  const bad = out.filter((x, i) => !x || x instanceof Error || x.id !== chosen[i]).length;
  if (bad) throw new Error(`${name}: ${bad} of ${n} loads wrong`);
  return { wallMs: done - started, requests: diffCounts(before, after, "GET /api/items/batch") };
}

// -- 3. page workload ------------------------------------------------------------------

/**
 * `widgets` widgets each show `perWidget` items from a pool of `pool` ids
 * (overlapping windows), all at once, `passes` times in a row (a re-render or
 * poll): every widget reads its items concurrently, awaiting each pass.
 */
function widgetIds(w) {
  const { pool, perWidget, widgets } = settings.workload;
  const step = Math.max(1, Math.floor(pool / widgets));
  return Array.from({ length: perWidget }, (_, i) => ids[(w * step + i) % pool]);
}

async function settled(c, keys) {
  // Background refetches (stale-while-revalidate) still count as requests: wait for them.
  for (let spin = 0; spin < 500; spin++) {
    if (!keys.some((k) => c.queryState(k)?.isFetching)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("background refetches did not settle");
}

async function workloadRound(name) {
  const { widgets, passes } = settings.workload;
  const fresh = name === "peer" ? null : await createClient(settings.client);
  const peer = name === "peer" ? makePeer(settings.peer) : null;
  const ns = `w${++roundNo}`;
  const read = {
    peer: (id) => peer.fetch(`${ITEMS}/${id}`).then(json),
    ours_fetch: (id) => fresh.fetch(`${ITEMS}/${id}`).then(json),
    ours_query: (id) => fresh.query([ns, id], `${ITEMS}/${id}`),
    ours_query_stale: (id) => fresh.query([ns, id], `${ITEMS}/${id}`, undefined, { staleTime: settings.workload.staleTimeS }),
  }[name];
  const before = await serverCounts();
  const started = performance.now();
  let reads = 0;
  await Promise.all(Array.from({ length: widgets }, async (_, w) => {
    const mine = widgetIds(w);
    for (let p = 0; p < passes; p++) {
      const got = await Promise.all(mine.map(read));
      for (let i = 0; i < got.length; i++) if (got[i].id !== mine[i]) throw new Error(`${name}: wrong item`);
      reads += got.length;
    }
  }));
  const wallMs = performance.now() - started;
  if (name.startsWith("ours_query")) await settled(fresh, [...new Set(Array.from({ length: widgets }, (_, w) => widgetIds(w)).flat())].map((id) => [ns, id]));
  const after = await serverCounts();
  const st = fresh ? fresh.state() : null;
  if (fresh) await fresh.close();
  return {
    wallMs, reads, requests: diffCounts(before, after, "GET /api/items/"),
    dedupeShared: st?.dedupe?.shared ?? null, cacheHits: st?.cache?.hits ?? null,
  };
}

// -- 4. 100k entries -------------------------------------------------------------------

const PY_CACHE = `
import asyncio, gc, time, tracemalloc
from resilient_fetch._clock import SystemClock
from resilient_fetch.query import QueryCache

async def bench_big_cache(n, item, hits):
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cache = QueryCache(clock=SystemClock(), max_bytes=10**12, gc_time=10**9)
    for i in range(n):
        cache.set_data(["item", i], dict(item, id=i))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    async def fetcher():
        raise RuntimeError("a hit must not fetch")
    keys = [["item", (i * 7919) % n] for i in range(hits)]
    started = time.perf_counter()
    for k in keys:
        await cache.fetch(k, fetcher, stale_time=1e9)
    hit_us = (time.perf_counter() - started) / hits * 1e6
    assert cache.misses == 0
    return {"bytes": used, "hitUs": hit_us}
`;

/** Our QueryCache in Pyodide with `n` entries: tracemalloc bytes and hit cost (Python loop). */
async function pyBigCache(n, hits, item) {
  const py = client.pyodide;
  py.runPython(PY_CACHE);
  py.globals.set("bench_item_json", JSON.stringify(item));
  const out = await py.runPythonAsync(`
import json
_r = await bench_big_cache(${n}, json.loads(bench_item_json), ${hits})
json.dumps(_r)
`);
  py.runPython("import gc; gc.collect()");
  return JSON.parse(out);
}

let big = null;

/** TanStack QueryClient with `n` entries (the driver reads the JS heap over CDP around it). */
function fillTanstack(n, item) {
  big = new QueryClient();
  for (let i = 0; i < n; i++) big.setQueryData(["item", i], { ...item, id: i });
  return big.getQueryCache().getAll().length;
}

async function tanstackBigHit(n, hits) {
  const queryFn = () => { throw new Error("a hit must not fetch"); };
  const started = performance.now();
  for (let i = 0; i < hits; i++) await big.fetchQuery({ queryKey: ["item", (i * 7919) % n], queryFn, staleTime: Infinity });
  return (performance.now() - started) / hits * 1000;
}

function dropTanstack() { big.clear(); big = null; }

/** client.setQueryData for `n` keys, then client.query hits at that size (the JS -> Python path). */
async function oursBigFill(n, item) {
  for (let i = 0; i < n; i++) client.setQueryData(["big", i], { ...item, id: i });
  return client.state().cache;
}

async function oursBigHit(n, hits) {
  const started = performance.now();
  for (let i = 0; i < hits; i++) {
    const k = (i * 7919) % n;
    await client.query(["big", k], `${ITEMS}/0`, undefined, { staleTime: BIG_STALE_S });
  }
  return (performance.now() - started) / hits * 1000;
}

window.bench = {
  setup, hitRound, loadRound, workloadRound, pyBigCache, fillTanstack, tanstackBigHit,
  dropTanstack, oursBigFill, oursBigHit,
};
const status = document.getElementById("status");
status.textContent = "ready";
status.dataset.state = "ready";
