// Live charts of the client's state, and a scenario runner that breaks the
// backend for this tab and narrates, from the client's own events, what the
// client does about it. demo.js starts it once the client is ready.
//
// Why it stays out of the way of input: sampling is one small step a second
// (one client.state() call, a few ring-buffer writes); drawing happens at most
// once per animation frame, as setData() on plots made once (never re-created).
import uPlot from "./vendor/uplot/dist/uPlot.esm.js";

/** Samples kept per series: one a second, the last 5 minutes. */
export const HISTORY_SECONDS = 300;
/** Response times kept for the percentiles (the newest win). */
export const MAX_LATENCY_SAMPLES = 2000;
/** Percentiles are over the responses of this many seconds. */
export const LATENCY_WINDOW_SECONDS = 30;
/** Narration lines kept in the scenario panel. */
export const MAX_NARRATION = 60;
/** Lines the event log keeps (as demo.js does). */
const MAX_LOG = 40;
/** Dashboard work intervals kept for the debug hook (tick + draw), newest win. */
const MAX_WORK_LOG = 600;
/** Requests a scenario keeps in flight at most. */
const MAX_SCENARIO_INFLIGHT = 6;
/** After the faults are removed, watch the client recover for at most this long. */
const RECOVERY_MAX_SECONDS = 60;

const $ = (id) => document.getElementById(id);

/** A fixed-size ring: push() drops the oldest once full. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(value) {
    this.items[(this.start + this.length) % this.capacity] = value;
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest first, through `pick` when given. */
  toArray(pick = (v) => v) {
    const out = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = pick(this.items[(this.start + i) % this.capacity]);
    return out;
  }

  last() {
    return this.length ? this.items[(this.start + this.length - 1) % this.capacity] : undefined;
  }
}

// -- what is sampled ----------------------------------------------------------

/** Outcome counters (state().metrics.outcomes) grouped into the requests/s series. */
const OUTCOME_GROUPS = [
  { key: "ok", label: "ok", color: "#2e8540" }, // 2xx, 3xx
  { key: "http4xx", label: "4xx", color: "#d98c00" }, // a final 429 too
  { key: "http5xx", label: "5xx", color: "#c0392b" },
  { key: "refused", label: "failed fast", color: "#7d3c98" }, // breaker open, rate limit, queue full
  { key: "error", label: "no answer", color: "#55606b" }, // network, timeout, offline
];
const REFUSED_CODES = new Set(["CIRCUIT_OPEN", "RATE_LIMITED", "QUEUE_FULL", "RETRY_BUDGET"]);

function outcomeGroup(name) {
  if (name === "success") return "ok";
  if (name === "http_4xx") return "http4xx";
  if (name.startsWith("http_")) return "http5xx";
  return REFUSED_CODES.has(name) ? "refused" : "error";
}

const BREAKER_STATES = [
  { key: "closed", label: "closed", color: "#2e8540" },
  { key: "half_open", label: "half-open", color: "#e0a800" },
  { key: "open", label: "open", color: "#c0392b" },
];
const NETWORK_STATES = [
  { key: "online", label: "online", color: "#7fb3d5" },
  { key: "offline", label: "offline", color: "#8e44ad" },
  { key: "unreachable", label: "unreachable", color: "#34495e" },
];

function percentile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.max(0, Math.ceil((q / 100) * sorted.length) - 1)];
}

/** The breaker that guards the page's own origin (the demo's only one), else the first. */
function pageBreaker(state) {
  const breakers = state.breakers ?? {};
  return breakers[location.origin] ?? Object.values(breakers)[0];
}

class Sampler {
  constructor(client) {
    this.client = client;
    this.samples = new Ring(HISTORY_SECONDS);
    this.latencies = new Ring(MAX_LATENCY_SAMPLES);
    this.previous = null; // { at, counts } of the last tick, for the rates
    this.outbox = 0;
    this.outboxStale = true;
    this.outboxBusy = false;
    this.ticks = 0;
    // Every finished call, answered or failed: a breaker that fails fast shows as fast here.
    const observe = (e) => this.latencies.push({ at: performance.now(), ms: e.durationMs ?? 0 });
    client.on("response", observe);
    client.on("error", observe);
    client.on("outbox", () => { this.outboxStale = true; });
  }

  tick() {
    const now = performance.now();
    const state = this.client.state();
    const counts = Object.fromEntries(OUTCOME_GROUPS.map((g) => [g.key, 0]));
    for (const [name, n] of Object.entries(state.metrics?.outcomes ?? {})) counts[outcomeGroup(name)] += n;
    const rates = {};
    for (const g of OUTCOME_GROUPS) {
      const dt = this.previous ? (now - this.previous.at) / 1000 : 0;
      rates[g.key] = dt > 0 ? Math.max(0, counts[g.key] - this.previous.counts[g.key]) / dt : 0;
    }
    this.previous = { at: now, counts };
    const since = now - LATENCY_WINDOW_SECONDS * 1000;
    const recent = this.latencies.toArray().filter((s) => s.at >= since).map((s) => s.ms);
    recent.sort((a, b) => a - b);
    const breaker = pageBreaker(state);
    let breakerState = breaker?.state ?? "closed";
    if (breakerState === "isolated") breakerState = "open"; // held open by hand: open on the band
    this.refreshOutbox();
    this.samples.push({
      t: Date.now() / 1000,
      p50: percentile(recent, 50),
      p95: percentile(recent, 95),
      rates,
      breaker: breakerState,
      network: state.network?.state ?? "online",
      running: state.queue?.running ?? 0,
      waiting: state.queue?.waitingTotal ?? 0,
      paused: state.network?.paused ?? 0,
      outbox: this.outbox,
    });
    this.ticks += 1;
    return state;
  }

  /** Outbox size from the store, read again after an outbox event and every 5 s; never two reads at once. */
  refreshOutbox() {
    if (this.outboxBusy || (!this.outboxStale && this.ticks % 5 !== 0) || !this.client.outbox) return;
    this.outboxBusy = true;
    this.outboxStale = false;
    this.client.outbox.entries().then(
      (entries) => { this.outbox = entries.length; },
      () => {},
    ).finally(() => { this.outboxBusy = false; });
  }
}

// -- the charts ---------------------------------------------------------------

const CHART_HEIGHT = 150;

function baseOptions(width, title, series, extra = {}) {
  return {
    title, width, height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } }, // live data: no zoom to fight with setData
    legend: { live: false }, // a compact key; the lines carry the values
    scales: { x: { time: true } },
    series: [{}, ...series],
    ...extra,
  };
}

/** One state machine as a colour band: a series per state, filled between `low` and `low + 1`. */
function bandSeries(states, low, prefix) {
  return states.map((s) => ({
    label: `${prefix} ${s.label}`,
    stroke: s.color,
    fill: s.color,
    width: 1,
    points: { show: false },
    fillTo: () => low,
    paths: uPlot.paths.stepped({ align: 1 }),
  }));
}

/**
 * A band series holds `level` where the state was `key`. Each run is carried
 * one sample on, so with step-after paths runs meet with no gap between them.
 */
function bandColumn(codes, key, level) {
  return codes.map((c, i) => (c === key || (i > 0 && codes[i - 1] === key) ? level : null));
}

class Charts {
  constructor(root) {
    this.root = root;
    this.created = 0;
    const width = this.width();
    const make = (id, opts) => {
      this.created += 1;
      return new uPlot(opts, [[], ...opts.series.slice(1).map(() => [])], $(id));
    };
    const line = (label, color, extra = {}) => ({ label, stroke: color, width: 2, points: { show: false }, ...extra });
    this.plots = {
      latency: make("chart-latency", baseOptions(width, "Call time, answered or failed, last 30 s (ms)", [
        line("p50", "#2471a3"),
        line("p95", "#c0392b"),
      ])),
      rates: make("chart-rates", baseOptions(width, "Requests per second, by outcome",
        OUTCOME_GROUPS.map((g) => line(g.label, g.color)),
        { scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } } })),
      states: make("chart-states", baseOptions(width, "Circuit breaker and network over time", [
        ...bandSeries(BREAKER_STATES, 1, "breaker"),
        ...bandSeries(NETWORK_STATES, 0, "network"),
      ], {
        scales: { x: { time: true }, y: { range: [0, 2] } },
        axes: [{}, {
          splits: () => [0.5, 1.5],
          values: (u, splits) => splits.map((v) => (v > 1 ? "breaker" : "network")),
          size: 70,
        }],
      })),
      queue: make("chart-queue", baseOptions(width, "Queue depth, paused requests, outbox size", [
        line("running", "#2471a3"),
        line("waiting", "#d98c00"),
        line("paused (network)", "#34495e"),
        line("outbox", "#7d3c98", { dash: [6, 4] }),
      ], { scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max)] } } })),
    };
    this.resizeQueued = false;
    this.observer = new ResizeObserver(() => this.queueResize());
    this.observer.observe(root);
  }

  width() {
    const chart = this.root.querySelector(".chart");
    return Math.max(240, Math.floor(chart?.clientWidth || 400));
  }

  queueResize() {
    if (this.resizeQueued) return;
    this.resizeQueued = true;
    requestAnimationFrame(() => {
      this.resizeQueued = false;
      const width = this.width();
      for (const plot of Object.values(this.plots)) {
        if (plot.width !== width) plot.setSize({ width, height: CHART_HEIGHT });
      }
    });
  }

  /** Columns from the samples, handed to the existing plots. */
  update(samples) {
    const t = samples.toArray((s) => s.t);
    const col = (pick) => samples.toArray(pick);
    this.plots.latency.setData([t, col((s) => s.p50), col((s) => s.p95)]);
    this.plots.rates.setData([t, ...OUTCOME_GROUPS.map((g) => col((s) => s.rates[g.key]))]);
    const breaker = col((s) => s.breaker);
    const network = col((s) => s.network);
    this.plots.states.setData([
      t,
      ...BREAKER_STATES.map((s) => bandColumn(breaker, s.key, 2)),
      ...NETWORK_STATES.map((s) => bandColumn(network, s.key, 1)),
    ]);
    this.plots.queue.setData([t, col((s) => s.running), col((s) => s.waiting), col((s) => s.paused), col((s) => s.outbox)]);
  }
}

// -- narration: the client's events in plain words ---------------------------

function seconds(x) {
  return `${Number(x).toFixed(1)} s`;
}

class Narrator {
  constructor(client) {
    this.client = client;
    this.lines = new Ring(MAX_NARRATION);
    this.lastOpenFor = null;
    this.lastServerWait = null; // { at, wait } of the server's last slow-down signal
    this.failing = false;
    this.off = null;
  }

  start() {
    this.failing = false;
    this.off ??= this.client.on("*", (event) => {
      const text = this.describe(event);
      if (text) this.say(text, event.event);
    });
  }

  stop() {
    this.off?.();
    this.off = null;
  }

  /** One line in the panel and in the event log; a repeat of the last line counts up instead. */
  say(text, source = "scenario") {
    const list = $("scenario-log");
    const last = this.lines.last();
    if (last && last.text === text && Date.now() - last.at < 10_000) {
      last.count += 1;
      last.at = Date.now();
      for (const li of last.elements) li.dataset.count = `×${last.count}`;
      return;
    }
    const stamp = new Date().toLocaleTimeString();
    const make = () => {
      const li = document.createElement("li");
      li.className = "narration";
      li.dataset.event = "narration";
      li.dataset.source = source;
      li.textContent = `${stamp} ${text}`;
      return li;
    };
    const entry = { text, source, at: Date.now(), count: 1, elements: [make(), make()] };
    this.lines.push(entry);
    list.prepend(entry.elements[0]);
    while (list.children.length > MAX_NARRATION) list.lastElementChild.remove();
    const log = $("events");
    log.prepend(entry.elements[1]);
    while (log.children.length > MAX_LOG) log.lastElementChild.remove();
  }

  describe(event) {
    switch (event.event) {
      case "breaker": return this.breaker(event);
      case "retry": return this.retry(event);
      case "rate_limited": return this.rateLimited(event);
      case "network": return this.network(event);
      case "response": return this.response(event);
      case "error": return this.error(event);
      case "timeout": return `an attempt timed out after ${seconds(event.timeout)} (${event.kind}); the fetch was aborted`;
      case "queue":
        if (event.action === "reject") return "queue full: a request was refused at once (QUEUE_FULL)";
        if (event.action === "timeout") return "a request waited too long for a queue slot and gave up";
        return null;
      default: return null;
    }
  }

  breaker(e) {
    if (e.to === "open") {
      this.lastOpenFor = e.openFor;
      if (e.reason === "probe_failed") {
        return `the probe failed: breaker open again, now for ${seconds(e.openFor)} (it waits longer after each failed probe)`;
      }
      const failures = pageBreaker(this.client.state())?.failures ?? {};
      const why = failures.strategy === "consecutive"
        ? `${failures.consecutiveFailures} failures in a row`
        : `the failure rate reached its threshold`;
      return `breaker opened after ${why}: requests fail fast (CIRCUIT_OPEN) for ${seconds(e.openFor)}, nothing is sent`;
    }
    if (e.to === "half_open") {
      const after = this.lastOpenFor != null ? ` after ${seconds(this.lastOpenFor)} open` : "";
      return `breaker half-open${after}: the next request goes through as a probe, the rest still fail fast`;
    }
    if (e.to === "closed") {
      return e.reason === "probe_succeeded"
        ? "probes succeeded: breaker closed, requests flow again"
        : `breaker closed (${e.reason})`;
    }
    return `breaker ${e.from} → ${e.to} (${e.reason})`;
  }

  retry(e) {
    if (e.refused) {
      const why = e.refused === "budget" ? "the retry budget is spent" : "the deadline would pass first";
      return `no retry after ${e.reason}: ${why}`;
    }
    const server = this.lastServerWait;
    const fromServer = server && Date.now() - server.at < 2000 && Math.abs(server.wait - e.delay) < 0.05;
    if (fromServer) return `retrying after ${seconds(e.delay)} (the server's Retry-After) following ${e.reason}`;
    return `retrying in ${seconds(e.delay)} (backoff with jitter) after ${e.reason}, attempt ${e.attempt + 1}`;
  }

  rateLimited(e) {
    if (e.source === "server") {
      this.lastServerWait = { at: Date.now(), wait: e.retryAfter };
      return `the server asked us to slow down (its Retry-After / RateLimit headers): requests to this origin wait ${seconds(e.retryAfter)}`;
    }
    return e.action === "reject"
      ? `client-side rate limit reached: a request was refused (RATE_LIMITED), ${seconds(e.retryAfter)} until a slot frees`
      : `client-side rate limit reached: a request waits ${seconds(e.retryAfter)} for a slot`;
  }

  network(e) {
    const net = this.client.network();
    if (e.to === "offline") return `requests are paused: offline (${e.reason}); they resume when the network is back`;
    if (e.to === "unreachable") {
      const next = net.nextProbeIn == null ? "" : `, next probe of ${net.probeUrl} in ${seconds(net.nextProbeIn)}`;
      return `requests are paused: server unreachable (${e.reason})${next}`;
    }
    return `network ${e.to} again (${e.reason}): paused requests resume`;
  }

  response(e) {
    const ok = e.status < 400;
    let text = null;
    if (ok && e.attempts > 1) text = `got ${e.status} after ${e.attempts} attempts (${e.attempts - 1} retr${e.attempts === 2 ? "y" : "ies"})`;
    else if (!ok) text = `gave up: ${e.status} after ${e.attempts} attempt${e.attempts === 1 ? "" : "s"}`;
    else if (this.failing) text = `requests succeed again (${e.status})`;
    this.failing = !ok;
    return text;
  }

  error(e) {
    this.failing = true;
    switch (e.code) {
      case "CIRCUIT_OPEN": return "failed fast: breaker open, nothing sent (CIRCUIT_OPEN)";
      case "RATE_LIMITED": return `refused: rate limited (RATE_LIMITED): ${e.message}`;
      case "OFFLINE": return "gave up waiting for the network (OFFLINE)";
      case "NETWORK": return `no answer from the server after ${e.attempts} attempt(s) (NETWORK)`;
      case "TIMEOUT": return `timed out after ${e.attempts} attempt(s) (TIMEOUT)`;
      default: return `${e.code}: ${e.message}`;
    }
  }
}

// -- scenarios ----------------------------------------------------------------

/**
 * Each scenario: faults for this tab's scope, traffic so something happens, and
 * how long the faults stay. "Server unreachable" cannot take the browser offline
 * (page JS cannot, and faking navigator.onLine would lie to the client): it
 * resets every connection to the API and the health check, which is what an
 * unreachable server looks like from the page.
 */
export const SCENARIOS = {
  outage: {
    label: "Outage for 20 s",
    seconds: 20,
    perSecond: 1,
    faults: [{ type: "down", match: "/api/*" }],
    intro: "the API answers 503 to every request for 20 s (the health check stays up)",
  },
  flaky: {
    label: "Flaky 30 %",
    seconds: 20,
    perSecond: 2,
    faults: [{ type: "status", code: 503, toxicity: 0.3, match: "/api/*" }],
    intro: "30 % of API requests get a 503 for 20 s",
  },
  rateLimited: {
    label: "Rate limited",
    seconds: 20,
    perSecond: 4,
    burst: 2,
    faults: [{ type: "rate_limit", limit: "3 per 2 seconds", match: "/api/*" }],
    intro: "the server allows 3 API requests per 2 s window for 20 s, then answers 429 with Retry-After",
  },
  unreachable: {
    label: "Server unreachable for 10 s",
    seconds: 10,
    perSecond: 1,
    faults: [{ type: "reset", match: "/api/*" }, { type: "reset", match: "/health/*" }],
    intro: "every connection to the API and the health check is reset for 10 s (no answer at all)",
  },
};

class ScenarioRunner {
  constructor(client, admin, narrator, onChange) {
    this.client = client;
    this.admin = admin;
    this.narrator = narrator;
    this.onChange = onChange;
    this.current = null;
    this.history = new Ring(20);
  }

  running() {
    return this.current?.name ?? null;
  }

  async start(name) {
    if (this.current) return false; // one at a time
    const spec = SCENARIOS[name];
    const run = { name, spec, phase: "starting", faults: [], traffic: null, inflight: 0, sent: 0,
      endsAt: 0, recoverBy: 0, timer: null };
    this.current = run;
    this.onChange();
    this.narrator.start();
    this.narrator.say(`scenario "${spec.label}": ${spec.intro}`);
    try {
      for (const fault of spec.faults) {
        const made = await this.admin("_faults", { method: "POST", body: JSON.stringify(fault) });
        run.faults.push(made.name);
        if (this.current !== run) { // cancelled meanwhile
          await this.deleteFaults(run);
          return false;
        }
      }
    } catch (err) {
      this.narrator.say(`could not set the faults: ${err.message}`);
      await this.finish(run, "failed");
      return false;
    }
    run.phase = "faults";
    run.endsAt = Date.now() + spec.seconds * 1000;
    this.startTraffic(run);
    run.timer = setTimeout(() => this.removeFaults(run), spec.seconds * 1000);
    this.onChange();
    return true;
  }

  /** Background reads so the client has something to protect (bounded in flight). */
  startTraffic(run) {
    const send = () => {
      for (let i = 0; i < (run.spec.burst ?? 1); i++) {
        if (run.inflight >= MAX_SCENARIO_INFLIGHT) return;
        run.inflight += 1;
        run.sent += 1;
        // dedupe off: these are separate reads, not one shared request.
        this.client.fetch("api/items", { resilience: { dedupe: false } })
          .then((resp) => resp.body?.cancel())
          .catch(() => {}) // the narration says what happened
          .finally(() => { run.inflight -= 1; });
      }
    };
    send();
    run.traffic = setInterval(send, 1000 / run.spec.perSecond * (run.spec.burst ?? 1));
  }

  async removeFaults(run) {
    if (this.current !== run || run.phase !== "faults") return;
    run.phase = "recovering";
    run.recoverBy = Date.now() + RECOVERY_MAX_SECONDS * 1000;
    await this.deleteFaults(run);
    const net = this.client.network();
    const breaker = pageBreaker(this.client.state());
    const waits = [];
    if (breaker?.state === "open" && breaker.retryAfter) waits.push(`the breaker half-opens in ${seconds(breaker.retryAfter)}`);
    if (net.state !== "online" && net.nextProbeIn != null) waits.push(`the next probe is in ${seconds(net.nextProbeIn)}`);
    this.narrator.say(`faults removed after ${run.spec.seconds} s${waits.length ? `; ${waits.join(", ")}` : ""}`);
    this.onChange();
  }

  async deleteFaults(run) {
    const names = run.faults.splice(0);
    await Promise.all(names.map((n) => this.admin(`_faults/${encodeURIComponent(n)}`, { method: "DELETE" })
      .catch((err) => this.narrator.say(`could not remove fault ${n}: ${err.message}`))));
  }

  /** Called once a second: recovered yet? */
  check(state) {
    const run = this.current;
    if (!run || run.phase !== "recovering") return;
    const breaker = pageBreaker(state);
    const healthy = (breaker?.state ?? "closed") === "closed" && state.network?.state === "online"
      && (state.queue?.waitingTotal ?? 0) === 0;
    if (healthy) {
      this.narrator.say(`recovered: breaker closed, network online, nothing waiting`);
      this.finish(run, "done");
    } else if (Date.now() > run.recoverBy) {
      this.narrator.say(`stopped watching after ${RECOVERY_MAX_SECONDS} s: breaker ${breaker?.state}, network ${state.network?.state}`);
      this.finish(run, "done");
    }
  }

  async cancel() {
    const run = this.current;
    if (!run) return;
    this.narrator.say(`scenario "${run.spec.label}" cancelled`);
    await this.finish(run, "cancelled");
  }

  async finish(run, outcome) {
    if (this.current !== run) return;
    this.current = null;
    clearTimeout(run.timer);
    clearInterval(run.traffic);
    await this.deleteFaults(run);
    this.history.push({ name: run.name, outcome, sent: run.sent });
    this.narrator.stop();
    this.onChange(outcome);
  }

  status() {
    const run = this.current;
    if (!run) return null;
    if (run.phase === "faults") return `${run.spec.label}: ${Math.max(0, Math.ceil((run.endsAt - Date.now()) / 1000))} s left`;
    if (run.phase === "recovering") return `${run.spec.label}: faults removed, watching the client recover`;
    return `${run.spec.label}: setting the faults…`;
  }
}

// -- wiring -------------------------------------------------------------------

/**
 * Start sampling, charts and scenarios. `admin(path, init)` is demo.js's fault-API
 * helper (it sends this tab's X-Fault-Scope).
 */
export function startDashboard(client, { admin }) {
  const sampler = new Sampler(client);
  const charts = new Charts($("charts"));
  const narrator = new Narrator(client);
  const work = new Ring(MAX_WORK_LOG);
  const buttons = [...document.querySelectorAll("[data-scenario]")];
  const cancel = $("scenario-cancel");
  const status = $("scenario-status");
  let drawQueued = false;
  let draws = 0;
  let busyNextDraw = 0;

  const showStatus = (outcome) => {
    const name = runner.running();
    for (const b of buttons) {
      b.disabled = name != null;
      b.setAttribute("aria-pressed", String(b.dataset.scenario === name));
    }
    cancel.disabled = name == null;
    const text = runner.status() ?? (outcome ? `last scenario ${outcome}` : "no scenario running");
    if (status.textContent !== text) status.textContent = text;
    status.dataset.state = name ? "running" : (outcome ?? "idle");
  };
  const runner = new ScenarioRunner(client, admin, narrator, showStatus);

  const draw = () => {
    drawQueued = false;
    const began = performance.now();
    charts.update(sampler.samples);
    // uPlot paints in a microtask queued by setData; ours runs after it, so the
    // interval covers the painting too.
    queueMicrotask(() => {
      if (busyNextDraw) { // the long-task test's control: a deliberate busy loop inside a draw
        const until = performance.now() + busyNextDraw;
        busyNextDraw = 0;
        while (performance.now() < until) { /* busy */ }
      }
      draws += 1;
      work.push({ kind: "draw", start: began, end: performance.now() });
    });
  };
  const tick = () => {
    const began = performance.now();
    const state = sampler.tick();
    runner.check(state);
    if (runner.running()) showStatus();
    work.push({ kind: "tick", start: began, end: performance.now() });
    if (!drawQueued) {
      drawQueued = true;
      requestAnimationFrame(draw);
    }
  };

  for (const b of buttons) b.addEventListener("click", () => runner.start(b.dataset.scenario));
  cancel.addEventListener("click", () => runner.cancel());
  showStatus();
  tick();
  setInterval(tick, 1000);

  // Debug hook for tests and the curious: what the plots hold, and the dashboard's own work.
  const plotSeries = (plot) => Object.fromEntries(plot.series.slice(1).map((s, i) => [s.label, [...plot.data[i + 1]]]));
  window.rfDashboard = {
    capacity: HISTORY_SECONDS,
    series: () => ({
      t: [...charts.plots.latency.data[0]],
      latency: plotSeries(charts.plots.latency),
      rates: plotSeries(charts.plots.rates),
      states: plotSeries(charts.plots.states),
      queue: plotSeries(charts.plots.queue),
      breaker: sampler.samples.toArray((s) => s.breaker),
      network: sampler.samples.toArray((s) => s.network),
    }),
    stats: () => ({ ticks: sampler.ticks, draws, plotsCreated: charts.created, samples: sampler.samples.length }),
    narration: () => narrator.lines.toArray((l) => ({ text: l.text, source: l.source, count: l.count })),
    scenario: () => ({ running: runner.running(), status: runner.status(), history: runner.history.toArray() }),
    workLog: () => work.toArray(),
    debugBusyNextDraw: (ms) => { busyNextDraw = ms; },
  };
  return window.rfDashboard;
}
