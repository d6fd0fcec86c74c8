import assert from "node:assert/strict";
import { exportPublicKey } from "../../lib/crypto/identity.ts";
import { directoryLookup } from "../../lib/session/directory_lookup.ts";
import { alice, bob, bytes } from "./_helpers.ts";

Deno.test("directoryLookup compares ids byte for byte: a BOM, a case or a bad byte is another id", async () => {
  const lookup = directoryLookup({ alice: alice.keys.publicKey });
  assert.equal(await lookup(bytes("alice")), alice.keys.publicKey);
  for (
    const other of [bytes("\uFEFFalice"), bytes("Alice"), bytes("alice "), new Uint8Array([0xff])]
  ) {
    assert.equal(await lookup(other), null);
  }
});

Deno.test("directoryLookup takes byte ids in a Map, and imports byte keys once", async () => {
  const raw = await exportPublicKey(bob.keys.publicKey, "raw");
  const lookup = directoryLookup(new Map([[new Uint8Array([0, 1]), raw]]));
  const first = await lookup(new Uint8Array([0, 1]));
  assert.ok(first instanceof CryptoKey);
  assert.equal(await lookup(new Uint8Array([0, 1])), first); // the same key object, not re-imported
  assert.equal(await lookup(new Uint8Array([0])), null);
  assert.throws(() => directoryLookup(null as unknown as Record<string, CryptoKey>), TypeError);
});
