/**
 * The Secure Session workloads that `session_bench.ts` (through `deno bench`) and
 * `interleaved.ts` (medians of interleaved rounds) measure side by side:
 * tessera/1, WasmThemis 0.15.0 and the raw `crypto.subtle` operations.
 *
 * @module
 */

import { generateIdentityKeyPair, SecureSession } from "../mod.ts";
import { concat } from "../lib/crypto/_bytes.ts";

const subtle = crypto.subtle;
const encoder = new TextEncoder();

// ----------------------------------------------------------------- WasmThemis

// WasmThemis loads libthemis.wasm with `fetch` when it exists; without it, it
// reads the file from disk (--allow-read). Imported dynamically so that
// `fetch` is hidden first, and restored once the module is ready.
const savedFetch = globalThis.fetch;
(globalThis as { fetch?: typeof fetch }).fetch = undefined;
const themis = await import("npm:wasm-themis@0.15.0");
await themis.initialized;
globalThis.fetch = savedFetch;

type ThemisSession = InstanceType<typeof themis.SecureSession>;
type ThemisPublicKey = InstanceType<typeof themis.PublicKey>;

const themisClientKeys = new themis.KeyPair();
const themisServerKeys = new themis.KeyPair();
const themisClientId = encoder.encode("client");
const themisServerId = encoder.encode("server");
// Ids differ in their first byte: "c" or "s".
const themisLookup = (id: Uint8Array): ThemisPublicKey =>
  id[0] === 0x63 ? themisClientKeys.publicKey : themisServerKeys.publicKey;

export function themisPair(): { client: ThemisSession; server: ThemisSession } {
  return {
    client: new themis.SecureSession(themisClientId, themisClientKeys.privateKey, themisLookup),
    server: new themis.SecureSession(themisServerId, themisServerKeys.privateKey, themisLookup),
  };
}

/** The 4-message Themis handshake; returns the number of messages exchanged. */
export function themisHandshake(client: ThemisSession, server: ThemisSession): number {
  let message = client.connectionRequest();
  let count = 1;
  for (let turn = 0; message.length > 0 && turn < 8; turn++) {
    message = turn % 2 === 0 ? server.negotiateReply(message) : client.negotiateReply(message);
    if (message.length > 0) count++;
  }
  if (!client.established() || !server.established()) {
    throw new Error("WasmThemis handshake did not complete");
  }
  return count;
}

// -------------------------------------------------------------------- tessera

const clientIdentity = await generateIdentityKeyPair();
const serverIdentity = await generateIdentityKeyPair();
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

async function importedPublicKey(publicKey: CryptoKey): Promise<CryptoKey> {
  const raw = await subtle.exportKey("raw", publicKey);
  return subtle.importKey("raw", raw, ECDSA_P256, true, ["verify"]);
}

const clientPublic = await importedPublicKey(clientIdentity.publicKey);
const serverPublic = await importedPublicKey(serverIdentity.publicKey);
const tesseraLookup = (id: Uint8Array): CryptoKey => id[0] === 0x63 ? clientPublic : serverPublic;

export function tesseraPair(): { client: SecureSession; server: SecureSession } {
  return {
    client: new SecureSession({
      id: "client",
      privateKey: clientIdentity.privateKey,
      getPublicKeyForId: tesseraLookup,
    }),
    server: new SecureSession({
      id: "server",
      privateKey: serverIdentity.privateKey,
      getPublicKeyForId: tesseraLookup,
    }),
  };
}

/** ClientHello, then `negotiate` three times: ServerHello, ClientFinished, nothing. */
export async function tesseraHandshake(
  client: SecureSession,
  server: SecureSession,
): Promise<void> {
  const hello = await client.connectRequest();
  const serverHello = await server.negotiate(hello);
  const finished = await client.negotiate(serverHello!);
  const last = await server.negotiate(finished!);
  if (last !== null || !client.isEstablished() || !server.isEstablished()) {
    throw new Error("tessera/1 handshake did not complete");
  }
}

// ---------------------------------------------------------- raw subtle floor
//
// The crypto.subtle calls of one tessera/1 handshake (lib/session/
// tessera1_handshake.ts, _tessera1_schedule.ts, tessera1_channel.ts), both
// sides, on inputs of the same sizes, with the same key types and usages:
//
//   ECDH generateKey            2   (one ephemeral per side)
//   exportKey "raw"             4   (the ephemeral shares; each peer share once more,
//                                    which lib/crypto/ecdh.ts importEcdhPoint does to
//                                    force point validation)
//   importKey "raw" ECDH        2   (the peer's share)
//   deriveBits ECDH             2
//   sign ECDSA                  2   (server signature, client signature)
//   verify ECDSA                2
//   digest SHA-256              4   (hello hash per side, transcript hash per side)
//   importKey HKDF              8   (per side: ECDHE secret, master, send base, receive base)
//   deriveKey HKDF             10   (per side: c/s hs key, c/s finished, send record key)
//   deriveBits HKDF            16   (per side: c/s hs iv, master, c ap, s ap, session id,
//                                    res master, send record iv)
//   sign HMAC                   2   (each side's Finished)
//   verify HMAC                 2
//   encrypt AES-GCM             2   (each side's auth block)
//   decrypt AES-GCM             2
//                              --
//                              60 calls
//
// No parsing, no state machine, no error mapping, no facade. Calls run
// concurrently wherever their inputs allow it and nothing leaves a side
// before the peer is authenticated: the server signs as soon as its share is
// exported (in parallel with ECDH and the key schedule); the client signs as
// soon as the ServerHello arrives and computes its Finished while the
// server's signature is being verified, sending it only once verified; the
// client's traffic keys are derived while the server works; each side
// imports the master secret as soon as it has it; the server hashes the final
// transcript while it decrypts ClientFinished. Every call is awaited before
// the function returns (tessera/1 leaves each side's send record key
// derivation running after negotiate() returns).

const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;
const HKDF_USAGES: KeyUsage[] = ["deriveBits", "deriveKey"];
const AES_256_GCM = { name: "AES-GCM", length: 256 } as const;
const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256", length: 256 } as const;
const ZERO_SALT = new Uint8Array(32);
const EMPTY = new Uint8Array(0);
const SERVER_SIG_CONTEXT = encoder.encode("tessera/1 server signature\0");
const CLIENT_SIG_CONTEXT = encoder.encode("tessera/1 client signature\0");

const join = concat;

function label(name: string, context: Uint8Array): Uint8Array<ArrayBuffer> {
  return join(encoder.encode("tessera/1 " + name), new Uint8Array(1), context);
}

function hkdfParams(salt: Uint8Array, info: Uint8Array): HkdfParams {
  return { name: "HKDF", hash: "SHA-256", salt: salt as BufferSource, info: info as BufferSource };
}

function importHkdf(bytes: BufferSource): Promise<CryptoKey> {
  return subtle.importKey("raw", bytes, "HKDF", false, HKDF_USAGES);
}

async function derive(
  ikm: CryptoKey,
  salt: Uint8Array,
  info: Uint8Array,
  bytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle.deriveBits(hkdfParams(salt, info), ikm, bytes * 8));
}

function deriveKey(
  ikm: CryptoKey,
  salt: Uint8Array,
  info: Uint8Array,
  hmac: boolean,
): Promise<CryptoKey> {
  return hmac
    ? subtle.deriveKey(hkdfParams(salt, info), ikm, HMAC_SHA256, false, ["sign", "verify"])
    : subtle.deriveKey(hkdfParams(salt, info), ikm, AES_256_GCM, false, ["encrypt", "decrypt"]);
}

/** importKey HKDF + 4 deriveKey + 3 deriveBits. */
interface FloorHandshakeKeys {
  cKey: CryptoKey;
  cIv: Uint8Array;
  cFin: CryptoKey;
  sKey: CryptoKey;
  sIv: Uint8Array;
  sFin: CryptoKey;
  master: Uint8Array<ArrayBuffer>;
}

async function handshakeKeys(
  shared: ArrayBuffer,
  helloHash: Uint8Array,
): Promise<FloorHandshakeKeys> {
  const ikm = await importHkdf(shared);
  const [cKey, cIv, cFin, sKey, sIv, sFin, master] = await Promise.all([
    deriveKey(ikm, ZERO_SALT, label("c hs key", helloHash), false),
    derive(ikm, ZERO_SALT, label("c hs iv", helloHash), 12),
    deriveKey(ikm, ZERO_SALT, label("c finished", helloHash), true),
    deriveKey(ikm, ZERO_SALT, label("s hs key", helloHash), false),
    derive(ikm, ZERO_SALT, label("s hs iv", helloHash), 12),
    deriveKey(ikm, ZERO_SALT, label("s finished", helloHash), true),
    derive(ikm, ZERO_SALT, label("master", helloHash), 32),
  ]);
  return { cKey, cIv, cFin, sKey, sIv, sFin, master };
}

/** 4 deriveBits, 2 importKey HKDF, then the send record key (deriveKey + deriveBits). */
async function trafficKeys(
  masterIkm: CryptoKey,
  transcriptHash: Uint8Array,
  client: boolean,
): Promise<[CryptoKey, Uint8Array]> {
  const [cAp, sAp] = await Promise.all([
    derive(masterIkm, EMPTY, label("c ap", transcriptHash), 32),
    derive(masterIkm, EMPTY, label("s ap", transcriptHash), 32),
    derive(masterIkm, EMPTY, label("session id", transcriptHash), 16),
    derive(masterIkm, EMPTY, label("res master", transcriptHash), 32),
  ]);
  const [sendBase] = await Promise.all([
    importHkdf(client ? cAp : sAp),
    importHkdf(client ? sAp : cAp),
  ]);
  const keyId = crypto.getRandomValues(new Uint8Array(8));
  return Promise.all([
    deriveKey(sendBase, EMPTY, label("key", keyId), false),
    derive(sendBase, EMPTY, label("iv", keyId), 12),
  ]);
}

/**
 * generateKey ECDH, then exportKey "pkcs8" to read the public point from its tail, as
 * tessera/1 does (Deno recomputes the point on every "raw" export of a generated key).
 */
async function ephemeral(): Promise<[CryptoKeyPair, Uint8Array]> {
  const pair = await subtle.generateKey(ECDH_P256, true, ["deriveBits"]) as CryptoKeyPair;
  const der = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
  return [pair, der.slice(der.length - 65)];
}

/** importKey "raw" ECDH, then exportKey "raw" to validate it, as tessera/1 does. */
async function importPeerShare(share: Uint8Array): Promise<CryptoKey> {
  const key = await subtle.importKey("raw", share as BufferSource, ECDH_P256, true, []);
  await subtle.exportKey("raw", key);
  return key;
}

function gcm(iv: Uint8Array, aad: Uint8Array): AesGcmParams {
  return { name: "AES-GCM", iv: iv as BufferSource, additionalData: aad as BufferSource };
}

const floorClientId = join(new Uint8Array([0, 6]), encoder.encode("client"));
const floorServerId = join(new Uint8Array([0, 6]), encoder.encode("server"));
const U16_ZERO = new Uint8Array(2);

export async function rawSubtleHandshake(): Promise<void> {
  // ClientHello: 1 generateKey, 1 exportKey.
  const [cEph, cShare] = await ephemeral();
  const hello = join(
    new Uint8Array([1, 1, 1, 0, 1]),
    crypto.getRandomValues(new Uint8Array(32)),
    cShare,
    U16_ZERO,
  );

  // ServerHello: generateKey, exportKey, importKey + exportKey, deriveBits ECDH, digest,
  // schedule (1 + 7), sign, HMAC sign, encrypt; master import.
  const [[sEph, sShare], cPeer] = await Promise.all([
    ephemeral(),
    importPeerShare(hello.subarray(37, 102)),
  ]);
  const sSharedP = subtle.deriveBits({ name: "ECDH", public: cPeer }, sEph.privateKey, 256);
  const plain = join(
    new Uint8Array([2, 1, 0, 1]),
    crypto.getRandomValues(new Uint8Array(32)),
    sShare,
    U16_ZERO,
  );
  const sSigP = subtle.sign(
    ECDSA_SHA256,
    serverIdentity.privateKey,
    join(SERVER_SIG_CONTEXT, hello, plain, floorServerId),
  );
  const [sShared, sHelloHash] = await Promise.all([
    sSharedP,
    subtle.digest("SHA-256", join(hello, plain)),
  ]);
  const sKeys = await handshakeKeys(sShared, new Uint8Array(sHelloHash));
  const sMasterP = importHkdf(sKeys.master);
  const sSig = new Uint8Array(await sSigP);
  const sMac = new Uint8Array(
    await subtle.sign("HMAC", sKeys.sFin, join(hello, plain, floorServerId, sSig)),
  );
  const sealedS = new Uint8Array(
    await subtle.encrypt(gcm(sKeys.sIv, plain), sKeys.sKey, join(floorServerId, sSig, sMac)),
  );
  const serverHello = join(plain, sealedS);

  // ClientFinished: importKey + exportKey, deriveBits ECDH, digest, sign (at once);
  // schedule (1 + 7); decrypt; verify ECDSA + HMAC while HMAC sign, encrypt,
  // digest, master import and traffic keys (4 + 2 + 2) run.
  const sPlain = serverHello.subarray(0, plain.length);
  const sPeer = await importPeerShare(sPlain.subarray(36, 101));
  const [cShared, cHelloHash, cSig] = await Promise.all([
    subtle.deriveBits({ name: "ECDH", public: sPeer }, cEph.privateKey, 256),
    subtle.digest("SHA-256", join(hello, sPlain)),
    subtle.sign(
      ECDSA_SHA256,
      clientIdentity.privateKey,
      join(CLIENT_SIG_CONTEXT, hello, serverHello, floorClientId),
    ).then((sig) => new Uint8Array(sig)),
  ]);
  const cKeys = await handshakeKeys(cShared, new Uint8Array(cHelloHash));
  const cMasterP = importHkdf(cKeys.master);
  const sAuthP = subtle.decrypt(
    gcm(cKeys.sIv, sPlain),
    cKeys.sKey,
    serverHello.subarray(plain.length),
  );
  const cFinishP = (async () => {
    const mac = new Uint8Array(
      await subtle.sign("HMAC", cKeys.cFin, join(hello, serverHello, floorClientId, cSig)),
    );
    const head = new Uint8Array([3, 1]);
    const sealed = new Uint8Array(
      await subtle.encrypt(gcm(cKeys.cIv, head), cKeys.cKey, join(floorClientId, cSig, mac)),
    );
    const finished = join(head, sealed);
    // The client's traffic keys are derived while the server processes ClientFinished.
    const traffic = Promise.all([
      subtle.digest("SHA-256", join(hello, serverHello, finished)),
      cMasterP,
    ]).then(([hash, masterIkm]) => trafficKeys(masterIkm, new Uint8Array(hash), true));
    return { finished, traffic };
  })();
  const sAuth = new Uint8Array(await sAuthP);
  const sSigIn = sAuth.subarray(8, sAuth.length - 32);
  const [sigOk, macOk] = await Promise.all([
    subtle.verify(
      ECDSA_SHA256,
      serverPublic,
      sSigIn,
      join(SERVER_SIG_CONTEXT, hello, sPlain, floorServerId),
    ),
    subtle.verify(
      "HMAC",
      cKeys.sFin,
      sAuth.subarray(sAuth.length - 32),
      join(hello, sPlain, floorServerId, sSigIn),
    ),
  ]);
  if (!sigOk || !macOk) throw new Error("floor: server not authenticated");
  const { finished, traffic: clientTraffic } = await cFinishP;

  // Server on ClientFinished: decrypt and digest at once; verify ECDSA + HMAC
  // while the traffic keys (4 + 2 + 2) are derived.
  const [cAuthBuf, hash] = await Promise.all([
    subtle.decrypt(gcm(sKeys.cIv, finished.subarray(0, 2)), sKeys.cKey, finished.subarray(2)),
    subtle.digest("SHA-256", join(hello, serverHello, finished)),
  ]);
  const cAuth = new Uint8Array(cAuthBuf);
  const cSigIn = cAuth.subarray(8, cAuth.length - 32);
  const [cSigOk, cMacOk] = await Promise.all([
    subtle.verify(
      ECDSA_SHA256,
      clientPublic,
      cSigIn,
      join(CLIENT_SIG_CONTEXT, hello, serverHello, floorClientId),
    ),
    subtle.verify(
      "HMAC",
      sKeys.cFin,
      cAuth.subarray(cAuth.length - 32),
      join(hello, serverHello, floorClientId, cSigIn),
    ),
    sMasterP.then((masterIkm) => trafficKeys(masterIkm, new Uint8Array(hash), false)),
    clientTraffic,
  ]);
  if (!cSigOk || !cMacOk) throw new Error("floor: client not authenticated");
}

// ------------------------------------------------------------ record helpers

/** AES-256-GCM with one fixed key; a fresh nonce (a counter) per encryption. */
const rawKey = await subtle.importKey(
  "raw",
  crypto.getRandomValues(new Uint8Array(32)),
  "AES-GCM",
  false,
  ["encrypt", "decrypt"],
);
const rawIv = crypto.getRandomValues(new Uint8Array(12));
const rawHeader = new Uint8Array(17);
let rawCounter = 0;

function freshNonce(): Uint8Array<ArrayBuffer> {
  const nonce = rawIv.slice();
  const view = new DataView(nonce.buffer);
  view.setUint32(8, view.getUint32(8) ^ rawCounter++);
  return nonce;
}

/** encrypt, then decrypt the result: the two calls a record needs, with a header as AAD. */
async function rawSealOpen(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const nonce = freshNonce();
  const params = { name: "AES-GCM", iv: nonce, additionalData: rawHeader };
  const sealed = await subtle.encrypt(params, rawKey, data);
  return new Uint8Array(await subtle.decrypt(params, rawKey, sealed));
}

// Sessions for the record benches, established once.
const tessera = tesseraPair();
await tesseraHandshake(tessera.client, tessera.server);
const wasm = themisPair();
const themisMessages = themisHandshake(wasm.client, wasm.server);
if (themisMessages !== 4) throw new Error(`WasmThemis used ${themisMessages} messages, not 4`);
await rawSubtleHandshake();

export async function tesseraRoundTrip(data: Uint8Array): Promise<void> {
  const opened = await tessera.server.unwrap(await tessera.client.wrap(data));
  if (opened === null || opened.length !== data.length) throw new Error("tessera/1 unwrap");
}

export function themisRoundTrip(data: Uint8Array): void {
  const opened = wasm.server.unwrap(wasm.client.wrap(data));
  if (opened.length !== data.length) throw new Error("WasmThemis unwrap");
}

export async function rawRoundTrip(data: Uint8Array<ArrayBuffer>): Promise<void> {
  const opened = await rawSealOpen(data);
  if (opened.length !== data.length) throw new Error("raw subtle decrypt");
}

// Check each path once (and let the server derive its receive key) before timing.
for (const size of [64, 1024, 16384]) {
  const data = crypto.getRandomValues(new Uint8Array(size));
  const opened = await tessera.server.unwrap(await tessera.client.wrap(data));
  if (!opened || opened.some((b, i) => b !== data[i])) throw new Error("tessera/1 round trip");
  const back = wasm.server.unwrap(wasm.client.wrap(data));
  if (back.length !== size || back.some((b, i) => b !== data[i])) {
    throw new Error("WasmThemis round trip");
  }
  await rawRoundTrip(data);
}
