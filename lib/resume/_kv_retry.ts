// Bounded, jittered retry of transient KV errors for the ticket stores.
// Private: not part of the public API.

import { TicketError } from "../errors.ts";
import { checkRetry, DEFAULT_RETRY, retrying, type RetryPolicy } from "../_kv_retry.ts";

export { backoff, DEFAULT_RETRY, isTransient, type RetryPolicy } from "../_kv_retry.ts";

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
  return checkRetry(options.attempts, options.baseDelay, "retry.");
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
export function withRetry<R>(policy: RetryPolicy, what: string, op: () => Promise<R>): Promise<R> {
  return retrying(
    policy,
    op,
    (cause) => unavailable(what, cause),
    (error) => error instanceof TicketError,
  );
}
