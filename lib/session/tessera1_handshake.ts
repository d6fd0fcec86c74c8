/**
 * The tessera/1 handshake (docs/protocol.md §3): ClientHello, ServerHello with
 * the server's encrypted identity, tickets, signature and Finished,
 * ClientFinished with the client's; or the resumed handshake with a ticket and
 * a binder, Finished MACs only. One round trip before the client's first
 * application record. A failure after the peer's first message sends an alert.
 *
 * @module
 */

import { settleAll } from "../_settle.ts";
import { concat, equalPublic, toBytes, toHex, u16, u32, utf8 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { ecdhSecret, importEcdhShare } from "../crypto/ecdh.ts";
import { hmacSign, hmacVerify } from "../crypto/hmac.ts";
import {
  generateIdentityKeyPair,
  publicKeyFingerprint,
  signP256,
  toVerifyKey,
  verifyP256,
} from "../crypto/identity.ts";
import { randomBytes } from "../crypto/random.ts";
import { sha256 } from "../crypto/sha256.ts";
import { HandshakeError, type HandshakeErrorCode, TesseraError } from "../errors.ts";
import { Reader } from "../wire/reader.ts";
import { ephemeralShare } from "./_entropy.ts";
import { type AlertKey, buildAlert, isAlert, readAlert } from "./_tessera1_alert.ts";
import {
  deriveHandshakeKeys,
  derivePskKeys,
  deriveRecordKeys,
  deriveTrafficSecrets,
  type HandshakeKeys,
  nonceAt,
  type PskKeys,
  ticketSecret,
  ZERO_SALT,
} from "./_tessera1_schedule.ts";
import type {
  Handshake,
  HandshakeConfig,
  HandshakeStep,
  PeerPolicy,
  Role,
  TicketDeclineReason,
} from "./profile.ts";
import { MAX_ID_LENGTH } from "./profile.ts";
import { ReplayWindow } from "./replay_window.ts";
import {
  type ClientTicket,
  DEFAULT_TICKET_LIFETIME,
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketAttributes,
} from "./resumption.ts";
import { MAX_RECORD_SIZE_LIMIT, Tessera1Channel } from "./tessera1_channel.ts";

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
/** Extension types (docs/protocol.md §3.1). */
export const EXT_RESUMPTION: number = 0x0001;
/** Supported versions extension. */
export const EXT_VERSIONS: number = 0x0002;
/** Tickets, in the ServerHello's encrypted extensions. */
export const EXT_TICKETS: number = 0x0003;
/** Record size limit: the largest record content the sender accepts (§3.1). */
export const EXT_RECORD_SIZE_LIMIT: number = 0x0004;
/**
 * The largest handshake message accepted, in bytes.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { MAX_HANDSHAKE_MESSAGE } from "./tessera1_handshake.ts";
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
const MAX_VERSIONS = 16;
const MAX_EXTENSIONS = 2048;
const MAX_TICKETS = 16;
/** The limit of a peer that declares none (§3.1): 16 MiB, the default `maxRecordSize`. */
const IMPLIED_RECORD_SIZE_LIMIT = 16 * 1024 * 1024;
const TICKET_ID_LENGTH = 16;
const MIN_TICKET_ID = 16;
const MAX_TICKET_ID = 64;
const RANDOM_LENGTH = 32;
const SHARE_LENGTH = 65;
const SIGNATURE_LENGTH = 64;
const FINISHED_LENGTH = 32;
const BINDER_LENGTH = 32;
const FAMILY_LENGTH = 16;
const SERVER_SIGNATURE_CONTEXT = utf8("tessera/1 server signature\0");
const CLIENT_SIGNATURE_CONTEXT = utf8("tessera/1 client signature\0");
/** Smallest encrypted ServerAuth: tag, id length, 1-byte id, EE length, signature, Finished. */
const MIN_SERVER_AUTH = 16 + 2 + 1 + 2 + SIGNATURE_LENGTH + FINISHED_LENGTH;
/** Smallest encrypted ServerAuthR: tag, EE length, Finished. */
const MIN_SERVER_AUTH_RESUMED = 16 + 2 + FINISHED_LENGTH;
/** Smallest encrypted ClientAuth: tag, id length, 1-byte id, signature, Finished. */
const MIN_CLIENT_AUTH = 16 + 2 + 1 + SIGNATURE_LENGTH + FINISHED_LENGTH;
/** The encrypted part of a resumed ClientFinished: tag and Finished. */
const CLIENT_AUTH_RESUMED = 16 + FINISHED_LENGTH;

function fail(code: HandshakeErrorCode, message: string): HandshakeError {
  return new HandshakeError(code, message);
}

function malformed(message: string): HandshakeError {
  return fail("handshake_malformed", message);
}

/** A key to verify against when the lookup finds none, so unknown ids cost the same work. */
let dummyKey: Promise<CryptoKey> | null = null;
function dummyVerifyKey(): Promise<CryptoKey> {
  return dummyKey ??= generateIdentityKeyPair().then((pair) => pair.publicKey);
}

/** What the server found out about an offered ticket beside the key agreement. */
type Vetted =
  | { decline: Exclude<TicketDeclineReason, "reused">; stored?: undefined }
  | { decline: "reused"; stored: StoredTicket }
  | { decline?: undefined; stored: StoredTicket; psk: PskKeys; binderHash: Uint8Array };

/** An extension entry. */
interface Extension {
  type: number;
  data: Uint8Array;
}

/** Parses an extensions block: ascending types, the resumption offer last if `offerLast`. */
function parseExtensions(bytes: Uint8Array, offerLast: boolean): Extension[] {
  const r = new Reader(bytes, malformed);
  const out: Extension[] = [];
  let last = -1;
  while (r.remaining > 0) {
    const type = r.u16();
    const data = r.vector16(MAX_EXTENSIONS);
    if (offerLast && type === EXT_RESUMPTION) {
      if (r.remaining > 0) throw malformed("the resumption offer must be the last extension");
    } else if (type <= last) {
      throw malformed("extensions not in strictly ascending order");
    }
    last = type;
    out.push({ type, data });
  }
  return out;
}

function extension(type: number, data: Uint8Array): Uint8Array {
  return concat(u16(type), u16(data.length), data);
}

/** Extension `0004`: the largest record content this side accepts. */
function recordSizeLimitExtension(limit: number): Uint8Array {
  return extension(EXT_RECORD_SIZE_LIMIT, u32(limit));
}

/** The data of extension `0004`: exactly a `u32` of 1 to 2^30. */
function parseRecordSizeLimit(data: Uint8Array): number {
  const r = new Reader(data, malformed);
  const limit = r.u32();
  r.end();
  if (limit < 1 || limit > MAX_RECORD_SIZE_LIMIT) {
    throw malformed(`record size limit ${limit} is outside 1 to 2^30`);
  }
  return limit;
}

/** Parsed ClientHello fields. */
interface ClientHello {
  suites: number[];
  share: Uint8Array;
  versions: number[];
  /** The largest record content the client accepts. */
  recordSizeLimit: number;
  offer: { ticketId: Uint8Array; binder: Uint8Array } | null;
}

/** What the first byte of a tessera/1 message says it is (§3). */
function messageKind(message: Uint8Array): string {
  switch (message[0]) {
    case CLIENT_HELLO:
      return "a ClientHello";
    case SERVER_HELLO:
      return "a ServerHello";
    case 0x03:
      return "a ClientFinished";
    case 0x15:
      return "an alert";
    case 0x17:
      return "a record";
    case undefined:
      return "an empty message";
    default:
      return `a message of unknown type 0x${message[0].toString(16).padStart(2, "0")}`;
  }
}

/** `handshake_unexpected` naming what came instead, and the usual cause of each mix-up. */
function unexpected(expected: "a ClientHello" | "a ServerHello", message: Uint8Array) {
  const got = messageKind(message);
  let hint = "";
  if (expected === "a ServerHello" && message[0] === CLIENT_HELLO) {
    hint = ": the peer is a client too (both sides called connect() or connectRequest())";
  } else if (expected === "a ClientHello" && message[0] === SERVER_HELLO) {
    hint = ": the peer is a server too (both sides called accept() or negotiate() first)";
  } else if (message[0] === 0x17) {
    hint = ": the peer thinks a session is already established";
  }
  return fail("handshake_unexpected", `expected ${expected}, got ${got}${hint}`);
}

function parseClientHello(message: Uint8Array): ClientHello {
  const r = new Reader(message, malformed);
  if (r.u8() !== CLIENT_HELLO) throw unexpected("a ClientHello", message);
  if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
  const count = r.u8();
  if (count < 1 || count > MAX_SUITES) throw malformed("bad suite count");
  const suites: number[] = [];
  for (let i = 0; i < count; i++) suites.push(r.u16());
  r.bytes(RANDOM_LENGTH);
  const share = r.bytes(SHARE_LENGTH);
  const extensions = parseExtensions(r.vector16(MAX_EXTENSIONS), true);
  r.end();
  let versions = [VERSION];
  let recordSizeLimit = IMPLIED_RECORD_SIZE_LIMIT;
  let offer: ClientHello["offer"] = null;
  for (const ext of extensions) {
    if (ext.type === EXT_RECORD_SIZE_LIMIT) {
      recordSizeLimit = parseRecordSizeLimit(ext.data);
    } else if (ext.type === EXT_VERSIONS) {
      const v = new Reader(ext.data, malformed);
      const n = v.u8();
      if (n < 1 || n > MAX_VERSIONS) throw malformed("bad version count");
      versions = [...v.bytes(n)];
      v.end();
    } else if (ext.type === EXT_RESUMPTION) {
      const o = new Reader(ext.data, malformed);
      const ticketId = o.vector8(MAX_TICKET_ID, MIN_TICKET_ID);
      const binder = o.bytes(BINDER_LENGTH);
      o.end();
      offer = { ticketId, binder };
    }
  }
  return { suites, share, versions, recordSizeLimit, offer };
}

/** A ticket as announced in encrypted extensions. */
interface TicketAnnouncement {
  id: Uint8Array;
  lifetime: number;
}

function encodeTickets(tickets: readonly TicketAnnouncement[]): Uint8Array {
  if (tickets.length === 0) return new Uint8Array(0);
  const entries = tickets.map((t) =>
    concat(new Uint8Array([t.id.length]), t.id, u32(Math.floor(t.lifetime / 1000)))
  );
  return extension(EXT_TICKETS, concat(new Uint8Array([tickets.length]), ...entries));
}

/** What the server's encrypted extensions carry. */
interface EncryptedExtensions {
  tickets: TicketAnnouncement[];
  /** The largest record content the server accepts. */
  recordSizeLimit: number;
}

function parseEncryptedExtensions(bytes: Uint8Array): EncryptedExtensions {
  const tickets: TicketAnnouncement[] = [];
  let recordSizeLimit = IMPLIED_RECORD_SIZE_LIMIT;
  for (const ext of parseExtensions(bytes, false)) {
    if (ext.type === EXT_RECORD_SIZE_LIMIT) {
      recordSizeLimit = parseRecordSizeLimit(ext.data);
      continue;
    }
    if (ext.type !== EXT_TICKETS) continue;
    const r = new Reader(ext.data, malformed);
    const n = r.u8();
    if (n < 1 || n > MAX_TICKETS) throw malformed("bad ticket count");
    for (let i = 0; i < n; i++) {
      const id = r.vector8(MAX_TICKET_ID, MIN_TICKET_ID).slice();
      const seconds = r.u32();
      if (seconds < 1 || seconds * 1000 > MAX_TICKET_LIFETIME) {
        throw malformed("bad ticket lifetime");
      }
      tickets.push({ id, lifetime: seconds * 1000 });
    }
    r.end();
  }
  return { tickets, recordSizeLimit };
}

/** Splits decrypted auth `u16 id_len ‖ id ‖ [u16 ee_len ‖ ee] ‖ signature ‖ finished`. */
function parseAuth(plain: Uint8Array, withExtensions: boolean) {
  const r = new Reader(plain, malformed);
  const id = r.vector16(MAX_ID_LENGTH, 1);
  const extensions = withExtensions ? r.vector16(MAX_EXTENSIONS) : new Uint8Array(0);
  const signature = r.bytes(SIGNATURE_LENGTH);
  const mac = r.bytes(FINISHED_LENGTH);
  r.end();
  return { id, extensions, signature, mac };
}

/** The peer's key by id; `null` when the lookup knows none. */
async function lookupPeer(config: HandshakeConfig, id: Uint8Array): Promise<CryptoKey | null> {
  let found;
  try {
    found = await config.getPublicKeyForId(id.slice());
  } catch (cause) {
    throw new HandshakeError("handshake_lookup_failed", "getPublicKeyForId threw", { cause });
  }
  if (found === null || found === undefined) return null;
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
    return await importEcdhShare(share);
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

/** Whether the peer policy accepts an authenticated peer id. */
async function accepts(
  policy: PeerPolicy | null,
  own: Uint8Array,
  id: Uint8Array,
): Promise<boolean> {
  if (policy === null) return !equalPublic(own, id);
  if (typeof policy === "function") {
    try {
      return (await policy(id.slice())) === true;
    } catch {
      return false;
    }
  }
  return equalPublic(toBytes(policy), id);
}

/**
 * Verifies the peer's signature and Finished. An unknown id is verified
 * against a fixed key all the same, so its failure takes as long as a bad
 * signature's. Returns the verified key.
 */
async function checkPeer(
  config: HandshakeConfig,
  id: Uint8Array,
  signature: Uint8Array,
  signed: Uint8Array,
  finishedKey: CryptoKey,
  mac: Uint8Array,
  macked: Uint8Array,
): Promise<CryptoKey> {
  const found = await lookupPeer(config, id);
  const key = found ?? await dummyVerifyKey();
  const [sigOk, macOk] = await settleAll([
    verifyP256(key, signature, signed),
    hmacVerify(finishedKey, mac, macked),
  ]);
  if (!found) {
    throw fail("handshake_unknown_peer", "getPublicKeyForId knows no key for the peer id");
  }
  if (!sigOk) throw fail("handshake_bad_signature", "peer signature does not verify");
  if (!macOk) throw fail("handshake_bad_finished", "peer Finished does not verify");
  if (!(await accepts(config.expectedPeer, config.id, id))) {
    throw fail("handshake_peer_rejected", "the peer is not the one expected");
  }
  return key;
}

/**
 * Awaits `check`. Work started speculatively beside it (a reply built while the peer is being
 * verified) is used only if the check passes; if it fails, that work is waited for first, so a
 * failed handshake leaves nothing running.
 */
async function unlessRefused<T>(speculative: Promise<unknown>, check: Promise<T>): Promise<T> {
  speculative.catch(() => {}); // its failure is reported where it is awaited
  try {
    return await check;
  } catch (err) {
    await speculative.catch(() => {});
    throw err;
  }
}

/** Whether a cache's answer has the shape of a ticket this handshake can offer. */
function wellFormedTicket(ticket: ClientTicket): boolean {
  if (typeof ticket !== "object" || ticket === null) return false;
  const { id, secret, serverId, serverKeyFingerprint, expiresAt } = ticket;
  return id instanceof Uint8Array && id.length >= MIN_TICKET_ID && id.length <= MAX_TICKET_ID &&
    secret instanceof Uint8Array && secret.length === 32 &&
    serverId instanceof Uint8Array && serverId.length >= 1 && serverId.length <= MAX_ID_LENGTH &&
    serverKeyFingerprint instanceof Uint8Array && serverKeyFingerprint.length === 32 &&
    typeof expiresAt === "number";
}

/** What the server decided about an offered ticket. */
interface Redemption {
  stored: StoredTicket;
  psk: PskKeys;
  successorId: Uint8Array;
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
  /** Client: the ticket offered, and its keys. */
  #offer: { ticket: ClientTicket; psk: PskKeys; namespace: string } | null = null;
  /** Client: where received tickets go. */
  #namespace: string | null = null;
  /** Server: the ticket redeemed, when resuming. */
  #redeemed: Redemption | null = null;
  /** Server: the tickets announced in a full handshake. */
  #announced: TicketAnnouncement[] = [];
  /** The largest record content the peer declared it accepts, once its message is parsed. */
  #peerMaxRecordSize = IMPLIED_RECORD_SIZE_LIMIT;

  /**
   * Creates one side of a handshake.
   *
   * @param role Client or server.
   * @param config Own id and key, the peer lookup and policy, resumption, randomness and limits.
   */
  constructor(role: Role, config: HandshakeConfig) {
    this.#role = role;
    this.#config = config;
    this.#phase = role === "client" ? "start" : "wait-client-hello";
  }

  start(): Promise<Uint8Array> {
    return this.#guard(null, async () => {
      if (this.#phase !== "start") {
        throw fail("handshake_unexpected", "start() is only valid once, on the client");
      }
      const [{ pair, point: share }, offer] = await settleAll([
        ephemeralShare(),
        this.#takeTicket(),
      ]);
      this.#ephemeral = pair;
      this.#offer = offer;
      const versions = extension(EXT_VERSIONS, new Uint8Array([1, VERSION]));
      const limit = recordSizeLimitExtension(this.#config.maxRecordSize);
      const offerExt = offer
        ? extension(
          EXT_RESUMPTION,
          concat(new Uint8Array([offer.ticket.id.length]), offer.ticket.id, new Uint8Array(32)),
        )
        : new Uint8Array(0);
      const extensions = concat(versions, limit, offerExt);
      const hello = concat(
        new Uint8Array([CLIENT_HELLO, VERSION, 1]),
        u16(SUITE_P256_AES256GCM),
        randomBytes(RANDOM_LENGTH, this.#config.random),
        share,
        u16(extensions.length),
        extensions,
      );
      if (offer) {
        const binder = await hmacSign(offer.psk.binderKey, hello.subarray(0, hello.length - 32));
        hello.set(binder, hello.length - 32);
      }
      this.#clientHello = hello;
      this.#phase = "wait-server-hello";
      return hello.slice();
    });
  }

  receive(message: Uint8Array): Promise<HandshakeStep> {
    if (!(message instanceof Uint8Array)) {
      return Promise.reject(new TypeError("message must be a Uint8Array"));
    }
    return this.#guard(message, () => {
      if (message.length === 0) throw malformed("empty handshake message");
      if (message.length > MAX_HANDSHAKE_MESSAGE) {
        throw malformed(
          `a handshake message of ${message.length} bytes exceeds the bound of ${MAX_HANDSHAKE_MESSAGE}`,
        );
      }
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

  /**
   * Runs one step; a failure is remembered and the handshake refuses further
   * use. A failure caused by a peer's message carries the alert to send back.
   */
  async #guard<T>(message: Uint8Array | null, step: () => Promise<T>): Promise<T> {
    if (this.#failure) throw fail(this.#failure.code, this.#failure.message);
    if (this.#busy) throw fail("handshake_unexpected", "a handshake step is already running");
    this.#busy = true;
    try {
      return await step();
    } catch (err) {
      if (err instanceof TypeError) throw err;
      const failure = err instanceof HandshakeError ? err : new HandshakeError(
        "handshake_malformed",
        err instanceof TesseraError ? err.message : "handshake failed",
        { cause: err },
      );
      // Never answer an alert; answer any other message of the peer with one.
      const alert = message && !isAlert(message) && message.length <= MAX_HANDSHAKE_MESSAGE
        ? await buildAlert(failure.code, this.#ownAlertKey()).catch(() => null)
        : null;
      this.#failure = new HandshakeError(failure.code, failure.message, {
        cause: failure.cause,
        alert,
      });
      this.#phase = "done";
      this.#keys = null;
      this.#ephemeral = null;
      throw this.#failure;
    } finally {
      this.#busy = false;
    }
  }

  /** This side's handshake key and IV, once derived. */
  #ownAlertKey(): AlertKey | null {
    const keys = this.#keys;
    if (!keys) return null;
    return this.#role === "client"
      ? { key: keys.clientKey, iv: keys.clientIv }
      : { key: keys.serverKey, iv: keys.serverIv };
  }

  // ------------------------------------------------------------------ client

  /** Client: the ticket to offer, if resumption is configured and one is usable. */
  async #takeTicket(): Promise<{ ticket: ClientTicket; psk: PskKeys; namespace: string } | null> {
    const config = this.#config;
    const { cache, endpoint } = config.resumption;
    if (!cache || endpoint === undefined) return null;
    const policy = config.expectedPeer;
    const expected = policy !== null && typeof policy !== "function" ? toBytes(policy) : null;
    // Tickets belong to an endpoint, the server expected there, and this client's own id.
    const namespace = `${endpoint}\u0000${expected ? toHex(expected) : ""}\u0000${
      toHex(config.id)
    }`;
    this.#namespace = namespace;
    if (config.resumption.resume === false) return null;
    const now = Math.floor(config.now());
    for (let tries = 0; tries < 4; tries++) {
      let ticket: ClientTicket | null;
      try {
        ticket = await cache.take(namespace, now);
      } catch {
        // A cache that fails costs the resumption, never the handshake.
        config.report({ kind: "declined", reason: "store_unavailable", count: 0 });
        return null;
      }
      if (!ticket) return null;
      if (!wellFormedTicket(ticket)) {
        // A custom cache handed back something that is not a ticket: as if it had failed.
        config.report({ kind: "declined", reason: "store_unavailable", count: 0 });
        return null;
      }
      if (ticket.expiresAt <= now || !(await accepts(policy, config.id, ticket.serverId))) continue;
      // Offer only while the lookup still gives the server key the ticket was issued under.
      const key = await lookupPeer(config, ticket.serverId).catch(() => null);
      if (!key) continue;
      if (!equalPublic(await publicKeyFingerprint(key), ticket.serverKeyFingerprint)) continue;
      return { ticket, psk: await derivePskKeys(ticket.secret, ticket.serverId), namespace };
    }
    return null;
  }

  async #onServerHello(message: Uint8Array): Promise<HandshakeStep> {
    if (isAlert(message)) throw await readAlert(message, null);
    const r = new Reader(message, malformed);
    if (r.u8() !== SERVER_HELLO) throw unexpected("a ServerHello", message);
    if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
    if (r.u16() !== SUITE_P256_AES256GCM) {
      throw fail("handshake_unsupported_suite", "server chose a suite that was not offered");
    }
    r.bytes(RANDOM_LENGTH);
    const share = r.bytes(SHARE_LENGTH);
    let resumed = false;
    for (const ext of parseExtensions(r.vector16(MAX_EXTENSIONS), false)) {
      if (ext.type !== EXT_RESUMPTION) continue;
      if (!this.#offer) throw fail("handshake_unexpected", "resumption accepted but not offered");
      if (ext.data.length !== 0) throw malformed("resumption acceptance carries data");
      resumed = true;
    }
    const plain = message.subarray(0, r.offset);
    const sealed = r.rest();
    if (sealed.length < (resumed ? MIN_SERVER_AUTH_RESUMED : MIN_SERVER_AUTH)) {
      throw malformed("server auth block too short");
    }
    const hello = this.#clientHello;
    const [shared, helloHash] = await settleAll([
      importShare(share).then((peer) => agree(this.#ephemeral!.privateKey, peer)),
      sha256(concat(hello, plain)),
    ]);
    const salt = resumed ? this.#offer!.psk.salt : ZERO_SALT;
    const keys = await deriveHandshakeKeys(shared, salt, helloHash);
    this.#keys = keys;
    const opened = await aesGcmDecrypt(keys.serverKey, nonceAt(keys.serverIv, 0), sealed, plain);
    if (opened === null) {
      throw fail("handshake_decrypt_failed", "server auth block is not authentic");
    }
    return resumed
      ? await this.#resumedServerHello(message, plain, opened, keys)
      : await this.#fullServerHello(message, plain, opened, keys);
  }

  async #fullServerHello(
    message: Uint8Array,
    plain: Uint8Array,
    opened: Uint8Array,
    keys: HandshakeKeys,
  ): Promise<HandshakeStep> {
    const config = this.#config;
    const hello = this.#clientHello;
    const auth = parseAuth(opened, true);
    const { tickets, recordSizeLimit } = parseEncryptedExtensions(auth.extensions);
    this.#peerMaxRecordSize = recordSizeLimit;
    const peerPart = concat(u16(auth.id.length), auth.id);
    const eePart = concat(u16(auth.extensions.length), auth.extensions);
    const idPart = concat(u16(config.id.length), config.id);
    // Build the whole reply while the server is being verified; it is sent only if it verifies.
    const replying = (async () => {
      const signature = await signP256(
        config.privateKey,
        concat(CLIENT_SIGNATURE_CONTEXT, hello, message, idPart),
      );
      const mac = await hmacSign(keys.clientFinished, concat(hello, message, idPart, signature));
      return await this.#finish(keys, message, concat(idPart, signature, mac));
    })();
    const serverKey = await unlessRefused(
      replying,
      checkPeer(
        config,
        auth.id,
        auth.signature,
        concat(SERVER_SIGNATURE_CONTEXT, hello, plain, peerPart, eePart),
        keys.serverFinished,
        auth.mac,
        concat(hello, plain, peerPart, eePart, auth.signature),
      ),
    );
    const { finished, transcript } = await replying;
    const [channel] = await settleAll([
      this.#establish(keys, transcript, auth.id.slice(), null),
      this.#keepTickets(tickets, keys, auth.id, () => publicKeyFingerprint(serverKey)),
    ]);
    if (this.#offer) config.report({ kind: "declined", reason: "declined", count: 0 });
    return { send: finished, channel };
  }

  async #resumedServerHello(
    message: Uint8Array,
    plain: Uint8Array,
    opened: Uint8Array,
    keys: HandshakeKeys,
  ): Promise<HandshakeStep> {
    const offer = this.#offer!;
    const hello = this.#clientHello;
    const r = new Reader(opened, malformed);
    const extensions = r.vector16(MAX_EXTENSIONS);
    const mac = r.bytes(FINISHED_LENGTH);
    r.end();
    const { tickets, recordSizeLimit } = parseEncryptedExtensions(extensions);
    this.#peerMaxRecordSize = recordSizeLimit;
    const eePart = concat(u16(extensions.length), extensions);
    const replying = (async () => {
      const mac = await hmacSign(keys.clientFinished, concat(hello, message));
      return await this.#finish(keys, message, mac);
    })();
    const verified = await unlessRefused(
      replying,
      hmacVerify(keys.serverFinished, mac, concat(hello, plain, eePart)),
    );
    if (!verified) {
      await replying.catch(() => {});
      throw fail("handshake_bad_finished", "server Finished does not verify");
    }
    const { finished, transcript } = await replying;
    const serverId = offer.ticket.serverId;
    const [channel] = await settleAll([
      this.#establish(keys, transcript, serverId.slice(), {
        attributes: null,
        expiresAt: offer.ticket.expiresAt,
      }),
      this.#keepTickets(tickets, keys, serverId, () => offer.ticket.serverKeyFingerprint),
    ]);
    this.#config.report({ kind: "resumed", reason: null, count: 0 });
    return { send: finished, channel };
  }

  /** Client: seals ClientFinished around `auth`. */
  async #finish(keys: HandshakeKeys, serverHello: Uint8Array, auth: Uint8Array) {
    const head = new Uint8Array([CLIENT_FINISHED, VERSION]);
    const finished = concat(
      head,
      await aesGcmEncrypt(keys.clientKey, nonceAt(keys.clientIv, 0), auth, head),
    );
    return { finished, transcript: concat(this.#clientHello, serverHello, finished) };
  }

  /** Client: keeps the tickets the server sent, in the cache. */
  async #keepTickets(
    tickets: TicketAnnouncement[],
    keys: HandshakeKeys,
    serverId: Uint8Array,
    fingerprint: () => Uint8Array | Promise<Uint8Array>,
  ): Promise<void> {
    const cache = this.#config.resumption.cache;
    if (!cache || this.#namespace === null || tickets.length === 0) return;
    const now = Math.floor(this.#config.now());
    try {
      const serverKeyFingerprint = await fingerprint();
      const kept: ClientTicket[] = await settleAll(tickets.map(async (t) => ({
        id: t.id,
        secret: await ticketSecret(await keys.resumption(), t.id),
        serverId: serverId.slice(),
        serverKeyFingerprint,
        issuedAt: now,
        expiresAt: now + Math.min(t.lifetime, MAX_TICKET_LIFETIME),
      })));
      await cache.add(this.#namespace, kept, now);
      this.#config.report({ kind: "issued", reason: null, count: kept.length });
    } catch {
      this.#config.report({ kind: "issue_failed", reason: "store_unavailable", count: 0 });
    }
  }

  /** Builds the established channel from the final transcript. */
  async #establish(
    keys: HandshakeKeys,
    transcript: Uint8Array,
    peerId: Uint8Array,
    resumed: { attributes: TicketAttributes | null; expiresAt: number } | null,
  ): Promise<Tessera1Channel> {
    const role = this.#role;
    const secrets = await deriveTrafficSecrets(keys.master, await sha256(transcript));
    const sendSecret = role === "client" ? secrets.clientSecret : secrets.serverSecret;
    // The first record's keys, derived here rather than left running behind the handshake.
    const sendKeys = await deriveRecordKeys(sendSecret);
    this.#phase = "done";
    this.#ephemeral = null;
    const window = new ReplayWindow();
    return Tessera1Channel.create({
      role,
      peerId,
      sessionId: secrets.sessionId,
      exporter: secrets.exporter,
      peerMaxRecordSize: this.#peerMaxRecordSize,
      resumed: resumed !== null,
      attributes: resumed?.attributes ?? null,
      ticketExpiresAt: resumed?.expiresAt ?? null,
      alertKey: role === "client" ? { key: keys.serverKey, iv: keys.serverIv } : null,
      send: { epoch: 0, secret: sendSecret, fork: null },
      sendKeys,
      forkOnStart: false,
      sendSeq: 0n,
      receive: {
        epoch: 0,
        secret: role === "client" ? secrets.serverSecret : secrets.clientSecret,
        fork: null,
      },
      receiveStart: -1n,
      window,
      accepted: 0n,
      authFailures: 0,
    }, this.#config);
  }

  // ------------------------------------------------------------------ server

  async #onClientHello(message: Uint8Array): Promise<HandshakeStep> {
    if (isAlert(message)) throw unexpected("a ClientHello", message);
    const hello = parseClientHello(message);
    this.#peerMaxRecordSize = hello.recordSizeLimit;
    if (!hello.versions.includes(VERSION)) {
      throw fail("handshake_unsupported_version", "no supported version offered");
    }
    if (!hello.suites.includes(SUITE_P256_AES256GCM)) {
      throw fail("handshake_unsupported_suite", "no supported cipher suite offered");
    }
    const now = Math.floor(this.#config.now());
    const random = randomBytes(RANDOM_LENGTH, this.#config.random);
    const offer = this.#config.resumption.store ? hello.offer : null;
    // The key agreement runs while an offered ticket is looked up and its binder checked (which
    // never fails the handshake: a ticket that does not hold only means a full handshake).
    const sharing = ephemeralShare();
    const agreeing = sharing.then(async ({ pair }) =>
      await agree(pair.privateKey, await importShare(hello.share))
    );
    const vetting = offer ? this.#vetOffer(message, offer, now, agreeing) : null;
    const [{ pair: ephemeral, point }, shared, vetted] = await settleAll([
      sharing,
      agreeing,
      vetting,
    ]);
    this.#ephemeral = ephemeral;
    this.#clientHello = message;
    if (offer && vetted) {
      const resumed = await this.#resume(message, offer, vetted, shared, random, point, now);
      if (resumed) return resumed;
    }
    return await this.#fullServerHelloReply(message, shared, random, point);
  }

  /** The plain part of the ServerHello. */
  #serverHelloPlain(random: Uint8Array, point: Uint8Array, resumed: boolean): Uint8Array {
    const extensions = resumed ? extension(EXT_RESUMPTION, new Uint8Array(0)) : new Uint8Array(0);
    return concat(
      new Uint8Array([SERVER_HELLO, VERSION]),
      u16(SUITE_P256_AES256GCM),
      random,
      point,
      u16(extensions.length),
      extensions,
    );
  }

  #lifetime(): number {
    const lifetime = this.#config.resumption.lifetime ?? DEFAULT_TICKET_LIFETIME;
    return Math.min(lifetime, MAX_TICKET_LIFETIME);
  }

  async #fullServerHelloReply(
    message: Uint8Array,
    shared: Uint8Array,
    random: Uint8Array,
    point: Uint8Array,
  ): Promise<HandshakeStep> {
    const config = this.#config;
    const plain = this.#serverHelloPlain(random, point, false);
    const count = config.resumption.store ? config.resumption.tickets ?? 1 : 0;
    this.#announced = Array.from({ length: count }, () => ({
      id: randomBytes(TICKET_ID_LENGTH, config.random),
      lifetime: this.#lifetime(),
    }));
    const ee = concat(
      encodeTickets(this.#announced),
      recordSizeLimitExtension(config.maxRecordSize),
    );
    const idPart = concat(u16(config.id.length), config.id);
    const eePart = concat(u16(ee.length), ee);
    const [signature, keys] = await settleAll([
      signP256(config.privateKey, concat(SERVER_SIGNATURE_CONTEXT, message, plain, idPart, eePart)),
      sha256(concat(message, plain)).then((h) => deriveHandshakeKeys(shared, ZERO_SALT, h)),
    ]);
    this.#keys = keys;
    const mac = await hmacSign(
      keys.serverFinished,
      concat(message, plain, idPart, eePart, signature),
    );
    const sealed = await aesGcmEncrypt(
      keys.serverKey,
      nonceAt(keys.serverIv, 0),
      concat(idPart, eePart, signature, mac),
      plain,
    );
    this.#serverHello = concat(plain, sealed);
    this.#phase = "wait-finished";
    return { send: this.#serverHello.slice(), channel: null };
  }

  /**
   * Server, beside the key agreement: looks up the offered ticket and checks its binder
   * (docs/protocol.md §3.5). Only once the client's share has given a shared secret (§3.2) and
   * the binder verifies does it look up the ticket's client and ask the peer policy, so the
   * app's callbacks see nothing of a handshake that fails. Changes nothing in the store and
   * never rejects: what it finds decides whether to resume.
   */
  async #vetOffer(
    message: Uint8Array,
    offer: { ticketId: Uint8Array; binder: Uint8Array },
    now: number,
    agreeing: Promise<unknown>,
  ): Promise<Vetted> {
    const config = this.#config;
    const found = await config.resumption.store!.find(offer.ticketId, now).catch(() => null);
    if (found === null) return { decline: "store_unavailable" };
    if (found.status !== "live" && found.status !== "redeemed") return { decline: found.status };
    const stored = found.ticket;
    if (stored.expiresAt <= now || stored.authenticatedAt + MAX_TICKET_LIFETIME <= now) {
      return { decline: "expired" };
    }
    // The binder first: nobody without the secret can use up, or learn anything about, a ticket.
    const psk = await derivePskKeys(stored.secret, config.id);
    const bound = message.subarray(0, message.length - BINDER_LENGTH);
    const [binderOk, binderHash] = await settleAll([
      hmacVerify(psk.binderKey, offer.binder, bound),
      sha256(offer.binder),
    ]);
    if (!binderOk) return { decline: "binder_invalid" };
    if (found.status === "redeemed") {
      if (stored.redeemedWith && equalPublic(stored.redeemedWith, binderHash)) {
        return { decline: "replayed" };
      }
      return { decline: "reused", stored };
    }
    // Only a holder of the secret, with a share that works, gets the ticket's client looked up.
    if (!(await agreeing.then(() => true, () => false))) return { decline: "declined" };
    const key = await lookupPeer(config, stored.peerId).catch(() => null);
    const keyOk = key !== null &&
      equalPublic(await publicKeyFingerprint(key), stored.peerKeyFingerprint);
    if (!keyOk) return { decline: "peer_key_changed" };
    // The server's own policy holds for resumed peers as for authenticated ones.
    if (!(await accepts(config.expectedPeer, config.id, stored.peerId))) {
      return { decline: "peer_rejected" };
    }
    return { stored, psk, binderHash };
  }

  /**
   * Server: resumes with a ticket {@linkcode #vetOffer} accepted, redeeming it and storing its
   * successor in one atomic step. Returns the resumed ServerHello step, or `null` to go on
   * with a full handshake.
   */
  async #resume(
    message: Uint8Array,
    offer: { ticketId: Uint8Array; binder: Uint8Array },
    vetted: Vetted,
    shared: Uint8Array,
    random: Uint8Array,
    point: Uint8Array,
    now: number,
  ): Promise<HandshakeStep | null> {
    const config = this.#config;
    const store = config.resumption.store!;
    const decline = (reason: TicketDeclineReason): null => {
      config.report({ kind: "declined", reason, count: 0 });
      return null;
    };
    if (vetted.decline === "reused") return await this.#reused(vetted.stored, now, decline);
    if (vetted.decline !== undefined) return decline(vetted.decline);
    const { stored, psk, binderHash } = vetted;
    const plain = this.#serverHelloPlain(random, point, true);
    const keys = await deriveHandshakeKeys(shared, psk.salt, await sha256(concat(message, plain)));
    const successorId = randomBytes(TICKET_ID_LENGTH, config.random);
    const expiresAt = Math.min(
      now + this.#lifetime(),
      stored.authenticatedAt + MAX_TICKET_LIFETIME,
    );
    const lifetime = expiresAt - now;
    const ee = concat(
      lifetime >= 1000 ? encodeTickets([{ id: successorId, lifetime }]) : new Uint8Array(0),
      recordSizeLimitExtension(config.maxRecordSize),
    );
    const eePart = concat(u16(ee.length), ee);
    // The reply is sealed while the successor's secret is derived; it is sent only if the
    // ticket is redeemed.
    const [secret, sealed] = await settleAll([
      keys.resumption().then((res) => ticketSecret(res, successorId)),
      hmacSign(keys.serverFinished, concat(message, plain, eePart)).then((mac) =>
        aesGcmEncrypt(keys.serverKey, nonceAt(keys.serverIv, 0), concat(eePart, mac), plain)
      ),
    ]);
    const successor: ServerTicket = {
      id: successorId,
      secret,
      peerId: stored.peerId,
      peerKeyFingerprint: stored.peerKeyFingerprint,
      attributes: stored.attributes,
      issuedAt: now,
      expiresAt,
      family: stored.family,
      authenticatedAt: stored.authenticatedAt,
    };
    let won: boolean;
    try {
      won = await store.redeem(offer.ticketId, stored, binderHash, successor, now);
    } catch {
      return decline("store_unavailable");
    }
    if (!won) {
      // Lost the race. To whom: this very ClientHello delivered twice (a replay, nothing to
      // revoke), a revocation, or another holder of the secret (it was copied).
      const after = await store.find(offer.ticketId, now).catch(() => null);
      if (after === null || after.status === "live") return decline("store_unavailable");
      if (after.status !== "redeemed") return decline(after.status);
      const winner = after.ticket.redeemedWith;
      if (winner && equalPublic(winner, binderHash)) return decline("replayed");
      return await this.#reused(stored, now, decline);
    }
    this.#redeemed = { stored, psk, successorId };
    this.#keys = keys;
    this.#serverHello = concat(plain, sealed);
    this.#phase = "wait-finished";
    return { send: this.#serverHello.slice(), channel: null };
  }

  /** A second holder of a ticket's secret: revoke the family, and say so (or that it failed). */
  async #reused(
    stored: StoredTicket,
    now: number,
    decline: (reason: TicketDeclineReason) => null,
  ): Promise<null> {
    try {
      await this.#config.resumption.store!.revokeFamily(stored.family, now);
    } catch {
      this.#config.report({ kind: "revoke_failed", reason: "store_unavailable", count: 0 });
    }
    return decline("reused");
  }

  async #onClientFinished(message: Uint8Array): Promise<HandshakeStep> {
    const keys = this.#keys!;
    if (isAlert(message)) {
      throw await readAlert(message, { key: keys.clientKey, iv: keys.clientIv });
    }
    const r = new Reader(message, malformed);
    if (r.u8() !== CLIENT_FINISHED) throw fail("handshake_unexpected", "expected ClientFinished");
    if (r.u8() !== VERSION) throw fail("handshake_unsupported_version", "unsupported version");
    const sealed = r.rest();
    const redeemed = this.#redeemed;
    if (redeemed ? sealed.length !== CLIENT_AUTH_RESUMED : sealed.length < MIN_CLIENT_AUTH) {
      throw malformed("client auth block has the wrong length");
    }
    const head = message.subarray(0, 2);
    const opened = await aesGcmDecrypt(keys.clientKey, nonceAt(keys.clientIv, 0), sealed, head);
    if (opened === null) {
      throw fail("handshake_decrypt_failed", "client auth block is not authentic");
    }
    const hello = this.#clientHello;
    const server = this.#serverHello;
    const transcript = concat(hello, server, message);
    if (redeemed) {
      const establishing = this.#establish(keys, transcript, redeemed.stored.peerId.slice(), {
        attributes: redeemed.stored.attributes,
        expiresAt: redeemed.stored.expiresAt,
      });
      establishing.catch(() => {});
      if (!(await hmacVerify(keys.clientFinished, opened, concat(hello, server)))) {
        await establishing.catch(() => {});
        throw fail("handshake_bad_finished", "client Finished does not verify");
      }
      const channel = await establishing;
      this.#config.report({ kind: "resumed", reason: null, count: 0 });
      return { send: null, channel };
    }
    const auth = parseAuth(opened, false);
    const peerPart = concat(u16(auth.id.length), auth.id);
    // Derive the traffic secrets while the client is being verified; used only if it verifies.
    const establishing = this.#establish(keys, transcript, auth.id.slice(), null);
    const clientKey = await unlessRefused(
      establishing,
      checkPeer(
        this.#config,
        auth.id,
        auth.signature,
        concat(CLIENT_SIGNATURE_CONTEXT, hello, server, peerPart),
        keys.clientFinished,
        auth.mac,
        concat(hello, server, peerPart, auth.signature),
      ),
    );
    const channel = await establishing;
    await this.#issueTickets(keys, auth.id, clientKey);
    return { send: null, channel };
  }

  /** Server: stores the tickets announced in a full handshake, now that the client is verified. */
  async #issueTickets(keys: HandshakeKeys, peerId: Uint8Array, peerKey: CryptoKey): Promise<void> {
    const config = this.#config;
    const store = config.resumption.store;
    const announced = this.#announced;
    if (!store || announced.length === 0) return;
    const now = config.now();
    try {
      let attributes: TicketAttributes;
      try {
        const hook = config.resumption.attributes;
        attributes = hook ? await hook(peerId.slice()) : {};
        if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
          throw new TypeError("attributes must be an object");
        }
        JSON.stringify(attributes);
      } catch {
        config.report({ kind: "issue_failed", reason: "attributes_invalid", count: 0 });
        return;
      }
      const fingerprint = await publicKeyFingerprint(peerKey);
      const family = randomBytes(FAMILY_LENGTH, config.random);
      const tickets: ServerTicket[] = await settleAll(announced.map(async (t) => ({
        id: t.id,
        secret: await ticketSecret(await keys.resumption(), t.id),
        peerId: peerId.slice(),
        peerKeyFingerprint: fingerprint,
        attributes,
        issuedAt: now,
        expiresAt: now + t.lifetime,
        family,
        authenticatedAt: now,
      })));
      await store.issue(tickets, now);
      config.report({ kind: "issued", reason: null, count: tickets.length });
    } catch {
      config.report({ kind: "issue_failed", reason: "store_unavailable", count: 0 });
    }
  }
}
