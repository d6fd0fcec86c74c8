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
