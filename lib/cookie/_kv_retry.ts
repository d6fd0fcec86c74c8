// Bounded retry of transient Deno KV errors for session storage. Private: not part of the
// public API.

import { CookieError } from "../errors.ts";
import { checkRetry, DEFAULT_RETRY, retrying, type RetryPolicy } from "../_kv_retry.ts";

export { DEFAULT_RETRY, isTransient, type RetryPolicy } from "../_kv_retry.ts";

/** Checks a caller's retry options. */
export function retryPolicy(
  attempts: number = DEFAULT_RETRY.attempts,
  baseDelay: number = DEFAULT_RETRY.baseDelay,
): RetryPolicy {
  return checkRetry(attempts, baseDelay);
}

/**
 * Runs `op`, retrying transient errors with bounded, jittered backoff. Any
 * other error, or a transient one that outlasts the attempts, becomes a
 * `CookieError("session_storage_failed")` with the original as `cause`.
 * A `CookieError` thrown by `op` passes through unchanged.
 */
export function withRetry<R>(policy: RetryPolicy, what: string, op: () => Promise<R>): Promise<R> {
  return retrying(
    policy,
    op,
    (cause) =>
      new CookieError("session_storage_failed", `session storage failed to ${what}`, { cause }),
    (error) => error instanceof CookieError,
  );
}

/** The first wait before retrying a lost compare-and-set write of a session, in ms. */
export const CONFLICT_BASE_DELAY = 2;
/** The longest wait before retrying a lost compare-and-set write of a session, in ms. */
export const CONFLICT_MAX_DELAY = 100;

/**
 * Waits before retry `attempt` (1, 2, ...) of a session write that lost its
 * compare-and-set: "full jitter", a random time up to `CONFLICT_BASE_DELAY ·
 * 2^(attempt-1)`, capped at `CONFLICT_MAX_DELAY`. The randomness spreads a
 * burst of writers that lost together, so that the next round is not the same
 * race again; the cap bounds the total wait (16 retries wait at most about
 * 1.1 s, on average half of that).
 */
export function conflictBackoff(
  attempt: number,
  random: () => number = Math.random,
): Promise<void> {
  const ceiling = Math.min(CONFLICT_MAX_DELAY, CONFLICT_BASE_DELAY * 2 ** Math.max(0, attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, random() * ceiling));
}
