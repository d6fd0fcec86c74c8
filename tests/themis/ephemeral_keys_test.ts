// Ephemeral keys in the Themis handshake: an uncompressed point (which Themis accepts, though it
// sends compressed ones) completes a handshake with tessera and WasmThemis alike; a point off the
// curve, in either form, is handshake_bad_key_share. A minimal client built from the profile's
// own building blocks plays the side that sends such keys.

import assert from "node:assert/strict";
import { concat } from "../../lib/crypto/_bytes.ts";
import { hmacSign } from "../../lib/crypto/hmac.ts";
import { encodeContainer, TAG_TSID, TAG_TSPM, TAG_UEC2 } from "../../lib/themis/_container.ts";
import { deriveMaster, deriveSessionId } from "../../lib/themis/_kdf.ts";
import { signDer } from "../../lib/themis/_signature.ts";
import {
  client,
  rejectsWith,
  server,
  tesseraSession,
  wasmSession,
  wasmStatus,
} from "./_wasm_themis.ts";

const ECDH = { name: "ECDH", namedCurve: "P-256" } as const;
const subtle = crypto.subtle;

/** Message 1 of `client` carrying the ephemeral point `point` as sent. */
async function message1(point: Uint8Array): Promise<{ message: Uint8Array; ce: Uint8Array }> {
  const ce = encodeContainer(TAG_UEC2, point);
  const signature = await signDer(client.privateKey, ce);
  return {
    message: encodeContainer(TAG_TSPM, encodeContainer(TAG_TSID, client.id), ce, signature),
    ce,
  };
}

/** Splits message 2 into its id, ephemeral container and signature. */
function parse2(m2: Uint8Array) {
  const view = new DataView(m2.buffer, m2.byteOffset);
  const idEnd = 12 + view.getUint32(16);
  const seEnd = idEnd + view.getUint32(idEnd + 4);
  return { sid: m2.slice(24, idEnd), se: m2.slice(idEnd, seEnd) };
}

Deno.test("a client sending an uncompressed ephemeral key completes the handshake with tessera and with WasmThemis", async () => {
  for (const peer of ["tessera", "WasmThemis"] as const) {
    const pair = await subtle.generateKey(ECDH, true, ["deriveBits"]) as CryptoKeyPair;
    const point = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
    assert.equal(point.length, 65);
    const { message, ce } = await message1(point);
    const tessera = tesseraSession(server);
    const wasm = wasmSession(server);
    const send = (m: Uint8Array) =>
      peer === "tessera"
        ? tessera.negotiate(m).then((r) => r!)
        : Promise.resolve(wasm.negotiateReply(m));
    const m2 = await send(message);
    const { sid, se } = parse2(m2);
    assert.deepEqual(sid, server.id);
    // The client's side of the key schedule, from the profile's building blocks.
    const sid4 = await deriveSessionId(ce, se, client.id, sid);
    const peerPoint = await subtle.importKey("raw", se.subarray(12), ECDH, false, []);
    const z = new Uint8Array(
      await subtle.deriveBits({ name: "ECDH", public: peerPoint }, pair.privateKey, 256),
    );
    const master = await deriveMaster(z, sid4);
    const sig3 = await signDer(client.privateKey, concat(ce, se, client.id, sid));
    const mac3 = await hmacSign(master.key, concat(se, sid4));
    const m4 = await send(encodeContainer(TAG_TSPM, sig3, mac3));
    assert.deepEqual(m4.subarray(12), await hmacSign(master.key, concat(ce, sid4)), peer);
    if (peer === "tessera") assert.ok(tessera.isEstablished());
    else assert.ok(wasm.established());
    wasm.destroy();
  }
});

/** Points that are not on P-256: compressed with x ≥ p or without a y, and uncompressed. */
const OFF_CURVE: [string, Uint8Array][] = [
  ["compressed, x = 2^256 − 1", new Uint8Array([0x02, ...new Uint8Array(32).fill(0xff)])],
  // x = 1: x³ − 3x + b is not a square modulo p, so no point has this x.
  ["compressed, x = 1", new Uint8Array([0x03, ...new Uint8Array(31), 1])],
  [
    "uncompressed (1, 2)",
    (() => {
      const p = new Uint8Array(65);
      p[0] = 4;
      p[32] = 1;
      p[64] = 2;
      return p;
    })(),
  ],
];

for (const [what, point] of OFF_CURVE) {
  Deno.test(`message 1 with an ephemeral point off the curve (${what}) is handshake_bad_key_share`, async () => {
    const { message } = await message1(point);
    const s = tesseraSession(server);
    await rejectsWith(s.negotiate(message), "handshake_bad_key_share");
    assert.equal(s.isEstablished(), false);
    assert.equal(s.state, "closed");
  });

  Deno.test(`message 2 with an ephemeral point off the curve (${what}) is handshake_bad_key_share`, async () => {
    const c = tesseraSession(client);
    const m1 = await c.connectRequest();
    const ce = m1.subarray(12 + 12 + client.id.length, 12 + 12 + client.id.length + 45);
    const se = encodeContainer(TAG_UEC2, point);
    const signature = await signDer(server.privateKey, concat(se, ce, server.id, client.id));
    const m2 = encodeContainer(TAG_TSPM, encodeContainer(TAG_TSID, server.id), se, signature);
    await rejectsWith(c.negotiate(m2), "handshake_bad_key_share");
    assert.equal(c.isEstablished(), false);
  });
}

Deno.test("WasmThemis, given the same off-curve message 1, answers it and fails only at message 3", async () => {
  const { message } = await message1(OFF_CURVE[2]![1]);
  const wasm = wasmSession(server);
  assert.equal(wasmStatus(() => wasm.negotiateReply(message)), "ok");
  wasm.destroy();
});
