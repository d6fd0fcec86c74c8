// Every byte of every Themis handshake message flipped, every message cut short or extended,
// replayed into another handshake or delivered out of turn: always a typed HandshakeError, and
// the session that received it never established.
//
// Both sides' ephemeral keys are fixed (injected), so messages recorded in one reference
// handshake stay valid for fresh sessions at the same step: each tampered copy is fed to a
// fresh session brought to exactly that step.

import assert from "node:assert/strict";
import { generateEphemeralKeyPair } from "../../lib/crypto/ecdh.ts";
import { systemRandom } from "../../lib/crypto/random.ts";
import { HandshakeError, type HandshakeErrorCode } from "../../lib/errors.ts";
import { withEntropy } from "../../lib/session/_entropy.ts";
import { crc32c } from "../../lib/themis/_container.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { generateIdentityKeyPair } from "../../lib/crypto/identity.ts";
import { tessera1 } from "../../lib/session/tessera1.ts";
import { SecureSession as Session } from "../../lib/session/secure_session.ts";
import { client, server, tesseraPair, tesseraSession } from "./_wasm_themis.ts";

const clientEphemeral = await generateEphemeralKeyPair();
const serverEphemeral = await generateEphemeralKeyPair();

function fixed<T>(pair: CryptoKeyPair, fn: () => Promise<T>): Promise<T> {
  return withEntropy({ random: systemRandom, generateEphemeral: () => Promise.resolve(pair) }, fn);
}

// The reference handshake.
const c0 = tesseraSession(client);
const s0 = tesseraSession(server);
const m1 = await fixed(clientEphemeral, () => c0.connectRequest());
const m2 = (await fixed(serverEphemeral, () => s0.negotiate(m1)))!;
const m3 = (await c0.negotiate(m2))!;
const m4 = (await s0.negotiate(m3))!;
assert.equal(await c0.negotiate(m4), null);

/** A server that has read nothing yet. */
function serverAt1(): Promise<SecureSession> {
  return Promise.resolve(tesseraSession(server));
}
/** A client that sent message 1 (with the fixed ephemeral key) and waits for message 2. */
async function clientAt2(): Promise<SecureSession> {
  const c = tesseraSession(client);
  await fixed(clientEphemeral, () => c.connectRequest());
  return c;
}
/** A server that answered message 1 (with the fixed ephemeral key) and waits for message 3. */
async function serverAt3(): Promise<SecureSession> {
  const s = tesseraSession(server);
  await fixed(serverEphemeral, () => s.negotiate(m1));
  return s;
}
/** A client that sent message 3 and waits for message 4. */
async function clientAt4(): Promise<SecureSession> {
  const c = await clientAt2();
  await c.negotiate(m2);
  return c;
}

const steps: [string, Uint8Array, () => Promise<SecureSession>][] = [
  ["message 1", m1, serverAt1],
  ["message 2", m2, clientAt2],
  ["message 3", m3, serverAt3],
  ["message 4", m4, clientAt4],
];

/** Where the containers of a well-formed handshake message start: TSPM, then TSID and UEC2. */
function containerOffsets(message: Uint8Array): number[] {
  const view = new DataView(message.buffer, message.byteOffset);
  if (view.getUint32(12) !== 0x54534944) return [0]; // messages 3 and 4: the TSPM alone
  return [0, 12, 12 + view.getUint32(16)];
}

/** Recomputes the CRC of each container at `offsets` (innermost first) from its declared size. */
function reseal(message: Uint8Array, offsets: number[]): void {
  for (const offset of [...offsets].reverse()) {
    const view = new DataView(message.buffer, message.byteOffset + offset);
    const size = view.getUint32(4);
    if (size < 12 || offset + size > message.length) continue;
    const copy = message.slice(offset, offset + size);
    copy.fill(0, 8, 12);
    view.setUint32(8, crc32c(copy), true);
  }
}

const HANDSHAKE_CODES: HandshakeErrorCode[] = [
  "handshake_malformed",
  "handshake_unexpected",
  "handshake_bad_signature",
  "handshake_bad_finished",
  "handshake_bad_key_share",
  "handshake_unknown_peer",
  "handshake_peer_rejected",
];

/** Feeds `message` to `session`: it must refuse it with a typed error and never establish. */
async function refuses(session: SecureSession, message: Uint8Array, what: string) {
  let error: unknown = null;
  try {
    await session.negotiate(message);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof HandshakeError, `${what}: expected a HandshakeError, got ${error}`);
  assert.ok(HANDSHAKE_CODES.includes(error.code), `${what}: unexpected code ${error.code}`);
  assert.equal(session.isEstablished(), false, `${what}: established`);
  assert.equal(session.state, "closed", what);
  assert.equal(session.error, error, what);
  return error.code;
}

for (const [name, message, at] of steps) {
  Deno.test(`the untampered ${name} is accepted by a fresh session at that step`, async () => {
    const session = await at();
    await session.negotiate(message);
    if (name === "message 3" || name === "message 4") assert.ok(session.isEstablished());
  });

  Deno.test(`every byte of ${name} flipped is a typed failure and never establishes`, async () => {
    const codes = new Set<string>();
    for (let i = 0; i < message.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = message.slice();
        tampered[i]! ^= bit;
        codes.add(await refuses(await at(), tampered, `${name} byte ${i} ^ ${bit}`));
      }
    }
    assert.ok(codes.has("handshake_malformed"), "container damage is reported as malformed");
  });

  Deno.test(`every byte of ${name} flipped, its containers' CRCs made to match again, is a typed failure and never establishes`, async () => {
    const codes = new Set<string>();
    for (let i = 0; i < message.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = message.slice();
        tampered[i]! ^= bit;
        reseal(tampered, containerOffsets(message));
        if (tampered.every((b, j) => b === message[j])) continue; // a CRC byte: resealed as it was
        codes.add(await refuses(await at(), tampered, `${name} byte ${i} ^ ${bit}, resealed`));
      }
    }
    // Past the CRCs, the signature, MAC and key checks refuse what the containers let through.
    const expected = name === "message 4" ? "handshake_bad_finished" : "handshake_bad_signature";
    assert.ok(codes.has(expected), `${name}: ${[...codes].join(", ")}`);
  });

  Deno.test(`${name} cut short at every length, or with a byte appended, is a typed failure`, async () => {
    for (let length = 0; length < message.length; length++) {
      await refuses(await at(), message.slice(0, length), `${name} cut to ${length}`);
    }
    const longer = new Uint8Array(message.length + 1);
    longer.set(message);
    await refuses(await at(), longer, `${name} with a byte appended`);
  });
}

Deno.test("handshake messages recorded from one handshake are refused in another", async () => {
  // Fresh ephemeral keys on the receiving side: the recorded transcript no longer matches.
  const c = tesseraSession(client);
  await c.connectRequest();
  assert.equal(await refuses(c, m2, "recorded message 2"), "handshake_bad_signature");

  const s = tesseraSession(server);
  await s.negotiate(m1); // message 1 signs only the client's ephemeral key: it is answered
  assert.equal(await refuses(s, m3, "recorded message 3"), "handshake_bad_signature");

  const late = tesseraSession(client);
  const s2 = tesseraSession(server);
  await late.negotiate((await s2.negotiate(await late.connectRequest()))!);
  assert.equal(await refuses(late, m4, "recorded message 4"), "handshake_bad_finished");
});

Deno.test("handshake messages out of turn are refused with what came instead", async () => {
  const early = await refuses(await serverAt1(), m3, "message 3 first");
  assert.equal(early, "handshake_unexpected");
  assert.equal(await refuses(await serverAt1(), m4, "message 4 first"), "handshake_unexpected");
  const again = await serverAt3();
  assert.equal(await refuses(again, m1, "message 1 twice"), "handshake_unexpected");
  const twice = await clientAt4();
  await refuses(twice, m2, "message 2 twice");
  const skipped = await clientAt2();
  await refuses(skipped, m4, "message 4 before message 2");
});

Deno.test("two clients, or a tessera/1 peer, are named in the refusal", async () => {
  const a = tesseraSession(client);
  const b = tesseraSession(server);
  await b.connectRequest(); // both connect
  const error = await b.negotiate(await a.connectRequest()).catch((e: HandshakeError) => e);
  assert.ok(error instanceof HandshakeError);
  assert.equal(error.code, "handshake_unexpected");
  assert.match(error.message, /the peer is a client too/);

  const keys = await generateIdentityKeyPair();
  const tessera1Client = new Session({
    id: "x",
    privateKey: keys.privateKey,
    getPublicKeyForId: () => null,
    profile: tessera1,
  });
  const s = tesseraSession(server);
  const refusal = await s.negotiate(await tessera1Client.connectRequest()).catch((e) => e);
  assert.equal(refusal.code, "handshake_unexpected");
  assert.match(refusal.message, /tessera\/1/);
});

Deno.test("a handshake that completed once refuses further handshake messages", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  const [first] = await tesseraPair(c, s);
  await assert.rejects(s.negotiate(first!), { code: "session_invalid_call" });
  assert.ok(s.isEstablished());
});
