// A typed page using the whole shim API; `make typecheck-js` compiles it with
// tsc (strict, noEmit). Each `@ts-expect-error TSnnnn` line must fail to
// compile: an unused one is itself an error, so the types are proven not to be
// `any`, and types/check-expected-errors.mjs checks each fails with that code.
import {
  createClient,
  loadRuntime,
  type AnyClientEvent,
  type BreakerSnapshot,
  type ClientOptions,
  type ClientState,
  type ErrorCode,
  type Json,
  type NetworkSnapshot,
  type OutboxEntry,
  type QueryState,
  type ResilienceError,
  type ResilientClient,
  type UploadResult,
} from "../web/resilient-fetch.js";

interface Item {
  id: number;
  name: string;
}

const options: ClientOptions = {
  baseUrl: "http://127.0.0.1:8000/",
  headers: { "X-Fault-Scope": "example" },
  breaker: {
    strategy: "count_rate",
    failureRate: 0.5,
    windowSize: 20,
    minCalls: 10,
    openFor: 5,
    maxOpenFor: 60,
    slowCallThreshold: null,
    key: "origin",
  },
  limiter: {
    mode: "wait",
    kind: "sliding_window",
    limit: 10,
    window: 1,
    rules: [
      { pattern: "*/upload*", kind: "token_bucket", rate: 2, burst: 4 },
      { pattern: "*/api/search*", limit: 5, window: 1 },
    ],
  },
  queue: { concurrency: 6, maxWaiting: 100, maxWait: { high: null, low: 30 } },
  retry: { maxRetries: 5, base: 0.5, cap: 10, jitter: "full", retryStatuses: [503, 429] },
  timeout: { attempt: 5, total: 30, close: 2 },
  network: { mode: "pause", probeUrl: "/health/live", debounce: 0.5 },
  idempotencyKeys: true,
  outbox: { store: "indexeddb", name: "example-outbox", maxEntries: 100, backoffCap: 60 },
  cache: { staleTime: 10, gcTime: 300, refetchOnWindowFocus: false },
  dedupe: false,
};
// @ts-expect-error TS2561: a misspelt option is refused (Python rejects it too, with CONFIG)
const misspelt: ClientOptions = { retry: { maxRetrys: 5 } };
// @ts-expect-error TS2322: not a jitter strategy
const badJitter: ClientOptions = { retry: { jitter: "random" } };
// @ts-expect-error TS2741: a limiter rule needs its pattern
const noPattern: ClientOptions = { limiter: { rules: [{ limit: 5 }] } };
void [misspelt, badJitter, noPattern];

function describe(err: ResilienceError): string {
  // `code` discriminates the union: each branch sees its own details.
  switch (err.code) {
    case "CIRCUIT_OPEN":
      return `breaker ${err.details.key} is ${err.details.state}, retry in ${err.details.retryAfter ?? "?"} s`;
    case "RATE_LIMITED":
      return `slow down: ${err.details.retryAfter} s`;
    case "TIMEOUT":
      return `${err.details.kind} deadline of ${err.details.timeout} s`;
    case "CONFIG":
      return `bad option ${err.details.field}: expected ${err.details.allowed}`;
    case "DEAD_LETTER":
      return `write ${err.details.id} dead: ${err.details.reason}`;
    case "OUTBOX_FULL":
      return `outbox full (${err.details.limit}=${err.details.value})`;
    case "CLOSED":
      return err.details.inFlight ? `cut short by close() after ${err.details.timeout} s` : "closed";
    case "NOT_FOUND":
      return `no item ${JSON.stringify(err.details.key)}`;
    case "ABORTED":
      return `aborted (${err.name})`; // a DOMException named AbortError
    case "NETWORK":
    case "OFFLINE":
      return err instanceof TypeError ? err.message : "network";
    default:
      return `${err.code}: ${err.message} ${err.details.url ?? ""}`;
  }
}

function asResilienceError(err: unknown): ResilienceError | null {
  return typeof err === "object" && err !== null && "code" in err && "details" in err
    ? (err as ResilienceError)
    : null;
}

export async function page(): Promise<void> {
  const runtime = await loadRuntime({ snapshot: true });
  const boot: "snapshot" | "plain" = runtime.boot;
  console.log(boot, runtime.manifest.wheel, runtime.manifest.snapshot?.file, runtime.pyodide.version);

  const client: ResilientClient = await createClient(options);
  const base: string | undefined = client.baseUrl;
  console.log(base, client.pyodide.runPython("1 + 1"));

  // fetch: fetch's own signature and Response, plus init.resilience
  const controller = new AbortController();
  const resp: Response = await client.fetch("api/items", {
    method: "POST",
    body: JSON.stringify({ name: "x" }),
    headers: { "Content-Type": "application/json" },
    signal: controller.signal,
    resilience: { priority: "high", timeout: 2, totalTimeout: 10, maxRetries: 1, idempotencyKey: "k-1", rateLimitMode: "reject", dedupe: false },
  });
  console.log(resp.status, await resp.json());
  await client.fetch(new Request("http://127.0.0.1:8000/api/items"), { resilience: { idempotencyKey: false } });
  await client.fetch(new URL("http://127.0.0.1:8000/api/items"));
  // @ts-expect-error TS2322: not a priority
  await client.fetch("api/items", { resilience: { priority: "urgent" } });
  // @ts-expect-error TS2322: an idempotency key is a string or false, never true
  await client.fetch("api/items", { resilience: { idempotencyKey: true } });

  try {
    await client.fetch("api/items");
  } catch (caught) {
    const err = asResilienceError(caught);
    if (err) console.log(describe(err), err.details.message);
    // @ts-expect-error TS2339: retryAfter exists only once code is narrowed to CIRCUIT_OPEN or RATE_LIMITED
    if (err) console.log(err.details.retryAfter);
    // @ts-expect-error TS2367: not an error code
    if (err?.code === "CIRCUIT_OPENED") console.log("never");
  }
  const codes: ErrorCode[] = ["QUEUE_FULL", "RETRY_BUDGET", "HTTP_STATUS", "INVALID_REQUEST", "INTERNAL"];
  console.log(codes);

  // events: the name picks the payload
  const offs = [
    client.on("breaker", (e) => console.log(e.key, e.from, "->", e.to, e.openFor, e.reason)),
    client.on("retry", (e) => console.log(e.attempt, e.delay, e.reason, e.refused)),
    client.on("rate_limited", (e) => console.log(e.key, e.retryAfter, e.source, e.action)),
    client.on("queue", (e) => console.log(e.action, e.priority, e.waiting, e.running, e.waitedMs)),
    client.on("timeout", (e) => console.log(e.kind, e.timeout, e.url)),
    client.on("network", (e) => console.log(e.from, e.to, e.reason)),
    client.on("outbox", (e) => console.log(e.action, e.id, e.status)),
    client.on("request", (e) => console.log(e.id, e.method, e.url, e.priority)),
    client.on("response", (e) => console.log(e.id, e.status, e.attempts, e.durationMs)),
    client.on("error", (e) => console.log(e.code, e.message, e.attempts, e.durationMs, e.code === "TIMEOUT" ? e.kind : "")),
    client.on("*", (e: AnyClientEvent) => {
      if (e.event === "breaker") console.log(e.to);
      else if (e.event === "response") console.log(e.status);
    }),
  ];
  // @ts-expect-error TS2769: not an event name
  client.on("breakr", () => {});
  // @ts-expect-error TS2339: a breaker event has no status
  client.on("breaker", (e) => console.log(e.status));
  offs.forEach((off) => off());

  // state, network, breakers
  const state: ClientState = client.state();
  const breaker = Object.values(state.breakers)[0];
  if (breaker?.failures.strategy === "consecutive") console.log(breaker.failures.consecutiveFailures);
  console.log(state.queue.running, state.queue.waiting.high, state.budget.balance, state.metrics.outcomes.success,
    state.metrics.latency["GET /api/items"]?.p95Ms, state.network.state, state.cache?.hits, state.dedupe?.shared,
    state.revalidation?.revalidated, state.stages.join(" > "), state.lifecycle.state, state.outbox?.pending);
  const exposition: string = client.metricsText();
  navigator.sendBeacon("/metrics-sink", exposition);
  for (const [key, lim] of Object.entries(state.limiter)) {
    console.log(key, lim.kind === "token_bucket" ? lim.tokens : lim.used, lim.cooldown, lim.waiting);
  }
  const net: NetworkSnapshot = client.network();
  console.log(net.state, net.since, net.nextProbeIn, net.paused, net.probes, net.probeUrl);
  const probed: NetworkSnapshot = await client.probeNow();
  const isolated: BreakerSnapshot = client.isolate("http://127.0.0.1:8000/");
  const reset: BreakerSnapshot = client.resetBreaker();
  console.log(probed.state, isolated.state, reset.retryAfter);

  // query cache
  const items = await client.query<Item[]>(["items"], "api/items", { headers: { Accept: "application/json" }, resilience: { priority: "low" } }, { staleTime: 5 });
  console.log(items.map((i) => i.name));
  const itemState: QueryState<Item[]> | null = client.queryState<Item[]>(["items"]);
  console.log(itemState?.status, itemState?.isStale, itemState?.isFetching, itemState?.dataUpdatedAt, itemState?.error?.code);
  const unsubscribe = client.subscribe<Item[]>(["items"], (s) => {
    if (s.status === "success") console.log(s.data?.length, s.isStale);
  });
  unsubscribe();
  const stale: number = client.invalidate(["items"]);
  const now: Item[] | null = client.setQueryData<Item[]>(["items"], (old) => (old ? [...old, { id: 0, name: "draft" }] : undefined));
  client.setQueryData(["count"], 3);
  console.log(stale, now);
  // @ts-expect-error TS2345: a query key is a list
  client.invalidate("items");
  // @ts-expect-error TS2345: the updater must answer the key's data type
  client.setQueryData<Item[]>(["items"], (old) => old?.length);
  const detail: Json = { nested: [1, "two", null, { ok: true }] };
  client.setQueryData(["detail"], detail);

  const created = await client.mutate<Item>({
    url: "api/items",
    method: "POST",
    json: { name: "new" },
    optimistic: [
      { key: ["items"], updater: (old: Item[] | null) => [...(old ?? []), { id: -1, name: "new" }] },
      { key: ["count"], data: 4 },
    ],
    invalidate: [["items"]],
    durable: true,
    resilience: { priority: "high" },
  });
  console.log(created.id);
  // @ts-expect-error TS2322: not an HTTP method
  await client.mutate({ url: "api/items", method: "SEND" });

  const loader = client.loader<Item>({ url: "api/items/batch", key: "id", name: "item", maxBatch: 50, windowMs: 5, method: "GET" });
  const one: Item = await loader.load(7);
  const many = await loader.loadMany([1, "2", 3]);
  for (const r of many) console.log(r instanceof Error ? describe(r) : r.name);
  loader.destroy();
  console.log(one.name);
  // @ts-expect-error TS2322: a loader method is GET or POST
  client.loader({ url: "api/items/batch", method: "PUT" });

  // resumable uploads
  const file = new File(["hello"], "hello.txt", { type: "text/plain" });
  const upload = client.upload(file, "api/uploads/", {
    chunkSize: 256 * 1024,
    metadata: { purpose: "example" },
    signal: controller.signal,
    onProgress: (p) => console.log(p.phase, p.sent, p.total, p.rate, p.url),
  });
  upload.pause();
  upload.resume();
  console.log(upload.state()?.phase);
  try {
    const done: UploadResult = await upload;
    console.log(done.url, done.sha256, done.verified, done.resumedFrom, done.bytesSent);
  } catch (caught) {
    const err = asResilienceError(caught);
    if (err?.code === "UPLOAD_FAILED" || err?.code === "CHECKSUM_MISMATCH") console.log(err.details.offset, err.details.uploadUrl);
    else if (err?.code === "HASH_MISMATCH") console.log(err.details.expected, err.details.actual);
  }
  await client.upload(new Uint8Array([1, 2, 3]), new URL("http://127.0.0.1:8000/api/uploads/")).abort(true);
  // @ts-expect-error TS2345: a string is not upload data (a Blob, a File or bytes)
  client.upload("hello", "api/uploads/");

  // the outbox
  const stored = await client.outbox.enqueue("api/items", { method: "POST", body: JSON.stringify({ name: "later" }) });
  const delivered: Response = await client.outbox.wait(stored.id);
  const entries: OutboxEntry[] = await client.outbox.entries();
  for (const e of entries) console.log(e.id, e.state, e.attempts, e.nextAt, e.error?.code, e.bodyText, e.response?.status);
  const again = await client.outbox.retry(stored.id);
  const dropped: boolean = await client.outbox.discard(stored.id);
  await client.outbox.kick();
  console.log(delivered.status, again.state, dropped);

  // @ts-expect-error TS2322: close's timeout is seconds or null
  await client.close({ timeout: "soon" });
  await client.close({ timeout: 5 });
  await client.close();
}
