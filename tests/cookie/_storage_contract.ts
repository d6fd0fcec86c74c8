// The behaviour every SessionStorage must show, run against each implementation.
import assert from "node:assert/strict";
import type { SessionPayload } from "../../lib/cookie/payload.ts";
import type { SessionStorage, StoredSession } from "../../lib/cookie/session_storage.ts";
import { CookieError } from "../../lib/errors.ts";

const T0 = 1_700_000_000_000;

function payload(extra: Partial<SessionPayload> = {}): SessionPayload {
  return { issuedAt: T0, expiresAt: T0 + 1000, idleExpiresAt: T0 + 500, data: { n: 1 }, ...extra };
}

async function must(storage: SessionStorage, id: string, now: number): Promise<StoredSession> {
  const read = await storage.read(id, now);
  assert.ok(read.ok, `expected ${id} to be readable`);
  return read;
}

/** Registers the contract tests for one storage implementation. */
export function storageContract(
  label: string,
  open: () => Promise<{ storage: SessionStorage; close(): void }>,
): void {
  const test = (name: string, fn: (storage: SessionStorage) => Promise<void>): void => {
    Deno.test(`${label} ${name}`, async () => {
      const { storage, close } = await open();
      try {
        await fn(storage);
      } finally {
        close();
      }
    });
  };

  test("reads back what it wrote, with a version", async (storage) => {
    const version = await storage.write("a", payload({ userId: "ann" }), {
      previous: null,
      now: T0,
    });
    assert.equal(typeof version, "string");
    const read = await must(storage, "a", T0 + 1);
    assert.equal(read.version, version);
    assert.deepEqual(read.payload.data, { n: 1 });
    assert.equal(read.payload.userId, "ann");
  });

  test("reports an id it never issued as cookie_unknown_session", async (storage) => {
    assert.deepEqual(await storage.read("nope", T0), { ok: false, code: "cookie_unknown_session" });
  });

  test("checks expiry itself on read and forgets the expired record", async (storage) => {
    await storage.write("a", payload({ userId: "ann" }), { previous: null, now: T0 });
    assert.deepEqual(await storage.read("a", T0 + 500), { ok: false, code: "cookie_expired" });
    assert.deepEqual(await storage.read("a", T0 + 1), { ok: false, code: "cookie_expired" });
    assert.deepEqual(await storage.listByUser("ann", T0), []);
  });

  test("refuses a create over an existing session and a write from an old version", async (storage) => {
    await storage.write("a", payload(), { previous: null, now: T0 });
    assert.equal(await storage.write("a", payload(), { previous: null, now: T0 }), null);
    const first = await must(storage, "a", T0);
    assert.ok(await storage.write("a", payload({ data: { n: 2 } }), { previous: first, now: T0 }));
    assert.equal(
      await storage.write("a", payload({ data: { n: 3 } }), { previous: first, now: T0 }),
      null,
    );
    assert.deepEqual((await must(storage, "a", T0)).payload.data, { n: 2 });
  });

  test("refuses a write to a session deleted since it was read", async (storage) => {
    await storage.write("a", payload(), { previous: null, now: T0 });
    const read = await must(storage, "a", T0);
    await storage.delete("a");
    assert.equal(await storage.write("a", payload(), { previous: read, now: T0 }), null);
    await storage.delete("a"); // deleting a missing session is fine
  });

  test("lists and deletes a user's sessions through the by-user index", async (storage) => {
    await storage.write("a", payload({ userId: "ann" }), { previous: null, now: T0 });
    await storage.write("b", payload({ userId: "ann", idleExpiresAt: T0 + 100 }), {
      previous: null,
      now: T0,
    });
    await storage.write("c", payload({ userId: "bob" }), { previous: null, now: T0 });
    await storage.write("d", payload(), { previous: null, now: T0 });
    const listed = await storage.listByUser("ann", T0);
    assert.deepEqual(listed.map((s) => s.id).sort(), ["a", "b"]);
    assert.deepEqual(listed.find((s) => s.id === "a"), {
      id: "a",
      issuedAt: T0,
      expiresAt: T0 + 500,
    });
    assert.deepEqual((await storage.listByUser("ann", T0 + 200)).map((s) => s.id), ["a"]);
    assert.equal(await storage.deleteByUser("ann"), 2);
    assert.deepEqual(await storage.read("a", T0), { ok: false, code: "cookie_revoked" });
    assert.ok((await storage.read("c", T0)).ok);
    assert.ok((await storage.read("d", T0)).ok);
    assert.equal(await storage.deleteByUser("ann"), 0);
  });

  test("delete() with reason expired reads cookie_expired, not cookie_revoked", async (storage) => {
    await storage.write("x", payload({ userId: "ann" }), { previous: null, now: T0 });
    await storage.write("y", payload({ userId: "ann" }), { previous: null, now: T0 });
    await storage.delete("x", "expired");
    await storage.delete("y");
    assert.deepEqual(await storage.read("x", T0), { ok: false, code: "cookie_expired" });
    assert.deepEqual(await storage.read("y", T0), { ok: false, code: "cookie_revoked" });
    assert.deepEqual(await storage.listByUser("ann", T0), []);
  });

  test("moves the index entry when a session changes user", async (storage) => {
    await storage.write("a", payload({ userId: "ann" }), { previous: null, now: T0 });
    const read = await must(storage, "a", T0);
    await storage.write("a", payload({ userId: "bob" }), { previous: read, now: T0 });
    assert.deepEqual(await storage.listByUser("ann", T0), []);
    assert.deepEqual((await storage.listByUser("bob", T0)).map((s) => s.id), ["a"]);
    const again = await must(storage, "a", T0);
    await storage.write("a", payload(), { previous: again, now: T0 });
    assert.deepEqual(await storage.listByUser("bob", T0), []);
  });

  test("refuses an envelope too large for the store with cookie_too_large", async (storage) => {
    const big = payload({ data: { blob: "x".repeat(70_000) } });
    await assert.rejects(
      storage.write("a", big, { previous: null, now: T0 }),
      (err) => err instanceof CookieError && err.code === "cookie_too_large",
    );
  });

  test("lets exactly one of many concurrent writers from one version win", async (storage) => {
    await storage.write("a", payload(), { previous: null, now: T0 });
    const read = await must(storage, "a", T0);
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => storage.write("a", payload({ data: { n: i } }), { previous: read, now: T0 }),
      ),
    );
    assert.equal(results.filter((r) => r !== null).length, 1);
  });
}
