// Bounded, jittered retry of transient KV errors for the ticket stores.
// Private: not part of the public API.

import { TicketError } from "../errors.ts";

/** How a store retries transient errors. */
export interface RetryPolicy {
  /** Attempts in all, from 1 to 20. */
  readonly attempts: number;
  /** The first backoff in milliseconds; it doubles on each retry, plus up to as much jitter. */
  readonly baseDelay: number;
}

/** The default: 6 attempts, 5 ms doubling (at most about 0.3 s of waiting). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelay: 5 };

/**
 * Checks a caller's retry options.
 *
 * @throws {TypeError} When `options` is not an object.
 * @throws {RangeError} When a field is out of range.
 */
export function retryPolicy(options: Partial<RetryPolicy> | undefined): RetryPolicy {
  if (options === undefined) return DEFAULT_RETRY;
  if (typeof options !== "object" || options === null) {
    throw new TypeError("retry must be an object");
  }
  const { attempts = DEFAULT_RETRY.attempts, baseDelay = DEFAULT_RETRY.baseDelay } = options;
  if (!Number.isSafeInteger(attempts) || attempts < 1 || attempts > 20) {
    throw new RangeError("retry.attempts must be an integer from 1 to 20");
  }
  if (typeof baseDelay !== "number" || !(baseDelay >= 0 && baseDelay <= 1000)) {
    throw new RangeError("retry.baseDelay must be from 0 to 1000 ms");
  }
  return { attempts, baseDelay };
}

/** Whether an error is a transient lock or busy condition worth retrying. */
export function isTransient(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /database is locked|database table is locked|SQLITE_BUSY|database is busy/i.test(message);
}

/** Waits before attempt `attempt + 1`: `baseDelay · 2^(attempt-1)` plus up to `baseDelay` of jitter. */
export function backoff(policy: RetryPolicy, attempt: number): Promise<void> {
  const delay = policy.baseDelay * 2 ** (attempt - 1) + Math.random() * policy.baseDelay;
  return new Promise((resolve) => setTimeout(resolve, delay));
}

/** The error a store throws when KV fails: no key material, the KV error as `cause`. */
export function unavailable(what: string, cause: unknown): TicketError {
  return new TicketError("ticket_store_unavailable", `the ticket store failed to ${what}`, {
    cause,
  });
}

/**
 * Runs `op`, retrying transient errors with bounded, jittered exponential
 * backoff. Only for operations that are safe to repeat (reads, and writes
 * that set the same values again). Any other error, or a transient one that
 * outlasts the attempts, becomes a `TicketError("ticket_store_unavailable")`
 * with the original as `cause`. A `TicketError` thrown by `op` passes
 * through unchanged.
 */
export async function withRetry<R>(
  policy: RetryPolicy,
  what: string,
  op: () => Promise<R>,
): Promise<R> {
  for (let attempt = 1;; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (error instanceof TicketError) throw error;
      if (!isTransient(error) || attempt >= policy.attempts) throw unavailable(what, error);
      await backoff(policy, attempt);
    }
  }
}
