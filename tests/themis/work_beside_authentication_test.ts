// Each side of a Themis handshake makes its own signature and the key agreement while it checks
// the peer's signature, so its reply is ready as soon as the peer is authenticated. That work
// must never change the outcome: a peer that fails authentication is refused for that (not for
// whatever else is wrong with its message), the work made for it is dropped and settled (the
// test sanitizer fails any test that leaves a Web Crypto operation running), and nothing of it
// reaches the wire.

import assert from "node:assert/strict";
import { generateIdentityKeyPair } from "../../lib/crypto/identity.ts";
import { encodeContainer, TAG_TSID, TAG_TSPM, TAG_UEC2 } from "../../lib/themis/_container.ts";
import { signDer } from "../../lib/themis/_signature.ts";
import { bytes, client, rejectsWith, server, tesseraSession } from "./_wasm_themis.ts";

/** A compressed "point" whose x is above the field prime: never on the curve. */
const OFF_CURVE = new Uint8Array(33).fill(0xff);
OFF_CURVE[0] = 0x02;

/** Message 1 from `id` carrying `point`, its container signed with `signer`. */
async function connectionRequest(id: Uint8Array, point: Uint8Array, signer: CryptoKey) {
  const ephemeral = encodeContainer(TAG_UEC2, point);
  return encodeContainer(
    TAG_TSPM,
    encodeContainer(TAG_TSID, id),
    ephemeral,
    await signDer(signer, ephemeral),
  );
}

Deno.test("a connection request with a forged signature and an off-curve key is refused for the signature", async () => {
  const stranger = await generateIdentityKeyPair();
  const s = tesseraSession(server);
  const m1 = await connectionRequest(client.id, OFF_CURVE, stranger.privateKey);
  await rejectsWith(s.negotiate(m1), "handshake_bad_signature");
  assert.equal(s.state, "closed");
});

Deno.test("a correctly signed connection request with an off-curve key is refused for the key", async () => {
  const s = tesseraSession(server);
  const m1 = await connectionRequest(client.id, OFF_CURVE, client.privateKey);
  await rejectsWith(s.negotiate(m1), "handshake_bad_key_share");
});

Deno.test("a connection request from an unknown id is refused as unknown, its server's work dropped", async () => {
  const stranger = await generateIdentityKeyPair();
  const s = tesseraSession(server);
  const c = tesseraSession(client);
  const genuine = await c.connectRequest();
  // The genuine request's key, under an id nobody knows, signed by a stranger.
  const point = new Uint8Array(
    genuine.subarray(12 + 12 + client.id.length + 12, 12 + 12 + client.id.length + 12 + 33),
  );
  assert.ok(point[0] === 2 || point[0] === 3);
  const m1 = await connectionRequest(bytes("mallory"), point, stranger.privateKey);
  await rejectsWith(s.negotiate(m1), "handshake_unknown_peer");
  await c.close();
});

Deno.test("a server reply with a forged signature is refused for it, the client's signature never sent", async () => {
  const stranger = await generateIdentityKeyPair();
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  const m1 = await c.connectRequest();
  const m2 = (await s.negotiate(m1))!;
  // The server's reply with its signature replaced by a stranger's over the same transcript.
  const forged = await connectionRequest(server.id, OFF_CURVE, stranger.privateKey);
  const sent: Uint8Array[] = [];
  await rejectsWith(c.negotiate(forged).then((m) => m && sent.push(m)), "handshake_bad_signature");
  assert.deepEqual(sent, []);
  assert.equal(c.state, "closed");
  assert.ok(m2.length > 0);
  await s.close();
});
