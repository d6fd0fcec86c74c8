import assert from "node:assert/strict";
import {
  KvRevocationStore,
  MemoryRevocationStore,
  type RevocationStore,
} from "../../lib/cookie/revocation.ts";

async function contract(store: RevocationStore): Promise<void> {
  assert.equal(await store.epoch("ann"), 0);
  assert.equal(await store.revoke("ann"), 1);
  assert.equal(await store.revoke("ann"), 2);
  assert.equal(await store.epoch("ann"), 2);
  assert.equal(await store.epoch("bob"), 0, "other users are untouched");
  await Promise.all(Array.from({ length: 5 }, () => store.revoke("bob")));
  assert.equal(await store.epoch("bob"), 5, "concurrent revocations all count");
  await assert.rejects(store.revoke(""), TypeError);
}

Deno.test("MemoryRevocationStore moves a user's epoch on with each revocation", async () => {
  await contract(new MemoryRevocationStore());
});

Deno.test("KvRevocationStore moves a user's epoch on atomically in Deno KV", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await contract(new KvRevocationStore(kv));
    const shared = new KvRevocationStore(kv);
    assert.equal(await shared.epoch("ann"), 2, "another instance on the same KV sees it");
  } finally {
    kv.close();
  }
});

Deno.test("KvRevocationStore refuses a missing Deno.Kv", () => {
  assert.throws(() => new KvRevocationStore(null as unknown as Deno.Kv), TypeError);
});
