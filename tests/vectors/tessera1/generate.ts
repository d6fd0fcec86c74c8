// Writes the tessera/1 wire-format vectors beside this file (docs/protocol.md §3-§5):
//
//   deno run --allow-read --allow-write=tests/vectors/tessera1 tests/vectors/tessera1/generate.ts
//
// Every input is fixed: identity keys (PKCS#8), ephemeral keys (JWK) and a seeded random source
// injected with `withEntropy`. ECDSA signatures need not be deterministic: the ones made while
// recording are stored, and tests/session/vectors_test.ts replays them.

import { toHex, utf8 } from "../../../lib/crypto/_bytes.ts";
import { aesGcmEncrypt } from "../../../lib/crypto/aes_gcm.ts";
import { importHkdfKey } from "../../../lib/crypto/hkdf.ts";
import { hmacSign } from "../../../lib/crypto/hmac.ts";
import { importPrivateKey, publicKeyFromPrivate } from "../../../lib/crypto/identity.ts";
import { sha256 } from "../../../lib/crypto/sha256.ts";
import { withEntropy } from "../../../lib/session/_entropy.ts";
import {
  deriveHandshakeKeys,
  deriveRecordKey,
  deriveTrafficSecrets,
} from "../../../lib/session/_tessera1_schedule.ts";
import { SecureSession } from "../../../lib/session/secure_session.ts";
import { ReplayWindow } from "../../../lib/session/replay_window.ts";
import { Tessera1Channel } from "../../../lib/session/tessera1_channel.ts";
import { fixedEntropy, importEphemeral, recordSignatures } from "../../session/_helpers.ts";

/** The fixed inputs of the handshake vector. */
export const HANDSHAKE_INPUTS = {
  clientId: "tessera client",
  serverId: "tessera server",
  clientSeed: 1,
  serverSeed: 2,
  clientIdentityPkcs8:
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104201f9e3c5ce3da994485e39e8b125122f36eebc21520dac945568cdef2acdc2731a144034200047a94929bb4e4dcfc67b3247b34e4c8efbff7690aeb156a41f32a3f2f1395b34e3f0f13b62a92d37be122ad5dba243cd08a8bfc17331b56113cfdf15cbe8251dc",
  serverIdentityPkcs8:
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104205ea30de31a5bae5895c1f5b6b0df515efdb29b22fe7f1df138f690862659eb74a14403420004e13b88c4c589da9e79b305b1b7d9904926380f687cdf2bae850691ed870080e564483e86239be0c611e3d6000b9fa8e2084b9cb0c58ba866c926e55ad7f48550",
  clientEphemeralJwk: {
    kty: "EC",
    crv: "P-256",
    x: "FrjrddxgfrXvXaB6nDKQc1y8hAdCB4-U45nFBiP3jDE",
    y: "ZbXw95yJDdK08RD1O7bPIghh1bv4lp30l1ZoPYJRYFg",
    d: "thqm_YIO5Js43m58MYV_oofhwMJyxZYRcA9DnxTNMUc",
  },
  serverEphemeralJwk: {
    kty: "EC",
    crv: "P-256",
    x: "udwR1JGDDs99kZSJbYxQvVLXJ05PBYPlS5ge6gcHaZc",
    y: "VwX8LWuwB8WX9mI79DVAAhbBb5gWhRdswl0QTnHUzDc",
    d: "HKYiQxcSc_Hv7waAxYoeXS0rgH5Bgp5LAwB6890ml_Y",
  },
  clientMessage: "ping",
  serverMessage: "pong",
};

/** Bytes 0, 1, 2, ... `length - 1` plus `offset`, modulo 256. */
export function pattern(length: number, offset: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i + offset) & 0xff);
}

const PROBE = utf8("tessera/1 probe");

async function keySchedule(): Promise<unknown> {
  const shared = pattern(32, 0x10);
  const helloHash = await sha256(utf8("hello transcript"));
  const keys = await deriveHandshakeKeys(shared, new Uint8Array(32), helloHash);
  const nonce = pattern(12, 0xa0);
  const probe = async (key: CryptoKey): Promise<string> =>
    toHex(await aesGcmEncrypt(key, nonce, PROBE, new Uint8Array(0)));
  const master = pattern(32, 0x40);
  const transcriptHash = await sha256(utf8("full transcript"));
  const traffic = await deriveTrafficSecrets(master, transcriptHash);
  const base = pattern(32, 0x70);
  const keyId = pattern(8, 0xe0);
  const record = await deriveRecordKey(await importHkdfKey(base), keyId);
  return {
    description: "tessera/1 key schedule (docs/protocol.md §4); hex unless noted",
    probe: { plaintextUtf8: "tessera/1 probe", nonce: toHex(nonce), aad: "" },
    handshake: {
      shared: toHex(shared),
      salt: toHex(new Uint8Array(32)),
      helloHash: toHex(helloHash),
      clientIv: toHex(keys.clientIv),
      serverIv: toHex(keys.serverIv),
      master: toHex(keys.master),
      clientKeyProbe: await probe(keys.clientKey),
      serverKeyProbe: await probe(keys.serverKey),
      clientFinishedProbe: toHex(await hmacSign(keys.clientFinished, PROBE)),
      serverFinishedProbe: toHex(await hmacSign(keys.serverFinished, PROBE)),
    },
    traffic: {
      master: toHex(master),
      transcriptHash: toHex(transcriptHash),
      clientSecret: toHex(traffic.clientSecret),
      serverSecret: toHex(traffic.serverSecret),
      sessionId: toHex(traffic.sessionId),
      resumption: toHex(traffic.resumption),
    },
    recordKey: {
      base: toHex(base),
      keyId: toHex(keyId),
      iv: toHex(record.iv),
      keyProbe: await probe(record.key),
    },
  };
}

async function handshake(): Promise<unknown> {
  const inputs = HANDSHAKE_INPUTS;
  const [clientKey, serverKey, clientEphemeral, serverEphemeral] = await Promise.all([
    importPrivateKey(fromHexString(inputs.clientIdentityPkcs8)),
    importPrivateKey(fromHexString(inputs.serverIdentityPkcs8)),
    importEphemeral(inputs.clientEphemeralJwk),
    importEphemeral(inputs.serverEphemeralJwk),
  ]);
  const clientPublic = await publicKeyFromPrivate(
    await importPrivateKey(fromHexString(inputs.clientIdentityPkcs8), { extractable: true }),
  );
  const serverPublic = await publicKeyFromPrivate(
    await importPrivateKey(fromHexString(inputs.serverIdentityPkcs8), { extractable: true }),
  );
  const keys = new Map([[inputs.clientId, clientPublic], [inputs.serverId, serverPublic]]);
  const getPublicKeyForId = (id: Uint8Array): CryptoKey | undefined =>
    keys.get(new TextDecoder().decode(id));
  const { result, signatures } = await recordSignatures([
    { privateKey: clientKey, publicKey: clientPublic },
    { privateKey: serverKey, publicKey: serverPublic },
  ], async () => {
    const [client, ch] = await withEntropy(
      fixedEntropy(inputs.clientSeed, clientEphemeral),
      async () => {
        const s = new SecureSession({
          id: inputs.clientId,
          privateKey: clientKey,
          getPublicKeyForId,
        });
        return [s, await s.connectRequest()] as const;
      },
    );
    const [server, sh] = await withEntropy(
      fixedEntropy(inputs.serverSeed, serverEphemeral),
      async () => {
        const s = new SecureSession({
          id: inputs.serverId,
          privateKey: serverKey,
          getPublicKeyForId,
        });
        return [s, await s.negotiate(ch)] as const;
      },
    );
    const cf = await client.negotiate(sh!);
    await server.negotiate(cf!);
    const clientRecord = await client.wrap(utf8(inputs.clientMessage));
    const serverRecord = await server.wrap(utf8(inputs.serverMessage));
    return { ch, sh: sh!, cf: cf!, sessionId: client.sessionId!, clientRecord, serverRecord };
  });
  const [serverSignature, clientSignature] = signatures;
  return {
    description: "one tessera/1 handshake and the first record each way; hex unless noted",
    inputs,
    clientHello: toHex(result.ch),
    serverHello: toHex(result.sh),
    clientFinished: toHex(result.cf),
    serverSignature: toHex(serverSignature!.signature),
    clientSignature: toHex(clientSignature!.signature),
    sessionId: toHex(result.sessionId),
    clientRecord: toHex(result.clientRecord),
    serverRecord: toHex(result.serverRecord),
  };
}

/** The record cases: (base secret, key id, sequence number, type, plaintext). */
const RECORD_CASES = [
  { secret: pattern(32, 0x00), keyId: pattern(8, 0x80), seq: 0n, close: false, text: "hello" },
  { secret: pattern(32, 0x00), keyId: pattern(8, 0x80), seq: 1n, close: false, text: "hello" },
  {
    secret: pattern(32, 0x20),
    keyId: pattern(8, 0x01),
    seq: 0x0102030405n,
    close: false,
    text: "",
  },
  {
    secret: pattern(32, 0x33),
    keyId: new Uint8Array(8),
    seq: (1n << 64n) - 2n,
    close: false,
    text: "the last sequence number",
  },
  { secret: pattern(32, 0x44), keyId: pattern(8, 0xf8), seq: 7n, close: true, text: "" },
];

async function records(): Promise<unknown> {
  const cases = [];
  for (const c of RECORD_CASES) {
    const channel = await Tessera1Channel.create({
      role: "client",
      peerId: utf8("peer"),
      sessionId: new Uint8Array(16),
      sendSecret: c.secret,
      receiveSecret: new Uint8Array(32),
      resumptionSecret: new Uint8Array(32),
      sendSeq: c.seq,
      window: new ReplayWindow(),
    }, {
      random: (out) => {
        out.set(c.keyId);
        return out;
      },
      recordsPerKey: 1000,
      maxRecordSize: 1 << 20,
    });
    const record = c.close ? await channel.sealClose() : await channel.seal(utf8(c.text));
    cases.push({
      secret: toHex(c.secret),
      keyId: toHex(c.keyId),
      seq: c.seq.toString(),
      type: c.close ? "close" : "data",
      plaintextUtf8: c.text,
      record: toHex(record),
    });
  }
  return {
    description: "tessera/1 records (docs/protocol.md §5): secret is the direction's base secret",
    cases,
  };
}

function fromHexString(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

if (import.meta.main) {
  const dir = new URL(".", import.meta.url);
  const write = (name: string, value: unknown): Promise<void> =>
    Deno.writeTextFile(new URL(name, dir), JSON.stringify(value, null, 2) + "\n");
  await write("key_schedule.json", await keySchedule());
  await write("handshake.json", await handshake());
  await write("records.json", await records());
}
