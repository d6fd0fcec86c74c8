// Checks tessera/1 against the recorded wire-format vectors in tests/vectors/tessera1/. The
// key schedule and record protection are recomputed here from docs/protocol.md with bare
// crypto.subtle calls, and compared both with the vectors and with the implementation.

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { importHkdfKey } from "../../lib/crypto/hkdf.ts";
import { importPrivateKey, importPublicKey } from "../../lib/crypto/identity.ts";
import { withEntropy } from "../../lib/session/_entropy.ts";
import {
  deriveHandshakeKeys,
  deriveRecordKey,
  deriveTrafficSecrets,
} from "../../lib/session/_tessera1_schedule.ts";
import { ReplayWindow } from "../../lib/session/replay_window.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { Tessera1Channel } from "../../lib/session/tessera1_channel.ts";
import handshakeVector from "../vectors/tessera1/handshake.json" with { type: "json" };
import scheduleVector from "../vectors/tessera1/key_schedule.json" with { type: "json" };
import recordsVector from "../vectors/tessera1/records.json" with { type: "json" };
import {
  fixedEntropy,
  importEphemeral,
  type RecordedSignature,
  seededRandom,
  withRecordedSignatures,
} from "./_helpers.ts";

const subtle = crypto.subtle;
const encoder = new TextEncoder();
type Bytes = Uint8Array<ArrayBuffer>;

function hex(value: string): Bytes {
  return fromHex(value) as Bytes;
}

function join(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** `Label(label, context) = "tessera/1 " ‖ label ‖ 00 ‖ context` (docs/protocol.md §2). */
function label(name: string, context: Uint8Array): Bytes {
  return join(encoder.encode("tessera/1 " + name), new Uint8Array([0]), context);
}

/** HKDF-SHA256 with bare crypto.subtle. */
async function hkdfBits(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Bytes> {
  const key = await subtle.importKey("raw", ikm as Bytes, "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: salt as Bytes, info: info as Bytes };
  return new Uint8Array(await subtle.deriveBits(params, key, length * 8));
}

async function sha(data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle.digest("SHA-256", data as Bytes));
}

async function gcmKey(raw: Uint8Array): Promise<CryptoKey> {
  return await subtle.importKey("raw", raw as Bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
}

async function gcmSeal(raw: Uint8Array, nonce: Uint8Array, data: Uint8Array, aad: Uint8Array) {
  const params = { name: "AES-GCM", iv: nonce as Bytes, additionalData: aad as Bytes };
  return new Uint8Array(await subtle.encrypt(params, await gcmKey(raw), data as Bytes));
}

async function gcmOpen(raw: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array) {
  const params = { name: "AES-GCM", iv: nonce as Bytes, additionalData: aad as Bytes };
  return new Uint8Array(await subtle.decrypt(params, await gcmKey(raw), sealed as Bytes));
}

async function hmac(raw: Uint8Array, data: Uint8Array): Promise<Bytes> {
  const key = await subtle.importKey(
    "raw",
    raw as Bytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  return new Uint8Array(await subtle.sign("HMAC", key, data as Bytes));
}

function u64(n: bigint): Bytes {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

/** `nonce = iv XOR (00000000 ‖ u64(seq))`. */
function nonceFor(iv: Uint8Array, seq: bigint): Bytes {
  const nonce = new Uint8Array(iv);
  const s = u64(seq);
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= s[i]!;
  return nonce;
}

/** The handshake secrets of docs/protocol.md §4, as raw bytes. */
async function handshakeSecrets(shared: Uint8Array, helloHash: Uint8Array) {
  const salt = new Uint8Array(32);
  const d = (name: string, n: number): Promise<Bytes> =>
    hkdfBits(shared, salt, label(name, helloHash), n);
  return {
    clientKey: await d("c hs key", 32),
    clientIv: await d("c hs iv", 12),
    clientFinished: await d("c finished", 32),
    serverKey: await d("s hs key", 32),
    serverIv: await d("s hs iv", 12),
    serverFinished: await d("s finished", 32),
    master: await d("master", 32),
  };
}

async function trafficSecrets(master: Uint8Array, transcriptHash: Uint8Array) {
  const d = (name: string, n: number): Promise<Bytes> =>
    hkdfBits(master, new Uint8Array(0), label(name, transcriptHash), n);
  return {
    clientSecret: await d("c ap", 32),
    serverSecret: await d("s ap", 32),
    sessionId: await d("session id", 16),
    resumption: await d("res master", 32),
  };
}

async function recordKey(base: Uint8Array, keyId: Uint8Array) {
  return {
    key: await hkdfBits(base, new Uint8Array(0), label("key", keyId), 32),
    iv: await hkdfBits(base, new Uint8Array(0), label("iv", keyId), 12),
  };
}

/** Seals a record as docs/protocol.md §5 says. */
async function sealRecord(
  base: Uint8Array,
  keyId: Uint8Array,
  seq: bigint,
  type: number,
  plaintext: Uint8Array,
): Promise<Bytes> {
  const { key, iv } = await recordKey(base, keyId);
  const header = join(new Uint8Array([type]), keyId, u64(seq));
  return join(header, await gcmSeal(key, nonceFor(iv, seq), plaintext, header));
}

// ------------------------------------------------------------------ key schedule

Deno.test("the handshake key schedule matches the vector and the spec", async () => {
  const v = scheduleVector.handshake;
  const probe = scheduleVector.probe;
  const plain = encoder.encode(probe.plaintextUtf8);
  const nonce = hex(probe.nonce);
  const raw = await handshakeSecrets(hex(v.shared), hex(v.helloHash));
  assert.equal(toHex(raw.clientIv), v.clientIv);
  assert.equal(toHex(raw.serverIv), v.serverIv);
  assert.equal(toHex(raw.master), v.master);
  assert.equal(
    toHex(await gcmSeal(raw.clientKey, nonce, plain, new Uint8Array(0))),
    v.clientKeyProbe,
  );
  assert.equal(
    toHex(await gcmSeal(raw.serverKey, nonce, plain, new Uint8Array(0))),
    v.serverKeyProbe,
  );
  assert.equal(toHex(await hmac(raw.clientFinished, plain)), v.clientFinishedProbe);
  assert.equal(toHex(await hmac(raw.serverFinished, plain)), v.serverFinishedProbe);
  // The implementation: ivs and master as bytes, keys through a known ciphertext and MAC.
  const keys = await deriveHandshakeKeys(hex(v.shared), hex(v.salt), hex(v.helloHash));
  assert.equal(toHex(keys.clientIv), v.clientIv);
  assert.equal(toHex(keys.serverIv), v.serverIv);
  assert.equal(toHex(keys.master), v.master);
  const seal = async (key: CryptoKey): Promise<string> =>
    toHex(new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plain)));
  assert.equal(await seal(keys.clientKey), v.clientKeyProbe);
  assert.equal(await seal(keys.serverKey), v.serverKeyProbe);
  const mac = async (key: CryptoKey): Promise<string> =>
    toHex(new Uint8Array(await subtle.sign("HMAC", key, plain)));
  assert.equal(await mac(keys.clientFinished), v.clientFinishedProbe);
  assert.equal(await mac(keys.serverFinished), v.serverFinishedProbe);
  // Labels matter: client and server keys differ.
  assert.notEqual(v.clientKeyProbe, v.serverKeyProbe);
  assert.notEqual(v.clientIv, v.serverIv);
});

Deno.test("the traffic secrets and session id match the vector and the spec", async () => {
  const v = scheduleVector.traffic;
  const expected = {
    clientSecret: v.clientSecret,
    serverSecret: v.serverSecret,
    sessionId: v.sessionId,
    resumption: v.resumption,
  };
  const raw = await trafficSecrets(hex(v.master), hex(v.transcriptHash));
  const lib = await deriveTrafficSecrets(hex(v.master), hex(v.transcriptHash));
  for (const secrets of [raw, lib]) {
    assert.deepEqual({
      clientSecret: toHex(secrets.clientSecret),
      serverSecret: toHex(secrets.serverSecret),
      sessionId: toHex(secrets.sessionId),
      resumption: toHex(secrets.resumption),
    }, expected);
  }
});

Deno.test("a record key and iv match the vector and the spec", async () => {
  const v = scheduleVector.recordKey;
  const probe = scheduleVector.probe;
  const plain = encoder.encode(probe.plaintextUtf8);
  const raw = await recordKey(hex(v.base), hex(v.keyId));
  assert.equal(toHex(raw.iv), v.iv);
  assert.equal(
    toHex(await gcmSeal(raw.key, hex(probe.nonce), plain, new Uint8Array(0))),
    v.keyProbe,
  );
  const lib = await deriveRecordKey(await importHkdfKey(hex(v.base)), hex(v.keyId));
  assert.equal(toHex(lib.iv), v.iv);
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv: hex(probe.nonce) }, lib.key, plain);
  assert.equal(toHex(new Uint8Array(sealed)), v.keyProbe);
});

// ------------------------------------------------------------------------ records

for (const c of recordsVector.cases) {
  Deno.test(`a ${c.type} record at sequence number ${c.seq} matches the vector byte for byte`, async () => {
    const secret = hex(c.secret);
    const keyId = hex(c.keyId);
    const seq = BigInt(c.seq);
    const plaintext = encoder.encode(c.plaintextUtf8);
    const type = c.type === "close" ? 0x15 : 0x17;
    assert.equal(toHex(await sealRecord(secret, keyId, seq, type, plaintext)), c.record);
    const config = {
      random: (out: Bytes): Bytes => {
        out.set(keyId);
        return out;
      },
      recordsPerKey: 1000,
      maxRecordSize: 1 << 20,
    };
    const secrets = {
      role: "client" as const,
      peerId: encoder.encode("peer"),
      sessionId: new Uint8Array(16),
      resumptionSecret: new Uint8Array(32),
      window: new ReplayWindow(),
    };
    const sender = await Tessera1Channel.create({
      ...secrets,
      sendSecret: secret,
      receiveSecret: new Uint8Array(32),
      sendSeq: seq,
    }, config);
    const sealed = type === 0x15 ? await sender.sealClose() : await sender.seal(plaintext);
    assert.equal(toHex(sealed), c.record);
    const receiver = await Tessera1Channel.create({
      ...secrets,
      window: new ReplayWindow(),
      sendSecret: new Uint8Array(32),
      receiveSecret: secret,
      sendSeq: 0n,
    }, config);
    const opened = await receiver.open(hex(c.record), false);
    assert.equal(opened.kind, c.type);
    assert.deepEqual(opened.data, plaintext);
  });
}

// ---------------------------------------------------------------------- handshake

const inputs = handshakeVector.inputs;
const ch = hex(handshakeVector.clientHello);
const sh = hex(handshakeVector.serverHello);
const cf = hex(handshakeVector.clientFinished);
const SH_PLAIN = 4 + 32 + 65 + 2;

const fixture = await (async () => {
  const [clientKey, serverKey, clientEphemeral, serverEphemeral] = await Promise.all([
    importPrivateKey(hex(inputs.clientIdentityPkcs8)),
    importPrivateKey(hex(inputs.serverIdentityPkcs8)),
    importEphemeral(inputs.clientEphemeralJwk),
    importEphemeral(inputs.serverEphemeralJwk),
  ]);
  const publicOf = async (pkcs8: string): Promise<CryptoKey> => {
    const jwk = await subtle.exportKey(
      "jwk",
      await subtle.importKey("pkcs8", hex(pkcs8), { name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
      ]),
    );
    return await importPublicKey({ kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y });
  };
  const clientPublic = await publicOf(inputs.clientIdentityPkcs8);
  const serverPublic = await publicOf(inputs.serverIdentityPkcs8);
  const table = new Map([[inputs.clientId, clientPublic], [inputs.serverId, serverPublic]]);
  const getPublicKeyForId = (id: Uint8Array): CryptoKey | undefined =>
    table.get(new TextDecoder().decode(id));
  const signatures: RecordedSignature[] = [
    { publicKey: serverPublic, signature: hex(handshakeVector.serverSignature) },
    { publicKey: clientPublic, signature: hex(handshakeVector.clientSignature) },
  ];
  return {
    clientPublic,
    serverPublic,
    clientEphemeral,
    serverEphemeral,
    signatures,
    /** A client built and started under the vector's entropy. */
    client: (): Promise<{ session: SecureSession; hello: Uint8Array }> =>
      withEntropy(fixedEntropy(inputs.clientSeed, clientEphemeral), async () => {
        const session = new SecureSession({
          id: inputs.clientId,
          privateKey: clientKey,
          getPublicKeyForId,
        });
        return { session, hello: await session.connectRequest() };
      }),
    /** A server built under the vector's entropy that has answered the recorded hello. */
    server: (): Promise<{ session: SecureSession; reply: Uint8Array }> =>
      withEntropy(fixedEntropy(inputs.serverSeed, serverEphemeral), async () => {
        const session = new SecureSession({
          id: inputs.serverId,
          privateKey: serverKey,
          getPublicKeyForId,
        });
        const reply = await session.negotiate(ch);
        assert.ok(reply);
        return { session, reply };
      }),
  };
})();

Deno.test("the ClientHello is reproduced exactly from the injected entropy", async () => {
  const { hello } = await fixture.client();
  assert.equal(toHex(hello), handshakeVector.clientHello);
  // Its fields: type, version, one suite 0001, the first 32 seeded bytes, the share, no extensions.
  const random = seededRandom(inputs.clientSeed)(new Uint8Array(32));
  const share = new Uint8Array(await subtle.exportKey("raw", fixture.clientEphemeral.publicKey));
  assert.deepEqual(hello, join(new Uint8Array([1, 1, 1, 0, 1]), random, share, new Uint8Array(2)));
});

Deno.test("the recorded ServerHello and ClientFinished follow the spec field by field", async () => {
  // Plain part of the ServerHello.
  const random = seededRandom(inputs.serverSeed)(new Uint8Array(32));
  const share = new Uint8Array(await subtle.exportKey("raw", fixture.serverEphemeral.publicKey));
  const shPlain = sh.subarray(0, SH_PLAIN);
  assert.deepEqual(shPlain, join(new Uint8Array([2, 1, 0, 1]), random, share, new Uint8Array(2)));
  // Handshake secrets from ECDH of the fixed ephemeral keys.
  const serverShare = await subtle.importKey(
    "raw",
    ch.slice(5 + 32, 5 + 32 + 65),
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const shared = new Uint8Array(
    await subtle.deriveBits(
      { name: "ECDH", public: serverShare },
      fixture.serverEphemeral.privateKey,
      256,
    ),
  );
  const hs = await handshakeSecrets(shared, await sha(join(ch, shPlain)));
  // ServerAuth = vec16(id) ‖ signature ‖ Finished, under s_hs_key with aad = plain part.
  const serverAuth = await gcmOpen(hs.serverKey, hs.serverIv, sh.subarray(SH_PLAIN), shPlain);
  const sid = encoder.encode(inputs.serverId);
  const sidp = join(new Uint8Array([0, sid.length]), sid);
  assert.deepEqual(serverAuth.subarray(0, sidp.length), sidp);
  const serverSig = serverAuth.subarray(sidp.length, sidp.length + 64);
  assert.equal(toHex(serverSig), handshakeVector.serverSignature);
  const signedByServer = join(encoder.encode("tessera/1 server signature\0"), ch, shPlain, sidp);
  const ecdsa = { name: "ECDSA", hash: "SHA-256" };
  assert.ok(await subtle.verify(ecdsa, fixture.serverPublic, serverSig, signedByServer));
  assert.deepEqual(
    serverAuth.subarray(sidp.length + 64),
    await hmac(hs.serverFinished, join(ch, shPlain, sidp, serverSig)),
  );
  // ClientFinished = 03 01 ‖ GCM(c_hs_key, c_hs_iv, aad = 03 01, ClientAuth).
  assert.deepEqual(cf.subarray(0, 2), new Uint8Array([3, 1]));
  const clientAuth = await gcmOpen(hs.clientKey, hs.clientIv, cf.subarray(2), cf.subarray(0, 2));
  const cid = encoder.encode(inputs.clientId);
  const cidp = join(new Uint8Array([0, cid.length]), cid);
  assert.deepEqual(clientAuth.subarray(0, cidp.length), cidp);
  const clientSig = clientAuth.subarray(cidp.length, cidp.length + 64);
  assert.equal(toHex(clientSig), handshakeVector.clientSignature);
  const signedByClient = join(encoder.encode("tessera/1 client signature\0"), ch, sh, cidp);
  assert.ok(await subtle.verify(ecdsa, fixture.clientPublic, clientSig, signedByClient));
  assert.deepEqual(
    clientAuth.subarray(cidp.length + 64),
    await hmac(hs.clientFinished, join(ch, sh, cidp, clientSig)),
  );
  // The session id and the first records from the whole transcript.
  const traffic = await trafficSecrets(hs.master, await sha(join(ch, sh, cf)));
  assert.equal(toHex(traffic.sessionId), handshakeVector.sessionId);
  const clientRecord = hex(handshakeVector.clientRecord);
  const serverRecord = hex(handshakeVector.serverRecord);
  assert.deepEqual(
    await sealRecord(
      traffic.clientSecret,
      clientRecord.subarray(1, 9),
      0n,
      0x17,
      encoder.encode(inputs.clientMessage),
    ),
    clientRecord,
  );
  assert.deepEqual(
    await sealRecord(
      traffic.serverSecret,
      serverRecord.subarray(1, 9),
      0n,
      0x17,
      encoder.encode(inputs.serverMessage),
    ),
    serverRecord,
  );
});

Deno.test("a client with the same entropy accepts the recorded ServerHello", async () => {
  const { session } = await fixture.client();
  const finished = await session.negotiate(sh);
  assert.ok(finished);
  assert.equal(session.state, "established");
  assert.deepEqual(session.peerId, encoder.encode(inputs.serverId));
  // Its ClientFinished opens under the same handshake keys as the recorded one: same length
  // and header; the signature inside may differ if the engine's ECDSA is randomized.
  assert.equal(finished.length, cf.length);
  assert.deepEqual(finished.subarray(0, 2), cf.subarray(0, 2));
});

Deno.test("with the recorded signatures the whole handshake is regenerated byte for byte", async () => {
  await withRecordedSignatures(fixture.signatures, async () => {
    const { session: client } = await fixture.client();
    const { session: server, reply } = await fixture.server();
    assert.equal(toHex(reply), handshakeVector.serverHello);
    const finished = await client.negotiate(reply);
    assert.equal(toHex(finished!), handshakeVector.clientFinished);
    assert.equal(await server.negotiate(cf), null);
    for (const s of [client, server]) assert.equal(toHex(s.sessionId!), handshakeVector.sessionId);
    assert.deepEqual(server.peerId, encoder.encode(inputs.clientId));
    assert.deepEqual(client.peerId, encoder.encode(inputs.serverId));
    // The key ids come from the seeded entropy, so the first records are reproduced too.
    const ping = await client.wrap(encoder.encode(inputs.clientMessage));
    const pong = await server.wrap(encoder.encode(inputs.serverMessage));
    assert.equal(toHex(ping), handshakeVector.clientRecord);
    assert.equal(toHex(pong), handshakeVector.serverRecord);
    assert.deepEqual(await server.unwrap(ping), encoder.encode(inputs.clientMessage));
    assert.deepEqual(await client.unwrap(pong), encoder.encode(inputs.serverMessage));
  });
});

Deno.test("a server with the same entropy and signature accepts the recorded ClientFinished", async () => {
  const { session: server, reply } = await withRecordedSignatures(
    fixture.signatures,
    () => fixture.server(),
  );
  assert.deepEqual(reply, sh);
  assert.equal(await server.negotiate(cf), null);
  assert.equal(server.state, "established");
  assert.equal(toHex(server.sessionId!), handshakeVector.sessionId);
  assert.deepEqual(
    await server.unwrap(hex(handshakeVector.clientRecord)),
    encoder.encode(inputs.clientMessage),
  );
});
