// The JS peer pipeline: cockatiel (timeouts, retry, circuit breaker, bulkhead)
// plus p-queue (priority queue with a concurrency limit and a rate limit), set
// up like resilient-fetch's defaults. Imported from node_modules files that the
// bench copies next to this module (both packages ship plain ES modules).
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  decorrelatedJitterGenerator,
  handleAll,
  retry,
  timeout,
  wrap,
} from "./vendor/cockatiel/index.js";
import PQueue from "./vendor/p-queue/index.js";

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Settings mirror resilient-fetch's defaults; see SETTINGS in overhead.js. */
export function makePeer({ concurrency, maxWaiting, rateLimit, rateWindowMs, maxRetries,
                           baseDelayMs, maxDelayMs, failureThreshold, openForMs,
                           attemptTimeoutMs, totalTimeoutMs }) {
  const total = timeout(totalTimeoutMs, TimeoutStrategy.Aggressive);
  const retries = retry(handleAll.orWhenResult((r) => RETRY_STATUSES.has(r.status)), {
    maxAttempts: maxRetries,
    backoff: new ExponentialBackoff({
      initialDelay: baseDelayMs,
      maxDelay: maxDelayMs,
      exponent: 2,
      generator: decorrelatedJitterGenerator,
    }),
  });
  const breaker = circuitBreaker(handleAll.orWhenResult((r) => r.status >= 500), {
    halfOpenAfter: openForMs,
    breaker: new ConsecutiveBreaker(failureThreshold),
  });
  // The bulkhead bounds running + waiting (backpressure: rejects past maxWaiting),
  // p-queue orders by priority and rate-limits; both allow `concurrency` at once.
  const bulk = bulkhead(concurrency, maxWaiting);
  const queue = new PQueue({ concurrency, intervalCap: rateLimit, interval: rateWindowMs });
  const attempt = timeout(attemptTimeoutMs, TimeoutStrategy.Aggressive);
  const policy = wrap(total, retries, breaker, bulk);

  // cockatiel's timeout aborts its signal as soon as the function returns
  // (abortOnReturn), which would cancel a body not yet read: so the body is read
  // inside the attempt, as resilient-fetch does, and handed out as a new Response.
  async function once(url, init, signal) {
    const resp = await fetch(url, { ...init, signal });
    const body = await resp.arrayBuffer();
    return new Response(body, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  }

  return {
    fetch(url, init = {}) {
      return policy.execute(({ signal }) =>
        queue.add(
          () => attempt.execute(({ signal: attemptSignal }) => once(url, init, attemptSignal), signal),
          { priority: 0 },
        ),
      );
    },
  };
}
