// Writes the tessera/1 vectors beside this file (docs/protocol.md §3.5-§6):
//
//   deno run --allow-read --allow-write=tests/vectors/tessera1 tests/vectors/tessera1/generate.ts
//
// Every input is fixed: identity keys (PKCS#8), ephemeral keys (JWK), a seeded random source
// injected with `withEntropy`, a fixed clock. ECDSA signatures need not be deterministic: the ones
// made while recording are stored, and tests/session/vectors_test.ts replays them.
//
//   key_schedule.json  §4.1  handshake keys (zero salt, resumption salt), res, a ticket secret,
//                            the binder key, traffic secrets, session id, exporter secret
//   epochs.json        §4.2  key_e, iv_e, fork_key_e of epochs 0-2, an update, a fork and its proof
//   exporter.json      §4.3  EKM values
//   records.json       §5    records sealed from fixed traffic secrets
//   handshake.json     §3    a full handshake with a ticket, and the resumed handshake that uses it
//   alerts.json        §3.6  a plain and a protected alert
//   saved_state.json   §6    the full handshake's client saved, and its first record once restored

import { constantRandom, fixedChannel } from "../../session/_channels.ts";
import assert from "node:assert/strict";
import { fromHex, toHex, utf8 } from "../../../lib/crypto/_bytes.ts";
import { aesGcmEncrypt, importAesGcmKey } from "../../../lib/crypto/aes_gcm.ts";
import { hmacSign } from "../../../lib/crypto/hmac.ts";
import { importPrivateKey, publicKeyFromPrivate } from "../../../lib/crypto/identity.ts";
import { systemRandom } from "../../../lib/crypto/random.ts";
import { sha256 } from "../../../lib/crypto/sha256.ts";
import { ClientSessionCache } from "../../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../../lib/resume/memory_ticket_store.ts";
import { withEntropy } from "../../../lib/session/_entropy.ts";
import { buildAlert } from "../../../lib/session/_tessera1_alert.ts";
import {
  deriveEpochKeys,
  deriveHandshakeKeys,
  derivePskKeys,
  deriveTrafficSecrets,
  exporterValue,
  forkProofInput,
  nextTrafficSecret,
  ticketSecret,
  ZERO_SALT,
} from "../../../lib/session/_tessera1_schedule.ts";
import { SecureSession } from "../../../lib/session/secure_session.ts";
import type { Tessera1Channel } from "../../../lib/session/tessera1_channel.ts";
import { fixedEntropy, importEphemeral, recordSignatures } from "../../session/_helpers.ts";

/** Bytes 0, 1, 2, ... `length - 1` plus `offset`, modulo 256. */
export function pattern(length: number, offset: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => (i + offset) & 0xff);
}

/** What every probe encrypts (AES-GCM, empty AAD) or MACs (HMAC-SHA256). */
const PROBE = {
  plaintextUtf8: "tessera/1 probe",
  nonce: toHex(pattern(12, 0xa0)),
  aad: "",
};
const probeText = utf8(PROBE.plaintextUtf8);

/** AES-GCM of the probe under `key`, as hex. */
async function gcmProbe(key: CryptoKey): Promise<string> {
  return toHex(await aesGcmEncrypt(key, fromHex(PROBE.nonce), probeText, new Uint8Array(0)));
}

/** HMAC of the probe under `key`, as hex. */
async function macProbe(key: CryptoKey): Promise<string> {
  return toHex(await hmacSign(key, probeText));
}

// -------------------------------------------------------------------- key schedule (§4.1)

async function keySchedule(): Promise<unknown> {
  const shared = pattern(32, 0x10);
  const helloHash = await sha256(utf8("hello transcript"));
  const psk = pattern(32, 0x50);
  const pskServerId = utf8("tessera server");
  const pskKeys = await derivePskKeys(psk, pskServerId);
  const handshake = async (salt: Uint8Array) => {
    const keys = await deriveHandshakeKeys(shared, salt, helloHash);
    return {
      shared: toHex(shared),
      salt: toHex(salt),
      helloHash: toHex(helloHash),
      clientKeyProbe: await gcmProbe(keys.clientKey),
      clientIv: toHex(keys.clientIv),
      clientFinishedProbe: await macProbe(keys.clientFinished),
      serverKeyProbe: await gcmProbe(keys.serverKey),
      serverIv: toHex(keys.serverIv),
      serverFinishedProbe: await macProbe(keys.serverFinished),
      master: toHex(keys.master),
      res: toHex(await keys.resumption()),
    };
  };
  const full = await handshake(ZERO_SALT);
  const ticketId = pattern(16, 0xc0);
  const master = pattern(32, 0x40);
  const transcriptHash = await sha256(utf8("full transcript"));
  const traffic = await deriveTrafficSecrets(master, transcriptHash);
  return {
    description: "tessera/1 key schedule (docs/protocol.md §4.1); hex unless noted. Keys that " +
      "the library holds only as CryptoKeys are pinned through probes: AES-GCM of the probe " +
      "plaintext (key probes), HMAC-SHA256 of it (Finished and binder key probes).",
    probe: PROBE,
    full,
    psk: {
      psk: toHex(psk),
      serverIdUtf8: "tessera server",
      resSalt: toHex(pskKeys.salt),
      binderKeyProbe: await macProbe(pskKeys.binderKey),
    },
    resumed: await handshake(pskKeys.salt),
    ticket: {
      res: full.res,
      ticketId: toHex(ticketId),
      secret: toHex(await ticketSecret(fromHex(full.res), ticketId)),
    },
    traffic: {
      master: toHex(master),
      transcriptHash: toHex(transcriptHash),
      clientSecret: toHex(traffic.clientSecret),
      serverSecret: toHex(traffic.serverSecret),
      sessionId: toHex(traffic.sessionId),
      exporter: toHex(traffic.exporter),
    },
  };
}

// -------------------------------------------------------------------------- epochs (§4.2)

async function epochs(): Promise<unknown> {
  const ts0 = pattern(32, 0x60);
  const describe = async (epoch: number, secret: Uint8Array) => {
    const keys = await deriveEpochKeys(secret);
    return {
      epoch,
      secret: toHex(secret),
      keyProbe: await gcmProbe(keys.key),
      iv: toHex(keys.iv),
      forkKeyProbe: await macProbe(keys.forkKey),
    };
  };
  const ts1 = await nextTrafficSecret(ts0, 1);
  const ts2 = await nextTrafficSecret(ts1, 2);
  const fork = pattern(16, 0x90);
  const forked = await nextTrafficSecret(ts0, 1, fork);
  const proof = await hmacSign((await deriveEpochKeys(ts0)).forkKey, forkProofInput(1, fork));
  return {
    description: "tessera/1 traffic epochs (docs/protocol.md §4.2): ts_1 and ts_2 by update " +
      "from ts_0, and a fork ts'_1 from ts_0 with R; probes as in key_schedule.json",
    probe: PROBE,
    epochs: [await describe(0, ts0), await describe(1, ts1), await describe(2, ts2)],
    fork: { from: 0, r: toHex(fork), proof: toHex(proof), ...(await describe(1, forked)) },
  };
}

// ------------------------------------------------------------------------ exporter (§4.3)

const EXPORTER_CASES = [
  { labelUtf8: "EXPORTER-test", contextUtf8: "", length: 32 },
  { labelUtf8: "EXPORTER-test", contextUtf8: "ctx", length: 32 },
  { labelUtf8: "EXPORTER-test", contextUtf8: "", length: 64 },
];

async function exporter(): Promise<unknown> {
  const secret = pattern(32, 0x30);
  const cases = [];
  for (const c of EXPORTER_CASES) {
    const value = await exporterValue(secret, utf8(c.labelUtf8), utf8(c.contextUtf8), c.length);
    cases.push({ ...c, value: toHex(value) });
  }
  return {
    description: "tessera/1 exporter (docs/protocol.md §4.3): EKM(label, context, L) from exp",
    exporter: toHex(secret),
    cases,
  };
}

// ------------------------------------------------------------------------- records (§5)

/** One record case: how the sender reaches the record's epoch, and what it seals. */
interface RecordCase {
  name: string;
  /** The sending direction's `ts_0`. */
  secret: Uint8Array;
  /** The record's epoch: 0, or 1 reached by `update` or by `fork` with R = `fork`. */
  epoch: number;
  derivation: "none" | "update" | "fork";
  fork: Uint8Array | null;
  seq: bigint;
  /** 0x17 data, 0x18 data with an update request, 0x15 close. */
  contentType: number;
  padding: number;
  text: string;
}

const RECORD_CASES: RecordCase[] = [
  {
    name: "data at sequence number 0",
    secret: pattern(32, 0x00),
    epoch: 0,
    derivation: "none",
    fork: null,
    seq: 0n,
    contentType: 0x17,
    padding: 0,
    text: "hello",
  },
  {
    name: "data at sequence number 1",
    secret: pattern(32, 0x00),
    epoch: 0,
    derivation: "none",
    fork: null,
    seq: 1n,
    contentType: 0x17,
    padding: 0,
    text: "hello",
  },
  {
    name: "a close after two data records",
    secret: pattern(32, 0x00),
    epoch: 0,
    derivation: "none",
    fork: null,
    seq: 2n,
    contentType: 0x15,
    padding: 0,
    text: "",
  },
  {
    name: "data at the last sequence number, 2^64 - 2",
    secret: pattern(32, 0x33),
    epoch: 0,
    derivation: "none",
    fork: null,
    seq: (1n << 64n) - 2n,
    contentType: 0x17,
    padding: 0,
    text: "the last sequence number",
  },
  {
    name: "data with 5 bytes of padding",
    secret: pattern(32, 0x44),
    epoch: 0,
    derivation: "none",
    fork: null,
    seq: 3n,
    contentType: 0x17,
    padding: 5,
    text: "padded",
  },
  {
    name: "data with an update request, after the sender's own update",
    secret: pattern(32, 0x55),
    epoch: 1,
    derivation: "update",
    fork: null,
    seq: 4n,
    contentType: 0x18,
    padding: 0,
    text: "please update",
  },
  {
    name: "data with the fork extension",
    secret: pattern(32, 0x66),
    epoch: 1,
    derivation: "fork",
    fork: pattern(16, 0x90),
    seq: 5n,
    contentType: 0x17,
    padding: 0,
    text: "forked",
  },
];

/** A sending channel whose direction starts at epoch 0 with the case's `ts_0`. */
function sender(c: RecordCase): Tessera1Channel {
  return fixedChannel({
    send: { epoch: 0, secret: c.secret.slice(), fork: null },
    forkOnStart: c.derivation === "fork",
    sendSeq: c.seq,
  }, {
    random: c.fork ? constantRandom(c.fork) : systemRandom,
    padding: c.padding ? () => c.padding : "none",
  });
}

async function records(): Promise<unknown> {
  const cases = [];
  for (const c of RECORD_CASES) {
    const channel = sender(c);
    if (c.contentType === 0x18) channel.rekey(true);
    const record = c.contentType === 0x15
      ? await channel.sealClose()
      : await channel.seal(utf8(c.text));
    cases.push({
      name: c.name,
      secret: toHex(c.secret),
      epoch: c.epoch,
      derivation: c.derivation,
      fork: c.fork ? toHex(c.fork) : null,
      seq: c.seq.toString(),
      contentType: c.contentType.toString(16),
      padding: c.padding,
      plaintextUtf8: c.text,
      record: toHex(record),
    });
  }
  return {
    description: "tessera/1 records (docs/protocol.md §5). secret is the sending direction's " +
      "ts_0; the record's epoch is 0, or 1 reached from ts_0 by update or by a fork with R " +
      "(fork); seq is decimal, contentType hex; padding counts the 00 bytes after the type.",
    cases,
  };
}

// --------------------------------------------------------------- handshakes (§3, §6)

/** The fixed inputs of the handshake and saved-state vectors. */
export const HANDSHAKE_INPUTS = {
  clientId: "tessera client",
  serverId: "tessera server",
  clientIdentityPkcs8:
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104201f9e3c5ce3da994485e39e8b125122f36eebc21520dac945568cdef2acdc2731a144034200047a94929bb4e4dcfc67b3247b34e4c8efbff7690aeb156a41f32a3f2f1395b34e3f0f13b62a92d37be122ad5dba243cd08a8bfc17331b56113cfdf15cbe8251dc",
  serverIdentityPkcs8:
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104205ea30de31a5bae5895c1f5b6b0df515efdb29b22fe7f1df138f690862659eb74a14403420004e13b88c4c589da9e79b305b1b7d9904926380f687cdf2bae850691ed870080e564483e86239be0c611e3d6000b9fa8e2084b9cb0c58ba866c926e55ad7f48550",
  /** The clock of both sides, in milliseconds: ticket lifetimes are computed from it. */
  now: 1_700_000_000_000,
  /** The server's ticket lifetime, in milliseconds: 1 hour, sent as 3600 seconds. */
  ticketLifetime: 3_600_000,
  /** The client's resumption endpoint (its ticket cache namespace). */
  endpoint: "tessera.test:443",
  /** The client keeps the default `maxRecordSize` (16 MiB); the server declares this one. */
  serverMaxRecordSize: 65_536,
  full: {
    clientSeed: 1,
    serverSeed: 2,
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
  },
  resumed: {
    clientSeed: 3,
    serverSeed: 4,
    clientEphemeralJwk: {
      kty: "EC",
      crv: "P-256",
      x: "ugrIvUEEF9N8w1f2jelvM6wNNcFFBDCzh2EMayihU0Q",
      y: "NxSppTCIKzVTYcK1fiKd1cV9jPwV1Mr1-DDDnFlNt1Q",
      d: "CA5oLLjd28nppPT0U2262UdLnPhrPzOUQYi61mgC_bk",
    },
    serverEphemeralJwk: {
      kty: "EC",
      crv: "P-256",
      x: "afEvZKe93WkmPEu1AeWHFNmP_ARzEK3xnAgd_nxhb0o",
      y: "W1X-bdglf7-Jjm62puBCe0TBTyyOmaBBMcEXVb66ymk",
      d: "msMz_UDjdNJDJlpLEmFXdtFcVRw6K87WioDJ7XLSkdw",
    },
  },
  clientMessage: "ping",
  serverMessage: "pong",
  exporter: { labelUtf8: "EXPORTER-test", contextUtf8: "", length: 32 },
};

/** The fixed inputs of the saved-state vector (the full handshake's client, after ping/pong). */
export const SAVED_STATE_INPUTS = {
  wrappingKey: toHex(pattern(32, 0xd0)),
  contextUtf8: "user 42",
  otherContextUtf8: "user 7",
  saveSeed: 5,
  restoreSeed: 6,
  restoredMessage: "after restore",
};

async function handshakes(): Promise<{ handshake: unknown; savedState: unknown }> {
  const inputs = HANDSHAKE_INPUTS;
  const [clientKey, serverKey] = await Promise.all([
    importPrivateKey(fromHex(inputs.clientIdentityPkcs8)),
    importPrivateKey(fromHex(inputs.serverIdentityPkcs8)),
  ]);
  const publicOf = async (pkcs8: string) =>
    await publicKeyFromPrivate(await importPrivateKey(fromHex(pkcs8), { extractable: true }));
  const clientPublic = await publicOf(inputs.clientIdentityPkcs8);
  const serverPublic = await publicOf(inputs.serverIdentityPkcs8);
  const table = new Map([[inputs.clientId, clientPublic], [inputs.serverId, serverPublic]]);
  const getPublicKeyForId = (id: Uint8Array) => table.get(new TextDecoder().decode(id));
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const now = () => inputs.now;

  const run = async (phase: typeof inputs.full) => {
    const [clientEphemeral, serverEphemeral] = await Promise.all([
      importEphemeral(phase.clientEphemeralJwk),
      importEphemeral(phase.serverEphemeralJwk),
    ]);
    const [client, ch] = await withEntropy(
      fixedEntropy(phase.clientSeed, clientEphemeral),
      async () => {
        const s = new SecureSession({
          id: inputs.clientId,
          privateKey: clientKey,
          getPublicKeyForId,
          now,
          resumption: { cache, endpoint: inputs.endpoint },
        });
        return [s, await s.connectRequest()] as const;
      },
    );
    const [server, sh] = await withEntropy(
      fixedEntropy(phase.serverSeed, serverEphemeral),
      async () => {
        const s = new SecureSession({
          id: inputs.serverId,
          privateKey: serverKey,
          getPublicKeyForId,
          now,
          resumption: { store, lifetime: inputs.ticketLifetime },
          maxRecordSize: inputs.serverMaxRecordSize,
        });
        return [s, await s.negotiate(ch)] as const;
      },
    );
    const cf = await client.negotiate(sh!);
    assert.equal(await server.negotiate(cf!), null);
    assert.equal(client.peerMaxRecordSize, inputs.serverMaxRecordSize);
    assert.equal(server.peerMaxRecordSize, 16 * 1024 * 1024);
    const { labelUtf8, contextUtf8, length } = inputs.exporter;
    const ekm = await client.exportKeyingMaterial(labelUtf8, contextUtf8, length);
    assert.deepEqual(await server.exportKeyingMaterial(labelUtf8, contextUtf8, length), ekm);
    const clientRecord = await client.wrap(utf8(inputs.clientMessage));
    const serverRecord = await server.wrap(utf8(inputs.serverMessage));
    assert.deepEqual(await server.unwrap(clientRecord), utf8(inputs.clientMessage));
    assert.deepEqual(await client.unwrap(serverRecord), utf8(inputs.serverMessage));
    const messages = {
      clientHello: toHex(ch),
      serverHello: toHex(sh!),
      clientFinished: toHex(cf!),
      sessionId: toHex(client.sessionId!),
      exporterValue: toHex(ekm),
      clientRecord: toHex(clientRecord),
      serverRecord: toHex(serverRecord),
    };
    return { client, server, clientEphemeral, messages };
  };

  const { result, signatures } = await recordSignatures([
    { privateKey: clientKey, publicKey: clientPublic },
    { privateKey: serverKey, publicKey: serverPublic },
  ], async () => {
    const full = await run(inputs.full);
    assert.ok(!full.client.resumed && !full.server.resumed);
    // Saved state: the full handshake's client hands over, is restored and sends once more.
    const s = SAVED_STATE_INPUTS;
    const key = fromHex(s.wrappingKey);
    const saved = await withEntropy(
      fixedEntropy(s.saveSeed, full.clientEphemeral),
      () => full.client.save(key, { context: s.contextUtf8 }),
    );
    const restored = await withEntropy(
      fixedEntropy(s.restoreSeed, full.clientEphemeral),
      () => SecureSession.restore(saved, key, { context: s.contextUtf8 }),
    );
    assert.equal(restored.generation, 1);
    assert.equal(restored.peerMaxRecordSize, inputs.serverMaxRecordSize);
    const restoredRecord = await restored.wrap(utf8(s.restoredMessage));
    assert.deepEqual(await full.server.unwrap(restoredRecord), utf8(s.restoredMessage));
    const resumed = await run(inputs.resumed);
    assert.ok(resumed.client.resumed && resumed.server.resumed);
    return { full, resumed, saved, restoredRecord };
  });
  assert.equal(signatures.length, 2, "only the full handshake signs");
  const signatureOf = (key: CryptoKey) =>
    toHex(signatures.find((s) => s.publicKey === key)!.signature);
  return {
    handshake: {
      description: "a full tessera/1 handshake whose server issues one ticket, and the resumed " +
        "handshake that redeems it (docs/protocol.md §3), with each one's session id, exporter " +
        "value and first record each way; the client declares the default record size limit, " +
        "the server serverMaxRecordSize; hex unless noted",
      inputs,
      full: {
        ...result.full.messages,
        serverSignature: signatureOf(serverPublic),
        clientSignature: signatureOf(clientPublic),
      },
      resumed: result.resumed.messages,
    },
    savedState: {
      description: "the full handshake's client (handshake.json) saved after ping and pong " +
        "(docs/protocol.md §6), and its first record once restored; hex unless noted",
      inputs: SAVED_STATE_INPUTS,
      savedState: toHex(result.saved),
      restoredRecord: toHex(result.restoredRecord),
    },
  };
}

// -------------------------------------------------------------------------- alerts (§3.6)

async function alerts(): Promise<unknown> {
  const key = pattern(32, 0xe0);
  const iv = pattern(12, 0x70);
  const alertKey = { key: await importAesGcmKey(key), iv };
  const plain = await buildAlert("handshake_unsupported_suite", null);
  const sealed = await buildAlert("handshake_bad_finished", alertKey);
  return {
    description: "tessera/1 alerts (docs/protocol.md §3.6); the protected one under hs_key = " +
      "key, hs_iv = iv, nonce(iv, 1)",
    key: toHex(key),
    iv: toHex(iv),
    cases: [
      { kind: "plain", code: "handshake_unsupported_suite", class: 3, alert: toHex(plain!) },
      { kind: "protected", code: "handshake_bad_finished", class: 1, alert: toHex(sealed!) },
    ],
  };
}

if (import.meta.main) {
  const dir = new URL(".", import.meta.url);
  const write = (name: string, value: unknown): Promise<void> =>
    Deno.writeTextFile(new URL(name, dir), JSON.stringify(value, null, 2) + "\n");
  await write("key_schedule.json", await keySchedule());
  await write("epochs.json", await epochs());
  await write("exporter.json", await exporter());
  await write("records.json", await records());
  const { handshake, savedState } = await handshakes();
  await write("handshake.json", handshake);
  await write("saved_state.json", savedState);
  await write("alerts.json", await alerts());
}
