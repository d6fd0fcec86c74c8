import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import { KvSessionStorage } from "../../lib/cookie/kv_storage.ts";
import { storageContract } from "./_storage_contract.ts";

storageContract("KvSessionStorage", async () => {
  const kv = await Deno.openKv(":memory:");
  return { storage: new KvSessionStorage(kv), close: () => kv.close() };
});

const p = { issuedAt: 0, expiresAt: 1000, idleExpiresAt: 500, data: { n: 1 } };

/** A Deno.Kv whose get() and commit() fail with `error` the first `times` calls. */
function flaky(
  kv: Deno.Kv,
  times: number,
  error: () => Error,
): { kv: Deno.Kv; calls: () => number } {
  let calls = 0;
  const fail = <R>(run: () => Promise<R>): Promise<R> =>
    ++calls <= times ? Promise.reject(error()) : run();
  const wrapped = new Proxy(kv, {
    get(target, prop) {
      if (prop === "get") return (key: Deno.KvKey) => fail(() => target.get(key));
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          const proxy: Deno.AtomicOperation = new Proxy(op, {
            get(o, q) {
              if (q === "commit") return () => fail(() => o.commit());
              const value = Reflect.get(o, q);
              if (typeof value !== "function") return value;
              return (...args: unknown[]) => {
                value.apply(o, args);
                return proxy;
              };
            },
          });
          return proxy;
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv: wrapped, calls: () => calls };
}

Deno.test("KvSessionStorage retries 'database is locked' with bounded backoff", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: locked, calls } = flaky(kv, 3, () => new TypeError("database is locked"));
    const storage = new KvSessionStorage(locked, { retryBaseDelay: 1 });
    const read = await storage.read("a", 0);
    assert.deepEqual(read, { ok: false, code: "cookie_unknown_session" });
    assert.equal(calls(), 5, "four reads of the record, one of its trace");
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage retries a locked atomic commit and still writes once", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: locked, calls } = flaky(kv, 2, () => new Error("database is locked"));
    const storage = new KvSessionStorage(locked, { retryBaseDelay: 1 });
    assert.ok(await storage.write("a", p, { previous: null, now: 0 }));
    assert.equal(calls(), 3);
    const read = await new KvSessionStorage(kv).read("a", 0);
    assert.ok(read.ok);
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage gives up on a lock that outlasts its attempts with session_storage_failed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: locked, calls } = flaky(kv, 100, () => new TypeError("database is locked"));
    const storage = new KvSessionStorage(locked, { retryAttempts: 3, retryBaseDelay: 1 });
    await assert.rejects(
      storage.read("a", 0),
      (err) => err instanceof CookieError && err.code === "session_storage_failed",
    );
    assert.equal(calls(), 3);
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage does not retry other errors and reports session_storage_failed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: broken, calls } = flaky(kv, 100, () => new Error("disk on fire"));
    const storage = new KvSessionStorage(broken, { retryBaseDelay: 1 });
    await assert.rejects(
      storage.write("a", p, { previous: null, now: 0 }),
      (err) => err instanceof CookieError && err.code === "session_storage_failed",
    );
    assert.equal(calls(), 1);
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage keeps its records under the configured prefix", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new KvSessionStorage(kv, { prefix: ["app", "s"] });
    await storage.write("a", { ...p, userId: "ann" }, { previous: null, now: 0 });
    const keys = [];
    for await (const entry of kv.list({ prefix: [] })) keys.push(entry.key);
    assert.deepEqual(keys, [
      ["app", "s", "s", "a"],
      ["app", "s", "t", "a"],
      ["app", "s", "u", "ann", "a"],
    ]);
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage reports a corrupted record as cookie_malformed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["tessera", "session", "s", "a"], { v: 1, nonsense: true });
    const storage = new KvSessionStorage(kv);
    assert.deepEqual(await storage.read("a", 0), { ok: false, code: "cookie_malformed" });
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage refuses a missing Deno.Kv and bad retry options", async () => {
  assert.throws(() => new KvSessionStorage(undefined as unknown as Deno.Kv), TypeError);
  const kv = await Deno.openKv(":memory:");
  try {
    assert.throws(() => new KvSessionStorage(kv, { retryAttempts: 0 }), RangeError);
    assert.throws(() => new KvSessionStorage(kv, { retryBaseDelay: -1 }), RangeError);
  } finally {
    kv.close();
  }
});
