// An unknown id must cost the same work as a known id with a bad signature, or the failure time
// tells anyone which ids are registered. This test pins the mechanism (the same crypto calls on
// both paths); bench/id_timing_bench.ts reports the times side by side.

import assert from "node:assert/strict";
import { alice, bob, identity, lookupOf, session } from "./_helpers.ts";

const impostor = await identity("alice"); // alice's id with another key: a bad signature

/** Counts crypto.subtle.verify calls by algorithm while `fn` runs. */
async function countVerifies(fn: () => Promise<void>): Promise<Record<string, number>> {
  const subtle = crypto.subtle;
  const verify = subtle.verify;
  const counts: Record<string, number> = {};
  subtle.verify = function (...args: Parameters<typeof verify>) {
    const alg = args[0];
    const name = typeof alg === "string" ? alg : alg.name;
    counts[name] = (counts[name] ?? 0) + 1;
    return verify.apply(this, args);
  };
  try {
    await fn();
  } finally {
    subtle.verify = verify;
  }
  return counts;
}

/** The server's work on a ClientFinished from `client`, counted. */
async function serverWork(clientSelf: typeof alice, serverKnows: typeof alice[]) {
  const client = session({ getPublicKeyForId: lookupOf(bob) }, clientSelf);
  const server = session({ getPublicKeyForId: lookupOf(bob, ...serverKnows) }, bob);
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  let code = "";
  const counts = await countVerifies(async () => {
    await server.negotiate(finished!).catch((err) => code = err.code);
  });
  return { code, counts };
}

Deno.test("an unknown client id is verified against a fixed key, as much work as a bad signature", async () => {
  const unknown = await serverWork(alice, []);
  const badSignature = await serverWork(impostor, [alice]);
  assert.equal(unknown.code, "handshake_unknown_peer");
  assert.equal(badSignature.code, "handshake_bad_signature");
  assert.equal(unknown.counts.ECDSA, 1);
  assert.deepEqual(unknown.counts, badSignature.counts);
});

Deno.test("an unknown server id costs the client the same verification as a bad server signature", async () => {
  const work = async (serverSelf: typeof alice, clientKnows: typeof alice[]) => {
    const client = session({ getPublicKeyForId: lookupOf(...clientKnows) }, alice);
    const server = session({ getPublicKeyForId: lookupOf(alice) }, serverSelf);
    const reply = await server.negotiate(await client.connectRequest());
    let code = "";
    const counts = await countVerifies(async () => {
      await client.negotiate(reply!).catch((err) => code = err.code);
    });
    return { code, counts };
  };
  const unknown = await work(bob, []);
  const bad = await work(await identity("bob"), [bob]);
  assert.equal(unknown.code, "handshake_unknown_peer");
  assert.equal(bad.code, "handshake_bad_signature");
  assert.deepEqual(unknown.counts, bad.counts);
});
