/**
 * The tessera/1 handshake (docs/protocol.md §3): ClientHello, ServerHello with
 * the server's encrypted identity, signature and Finished, ClientFinished with
 * the client's. One round trip before the client's first application record.
 *
 * @module
 */

import { concat, u16, utf8 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { ecdhSecret, importEcdhPoint } from "../crypto/ecdh.ts";
import { hmacSign, hmacVerify } from "../crypto/hmac.ts";
import { signP256, toVerifyKey, verifyP256 } from "../crypto/identity.ts";
import { randomBytes } from "../crypto/random.ts";
import { sha256 } from "../crypto/sha256.ts";
import { HandshakeError, type HandshakeErrorCode, TesseraError } from "../errors.ts";
import { Reader } from "../wire/reader.ts";
import { ephemeralShare } from "./_entropy.ts";
import {
  deriveHandshakeKeys,
  deriveTrafficSecrets,
  type HandshakeKeys,
} from "./_tessera1_schedule.ts";
import type { Handshake, HandshakeConfig, HandshakeStep, Role } from "./profile.ts";
import { MAX_ID_LENGTH } from "./profile.ts";
import { ReplayWindow } from "./replay_window.ts";
import { Tessera1Channel } from "./tessera1_channel.ts";

/** Message types. */
export const CLIENT_HELLO: number = 0x01;
/** ServerHello message type. */
export const SERVER_HELLO: number = 0x02;
/** ClientFinished message type. */
export const CLIENT_FINISHED: number = 0x03;
/** The protocol version byte of tessera/1. */
export const VERSION: number = 0x01;
/** ECDHE-P256 / ECDSA-P256-SHA256 / HKDF-SHA256 / AES-256-GCM. */
export const SUITE_P256_AES256GCM: number = 0x0001;
/**
 * The largest handshake message accepted, in bytes.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { MAX_HANDSHAKE_MESSAGE } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_HANDSHAKE_MESSAGE, 4096);
 * const { privateKey } = await generateIdentityKeyPair();
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId: () => null });
 * await assert.rejects(server.negotiate(new Uint8Array(MAX_HANDSHAKE_MESSAGE + 1)), {
 *   code: "handshake_malformed",
 * });
 * ```
 */
export const MAX_HANDSHAKE_MESSAGE: number = 4096;
const MAX_SUITES = 16;
const MAX_EXTENSIONS = 1024;
const RANDOM_LENGTH = 32;
const SHARE_LENGTH = 65;
const SIGNATURE_LENGTH = 64;
const FINISHED_LENGTH = 32;
const ZERO_SALT = new Uint8Array(32);
const SERVER_SIGNATURE_CONTEXT = utf8("tessera/1 server signature\0");
const CLIENT_SIGNATURE_CONTEXT = utf8("tessera/1 client signature\0");
/** Smallest encrypted auth block: tag, id length, 1-byte id, signature, Finished. */
const MIN_AUTH_CIPHERTEXT = 16 + 2 + 1 + SIGNATURE_LENGTH + FINISHED_LENGTH;

function fail(code: HandshakeErrorCode, message: string): HandshakeError {
  return new HandshakeError(code, message);
}

function malformed(message: string): HandshakeError {
  return fail("handshake_malformed", message);
}

/** Parsed ClientHello fields. */
interface ClientHello {
  suites: number[];
  share: Uint8Array;
  extensions: Uint8Array;
}

function parseExtensions(bytes: Uint8Array): void {
  const r = new Reader(bytes, malformed);
  let last = -1;
  while (r.remaining > 0) {
    const type = r.u16();
    r.vector16(MAX_EXTENSIONS);
    if (type <= last) throw malformed("extensions not in strictly ascending order");
    last = type;
  }
}

function parseClientHello(message: Uint8Array): ClientHello {
  const r = new Reader(message, malformed);
  if (r.u8() !== CLIENT_HELLO) throw fail("handshake_unexpected", "expected a ClientHello");
  if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
  const count = r.u8();
  if (count < 1 || count > MAX_SUITES) throw malformed("bad suite count");
  const suites: number[] = [];
  for (let i = 0; i < count; i++) suites.push(r.u16());
  r.bytes(RANDOM_LENGTH);
  const share = r.bytes(SHARE_LENGTH);
  const extensions = r.vector16(MAX_EXTENSIONS);
  r.end();
  parseExtensions(extensions);
  return { suites, share, extensions };
}

/** Splits decrypted auth `u16 id_len ‖ id ‖ signature ‖ finished`. */
function parseAuth(plain: Uint8Array): { id: Uint8Array; signature: Uint8Array; mac: Uint8Array } {
  const r = new Reader(plain, malformed);
  const id = r.vector16(MAX_ID_LENGTH, 1);
  const signature = r.bytes(SIGNATURE_LENGTH);
  const mac = r.bytes(FINISHED_LENGTH);
  r.end();
  return { id, signature, mac };
}

async function peerKey(config: HandshakeConfig, id: Uint8Array): Promise<CryptoKey> {
  let found;
  try {
    found = await config.getPublicKeyForId(id.slice());
  } catch (cause) {
    throw new HandshakeError("handshake_lookup_failed", "getPublicKeyForId threw", { cause });
  }
  if (found === null || found === undefined) {
    throw fail("handshake_unknown_peer", "getPublicKeyForId knows no key for the peer id");
  }
  try {
    return await toVerifyKey(found);
  } catch (cause) {
    throw new HandshakeError(
      "handshake_lookup_failed",
      "getPublicKeyForId returned an unusable key",
      { cause },
    );
  }
}

async function importShare(share: Uint8Array): Promise<CryptoKey> {
  try {
    return await importEcdhPoint(share);
  } catch (cause) {
    throw new HandshakeError("handshake_bad_key_share", "invalid ephemeral public key", {
      cause,
    });
  }
}

async function agree(privateKey: CryptoKey, peer: CryptoKey): Promise<Uint8Array> {
  try {
    return await ecdhSecret(privateKey, peer);
  } catch (cause) {
    throw new HandshakeError("handshake_bad_key_share", "key agreement failed", { cause });
  }
}

async function checkPeer(
  config: HandshakeConfig,
  id: Uint8Array,
  signature: Uint8Array,
  signed: Uint8Array,
  finishedKey: CryptoKey,
  mac: Uint8Array,
  macked: Uint8Array,
): Promise<void> {
  const key = await peerKey(config, id);
  const [sigOk, macOk] = await Promise.all([
    verifyP256(key, signature, signed),
    hmacVerify(finishedKey, mac, macked),
  ]);
  if (!sigOk) throw fail("handshake_bad_signature", "peer signature does not verify");
  if (!macOk) throw fail("handshake_bad_finished", "peer Finished does not verify");
}

/** Builds the established channel from the final transcript. */
async function establish(
  role: Role,
  config: HandshakeConfig,
  keys: HandshakeKeys,
  transcript: Uint8Array,
  peerId: Uint8Array,
): Promise<Tessera1Channel> {
  const secrets = await deriveTrafficSecrets(keys.master, await sha256(transcript));
  return Tessera1Channel.create({
    role,
    peerId: peerId.slice(),
    sessionId: secrets.sessionId,
    sendSecret: role === "client" ? secrets.clientSecret : secrets.serverSecret,
    receiveSecret: role === "client" ? secrets.serverSecret : secrets.clientSecret,
    resumptionSecret: secrets.resumption,
    sendSeq: 0n,
    window: new ReplayWindow(),
  }, config);
}

type Phase = "start" | "wait-server-hello" | "wait-client-hello" | "wait-finished" | "done";

/**
 * One side of a tessera/1 handshake. Any failure is final: the object then
 * refuses every call with the same error code.
 */
export class Tessera1Handshake implements Handshake {
  #role: Role;
  #config: HandshakeConfig;
  #phase: Phase;
  #failure: HandshakeError | null = null;
  #busy = false;
  #ephemeral: CryptoKeyPair | null = null;
  #clientHello: Uint8Array = new Uint8Array(0);
  #serverHello: Uint8Array = new Uint8Array(0);
  #keys: HandshakeKeys | null = null;

  /**
   * Creates one side of a handshake.
   *
   * @param role Client or server.
   * @param config Own id and key, the peer lookup, randomness and limits.
   */
  constructor(role: Role, config: HandshakeConfig) {
    this.#role = role;
    this.#config = config;
    this.#phase = role === "client" ? "start" : "wait-client-hello";
  }

  start(): Promise<Uint8Array> {
    return this.#guard(async () => {
      if (this.#phase !== "start") {
        throw fail("handshake_unexpected", "start() is only valid once, on the client");
      }
      const { pair, point: share } = await ephemeralShare();
      this.#ephemeral = pair;
      this.#clientHello = concat(
        new Uint8Array([CLIENT_HELLO, VERSION, 1]),
        u16(SUITE_P256_AES256GCM),
        randomBytes(RANDOM_LENGTH, this.#config.random),
        share,
        u16(0),
      );
      this.#phase = "wait-server-hello";
      return this.#clientHello.slice();
    });
  }

  receive(message: Uint8Array): Promise<HandshakeStep> {
    return this.#guard(() => {
      if (!(message instanceof Uint8Array)) throw new TypeError("message must be a Uint8Array");
      if (message.length === 0) throw malformed("empty handshake message");
      if (message.length > MAX_HANDSHAKE_MESSAGE) throw malformed("handshake message too large");
      const copy = message.slice();
      switch (this.#phase) {
        case "wait-client-hello":
          return this.#onClientHello(copy);
        case "wait-server-hello":
          return this.#onServerHello(copy);
        case "wait-finished":
          return this.#onClientFinished(copy);
        default:
          throw fail("handshake_unexpected", "no handshake message is expected now");
      }
    });
  }

  /** Runs one step; a failure is remembered and the handshake refuses further use. */
  async #guard<T>(step: () => Promise<T>): Promise<T> {
    if (this.#failure) throw fail(this.#failure.code, this.#failure.message);
    if (this.#busy) throw fail("handshake_unexpected", "a handshake step is already running");
    this.#busy = true;
    try {
      return await step();
    } catch (err) {
      const failure = err instanceof HandshakeError
        ? err
        : err instanceof TypeError
        ? null
        : new HandshakeError(
          "handshake_malformed",
          err instanceof TesseraError ? err.message : "handshake failed",
          { cause: err },
        );
      if (failure) {
        this.#failure = failure;
        this.#phase = "done";
        this.#keys = null;
        this.#ephemeral = null;
        throw failure;
      }
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  async #onClientHello(message: Uint8Array): Promise<HandshakeStep> {
    const hello = parseClientHello(message);
    if (!hello.suites.includes(SUITE_P256_AES256GCM)) {
      throw fail("handshake_unsupported_suite", "no supported cipher suite offered");
    }
    const config = this.#config;
    // Independent operations run concurrently; nothing is sent unless all succeed.
    const [{ pair: ephemeral, point }, peerShare] = await Promise.all([
      ephemeralShare(),
      importShare(hello.share),
    ]);
    this.#ephemeral = ephemeral;
    const plain = concat(
      new Uint8Array([SERVER_HELLO, VERSION]),
      u16(SUITE_P256_AES256GCM),
      randomBytes(RANDOM_LENGTH, config.random),
      point,
      u16(0),
    );
    const idPart = concat(u16(config.id.length), config.id);
    const [signature, keys] = await Promise.all([
      signP256(config.privateKey, concat(SERVER_SIGNATURE_CONTEXT, message, plain, idPart)),
      Promise.all([
        agree(ephemeral.privateKey, peerShare),
        sha256(concat(message, plain)),
      ]).then(([shared, helloHash]) => deriveHandshakeKeys(shared, ZERO_SALT, helloHash)),
    ]);
    const mac = await hmacSign(keys.serverFinished, concat(message, plain, idPart, signature));
    const sealed = await aesGcmEncrypt(
      keys.serverKey,
      keys.serverIv,
      concat(idPart, signature, mac),
      plain,
    );
    this.#clientHello = message;
    this.#serverHello = concat(plain, sealed);
    this.#keys = keys;
    this.#phase = "wait-finished";
    return { send: this.#serverHello.slice(), channel: null };
  }

  async #onServerHello(message: Uint8Array): Promise<HandshakeStep> {
    const r = new Reader(message, malformed);
    if (r.u8() !== SERVER_HELLO) throw fail("handshake_unexpected", "expected a ServerHello");
    if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
    if (r.u16() !== SUITE_P256_AES256GCM) {
      throw fail("handshake_unsupported_suite", "server chose a suite that was not offered");
    }
    r.bytes(RANDOM_LENGTH);
    const share = r.bytes(SHARE_LENGTH);
    parseExtensions(r.vector16(MAX_EXTENSIONS));
    const plain = message.subarray(0, r.offset);
    const sealed = r.rest();
    if (sealed.length < MIN_AUTH_CIPHERTEXT) throw malformed("server auth block too short");
    const config = this.#config;
    const hello = this.#clientHello;
    const [shared, helloHash] = await Promise.all([
      importShare(share).then((peer) => agree(this.#ephemeral!.privateKey, peer)),
      sha256(concat(hello, plain)),
    ]);
    const keys = await deriveHandshakeKeys(shared, ZERO_SALT, helloHash);
    const opened = await aesGcmDecrypt(keys.serverKey, keys.serverIv, sealed, plain);
    if (opened === null) {
      throw fail("handshake_decrypt_failed", "server auth block is not authentic");
    }
    const auth = parseAuth(opened);
    const peerPart = concat(u16(auth.id.length), auth.id);
    const idPart = concat(u16(config.id.length), config.id);
    // Build the whole reply while the server is being verified; it is sent only if it verifies.
    const replying = (async () => {
      const signature = await signP256(
        config.privateKey,
        concat(CLIENT_SIGNATURE_CONTEXT, hello, message, idPart),
      );
      const mac = await hmacSign(keys.clientFinished, concat(hello, message, idPart, signature));
      const head = new Uint8Array([CLIENT_FINISHED, VERSION]);
      const finished = concat(
        head,
        await aesGcmEncrypt(keys.clientKey, keys.clientIv, concat(idPart, signature, mac), head),
      );
      const channel = await establish(
        "client",
        config,
        keys,
        concat(hello, message, finished),
        auth.id,
      );
      return { finished, channel };
    })();
    replying.catch(() => {});
    await checkPeer(
      config,
      auth.id,
      auth.signature,
      concat(SERVER_SIGNATURE_CONTEXT, hello, plain, peerPart),
      keys.serverFinished,
      auth.mac,
      concat(hello, plain, peerPart, auth.signature),
    );
    const { finished, channel } = await replying;
    this.#phase = "done";
    this.#ephemeral = null;
    return { send: finished, channel };
  }

  async #onClientFinished(message: Uint8Array): Promise<HandshakeStep> {
    const r = new Reader(message, malformed);
    if (r.u8() !== CLIENT_FINISHED) throw fail("handshake_unexpected", "expected ClientFinished");
    if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
    const sealed = r.rest();
    if (sealed.length < MIN_AUTH_CIPHERTEXT) throw malformed("client auth block too short");
    const keys = this.#keys!;
    const head = message.subarray(0, 2);
    const opened = await aesGcmDecrypt(keys.clientKey, keys.clientIv, sealed, head);
    if (opened === null) {
      throw fail("handshake_decrypt_failed", "client auth block is not authentic");
    }
    const auth = parseAuth(opened);
    const hello = this.#clientHello;
    const server = this.#serverHello;
    const peerPart = concat(u16(auth.id.length), auth.id);
    // Derive the traffic secrets while the client is being verified; used only if it verifies.
    const establishing = establish(
      "server",
      this.#config,
      keys,
      concat(hello, server, message),
      auth.id,
    );
    establishing.catch(() => {});
    await checkPeer(
      this.#config,
      auth.id,
      auth.signature,
      concat(CLIENT_SIGNATURE_CONTEXT, hello, server, peerPart),
      keys.clientFinished,
      auth.mac,
      concat(hello, server, peerPart, auth.signature),
    );
    const channel = await establishing;
    this.#phase = "done";
    this.#keys = null;
    this.#ephemeral = null;
    return { send: null, channel };
  }
}
