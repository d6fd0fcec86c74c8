// Bounded, jittered retry of transient Deno KV errors ("database is locked"), shared by the
// cookie storage and the ticket stores. Private: not part of the public API.

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
 * Checks retry options; `name` prefixes the field names in error messages.
 *
 * @throws {RangeError} When a field is out of range.
 */
export function checkRetry(
  attempts: unknown = DEFAULT_RETRY.attempts,
  baseDelay: unknown = DEFAULT_RETRY.baseDelay,
  name = "retry ",
): RetryPolicy {
  if (!Number.isSafeInteger(attempts) || (attempts as number) < 1 || (attempts as number) > 20) {
    throw new RangeError(`${name}attempts must be an integer from 1 to 20`);
  }
  if (typeof baseDelay !== "number" || !(baseDelay >= 0 && baseDelay <= 1000)) {
    throw new RangeError(`${name}baseDelay must be from 0 to 1000 ms`);
  }
  return { attempts: attempts as number, baseDelay };
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

/**
 * Runs `op`, retrying transient errors with bounded, jittered exponential
 * backoff. Only for operations that are safe to repeat. An error for which
 * `passes` is true is thrown as it is; any other, or a transient one that
 * outlasts the attempts, becomes `giveUp(error)`.
 */
export async function retrying<R>(
  policy: RetryPolicy,
  op: () => Promise<R>,
  giveUp: (cause: unknown) => Error,
  passes: (error: unknown) => boolean,
): Promise<R> {
  for (let attempt = 1;; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (passes(error)) throw error;
      if (!isTransient(error) || attempt >= policy.attempts) throw giveUp(error);
      await backoff(policy, attempt);
    }
  }
}
