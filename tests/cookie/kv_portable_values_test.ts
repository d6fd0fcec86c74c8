// KvSessionStorage and KvRevocationStore write only values that Deno KV and npm:@deno/kv both
// read: UTF-8 JSON bytes, and 64-bit counters through `sum`. Values of any other type (records
// of an earlier build, stored as structured objects) are refused with a typed reason, never a
// crash. The last test runs tests/bun/cookie_kv_smoke.ts: Bun (npm:@deno/kv) and Deno sharing a
// KV file.

import assert from "node:assert/strict";
import { KvSessionStorage } from "../../lib/cookie/kv_storage.ts";
import { KvRevocationStore } from "../../lib/cookie/revocation.ts";
import type { SessionPayload } from "../../lib/cookie/payload.ts";
import { CookieError } from "../../lib/errors.ts";
import { withKv } from "../_kv.ts";

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const BUN = "bun@1.4.4";

function payload(extra: Partial<SessionPayload> = {}): SessionPayload {
  return {
    issuedAt: T0,
    expiresAt: T0 + 10 * MINUTE,
    idleExpiresAt: T0 + 5 * MINUTE,
    data: { n: 1 },
    ...extra,
  };
}

/** Every entry of the database, with what its value is. */
async function kinds(kv: Deno.Kv): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of kv.list({ prefix: [] })) {
    const v = entry.value;
    let kind: string = typeof v;
    if (v instanceof Uint8Array) {
      JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(v)); // throws unless JSON
      kind = "bytes";
    } else if (v instanceof Deno.KvU64) kind = "u64";
    out.set(entry.key.join("/"), kind);
  }
  return out;
}

const malformed = { ok: false, code: "cookie_malformed" };

Deno.test("a create, read, update, delete and revoke cycle leaves only bytes and counters in KV", async () => {
  await withKv(async (kv) => {
    const storage = new KvSessionStorage(kv);
    const revocation = new KvRevocationStore(kv);
    const seen = new Map<string, string>();
    const snapshot = async () => {
      for (const [key, kind] of await kinds(kv)) seen.set(key, kind);
    };
    const long = "x".repeat(300); // @deno/kv writes strings this long in a form Deno cannot read
    const opts = { previous: null, now: T0 };

    assert.ok(await storage.write("a", payload({ userId: "ann", data: { long } }), opts));
    assert.ok(await storage.write("b", payload({ userId: "ann", flash: { hi: "✓" } }), opts));
    assert.ok(await storage.write("c", payload(), opts));
    assert.ok(await storage.write("old", payload({ idleExpiresAt: T0 + 1 }), opts));
    await snapshot();
    const a = await storage.read("a", T0 + 1);
    assert.ok(a.ok && a.payload.data.long === long);
    assert.ok(
      await storage.write("a", payload({ userId: "bob", data: { long } }), {
        previous: a,
        now: T0 + 1,
      }),
    );
    await snapshot();
    const b = await storage.read("b", T0 + 1);
    assert.ok(b.ok);
    assert.deepEqual(b.payload.flash, { hi: "✓" });
    assert.deepEqual((await storage.listByUser("ann", T0 + 1)).map((s) => s.id), ["b"]);
    assert.deepEqual((await storage.listByUser("bob", T0 + 1)).map((s) => s.id), ["a"]);
    assert.deepEqual(await storage.read("old", T0 + 2), { ok: false, code: "cookie_expired" });
    await storage.delete("c");
    assert.equal(await storage.deleteByUser("bob"), 1);
    assert.equal(await revocation.revoke("ann"), 1);
    assert.equal(await revocation.revoke("ann"), 2);
    assert.equal(await revocation.epoch("ann"), 2);
    await snapshot();

    assert.deepEqual(await storage.read("a", T0 + 1), { ok: false, code: "cookie_revoked" });
    assert.deepEqual(await storage.read("c", T0 + 1), { ok: false, code: "cookie_revoked" });
    assert.deepEqual(await storage.read("old", T0 + 1), { ok: false, code: "cookie_expired" });
    assert.ok((await storage.read("b", T0 + 1)).ok);

    // Records, index entries, traces (plain and revoked) and epochs were all seen, each as the
    // one portable type of its kind.
    for (
      const key of ["s/a", "s/b", "u/ann/a", "u/bob/a", "u/ann/b", "t/a", "t/c", "t/old"]
    ) {
      assert.equal(seen.get(`tessera/session/${key}`), "bytes", key);
    }
    for (const [key, kind] of seen) {
      assert.equal(kind, key.startsWith("tessera/revocation/") ? "u64" : "bytes", key);
    }
    assert.equal(seen.get("tessera/revocation/ann"), "u64");
  });
});

Deno.test("a record in an earlier format (a structured value) is refused as cookie_malformed", async () => {
  await withKv(async (kv) => {
    const storage = new KvSessionStorage(kv);
    // What the previous build wrote: the envelope as an object, the trace and index as objects.
    const wire = { v: 1, iat: T0, exp: T0 + 10 * MINUTE, idl: T0 + 5 * MINUTE, uid: "ann", d: {} };
    await kv.set(["tessera", "session", "s", "old"], wire);
    await kv.set(["tessera", "session", "t", "old"], { until: Date.now() + MINUTE });
    await kv.set(["tessera", "session", "u", "ann", "old"], { iat: T0, exp: T0 + 5 * MINUTE });
    assert.deepEqual(await storage.read("old", T0 + 1), malformed);
    // The same envelope as a JSON string (also unreadable across runtimes) is refused too.
    await kv.set(["tessera", "session", "s", "str"], JSON.stringify(wire));
    assert.deepEqual(await storage.read("str", T0 + 1), malformed);
    // Its index entry is not listed, and nothing can write over the old record.
    assert.deepEqual(await storage.listByUser("ann", T0 + 1), []);
    assert.equal(await storage.write("old", payload(), { previous: null, now: T0 }), null);
    // Log out everywhere still finds it through the index, deletes it and marks it revoked.
    assert.equal(await storage.deleteByUser("ann"), 1);
    assert.deepEqual(await storage.read("old", T0 + 1), { ok: false, code: "cookie_revoked" });
    // A plain delete of an old record works as well.
    await storage.delete("str");
    assert.deepEqual(await storage.read("str", T0 + 1), { ok: false, code: "cookie_revoked" });
  });
});

Deno.test("an old-format trace of a missing record is refused as cookie_malformed, and blocks reuse", async () => {
  await withKv(async (kv) => {
    const storage = new KvSessionStorage(kv);
    await kv.set(["tessera", "session", "t", "gone"], {
      until: Date.now() + MINUTE,
      revoked: true,
    });
    assert.deepEqual(await storage.read("gone", T0), malformed);
    assert.equal(await storage.write("gone", payload(), { previous: null, now: T0 }), null);
  });
});

Deno.test("bytes that are not UTF-8 JSON of an envelope are refused as cookie_malformed", async () => {
  await withKv(async (kv) => {
    const storage = new KvSessionStorage(kv);
    const bad: [string, Uint8Array][] = [
      ["utf8", new Uint8Array([0xff, 0xfe, 0x7b])],
      ["json", new TextEncoder().encode("{not json")],
      ["shape", new TextEncoder().encode('{"v":1}')],
      ["array", new TextEncoder().encode("[1,2]")],
      ["empty", new Uint8Array()],
    ];
    for (const [id, value] of bad) {
      await kv.set(["tessera", "session", "s", id], value);
      assert.deepEqual(await storage.read(id, T0), malformed, id);
      await kv.set(["tessera", "session", "t", `${id}-t`], value);
      assert.deepEqual(await storage.read(`${id}-t`, T0), malformed, `${id} trace`);
    }
  });
});

Deno.test("KvRevocationStore refuses an epoch that is not a 64-bit counter with session_storage_failed", async () => {
  await withKv(async (kv) => {
    const store = new KvRevocationStore(kv);
    const failed = (err: unknown) =>
      err instanceof CookieError && err.code === "session_storage_failed";
    for (const value of [{ epoch: 3 }, 3, "3", new Uint8Array([3]), null]) {
      await kv.set(["tessera", "revocation", "ann"], value);
      // Never read as 0: that would bring back sessions revoked under a higher epoch.
      await assert.rejects(store.epoch("ann"), failed, String(value));
      await assert.rejects(store.revoke("ann"), failed, String(value));
    }
    await kv.set(["tessera", "revocation", "ann"], new Deno.KvU64(7n));
    assert.equal(await store.epoch("ann"), 7);
    assert.equal(await store.revoke("ann"), 8);
  });
});

Deno.test(`Deno and Bun (${BUN}, npm:@deno/kv) share sessions and epochs in one KV file`, async () => {
  const script = new URL("../bun/cookie_kv_smoke.ts", import.meta.url);
  const run = await new Deno.Command("npx", {
    args: ["-y", BUN, decodeURIComponent(script.pathname)],
    env: { NO_COLOR: "1", DENO: Deno.execPath() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(run.stdout);
  const err = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, `${out}\n${err}`);
  const summary = out.trim().split("\n").at(-1)!;
  assert.match(summary, /^bun 1\.4\.4, @deno\/kv@0\.14\.0: [1-9]\d* passed, 0 failed$/, out);
});
