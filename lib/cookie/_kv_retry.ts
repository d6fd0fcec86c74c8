// Bounded retry of transient Deno KV errors. Private: not part of the public API.

import { CookieError } from "../errors.ts";

/** How a store retries transient errors. */
export interface RetryPolicy {
  /** Attempts in all, at least 1. */
  readonly attempts: number;
  /** The first backoff in milliseconds; it doubles on each retry (plus jitter). */
  readonly baseDelay: number;
}

/** The default: 6 attempts, 5 ms doubling (at most about 0.2 s of waiting). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelay: 5 };

/** Checks a caller's retry options. */
export function retryPolicy(
  attempts = DEFAULT_RETRY.attempts,
  baseDelay = DEFAULT_RETRY.baseDelay,
): RetryPolicy {
  if (!Number.isSafeInteger(attempts) || attempts < 1 || attempts > 20) {
    throw new RangeError("retry attempts must be an integer from 1 to 20");
  }
  if (!Number.isFinite(baseDelay) || baseDelay < 0 || baseDelay > 1000) {
    throw new RangeError("retry baseDelay must be from 0 to 1000 ms");
  }
  return { attempts, baseDelay };
}

/** Whether an error is a transient lock or busy condition worth retrying. */
export function isTransient(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /database is locked|database table is locked|SQLITE_BUSY|database is busy/i.test(message);
}

/**
 * Runs `op`, retrying transient errors with bounded exponential backoff. Any
 * other error, or a transient one that outlasts the attempts, becomes a
 * `CookieError("session_storage_failed")` with the original as `cause`.
 * A `CookieError` thrown by `op` passes through unchanged.
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
      if (error instanceof CookieError) throw error;
      if (!isTransient(error) || attempt >= policy.attempts) {
        throw new CookieError("session_storage_failed", `session storage failed to ${what}`, {
          cause: error,
        });
      }
      const delay = policy.baseDelay * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * policy.baseDelay));
    }
  }
}
