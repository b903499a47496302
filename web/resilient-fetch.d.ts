// Type declarations for the resilient-fetch JS shim (resilient-fetch.js).
//
// Options are the camelCase form of the Python client's settings (config.py);
// every field is optional and defaults as documented in the README. Seconds
// everywhere unless a name says Ms. Data crosses the Python boundary as JSON,
// so query data, keys and event payloads are JSON values.
// tests/integration/test_js_types.py fails when the shim's client object and
// these declarations disagree on a member.

// -- JSON ----------------------------------------------------------------------

/** A value that survives JSON.stringify / JSON.parse unchanged. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A query-cache key: a list, matched by prefix for invalidation (TanStack's model). */
export type QueryKey = readonly Json[];

/** Header input the Python side accepts (a `Headers` object is not converted: use pairs). */
export type HeaderPairs = Record<string, string> | ReadonlyArray<readonly [string, string]>;

/** The HTTP methods the client sends (lower case is accepted and upper-cased). */
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** A request's priority in the concurrency queue. */
export type Priority = "high" | "normal" | "low";

// -- createClient options ------------------------------------------------------

/** Circuit breaker settings (`breaker`); `false` turns breakers off. */
export interface BreakerOptions {
  /** Breakers on at all (default true). */
  enabled?: boolean;
  /** What one breaker guards: an origin (default), a host, or one for everything. */
  key?: "origin" | "host" | "global";
  /** When to open: N failures in a row (default), a failure rate over the last calls, or over time. */
  strategy?: "consecutive" | "count_rate" | "time_rate";
  /** `consecutive`: failures in a row that open the breaker (default 5, >= 1). */
  failureThreshold?: number;
  /** Rate strategies: the failure rate in (0, 1] that opens it (default 0.5). */
  failureRate?: number;
  /** `count_rate`: how many recent calls are counted (default 20). */
  windowSize?: number;
  /** `time_rate`: seconds of calls counted (default 30). */
  window?: number;
  /** `time_rate`: buckets the window is split into (default 10). */
  buckets?: number;
  /** Rate strategies: calls needed before the rate is trusted (default 10; `count_rate`: <= windowSize). */
  minCalls?: number;
  /** Seconds open before a probe is let through (default 60). */
  openFor?: number;
  /** Probes allowed at once while half-open (default 1). */
  halfOpenMaxProbes?: number;
  /** Successful probes that close it (default 2). */
  closeAfter?: number;
  /** Each re-open multiplies openFor by this (default 2, >= 1). */
  openBackoffFactor?: number;
  /** Upper bound of the growing openFor (default 600, >= openFor). */
  maxOpenFor?: number;
  /** A call slower than this (seconds) counts as a failure; null: never (default). */
  slowCallThreshold?: number | null;
  /** Most breakers kept (one per key; default 1000). */
  maxKeys?: number;
}

/** The rate-limit algorithm. */
export type LimiterKind = "sliding_window" | "token_bucket";

/** A rate limit for URLs matching `pattern` (an fnmatch glob on the full URL). */
export interface RateLimitRule {
  /** The glob, e.g. "*\/upload*" (required). */
  pattern: string;
  /** Algorithm (default "sliding_window"). */
  kind?: LimiterKind;
  /** Admissions per window (default 100). */
  limit?: number;
  /** Window in seconds (default 60). */
  window?: number;
  /** token_bucket only: tokens per second (null for sliding_window). */
  rate?: number | null;
  /** token_bucket only: bucket size (null for sliding_window). */
  burst?: number | null;
}

/** Client-side rate limiting (`limiter`); kind/limit/window are the per-origin default; `false` turns it off. */
export interface LimiterOptions {
  /** Limiting on at all (default true). */
  enabled?: boolean;
  /** Past the limit: wait for an admission (default) or reject with RATE_LIMITED. */
  mode?: "wait" | "reject";
  /** Default algorithm (default "sliding_window"). */
  kind?: LimiterKind;
  /** Default admissions per window (default 100). */
  limit?: number;
  /** Default window in seconds (default 60). */
  window?: number;
  /** token_bucket only: tokens per second. */
  rate?: number | null;
  /** token_bucket only: bucket size. */
  burst?: number | null;
  /** Per-URL limits, first match wins. */
  rules?: readonly RateLimitRule[];
  /** Most limiter keys kept (default 1000). */
  maxKeys?: number;
}

/** The concurrency queue (`queue`). */
export interface QueueOptions {
  /** Requests in flight at once (default 10). */
  concurrency?: number;
  /** Requests allowed to wait; past it a request rejects with QUEUE_FULL (default 1000). */
  maxWaiting?: number;
  /** Longest wait per priority in seconds (null: no bound); past it TIMEOUT with kind "queue". */
  maxWait?: Partial<Record<Priority, number | null>> | null;
}

/** Retries with backoff and jitter, and the retry budget (`retry`). */
export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** First backoff in seconds (default 1). */
  base?: number;
  /** Backoff growth per retry (default 2, >= 1). */
  factor?: number;
  /** Longest backoff in seconds (default 30, >= base). */
  cap?: number;
  /** Jitter strategy (default "decorrelated"). */
  jitter?: "none" | "full" | "equal" | "decorrelated";
  /** HTTP statuses that are retried (default 408, 429, 500, 502, 503, 504). */
  retryStatuses?: readonly number[];
  /** Longest server Retry-After honoured, seconds (default 60). */
  maxRetryAfter?: number;
  /** Retries allowed per request in the budget window (default 0.2). */
  budgetRatio?: number;
  /** Retries always allowed per second (default 10). */
  budgetMinPerSecond?: number;
  /** Seconds the budget remembers (default 10). */
  budgetTtl?: number;
}

/** Deadlines in seconds (`timeout`); null disables one. */
export interface TimeoutOptions {
  /** Per attempt (default 30). */
  attempt?: number | null;
  /** Across every retry of a call (default 120). */
  total?: number | null;
  /** What close() gives calls in flight before aborting them (default 10; 0: at once; null: no limit). */
  close?: number | null;
}

/** Network awareness: the offline gate and the reachability probe (`network`). */
export interface NetworkOptions {
  /** While offline/unreachable: pause calls (default), fail them with OFFLINE, or send anyway. */
  mode?: "pause" | "fail" | "always";
  /** Probe the health URL to tell "unreachable" from "online" (default true). */
  probe?: boolean;
  /** Probe URL: http(s), or a path on the baseUrl's origin (default: its /health/live). */
  probeUrl?: string | null;
  /** Seconds a probe may take (default 5). */
  probeTimeout?: number;
  /** First probe backoff, seconds (default 1). */
  probeBase?: number;
  /** Longest probe backoff, seconds (default 30, >= probeBase). */
  probeCap?: number;
  /** Seconds a state must hold before it is reported (default 0.5, <= 60). */
  debounce?: number;
  /** Paused calls resume spread over this many seconds (default 1, <= 60). */
  resumeJitter?: number;
  /** Failures without an HTTP answer before "unreachable" (default 1). */
  failuresToUnreachable?: number;
}

/** The durable outbox (`outbox`): giving it starts replaying what an earlier page stored. */
export interface OutboxOptions {
  /** Where writes are kept: "indexeddb" survives a reload (default "memory"). */
  store?: "memory" | "sqlite" | "indexeddb";
  /** The IndexedDB database name (default "resilient-fetch-outbox"). */
  name?: string;
  /** Most entries stored; past it enqueue rejects with OUTBOX_FULL (default 1000). */
  maxEntries?: number;
  /** Most bytes stored (default 5,000,000). */
  maxBytes?: number;
  /** Attempts before a write is dead-lettered (default 25). */
  maxAttempts?: number;
  /** Seconds before a write is dead-lettered (default 86400). */
  maxAge?: number;
  /** First replay backoff, seconds (default 1). */
  backoff?: number;
  /** Longest replay backoff, seconds (default 300, >= backoff). */
  backoffCap?: number;
}

/** The query cache and HTTP revalidation (`cache`); `false` turns it off (no queries then). */
export interface CacheOptions {
  /** The query cache on at all (default true). */
  enabled?: boolean;
  /** Seconds data stays fresh (default 0: always revalidated). */
  staleTime?: number;
  /** Seconds an unused entry is kept (default 300). */
  gcTime?: number;
  /** Bytes the cache may hold, LRU beyond (default 10,000,000). */
  maxBytes?: number;
  /** Refetch subscribed stale queries when the page becomes visible (default true). */
  refetchOnWindowFocus?: boolean;
  /** Refetch subscribed stale queries when the network comes back (default true). */
  refetchOnReconnect?: boolean;
  /** ETag / Last-Modified revalidation of GETs (default true). */
  revalidate?: boolean;
}

/** In-flight dedupe of identical GET/HEAD requests (`dedupe`); `false` turns it off. */
export interface DedupeOptions {
  /** On at all (default true). */
  enabled?: boolean;
}

/** Resumable uploads (`upload`, and per call in `client.upload(..., options)`). */
export interface UploadOptions {
  /** Bytes per PATCH (default 1,048,576; a 413 halves it, down to 64 KiB). */
  chunkSize?: number;
  /** Queue priority of every upload request (default "low"). */
  priority?: Priority;
  /** Per-attempt deadline in seconds (default 120). */
  timeout?: number;
  /** Per-request deadline in seconds, waits in queue/limiter/offline gate included (default 300, >= timeout). */
  totalTimeout?: number;
  /** Failures in a row with no byte confirmed before UPLOAD_FAILED (default 8). */
  maxStalls?: number;
  /** First backoff between failures, seconds (default 1). */
  retryBase?: number;
  /** Longest backoff, seconds (default 30, >= retryBase). */
  retryCap?: number;
  /** Re-sends of one chunk refused with 460 before CHECKSUM_MISMATCH (default 3). */
  checksumRetries?: number;
  /** Longest wait for the network to come back, seconds, or null for no limit (default 3600). */
  maxOffline?: number | null;
  /** Unfinished uploads remembered (beside the outbox's store) so the same data resumes (default 20; 0: none). */
  maxRemembered?: number;
}

/** A progress event of an upload (also `upload.state()`). */
export interface UploadProgress {
  phase: "waiting" | "hashing" | "uploading" | "paused" | "retrying" | "offline" | "verifying" | "done" | "failed" | "aborted";
  /** Bytes the server has confirmed. */
  sent: number;
  /** The file's size. */
  total: number;
  /** Bytes per second over the last 10 s of progress. */
  rate: number;
  /** The upload's URL on the server, once created. */
  url: string | null;
  /** The file's SHA-256 (hex), once hashed. */
  sha256: string | null;
}

/** `client.upload(data, url, options)`: upload settings plus these. */
export interface UploadInit extends UploadOptions {
  /** Called with each progress event. */
  onProgress?: (event: UploadProgress) => void;
  /** Aborts the upload (it stays resumable: the same data later resumes). */
  signal?: AbortSignal;
  /** Upload-Metadata pairs (the file's name and sha256 are added). */
  metadata?: Record<string, string>;
  /** Extra headers on every upload request. */
  headers?: HeadersInit;
}

/** A finished upload. */
export interface UploadResult {
  /** The upload's URL on the server. */
  url: string;
  size: number;
  /** The file's SHA-256, lowercase hex. */
  sha256: string;
  /** The server checked the declared SHA-256 and confirmed it. */
  verified: boolean;
  /** The server's offset when this run began (0: from the start). */
  resumedFrom: number;
  /** Body bytes this run sent, re-sends included. */
  bytesSent: number;
}

/** What `client.upload()` returns: the result's promise, with controls. */
export interface UploadHandle extends Promise<UploadResult> {
  /** Abort the chunk in flight and send nothing until resume(). */
  pause(): void;
  /** Go on from the server's offset. */
  resume(): void;
  /** Stop for good (rejects ABORTED); `terminate` also deletes the upload on the server. */
  abort(terminate?: boolean): Promise<void> | undefined;
  /** The progress now. */
  state(): UploadProgress | undefined;
}

/** `createClient(options)`: every group is optional; unknown names reject with CONFIG. */
export interface ClientOptions {
  /** Prefix for relative URLs ("" means none: URLs resolve against the page); default: the manifest's backendUrl. */
  baseUrl?: string;
  /** Headers sent on every request. */
  headers?: HeaderPairs;
  /** Circuit breaker, or false for none. */
  breaker?: BreakerOptions | boolean;
  /** Rate limiter, or false for none. */
  limiter?: LimiterOptions | boolean;
  /** Concurrency queue. */
  queue?: QueueOptions;
  /** Retries and the retry budget. */
  retry?: RetryOptions;
  /** Per-attempt and total deadlines. */
  timeout?: TimeoutOptions;
  /** Online / offline / unreachable handling. */
  network?: NetworkOptions;
  /** Stamp an Idempotency-Key on every POST/PUT/PATCH/DELETE (default true). */
  idempotencyKeys?: boolean;
  /** The durable outbox; when given, replay of stored writes starts at once. */
  outbox?: OutboxOptions;
  /** Query cache and revalidation, or false for none. */
  cache?: CacheOptions | boolean;
  /** In-flight dedupe, or false for none. */
  dedupe?: DedupeOptions | boolean;
  /** Resumable upload defaults. */
  upload?: UploadOptions;
}

/** Per-call overrides: `init.resilience` (and `resilience` in query/mutate). */
export interface ResilienceInit {
  /** Queue priority (default "normal"). */
  priority?: Priority;
  /** Per-attempt deadline in seconds (null: the client's). */
  timeout?: number | null;
  /** Deadline across retries in seconds (null: the client's). */
  totalTimeout?: number | null;
  /** Retries for this call (null: the client's). */
  maxRetries?: number | null;
  /** The Idempotency-Key to send (1-255 chars), or false for none. */
  idempotencyKey?: string | false | null;
  /** Past the rate limit: wait or reject, for this call. */
  rateLimitMode?: "wait" | "reject" | null;
  /** Share an identical in-flight GET (null: the client's setting). */
  dedupe?: boolean | null;
}

/** fetch's RequestInit plus the non-standard `resilience` overrides. */
export interface ResilientRequestInit extends RequestInit {
  /** Per-call resilience overrides. */
  resilience?: ResilienceInit;
}

// -- errors --------------------------------------------------------------------

/** Every `code` a rejection can carry (the Python error tree, _errors.py). */
export type ErrorCode =
  | "RESILIENCE"
  | "CONFIG"
  | "INVALID_REQUEST"
  | "INTERNAL"
  | "NETWORK"
  | "OFFLINE"
  | "TIMEOUT"
  | "ABORTED"
  | "CIRCUIT_OPEN"
  | "RATE_LIMITED"
  | "QUEUE_FULL"
  | "RETRY_BUDGET"
  | "HTTP_STATUS"
  | "NOT_FOUND"
  | "OUTBOX_FULL"
  | "DEAD_LETTER"
  | "UPLOAD_FAILED"
  | "CHECKSUM_MISMATCH"
  | "HASH_MISMATCH"
  | "CLOSED";

/** What every error's `details` holds. */
export interface BaseErrorDetails<C extends ErrorCode = ErrorCode> {
  /** The stable code to branch on. */
  code: C;
  /** The Python class name, e.g. "CircuitOpenError". */
  name: string;
  /** Human-readable message. */
  message: string;
  /** The request's method, when one was built. */
  method?: string;
  /** The request's URL, when one was built. */
  url?: string;
  /** The HTTP status, when a response was involved. */
  status?: number;
}

/** Extra `details` fields per code. */
export interface ErrorDetailsExtra {
  RESILIENCE: {};
  /** A bad option: the camelCase field path ("retry.maxRetries") and what is allowed. */
  CONFIG: { field: string; allowed: string };
  /** A request that cannot be sent: which part ("url", "method", "headers", "body", "request"...). */
  INVALID_REQUEST: { field: string };
  INTERNAL: {};
  NETWORK: {};
  OFFLINE: {};
  /** Which deadline fired and its length in seconds. */
  TIMEOUT: { kind: "attempt" | "total" | "queue"; timeout: number | null };
  ABORTED: {};
  /** The breaker's key and state; seconds until it half-opens (null while isolated). */
  /** `lastFailure`: what the last failure that counted was ("HTTP 503", "TIMEOUT"), or null. */
  CIRCUIT_OPEN: { key: string; state: BreakerState; retryAfter: number | null; lastFailure: string | null };
  /** The limiter key and the wait it asks for, in seconds. */
  RATE_LIMITED: { key: string; retryAfter: number | null };
  QUEUE_FULL: {};
  RETRY_BUDGET: {};
  HTTP_STATUS: {};
  /** The id a batch loader's answer did not include. */
  NOT_FOUND: { key: Json };
  /** The bound that was hit and its value; nothing was stored. */
  OUTBOX_FULL: { limit: "max_entries" | "max_bytes"; value: number };
  /** The outbox entry and why it will not be sent. */
  DEAD_LETTER: { id: string; reason: "status" | "error" | "max_attempts" | "max_age" };
  /** Where the upload stopped (it stays resumable unless the server lost it); `cause`: the last failure's code. */
  UPLOAD_FAILED: UploadErrorDetails;
  /** The server refused one chunk with 460 more than checksumRetries times. */
  CHECKSUM_MISMATCH: UploadErrorDetails;
  /** The server's SHA-256 of the file (`actual`, "" when it did not say) is not ours (`expected`). */
  HASH_MISMATCH: UploadErrorDetails & { expected: string; actual: string };
  /** The client is closed: inFlight when a running call was cut short by close()'s timeout. */
  CLOSED: { inFlight: boolean; timeout: number | null };
}

/** Where an upload stopped. */
export interface UploadErrorDetails {
  uploadUrl: string | null;
  offset: number;
  size: number;
  cause?: ErrorCode;
}

/** `details` of an error with code C. */
export type ErrorDetailsOf<C extends ErrorCode> = BaseErrorDetails<C> & ErrorDetailsExtra[C];

/** `details` of any error: a union discriminated by `code`. */
export type ErrorDetails = { [C in ErrorCode]: ErrorDetailsOf<C> }[ErrorCode];

/**
 * A rejection with code C. ABORTED is a DOMException named "AbortError",
 * NETWORK and OFFLINE are TypeErrors (as fetch's own), the rest Errors named
 * after the Python class.
 */
export type ResilienceErrorOf<C extends ErrorCode> = (C extends "ABORTED"
  ? Omit<DOMException, "code">
  : C extends "NETWORK" | "OFFLINE"
    ? TypeError
    : Error) & {
  /** The stable code to branch on. */
  readonly code: C;
  /** Everything the Python error carried. */
  readonly details: ErrorDetailsOf<C>;
};

/** Any rejection from the client; narrow it with `err.code === "..."`. */
export type ResilienceError = { [C in ErrorCode]: ResilienceErrorOf<C> }[ErrorCode];

// -- events --------------------------------------------------------------------

/** A breaker's state. */
export type BreakerState = "closed" | "open" | "half_open" | "isolated";

/** The network monitor's state. */
export type NetworkState = "online" | "offline" | "unreachable";

/** Why the network state last changed. */
export type NetworkReason =
  | "start"
  | "browser-online"
  | "browser-offline"
  | "request-offline"
  | "response"
  | "probe-ok"
  | "probe-failed";

/** `request`: a call entered the pipeline. */
export interface RequestEvent {
  id: number;
  method: string;
  url: string;
  priority: Priority;
}

/** `response`: a call finished with an HTTP response. */
export interface ResponseEvent {
  id: number;
  method: string;
  url: string;
  status: number;
  /** Attempts made (1 without retries). */
  attempts: number;
  durationMs: number;
}

/** `error`: a call failed; the error's details plus attempts and time (no id: refused before the pipeline). */
export type ErrorEvent = ErrorDetails & { id?: number; attempts: number; durationMs: number };

/** `retry`: an attempt failed and another is scheduled, or refused (budget, deadline). */
export interface RetryEvent {
  method: string;
  url: string;
  /** The attempt that failed. */
  attempt: number;
  /** Seconds until the next attempt; null when refused by the budget. */
  delay: number | null;
  /** The error code, or `HTTP_<status>` for a retried status. */
  reason: ErrorCode | `HTTP_${number}`;
  /** Set when no retry follows. */
  refused?: "deadline" | "budget";
}

/** `breaker`: a circuit breaker changed state. */
export interface BreakerEvent {
  key: string;
  from: BreakerState;
  to: BreakerState;
  /** Monotonic clock time of the change, seconds. */
  at: number;
  /** Seconds it stays open (set when it opens). */
  openFor: number | null;
  reason: "failures" | "timer" | "probe_succeeded" | "probe_failed" | "isolated" | "reset";
}

/** `rate_limited`: the local limit was hit, or the server asked to slow down. */
export interface RateLimitedEvent {
  key: string;
  /** Seconds to wait. */
  retryAfter: number;
  source: "local" | "server";
  action: "wait" | "reject" | "cooldown";
}

/** `queue`: a request entered, left or was refused by the concurrency queue. */
export interface QueueEvent {
  action: "enqueue" | "dequeue" | "reject" | "timeout" | "cancel";
  priority: Priority;
  /** Requests waiting now. */
  waiting: number;
  /** Requests running now. */
  running: number;
  /** How long this one waited (dequeue, timeout, cancel). */
  waitedMs?: number;
}

/** `timeout`: an attempt, total or queue deadline fired. */
export interface TimeoutEvent {
  method: string;
  url: string;
  kind: "attempt" | "total" | "queue";
  timeout: number | null;
}

/** `network`: online / offline / unreachable changed. */
export interface NetworkEvent {
  from: NetworkState;
  to: NetworkState;
  reason: NetworkReason;
}

/** `outbox`: a stored write changed (also when another tab changed it). */
export interface OutboxEvent {
  action: "queued" | "sending" | "sent" | "dead" | "discarded";
  id: string;
  /** The last HTTP status, when there was an answer. */
  status: number | null;
}

/** Event name -> payload, for `client.on(name, callback)`. */
export interface ClientEventMap {
  request: RequestEvent;
  response: ResponseEvent;
  error: ErrorEvent;
  retry: RetryEvent;
  breaker: BreakerEvent;
  rate_limited: RateLimitedEvent;
  queue: QueueEvent;
  timeout: TimeoutEvent;
  network: NetworkEvent;
  outbox: OutboxEvent;
}

/** A named event's name. */
export type ClientEventName = keyof ClientEventMap;

/** What a `"*"` listener gets: any event tagged with its name, discriminated by `event`. */
export type AnyClientEvent = { [K in ClientEventName]: { event: K } & ClientEventMap[K] }[ClientEventName];

/** Calling it removes the listener (calling it again does nothing). */
export type Unsubscribe = () => void;

// -- state ---------------------------------------------------------------------

/** A breaker's failure counters, by strategy. */
export type BreakerFailures =
  | { strategy: "consecutive"; consecutiveFailures: number; threshold: number }
  | {
      strategy: "count";
      calls: number;
      failures: number;
      failureRate: number;
      threshold: number;
      minCalls: number;
      size: number;
    }
  | {
      strategy: "time";
      calls: number;
      failures: number;
      failureRate: number;
      threshold: number;
      minCalls: number;
      window: number;
    };

/** One breaker (state(), isolate(), resetBreaker()). */
export interface BreakerSnapshot {
  key: string;
  state: BreakerState;
  failures: BreakerFailures;
  /** The current open period, seconds. */
  openFor: number;
  /** Monotonic time it half-opens, when open. */
  openUntil: number | null;
  /** Seconds until it half-opens, when open. */
  retryAfter: number | null;
  probesInFlight: number;
  probeSuccesses: number;
  /** What the last failure that counted was ("HTTP 503", "TIMEOUT", "slow call (2.10 s)"), or null. */
  lastFailure: string | null;
}

/** One limiter key: its counter, server cooldown and callers waiting. */
export type LimiterKeySnapshot = (
  | { kind: "sliding_window"; used: number; limit: number; window: number; resetIn: number }
  | { kind: "token_bucket"; tokens: number; rate: number; burst: number }
) & {
  /** Seconds left of a server-imposed cooldown. */
  cooldown: number;
  waiting: number;
};

/** The concurrency queue's counters. */
export interface QueueSnapshot {
  running: number;
  /** Waiting per priority. */
  waiting: Partial<Record<Priority, number>>;
  waitingTotal: number;
  completed: number;
  failed: number;
  rejected: number;
  timedOut: number;
  cancelled: number;
  avgWaitMs: number;
  avgRunMs: number;
  concurrency: number;
  maxWaiting: number;
}

/** The retry budget's balance and settings. */
export interface BudgetSnapshot {
  balance: number;
  requests: number;
  retries: number;
  ratio: number;
  minPerSecond: number;
  ttl: number;
}

/** A route's latency summary in milliseconds (null without samples). */
export interface LatencySummary {
  count: number;
  meanMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** The network monitor (network(), probeNow(), state().network). */
export interface NetworkSnapshot {
  state: NetworkState;
  /** Wall-clock seconds (epoch) of the last change. */
  since: number;
  reason: NetworkReason;
  /** Seconds until the next probe; null when none is scheduled. */
  nextProbeIn: number | null;
  /** Calls the gate holds right now. */
  paused: number;
  /** Probes sent so far. */
  probes: number;
  /** The probed URL; null when probing is off. */
  probeUrl: string | null;
}

/** `client.state()`: every stage's snapshot, the metrics and the network. */
export interface ClientState {
  /** Stage names, outermost first. */
  stages: string[];
  /** Per breaker key (empty when breakers are off). */
  breakers: Record<string, BreakerSnapshot>;
  /** Per limiter key (empty when the limiter is off). */
  limiter: Record<string, LimiterKeySnapshot>;
  queue: QueueSnapshot;
  budget: BudgetSnapshot;
  metrics: {
    /** Counts by outcome: "success", "http_4xx", "http_5xx", or an error code. */
    outcomes: Record<string, number>;
    /** Per route ("GET /api/items/{id}"). */
    latency: Record<string, LatencySummary>;
  };
  network: NetworkSnapshot;
  /** The query cache (absent when cache is off). */
  cache?: {
    entries: number;
    bytes: number;
    maxBytes: number;
    hits: number;
    misses: number;
    evictions: number;
    subscribed: number;
  };
  /** open, closing or closed; calls in flight; calls close() aborted. */
  lifecycle: { state: "open" | "closing" | "closed"; inFlight: number; abortedAtClose: number };
  /** Stored outbox writes (once the outbox was used). */
  outbox?: { pending: number; dead: number; bytes: number; leader: boolean };
  /** Kept responses for ETag revalidation (absent when off). */
  revalidation?: { entries: number; bytes: number; revalidated: number };
  /** In-flight dedupe (absent when off). */
  dedupe?: { inflight: number; shared: number };
}

// -- queries -------------------------------------------------------------------

/** A cached query's state (queryState(), subscribe()). */
export interface QueryState<T = Json> {
  key: Json[];
  /** pending: no data yet; success: has data; error: failed with no data. */
  status: "pending" | "success" | "error";
  data: T | null;
  error: ErrorDetails | null;
  isStale: boolean;
  isFetching: boolean;
  isInvalidated: boolean;
  /** Epoch milliseconds. */
  dataUpdatedAt: number | null;
  /** Epoch milliseconds. */
  errorUpdatedAt: number | null;
}

/** What a subscriber gets when its entry is removed (a rolled-back optimistic entry, gc). */
export interface RemovedQueryState {
  key: Json[];
  status: "pending";
  data: null;
  error: null;
}

/** `init` for client.query(): only headers and resilience are used. */
export interface QueryInit {
  headers?: HeadersInit;
  resilience?: ResilienceInit;
}

/** An optimistic update in a mutation: new data for `key`, or an updater of the old data. */
export type OptimisticUpdate<T = Json> =
  | { key: QueryKey; data: T; updater?: undefined }
  | { key: QueryKey; updater: (old: T | null) => T | undefined; data?: undefined };

/** client.mutate(spec). */
export interface MutationSpec {
  /** Where to send the write (resolved against baseUrl). */
  url: string | URL;
  /** Default "POST". */
  method?: HttpMethod | Lowercase<HttpMethod>;
  /** A JSON body (sets Content-Type). Give json or body, not both. */
  json?: Json;
  /** A text body. */
  body?: string;
  headers?: HeadersInit;
  /** Applied at once, rolled back if the write fails. */
  optimistic?: ReadonlyArray<OptimisticUpdate<any>>;
  /** Prefixes invalidated after success. */
  invalidate?: readonly QueryKey[];
  /** Store the write in the outbox first and wait for its delivery. */
  durable?: boolean;
  resilience?: ResilienceInit;
}

/** client.loader(options): a DataLoader-style batch loader. */
export interface LoaderOptions {
  /** The batch endpoint (ids go in `?ids=1,2` for GET, or a JSON body for POST). */
  url: string | URL;
  /** The id field of an item (default "id"). */
  key?: string;
  /** Cache name: loaded items fill the query cache under [name, id] (default: the url). */
  name?: string;
  /** Most ids per request (default 100). */
  maxBatch?: number;
  /** Milliseconds to collect loads (0: one turn of the event loop; <= 60000). */
  windowMs?: number;
  /** Default "GET". */
  method?: "GET" | "POST" | "get" | "post";
  /** The query parameter / body field for the ids (default "ids"). */
  param?: string;
  /** The answer's list field (default "items"). */
  itemsField?: string;
}

/** What an item id may be: compared as strings with the answer's key field. */
export type LoaderId = string | number;

/** A batch loader: calls in one window become one request. */
export interface BatchLoader<T = Json> {
  /** One item; rejects NOT_FOUND if the answer lacks it. */
  load(id: LoaderId): Promise<T>;
  /** Items in order; a failed one is its error, in its place. */
  loadMany(ids: readonly LoaderId[]): Promise<Array<T | ResilienceError>>;
  /** Release the Python loader. */
  destroy(): void;
}

// -- outbox --------------------------------------------------------------------

/** An outbox entry's state. */
export type OutboxEntryState = "pending" | "dead";

/** A stored write, as entries() lists it (no body). */
export interface OutboxEntry {
  id: string;
  /** Store order. */
  seq: number;
  method: string;
  url: string;
  origin: string;
  headers: Array<[string, string]>;
  /** The Idempotency-Key every attempt carries. */
  key: string;
  /** Wall-clock seconds (epoch). */
  created: number;
  since: number;
  attempts: number;
  /** Wall-clock seconds of the next attempt. */
  nextAt: number;
  lastAt?: number;
  state: OutboxEntryState;
  /** The last HTTP status, when there was an answer. */
  status: number | null;
  /** The last failure: a code ("NETWORK", "HTTP_503", "DEAD_LETTER"...) and message. */
  error: { code: string; message: string; reason?: string } | null;
  /** Bytes it counts against maxBytes. */
  size: number;
  /** The body as text when short and UTF-8, else null. */
  bodyText: string | null;
  /** A dead letter's server answer. */
  response?: { status: number; headers: Array<[string, string]>; text: string };
}

/** `client.outbox`: the durable outbox. */
export interface OutboxAPI {
  /** Store a write (fetch's arguments), then send it; resolves once stored. Rejects OUTBOX_FULL / INVALID_REQUEST. */
  enqueue(input: RequestInfo | URL, init?: RequestInit): Promise<{ id: string; state: "pending" }>;
  /** The Response once delivered; rejects DEAD_LETTER if dead-lettered, ABORTED if discarded. */
  wait(id: string): Promise<Response>;
  /** Stored entries, pending and dead, oldest first. */
  entries(): Promise<OutboxEntry[]>;
  /** Put a dead entry back in line (same Idempotency-Key). */
  retry(id: string): Promise<{ id: string; state: OutboxEntryState }>;
  /** Drop an entry for good; true if it was there. Its waiters reject ABORTED. */
  discard(id: string): Promise<boolean>;
  /** Try pending entries now, skipping their backoff. */
  kick(): Promise<null>;
}

// -- the client ----------------------------------------------------------------

/** The Pyodide API object the client runs in (see the `pyodide` package's types for all of it). */
export interface PyodideRuntime {
  version: string;
  runPython(code: string): any;
  runPythonAsync(code: string): Promise<any>;
  pyimport(name: string): any;
  registerJsModule(name: string, module: object): void;
  globals: any;
}

/** What createClient() resolves with. */
export interface ResilientClient {
  /** The URL prefix in use (the option, else the manifest's backendUrl), or undefined. */
  readonly baseUrl: string | undefined;
  /** The shared Pyodide runtime. */
  readonly pyodide: PyodideRuntime;
  /**
   * window.fetch's signature; resolves with fetch's own Response (HTTP errors
   * resolve). Rejects with a ResilienceError; `init.resilience` overrides per call.
   */
  fetch(input: RequestInfo | URL, init?: ResilientRequestInit): Promise<Response>;
  /** The durable outbox. */
  readonly outbox: OutboxAPI;
  /**
   * A resumable, verified upload (tus 1.0) to the creation URL `url`: resumes
   * after failures, offline periods and reloads (same data, same endpoint).
   */
  upload(data: Blob | ArrayBuffer | ArrayBufferView, url: string | URL, init?: UploadInit): UploadHandle;
  /**
   * The parsed body (JSON, else text) of GET `input`, cached under `key`: fresh
   * data from the cache, stale data at once while it refetches. A non-2xx answer
   * rejects HTTP_STATUS.
   */
  query<T = Json>(key: QueryKey, input: string | URL, init?: QueryInit, options?: { staleTime?: number }): Promise<T>;
  /** The entry's state, or null when nothing is cached. */
  queryState<T = Json>(key: QueryKey): QueryState<T> | null;
  /** Called when the entry's status, data or error really change. */
  subscribe<T = Json>(key: QueryKey, callback: (state: QueryState<T> | RemovedQueryState) => void): Unsubscribe;
  /** Mark entries whose key starts with `prefix` stale (subscribed ones refetch); returns how many. */
  invalidate(prefix: QueryKey): number;
  /**
   * Set the data for `key` (a JSON value): a value, or `old => new` (undefined
   * changes nothing); returns the data now cached.
   */
  setQueryData<T = Json>(key: QueryKey, updater: T | ((old: T | null) => T | undefined)): T | null;
  /** A write with optimistic updates, rollback on failure and invalidation on success; resolves with the parsed body. */
  mutate<T = Json>(spec: MutationSpec): Promise<T>;
  /** A DataLoader-style batch loader. */
  loader<T = Json>(options: LoaderOptions): BatchLoader<T>;
  /** Subscribe to an event; "*" gets every event tagged with its name. */
  on<K extends ClientEventName>(name: K, callback: (event: ClientEventMap[K]) => void): Unsubscribe;
  on(name: "*", callback: (event: AnyClientEvent) => void): Unsubscribe;
  /** A plain-object snapshot: breakers, limiter, queue, budget, metrics, network, cache. */
  state(): ClientState;
  /** The network monitor's snapshot. */
  network(): NetworkSnapshot;
  /** Probe the health URL now ("Retry now"); resolves with network(); rejects CLOSED after close(). */
  probeNow(): Promise<NetworkSnapshot>;
  /**
   * state()'s figures in the Prometheus text exposition format 0.0.4,
   * synchronously (a `pagehide` handler can sendBeacon it); still answers after close().
   */
  metricsText(): string;
  /** Hold the breaker for `url`'s key (default: baseUrl) open until resetBreaker(). */
  isolate(url?: string): BreakerSnapshot;
  /** Close the breaker for `url`'s key and clear its counters. */
  resetBreaker(url?: string): BreakerSnapshot;
  /**
   * Stop taking calls, let those in flight finish within `timeout` seconds
   * (default timeout.close; 0: abort at once; null: no limit), abort the rest
   * (they reject CLOSED), then release the outbox store, the probes and every
   * listener. Idempotent; later calls reject CLOSED, while state(),
   * metricsText(), network() and queryState() still answer.
   */
  close(options?: { timeout?: number | null }): Promise<void>;
}

// -- module exports ------------------------------------------------------------

/** manifest.json, written by build.py next to the shim. */
export interface Manifest {
  wheel: string;
  wheelSha256: string;
  pyodideVersion: string;
  /** The default baseUrl ("" when none). */
  backendUrl: string;
  /** The start-up memory snapshot, when the build made one. */
  snapshot?: {
    file: string;
    sha256: string;
    bytes: number;
    wheelSha256: string;
    pyodideVersion: string;
    imports: string[];
  };
}

/** What loadRuntime() resolves with. */
export interface Runtime {
  pyodide: PyodideRuntime;
  manifest: Manifest;
  /** The `resilient_fetch.js_api` module (a PyProxy). */
  jsApi: any;
  /** Whether Python came from the memory snapshot or a plain boot. */
  boot: "snapshot" | "plain";
}

/**
 * Load Pyodide and install the client wheel once per page (later calls share
 * it); `{ snapshot: false }` forces a plain boot.
 */
export function loadRuntime(options?: { snapshot?: boolean }): Promise<Runtime>;

/** Create a resilient client; rejects with code CONFIG on a bad option. */
export function createClient(options?: ClientOptions): Promise<ResilientClient>;
