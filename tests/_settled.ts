// Shared test helper: how a promise settles within a time bound.

import type { TesseraError } from "../lib/errors.ts";

/** Settles `promise` as its value, `"rejected:<code>"`, or `"pending"` after `ms`. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  try {
    return await Promise.race([
      promise.then((v) => v, (e) => `rejected:${(e as TesseraError).code ?? String(e)}`),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
