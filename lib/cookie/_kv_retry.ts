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
