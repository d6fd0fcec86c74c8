// The DER signatures of the Themis handshake: Wycheproof's DER ECDSA P-256 vectors through the
// profile's verifier (tests/crypto/ecdsa_der_test.ts covers the converter on its own), what
// the profile signs, and a non-strict encoding of a valid signature inside message 1.

import assert from "node:assert/strict";
import { concat, fromHex } from "../../lib/crypto/_bytes.ts";
import { derToP1363, p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { generateIdentityKeyPair, importPublicKey } from "../../lib/crypto/identity.ts";
import { encodeContainer } from "../../lib/themis/_container.ts";
import { signDer, verifyDer } from "../../lib/themis/_signature.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";
import {
  client,
  rejectsWith,
  server,
  tesseraSession,
  wasmSession,
  wasmStatus,
} from "./_wasm_themis.ts";

Deno.test("every Wycheproof DER ECDSA P-256 vector: valid ones verify, invalid ones are malformed or invalid, none throws", async () => {
  const file = await loadWycheproof<
    { publicKey: { uncompressed: string } },
    { msg: string; sig: string }
  >("ecdsa_secp256r1_sha256_test.json");
  const seen = { valid: 0, malformed: 0, invalid: 0 };
  let group: unknown = null;
  let key: CryptoKey | null = null;
  for (const [g, t] of cases(file)) {
    if (g !== group) {
      group = g;
      key = await importPublicKey(fromHex(g.publicKey.uncompressed), "raw");
    }
    const verdict = await verifyDer(key!, fromHex(t.sig), fromHex(t.msg));
    if (t.result === "valid") assert.equal(verdict, "valid", `tcId ${t.tcId} (${t.comment})`);
    else assert.notEqual(verdict, "valid", `tcId ${t.tcId} (${t.comment})`);
    seen[verdict]++;
  }
  // The split of tests/crypto/ecdsa_der_test.ts: 251 encodings refused before the engine sees
  // them, 59 well-formed signatures the engine refuses.
  assert.deepEqual(seen, { valid: 174, malformed: 251, invalid: 59 });
});

Deno.test("the profile signs in strict minimal DER of 8 to 72 bytes that round-trips exactly", async () => {
  const { privateKey, publicKey } = await generateIdentityKeyPair();
  const lengths = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const data = new Uint8Array([i, i >> 8]);
    const der = await signDer(privateKey, data);
    assert.ok(der.length >= 8 && der.length <= 72);
    assert.deepEqual(p1363ToDer(derToP1363(der)), der);
    assert.equal(await verifyDer(publicKey, der, data), "valid");
    lengths.add(der.length);
  }
  assert.ok(lengths.has(70) && lengths.has(71), `lengths seen: ${[...lengths]}`);
});

/** Re-encodes a strict DER signature with a long-form outer length (BER, not DER). */
function berLength(der: Uint8Array): Uint8Array {
  return concat(new Uint8Array([0x30, 0x81, der[1]!]), der.subarray(2));
}

/** Re-encodes with a needless leading zero in r. */
function paddedR(der: Uint8Array): Uint8Array {
  const rLength = der[3]!;
  const r = der.subarray(4, 4 + rLength);
  const rest = der.subarray(4 + rLength);
  return concat(new Uint8Array([0x30, der[1]! + 1, 0x02, rLength + 1, 0x00]), r, rest);
}

Deno.test("message 1 whose valid signature is re-encoded as BER is refused, as WasmThemis refuses it", async () => {
  const c = tesseraSession(client);
  const m1 = await c.connectRequest();
  // TSPM ‖ TSID{"client"} (18) ‖ UEC2 (45) ‖ signature.
  const head = m1.subarray(12, 12 + 18 + 45);
  const signature = m1.subarray(12 + 18 + 45);
  for (const [what, variant] of [["BER length", berLength], ["padded r", paddedR]] as const) {
    const tampered = encodeContainer(0x5453504d, head, variant(signature));
    const error = await rejectsWith(
      tesseraSession(server).negotiate(tampered),
      "handshake_bad_signature",
    );
    // Too long for any DER signature, or the right length but not strict DER.
    assert.match(
      error.message,
      /strict DER|not a DER ECDSA signature/,
      `${what}: ${error.message}`,
    );
    assert.notEqual(wasmStatus(() => wasmSession(server).negotiateReply(tampered)), "ok", what);
  }
  // The untouched message is answered by both.
  await tesseraSession(server).negotiate(m1);
  assert.equal(wasmStatus(() => wasmSession(server).negotiateReply(m1)), "ok");
});
