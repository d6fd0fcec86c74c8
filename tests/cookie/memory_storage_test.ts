import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { storageContract } from "./_storage_contract.ts";

storageContract(
  "MemorySessionStorage",
  () => Promise.resolve({ storage: new MemorySessionStorage(), close() {} }),
);

const p = (idle: number) => ({ issuedAt: 0, expiresAt: 1000, idleExpiresAt: idle, data: {} });

Deno.test("MemorySessionStorage drops expired sessions when full and then refuses new ones", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 2 });
  await storage.write("a", p(10), { previous: null, now: 0 });
  await storage.write("b", p(500), { previous: null, now: 0 });
  assert.ok(
    await storage.write("c", p(500), { previous: null, now: 20 }),
    "the expired one made room",
  );
  await assert.rejects(
    storage.write("d", p(500), { previous: null, now: 20 }),
    (err) => err instanceof CookieError && err.code === "session_storage_failed",
  );
});

Deno.test("MemorySessionStorage refuses a size bound that is not a positive integer", () => {
  assert.throws(() => new MemorySessionStorage({ maxSessions: 0 }), RangeError);
});

Deno.test("MemorySessionStorage does not alias the caller's objects", async () => {
  const storage = new MemorySessionStorage();
  const data = { list: [1] };
  await storage.write("a", { ...p(500), data }, { previous: null, now: 0 });
  data.list.push(2);
  const read = await storage.read("a", 0);
  assert.ok(read.ok);
  assert.deepEqual(read.payload.data, { list: [1] });
});

Deno.test("one account logging in again and again never pushes other users out", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 10, maxSessionsPerUser: 3 });
  const at = (userId: string) => ({
    issuedAt: 0,
    expiresAt: 1_000_000,
    idleExpiresAt: 1_000_000,
    userId,
    data: {},
  });
  for (let i = 0; i < 7; i++) {
    await storage.write(`u${i}`, at(`user${i}`), { previous: null, now: 1 });
  }
  for (let i = 0; i < 50; i++) {
    assert.ok(await storage.write(`m${i}`, at("mallory"), { previous: null, now: 1 }));
  }
  assert.deepEqual((await storage.listByUser("mallory", 1)).map((s) => s.id), [
    "m47",
    "m48",
    "m49",
  ]);
  assert.deepEqual(await storage.read("m46", 1), { ok: false, code: "cookie_expired" });
  for (let i = 0; i < 7; i++) assert.ok((await storage.read(`u${i}`, 1)).ok, `user${i} kept`);
  assert.equal(storage.size, 10);
});

Deno.test("in a full store a login ends the user's own oldest session before anyone else's", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 4, maxSessionsPerUser: 4 });
  const at = (userId: string) => ({
    issuedAt: 0,
    expiresAt: 1_000_000,
    idleExpiresAt: 1_000_000,
    userId,
    data: {},
  });
  await storage.write("a1", at("ann"), { previous: null, now: 1 });
  await storage.write("b1", at("bob"), { previous: null, now: 1 });
  await storage.write("a2", at("ann"), { previous: null, now: 1 });
  await storage.write("c1", at("cy"), { previous: null, now: 1 });
  await storage.write("a3", at("ann"), { previous: null, now: 1 });
  assert.deepEqual(await storage.read("a1", 1), { ok: false, code: "cookie_expired" });
  assert.ok((await storage.read("b1", 1)).ok);
  assert.ok((await storage.read("c1", 1)).ok);
  // A user with no session yet still gets in, at the cost of the least recently written.
  await storage.write("d1", at("dee"), { previous: null, now: 1 });
  assert.deepEqual(await storage.read("b1", 1), { ok: false, code: "cookie_expired" });
});

Deno.test("MemorySessionStorage checks its options", () => {
  assert.throws(() => new MemorySessionStorage({ maxSessionsPerUser: 0 }), RangeError);
  assert.throws(
    () => new MemorySessionStorage({ maxSession: 5 } as never),
    /no option "maxSession" \(did you mean "maxSessions"\?\)/,
  );
});
