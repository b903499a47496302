// Service worker: precaches the page, the shim, the client wheel, the manifest,
// the start-up snapshot and the Pyodide runtime, so a reload while offline
// still boots the client (and the outbox still holds the pending writes, in
// IndexedDB). API requests never go through here: the page fetches them itself,
// so the client sees the real network (offline, unreachable) and so does a test.
//
// build.py stamps BUILD with a hash of the built files: a new build is a new
// sw.js, which installs a new cache and drops the old one.

const BUILD = "__BUILD_ID__";
const CACHE = `rf-offline-${BUILD}`;
const SHELL = [
  "./", "index.html", "demo.css", "demo.js", "upload.js", "dashboard.js", "resilient-fetch.js", "manifest.json",
  "vendor/uplot/dist/uPlot.esm.js", "vendor/uplot/dist/uPlot.min.css",
];
const PYODIDE = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];
// Paths (relative to this worker) that are never cached: the backend's APIs.
const LIVE = /^(api|_faults|_stats|health|openapi\.json)(\/|$|\?)/;

async function precache() {
  const manifest = await (await fetch("manifest.json", { cache: "no-store" })).json();
  const files = [...SHELL, ...PYODIDE.map((f) => `pyodide/${f}`), manifest.wheel];
  if (manifest.snapshot?.file) files.push(manifest.snapshot.file);
  const cache = await caches.open(CACHE);
  await cache.addAll(files.map((f) => new Request(f, { cache: "no-cache" })));
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("rf-offline-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  if (LIVE.test(url.pathname.slice(scope.pathname.length))) return; // straight to the network
  event.respondWith((async () => {
    const hit = await caches.match(request, { cacheName: CACHE });
    return hit ?? fetch(request);
  })());
});
