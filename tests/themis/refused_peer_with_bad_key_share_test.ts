// A peer that signs correctly but whom this side's expected-peer policy refuses is refused as
// `handshake_peer_rejected`, whatever else is wrong with its message: the signature and key
// agreement made beside authentication must not change the outcome. Before the change that
// made them concurrent, a correctly signed message 1 or 2 from a refused peer was refused by the
// policy before its ephemeral key was ever imported; now an off-curve key in it wins, the error
// says `handshake_bad_key_share`, and the policy callback is never asked.

import assert from "node:assert/strict";
import { encodeContainer, TAG_TSID, TAG_TSPM, TAG_UEC2 } from "../../lib/themis/_container.ts";
import { signDer } from "../../lib/themis/_signature.ts";
import { client, rejectsWith, server, tesseraSession } from "./_wasm_themis.ts";

/** A compressed "point" whose x is above the field prime: never on the curve. */
const OFF_CURVE = new Uint8Array(33).fill(0xff);
OFF_CURVE[0] = 0x02;

/** Message 1 from `client`, correctly signed, carrying `point`. */
async function connectionRequest(point: Uint8Array) {
  const ephemeral = encodeContainer(TAG_UEC2, point);
  return encodeContainer(
    TAG_TSPM,
    encodeContainer(TAG_TSID, client.id),
    ephemeral,
    await signDer(client.privateKey, ephemeral),
  );
}

Deno.test("a correctly signed connection request from a peer the server's expectedPeer refuses, with an off-curve key, is refused as peer_rejected", async () => {
  const s = tesseraSession(server, { expectedPeer: "someone else" });
  await rejectsWith(s.negotiate(await connectionRequest(OFF_CURVE)), "handshake_peer_rejected");
  assert.equal(s.state, "closed");
});

Deno.test("a server's peer policy function is asked about a correctly signed connection request with an off-curve key, and its refusal is the error", async () => {
  const asked: string[] = [];
  const s = tesseraSession(server, {
    expectedPeer: (id) => {
      asked.push(new TextDecoder().decode(id));
      return false;
    },
  });
  await rejectsWith(s.negotiate(await connectionRequest(OFF_CURVE)), "handshake_peer_rejected");
  assert.deepEqual(asked, ["client"]);
});

Deno.test("a correctly signed server reply from a server the client's expectedPeer refuses, with an off-curve key, is refused as peer_rejected", async () => {
  const c = tesseraSession(client, { expectedPeer: "someone else" });
  const m1 = await c.connectRequest();
  // The client's ephemeral container, as it was sent: after the TSPM header and the TSID.
  const at = 12 + 12 + client.id.length;
  const clientEphemeral = m1.slice(at, at + 12 + 33);
  const serverEphemeral = encodeContainer(TAG_UEC2, OFF_CURVE);
  const signed = new Uint8Array([
    ...serverEphemeral,
    ...clientEphemeral,
    ...server.id,
    ...client.id,
  ]);
  const m2 = encodeContainer(
    TAG_TSPM,
    encodeContainer(TAG_TSID, server.id),
    serverEphemeral,
    await signDer(server.privateKey, signed),
  );
  await rejectsWith(c.negotiate(m2), "handshake_peer_rejected");
  assert.equal(c.state, "closed");
});
