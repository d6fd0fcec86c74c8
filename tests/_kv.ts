// An in-memory Deno KV for one test, closed however the test ends.

/** Opens `:memory:` KV, runs `fn` with it, and closes it. */
export async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}
