// Waiting on work started side by side. Private: not part of the public API.

/**
 * Like `Promise.all`, but when one promise rejects it still waits for every
 * other one to settle before rejecting with the first failure (in argument
 * order). Work started side by side (key derivations, a digest, a key pair)
 * is thus never left running behind a failure that has already been reported:
 * whoever sees the error may assume that nothing it started is still going.
 *
 * @param values The promises (or plain values), as for `Promise.all`.
 * @returns Their values, in order.
 * @throws The reason of the first promise, in argument order, that rejected.
 */
export async function settleAll<const T extends readonly unknown[]>(
  values: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(values);
  const out: unknown[] = [];
  for (const result of results) {
    if (result.status === "rejected") throw result.reason;
    out.push(result.value);
  }
  return out as { -readonly [K in keyof T]: Awaited<T[K]> };
}
