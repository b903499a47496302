// Demo page logic: every request goes through the Python client via the shim.
import { createClient } from "./resilient-fetch.js";

const $ = (id) => document.getElementById(id);
const statusEl = $("status");
const errorEl = $("error");

function setStatus(text, cls) {
  statusEl.textContent = text;
  statusEl.className = `status ${cls}`;
}

function showError(err) {
  if (!err) {
    errorEl.hidden = true;
    errorEl.textContent = "";
    return;
  }
  errorEl.hidden = false;
  errorEl.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message || err);
}

async function apiJson(client, url, init) {
  const resp = await client.fetch(url, init);
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new Error(data?.message || `HTTP ${resp.status}`);
    err.code = `HTTP_${resp.status}`;
    throw err;
  }
  return data;
}

function renderItems(items) {
  const list = $("items");
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      li.textContent = item.name;
      if (item.optimistic) li.classList.add("optimistic");
      if (savedIds.has(item.id)) li.append(" ", badge("saved", "saved"));
      return li;
    }),
  );
}

async function refresh(client) {
  try {
    // A query: cached, refetched in the background when stale, kept when the server is down.
    // Refresh means "now": mark it stale; the subscriber renders what the refetch brings.
    client.invalidate(["items"]);
    const resolved = await client.query(["items"], "api/items");
    // query() resolves with the stale list while the refetch runs, and the
    // refetch can land (and the subscriber render it) before this line runs:
    // render what the cache holds now, not the older value query() resolved with.
    renderItems((client.queryState(["items"])?.data ?? resolved).items);
    showError(client.queryState(["items"])?.error ?? null); // the last refetch's error, if any
  } catch (err) {
    showError(err);
  }
}

// Each tab gets its own fault scope, so visitors (and tests) never break each other.
function faultScope() {
  let scope = sessionStorage.getItem("rf-fault-scope");
  if (!scope) {
    scope = `tab-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem("rf-fault-scope", scope);
  }
  return scope;
}

async function admin(path, init = {}) {
  // The fault API is driven with plain fetch: it is the demo's remote control,
  // not traffic the client should protect.
  const resp = await fetch(path, {
    ...init,
    headers: { "Content-Type": "application/json", "X-Fault-Scope": SCOPE, ...init.headers },
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.message || `HTTP ${resp.status}`);
  return data;
}

const SCOPE = faultScope();
const MAX_EVENTS = 40;

function describe(event) {
  switch (event.event) {
    case "request": return `→ ${event.method} ${new URL(event.url).pathname}`;
    case "response": return `← ${event.status} after ${event.attempts} attempt(s), ${event.durationMs.toFixed(0)} ms`;
    case "error": return `✗ ${event.code}: ${event.message}`;
    case "retry": return event.refused
      ? `retry refused (${event.refused}) after ${event.reason}`
      : `retry #${event.attempt} in ${event.delay.toFixed(2)} s after ${event.reason}`;
    case "breaker": return `breaker ${event.from} → ${event.to} (${event.reason})`;
    case "rate_limited": return `rate limited (${event.source}, ${event.action}) for ${event.retryAfter.toFixed(2)} s`;
    case "timeout": return `timeout (${event.kind}) after ${event.timeout} s`;
    case "outbox": return `outbox ${event.action}${event.status ? ` (${event.status})` : ""}`;
    default: return null;
  }
}

function logEvent(event) {
  const text = describe(event);
  if (!text) return;
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  li.dataset.event = event.event;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function fmt(ms) {
  return ms == null ? "–" : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

function renderState(client) {
  const state = client.state();
  const breakers = Object.values(state.breakers);
  const breaker = breakers[0];
  const b = $("state-breaker");
  b.textContent = breaker
    ? breaker.state.replace("_", "-") + (breaker.retryAfter ? ` (probe in ${breaker.retryAfter.toFixed(1)} s)` : "")
    : "closed";
  b.className = `breaker-${breaker ? breaker.state : "closed"}`;
  const q = state.queue;
  $("state-queue").textContent = `${q.running} / ${q.waitingTotal} (done ${q.completed}, failed ${q.failed})`;
  const lim = Object.values(state.limiter)[0];
  $("state-limiter").textContent = lim
    ? `${lim.used ?? "?"} of ${lim.limit ?? "?"}` + (lim.cooldown > 0 ? `, cooling ${lim.cooldown.toFixed(1)} s` : "")
    : "–";
  $("state-budget").textContent = `${state.budget.balance} retries`;
  const lat = state.metrics.latency["GET /api/items"];
  $("state-latency").textContent = lat ? `${fmt(lat.p50Ms)} / ${fmt(lat.p95Ms)} / ${fmt(lat.p99Ms)}` : "–";
  $("state-outcomes").textContent =
    Object.entries(state.metrics.outcomes).map(([k, v]) => `${k} ${v}`).join(", ") || "–";
}

function wireFaults(client) {
  const status = $("fault-status");
  for (const button of document.querySelectorAll("[data-fault]")) {
    button.addEventListener("click", async () => {
      try {
        const fault = await admin("_faults", { method: "POST", body: button.dataset.fault });
        status.textContent = `fault on: ${fault.name}`;
      } catch (err) {
        status.textContent = `could not add fault: ${err.message}`;
      }
    });
  }
  $("fault-reset").addEventListener("click", async () => {
    try {
      await admin("_faults/reset", { method: "POST" });
      status.textContent = "faults cleared";
    } catch (err) {
      status.textContent = `could not reset: ${err.message}`;
    }
  });
}

// -- network banner: offline / unreachable / back online ------------------------

const OFFLINE_TEXT = "You're offline: changes are saved on this device and will be sent";
const BACK_ONLINE_SHOWN_MS = 6000;
let backOnlineDetail = "";
let backOnlineUntil = 0;
let sentSinceReconnect = 0;
let renderBanner = () => {};

let away = false; // offline or unreachable since the last "Back online"

/** An outbox write was delivered: while away or just back, the banner counts them. */
const sentIds = new Set();
function noteChangeSent(id) {
  if (!away && Date.now() >= backOnlineUntil) return;
  if (sentIds.has(id)) return; // one write, however many times its delivery is reported
  sentIds.add(id);
  sentSinceReconnect += 1;
  if (away) return; // shown once the monitor says online
  backOnlineUntil = Math.max(backOnlineUntil, Date.now() + BACK_ONLINE_SHOWN_MS);
  setTimeout(() => renderBanner(), BACK_ONLINE_SHOWN_MS + 50);
  setBackOnlineDetail(`${sentSinceReconnect} change${sentSinceReconnect === 1 ? "" : "s"} sent`);
}

/**
 * Hook for the outbox: text added to the "Back online" banner (for example
 * "3 changes sent"); call it when the replay after a reconnect finishes.
 */
export function setBackOnlineDetail(text) {
  backOnlineDetail = text || "";
  renderBanner();
}
window.demoNetwork = { setBackOnlineDetail };

function wireNetwork(client) {
  const banner = $("network-banner");
  const text = $("network-text");
  const countdown = $("network-countdown");
  const retry = $("network-retry");
  const show = (kind, message, wait = "") => {
    banner.hidden = false;
    banner.className = `network-banner ${kind}`;
    banner.dataset.state = kind;
    if (text.textContent !== message) text.textContent = message;
    countdown.textContent = wait;
    retry.hidden = kind !== "unreachable";
  };
  renderBanner = () => {
    const net = client.network();
    if (net.state === "offline") {
      show("offline", OFFLINE_TEXT);
    } else if (net.state === "unreachable") {
      const n = net.nextProbeIn;
      show("unreachable", "Can't reach the server", n == null ? ": retrying now…" : `: retrying in ${Math.ceil(n)} s`);
    } else if (Date.now() < backOnlineUntil) {
      show("online", backOnlineDetail ? `Back online: ${backOnlineDetail}` : "Back online");
    } else {
      banner.hidden = true;
    }
  };
  client.on("network", (event) => {
    if (event.to !== "online") {
      if (!away) {
        sentSinceReconnect = 0;
        sentIds.clear();
      }
      away = true;
    } else {
      away = false;
      const n = sentSinceReconnect;
      backOnlineDetail = n ? `${n} change${n === 1 ? "" : "s"} sent` : "";
      backOnlineUntil = Date.now() + BACK_ONLINE_SHOWN_MS;
      setTimeout(renderBanner, BACK_ONLINE_SHOWN_MS + 50);
    }
    renderBanner();
  });
  // The countdown: the monitor knows when it probes next.
  setInterval(() => { if (!banner.hidden) renderBanner(); }, 500);
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    try {
      await client.probeNow();
    } finally {
      retry.disabled = false;
      renderBanner();
    }
  });
  away = client.network().state !== "online"; // e.g. a reload while offline
  renderBanner();
}

// -- the outbox: an item is stored on this device first, then sent ----------
const savedIds = new Set(); // items this page wrote through the outbox

function badge(text, cls) {
  const span = document.createElement("span");
  span.className = `badge ${cls}`;
  span.textContent = text;
  return span;
}

function entryName(entry) {
  try {
    return JSON.parse(entry.bodyText).name;
  } catch {
    return `${entry.method} ${entry.url}`;
  }
}

async function renderOutbox(client) {
  let entries;
  try {
    entries = await client.outbox.entries();
  } catch {
    return;
  }
  $("pending").replaceChildren(
    ...entries.map((entry) => {
      const li = document.createElement("li");
      li.dataset.outboxId = entry.id;
      li.dataset.state = entry.state;
      li.append(entryName(entry), " ");
      if (entry.state === "dead") {
        const why = entry.response ? `${entry.response.status}: ${entry.response.text}` : entry.error?.message;
        li.append(badge("not saved", "dead"), ` ${why ?? ""} `);
        for (const [label, action] of [["Retry", "retry"], ["Discard", "discard"]]) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = `secondary outbox-${action}`;
          button.textContent = label;
          button.addEventListener("click", () => client.outbox[action](entry.id).then(() => renderOutbox(client)));
          li.append(button, " ");
        }
      } else {
        li.append(badge("pending", "pending"));
      }
      return li;
    }),
  );
}

function awaitSaved(client, id) {
  client.outbox.wait(id).then(
    async (resp) => {
      const item = await resp.json().catch(() => null);
      if (item?.id != null) savedIds.add(item.id);
      await refresh(client);
    },
    () => {}, // a dead letter shows in the list with its error
  );
}

// -- query cache, dedupe and the batch loader ------------------------------------
async function serverHits(route, settle = false) {
  // The server counts a request once it is done with it, just after answering.
  if (settle) await new Promise((resolve) => setTimeout(resolve, 250));
  const stats = await admin(`_stats?scope=${encodeURIComponent(SCOPE)}`);
  return Object.values(stats.routes?.[route] ?? {}).reduce((a, b) => a + b, 0);
}

function describeFreshness(state) {
  if (!state || state.status === "pending") return "loading";
  if (state.status === "error") return `error: ${state.error?.message ?? "no data"}`;
  const age = Math.max(0, Math.round((Date.now() - state.dataUpdatedAt) / 1000));
  if (state.error) return `stale: server unreachable, showing data from ${age} s ago (${state.error.code})`;
  if (state.isFetching) return "stale, refreshing";
  return state.isStale ? `stale (${age} s old)` : "fresh";
}

function wireQueries(client) {
  const showFreshness = () => {
    const label = describeFreshness(client.queryState(["items"]));
    $("freshness").textContent = label;
    $("freshness").dataset.state = label.split(/[ :,(]/)[0];
  };
  client.subscribe(["items"], (state) => {
    if (state.data) renderItems(state.data.items);
    showError(state.error); // a failed refetch keeps the list, and says why
    showFreshness();
  });
  setInterval(showFreshness, 500);
  setInterval(() => client.query(["items"], "api/items").catch(() => {}), 5000);
  $("burst").addEventListener("click", async () => {
    const result = $("burst-result");
    try {
      result.textContent = "counting the server's requests…";
      const before = await serverHits("GET /api/items");
      result.textContent = "sending 20 identical reads…";
      const responses = await Promise.all(Array.from({ length: 20 }, () => client.fetch("api/items")));
      result.textContent = "reading 20 bodies…";
      const bodies = await Promise.all(responses.map((r) => r.json()));
      result.textContent = "counting the server's requests…";
      const hits = (await serverHits("GET /api/items", true)) - before;
      result.textContent = `${bodies.length} reads, ${hits} request(s) reached the server`;
    } catch (err) {
      result.textContent = `burst failed: ${err.code ?? err.name}: ${err.message}`;
    }
    renderState(client);
  });
  $("quick-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("quick-name").value.trim();
    if (!name) return;
    $("quick-name").value = "";
    try {
      await client.mutate({
        url: "api/items", method: "POST", json: { name },
        optimistic: [{ key: ["items"], updater: (old) => ({ items: [...(old?.items ?? []), { id: `new-${name}`, name, optimistic: true }] }) }],
        invalidate: [["items"]],
      });
      showError(null);
    } catch (err) {
      showError(err); // the optimistic item is already rolled back
    }
  });
  const loader = client.loader({ url: "api/items/batch", name: "item", maxBatch: 100 });
  $("detail-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      $("detail").textContent = JSON.stringify(await loader.load(Number($("detail-id").value)), null, 2);
    } catch (err) {
      $("detail").textContent = `${err.code}: ${err.message}`;
    }
  });
  $("load-20").addEventListener("click", async () => {
    const ids = (client.queryState(["items"])?.data?.items ?? []).map((i) => i.id).slice(0, 20);
    const before = await serverHits("GET /api/items/batch");
    const results = await Promise.allSettled(ids.map((id) => loader.load(id)));
    const hits = (await serverHits("GET /api/items/batch", true)) - before;
    const ok = results.filter((r) => r.status === "fulfilled").length;
    $("loader-result").textContent = `${ok} of ${ids.length} items loaded, ${hits} request(s) reached the server`;
  });
  for (const id of ["quick-name", "quick-button", "detail-id", "detail-button", "load-20"]) $(id).disabled = false;
}

async function main() {
  let client;
  try {
    client = await createClient({
      headers: { "X-Fault-Scope": SCOPE },
      // Short timings so the demo shows recovery within seconds, not minutes.
      breaker: { openFor: 5 },
      retry: { base: 0.5, cap: 4 },
      timeout: { attempt: 5, total: 20 },
      // The items list is fresh for 10 s, then refetched in the background.
      cache: { staleTime: 10 },
      // Writes go through the durable outbox, kept in IndexedDB across reloads.
      outbox: { store: "indexeddb", backoff: 0.5, backoffCap: 5 },
    });
  } catch (err) {
    setStatus(`failed to load: ${err.message}`, "failed");
    throw err;
  }
  window.resilientClient = client;
  setStatus("ready", "ready");
  for (const id of ["item-name", "add-button", "refresh", "burst"]) $(id).disabled = false;
  client.on("*", (event) => {
    logEvent(event);
    renderState(client);
  });
  wireFaults(client);
  wireQueries(client);
  wireNetwork(client);
  import("./upload.js").then((u) => u.wireUpload(client)).catch((err) => console.warn(`no upload panel: ${err.message}`));
  import("./dashboard.js").then((d) => d.startDashboard(client, { admin })).catch((err) => console.warn(`no dashboard: ${err.message}`));
  renderState(client);
  setInterval(() => renderState(client), 1000);
  $("refresh").addEventListener("click", () => refresh(client));
  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("item-name");
    const name = input.value.trim();
    if (!name) return;
    try {
      // Stored first (shown at once as "pending"), then sent, even across a reload.
      const { id } = await client.outbox.enqueue("api/items", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      input.value = "";
      showError(null);
      awaitSaved(client, id);
    } catch (err) {
      showError(err); // OUTBOX_FULL: not saved anywhere
    }
    await renderOutbox(client);
  });
  client.on("outbox", (event) => {
    renderOutbox(client);
    if (event.action === "sent") {
      noteChangeSent(event.id);
      refresh(client);
    }
  });
  // Watch the writes an earlier page stored before the first read: offline, the
  // read waits for the network, and the replay may deliver them meanwhile.
  for (const entry of await client.outbox.entries()) awaitSaved(client, entry.id);
  await refresh(client);
  await renderOutbox(client);
  // Precache the page, the runtime and the wheel so a reload works offline (web/sw.js).
  navigator.serviceWorker?.register("sw.js").catch((err) => console.warn(`no offline page: ${err.message}`));
}

main();
