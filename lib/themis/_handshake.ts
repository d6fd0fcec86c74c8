// The Themis Secure Session handshake (themis-wire.md §2), as a tessera Handshake.
// Private: used through the Handshake interface.
//
//   1. client → server   TSPM{ TSID{Cid} ‖ CE ‖ DER-ECDSA(CK, CE) }
//   2. server → client   TSPM{ TSID{Sid} ‖ SE ‖ DER-ECDSA(SK, SE ‖ CE ‖ Sid ‖ Cid) }
//   3. client → server   TSPM{ DER-ECDSA(CK, CE ‖ SE ‖ Cid ‖ Sid) ‖ HMAC(M, SE ‖ sid4) }
//   4. server → client   TSPM{ HMAC(M, CE ‖ sid4) }
//
// CE and SE are the ephemeral UEC2 containers exactly as sent. Stricter than Themis where no
// honest Themis peer can notice: every container must lie inside the one around it and carry
// a valid CRC when it arrives, a message must end where its TSPM container says, and message 4
// must carry all 32 bytes of its MAC (Themis compares as many bytes as it is given, none
// included).

import { settleAll } from "../_settle.ts";
import { concat, equalPublic, toBytes } from "../crypto/_bytes.ts";
import { ecdhSecret } from "../crypto/ecdh.ts";
import { hmacSign, hmacVerify, importHmacKey } from "../crypto/hmac.ts";
import { generateIdentityKeyPair, toVerifyKey } from "../crypto/identity.ts";
import { HandshakeError, type HandshakeErrorCode, TesseraError, ThemisError } from "../errors.ts";
import { ephemeralShare } from "../session/_entropy.ts";
import type {
  ChannelLimits,
  Handshake,
  HandshakeConfig,
  HandshakeStep,
  PeerPolicy,
  Role,
} from "../session/profile.ts";
import { MAX_PEER_ID, ThemisChannel } from "./_channel.ts";
import {
  encodeContainer,
  HEADER_LENGTH,
  readContainer,
  readWholeContainer,
  TAG_TSID,
  TAG_TSPM,
  TAG_UEC2,
  tagName,
} from "./_container.ts";
import { deriveMasterWith, deriveMessageKeys, deriveSessionId } from "./_kdf.ts";
import { MAX_DER_SIGNATURE, MIN_DER_SIGNATURE, signDer, verifyDer } from "./_signature.ts";
import { importThemisPublicKey } from "./key_containers.ts";

/** Bytes of an uncompressed ephemeral key container, the larger of the two forms. */
const MAX_EPHEMERAL = HEADER_LENGTH + 65;
const MAC_LENGTH = 32;
const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;
/** The largest handshake message: message 1 or 2 with the longest id, key and signature. */
export const MAX_HANDSHAKE_MESSAGE: number = HEADER_LENGTH + HEADER_LENGTH + MAX_PEER_ID +
  MAX_EPHEMERAL + MAX_DER_SIGNATURE;

function fail(code: HandshakeErrorCode, message: string, cause?: unknown): HandshakeError {
  return new HandshakeError(code, message, cause === undefined ? undefined : { cause });
}

/** A key to verify against when the lookup finds none, so unknown ids cost the same work. */
let dummyKey: Promise<CryptoKey> | null = null;
function dummyVerifyKey(): Promise<CryptoKey> {
  return dummyKey ??= generateIdentityKeyPair().then((pair) => pair.publicKey);
}

/** The peer's key by id (a UEC2 container is read too); `null` when the lookup knows none. */
async function lookupPeer(config: HandshakeConfig, id: Uint8Array): Promise<CryptoKey | null> {
  let found;
  try {
    found = await config.getPublicKeyForId(id.slice());
  } catch (cause) {
    throw fail("handshake_lookup_failed", "getPublicKeyForId threw", cause);
  }
  if (found === null || found === undefined) return null;
  try {
    if (found instanceof Uint8Array && found[0] === 0x55 && found[1] === 0x45) {
      return await importThemisPublicKey(found); // "UE…": a Themis UEC2 container
    }
    return await toVerifyKey(found);
  } catch (cause) {
    throw fail("handshake_lookup_failed", "getPublicKeyForId returned an unusable key", cause);
  }
}

/** Whether the peer policy accepts an authenticated peer id. */
async function accepts(policy: PeerPolicy | null, own: Uint8Array, id: Uint8Array) {
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

/** A UEC2 container of the compressed form of an uncompressed point `04 ‖ X ‖ Y`. */
function compressedContainer(point: Uint8Array): Uint8Array {
  const compressed = new Uint8Array(33);
  compressed[0] = 0x02 | (point[64]! & 1);
  compressed.set(point.subarray(1, 33), 1);
  return encodeContainer(TAG_UEC2, compressed);
}

/**
 * Imports the peer's ephemeral point. Not exported again to prove it valid, as identity keys
 * are: the one use of this key, the agreement, refuses a point off the curve (checked for both
 * forms by the tests), and the export would cost a point decompression per handshake.
 */
async function importShare(point: Uint8Array): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey(
      "raw",
      point as Uint8Array<ArrayBuffer>,
      ECDH_P256,
      false,
      [],
    );
  } catch (cause) {
    throw fail("handshake_bad_key_share", "the peer's ephemeral key is not a P-256 point", cause);
  }
}

async function agree(privateKey: CryptoKey, peer: CryptoKey): Promise<Uint8Array> {
  try {
    return await ecdhSecret(privateKey, peer);
  } catch (cause) {
    throw fail("handshake_bad_key_share", "key agreement failed", cause);
  }
}

/**
 * Awaits two steps run side by side. Whatever the outcome, both have settled when it is known,
 * so a failed handshake leaves nothing running; the first step's failure wins over the second's
 * (so the peer's authentication, passed first, names the peer's fault over any failure of the
 * work made beside it).
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === "rejected") throw first.reason;
  if (second.status === "rejected") throw second.reason;
  return [first.value, second.value];
}

/** What the channel keeps of the handshake's configuration: no key, no lookup. */
function channelLimits(config: HandshakeConfig): ChannelLimits {
  const { random, recordsPerKey, bytesPerKey, maxRecordSize, maxAuthFailures, padding, now } =
    config;
  return { random, recordsPerKey, bytesPerKey, maxRecordSize, maxAuthFailures, padding, now };
}

/** What messages 1 and 2 carry. */
interface IdMessage {
  id: Uint8Array;
  /** The ephemeral UEC2 container, exactly as sent. */
  ephemeral: Uint8Array;
  /** Its SEC1 point. */
  point: Uint8Array;
  signature: Uint8Array;
}

/** Whether `bytes` look like a tessera/1 handshake message (type 1 to 3, version 1). */
function looksLikeTessera1(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0]! >= 1 && bytes[0]! <= 3 && bytes[1] === 1;
}

/** The TSPM container around a whole message; its data span. */
function outer(message: Uint8Array, what: string): { start: number; end: number } {
  if (message.length >= 4) {
    const tag = new DataView(message.buffer, message.byteOffset, 4).getUint32(0);
    if (tag !== TAG_TSPM) {
      const hint = looksLikeTessera1(message)
        ? ": the peer speaks tessera/1 (give both sides the same profile)"
        : "";
      throw fail(
        "handshake_unexpected",
        `expected ${what} (a TSPM container), got ${tagName(tag)}${hint}`,
      );
    }
  }
  return readWholeContainer(message, TAG_TSPM, what);
}

/** Parses message 1 or 2: `TSPM{ TSID{id} ‖ UEC2 ‖ signature }`, each inside the one before. */
function parseIdMessage(message: Uint8Array, what: string): IdMessage {
  const { start, end } = outer(message, what);
  const idSpan = readContainer(message, start, end, TAG_TSID, `${what} id`);
  const id = message.subarray(idSpan.start, idSpan.end);
  if (id.length < 1 || id.length > MAX_PEER_ID) {
    throw fail("handshake_malformed", `${what}: the id must be 1 to ${MAX_PEER_ID} bytes`);
  }
  const keySpan = readContainer(message, idSpan.end, end, TAG_UEC2, `${what} ephemeral key`);
  const point = message.subarray(keySpan.start, keySpan.end);
  const shapeOk = (point.length === 33 && (point[0] === 2 || point[0] === 3)) ||
    (point.length === 65 && point[0] === 4);
  if (!shapeOk) {
    throw fail("handshake_bad_key_share", `${what}: the ephemeral key is not a SEC1 P-256 point`);
  }
  const signature = message.subarray(keySpan.end, end);
  if (signature.length < MIN_DER_SIGNATURE || signature.length > MAX_DER_SIGNATURE) {
    throw fail("handshake_bad_signature", `${what}: the signature is not a DER ECDSA signature`);
  }
  return {
    id: id.slice(),
    ephemeral: message.slice(idSpan.end, keySpan.end),
    point: point.slice(),
    signature: signature.slice(),
  };
}

type Phase = "start" | "wait-1" | "wait-2" | "wait-3" | "wait-4" | "done";

/** What both sides hold after messages 1 and 2. */
interface Agreement {
  sid4: Uint8Array;
  /** The shared secret `Z` as an HMAC key: the master key derives from it where it is needed. */
  z: CryptoKey;
  /** The master key, once a step asked for it (awaited in that step). */
  master: Promise<CryptoKey> | null;
}

/**
 * One side of a Themis handshake. Any failure is final: the object then refuses every call
 * with the same error code.
 */
export class ThemisHandshake implements Handshake {
  #role: Role;
  #config: HandshakeConfig;
  #phase: Phase;
  #failure: HandshakeError | null = null;
  #busy = false;
  /** This side's ephemeral key pair and its UEC2 container, made with the session (as Themis). */
  #ephemeral: Promise<{ pair: CryptoKeyPair; container: Uint8Array }>;
  /** The client's and the server's ephemeral containers, as sent. */
  #clientEphemeral: Uint8Array = new Uint8Array(0);
  #serverEphemeral: Uint8Array = new Uint8Array(0);
  #peerId: Uint8Array = new Uint8Array(0);
  /** Server: the client's long-term key, found with message 1, checked again with message 3. */
  #peerKey: CryptoKey | null = null;
  #agreement: Agreement | null = null;

  constructor(role: Role, config: HandshakeConfig) {
    this.#role = role;
    this.#config = config;
    this.#phase = role === "client" ? "start" : "wait-1";
    this.#ephemeral = ephemeralShare().then(({ pair, point }) => ({
      pair,
      container: compressedContainer(point),
    }));
    this.#ephemeral.catch(() => {}); // reported where it is awaited
  }

  start(): Promise<Uint8Array> {
    return this.#guard(async () => {
      if (this.#phase !== "start") {
        throw fail("handshake_unexpected", "start() is only valid once, on the client");
      }
      const { container } = await this.#ephemeral;
      this.#clientEphemeral = container;
      const signature = await signDer(this.#config.privateKey, container);
      this.#phase = "wait-2";
      return encodeContainer(
        TAG_TSPM,
        encodeContainer(TAG_TSID, this.#config.id),
        container,
        signature,
      );
    });
  }

  receive(message: Uint8Array): Promise<HandshakeStep> {
    if (!(message instanceof Uint8Array)) {
      return Promise.reject(new TypeError("message must be a Uint8Array"));
    }
    return this.#guard(() => {
      if (message.length === 0) throw fail("handshake_malformed", "empty handshake message");
      if (message.length > MAX_HANDSHAKE_MESSAGE) {
        throw fail(
          "handshake_malformed",
          `handshake message of ${message.length} bytes exceeds ${MAX_HANDSHAKE_MESSAGE}`,
        );
      }
      const copy = new Uint8Array(message); // plain, even from a Uint8Array subclass
      switch (this.#phase) {
        case "wait-1":
          return this.#onConnectionRequest(copy);
        case "wait-2":
          return this.#onServerReply(copy);
        case "wait-3":
          return this.#onClientProof(copy);
        case "wait-4":
          return this.#onServerProof(copy);
        default:
          throw fail("handshake_unexpected", "no handshake message is expected now");
      }
    });
  }

  /** Runs one step; a failure is remembered and the handshake refuses further use. */
  async #guard<T>(step: () => Promise<T>): Promise<T> {
    if (this.#failure) throw fail(this.#failure.code, this.#failure.message);
    if (this.#busy) throw fail("handshake_unexpected", "a handshake step is already running");
    if (this.#config.padding !== "none") {
      throw new TypeError("the Themis profile cannot pad messages: remove the padding option");
    }
    this.#busy = true;
    try {
      return await step();
    } catch (err) {
      if (err instanceof TypeError) throw err;
      let failure: HandshakeError;
      if (err instanceof HandshakeError) failure = err;
      else if (err instanceof ThemisError) {
        failure = fail("handshake_malformed", err.message, err);
      } else {
        failure = fail(
          "handshake_malformed",
          err instanceof TesseraError ? err.message : "handshake failed",
          err,
        );
      }
      this.#failure = failure;
      this.#phase = "done";
      // What was started ahead of time (the ephemeral key pair) settles before the failure is
      // reported, so a failed handshake leaves no Web Crypto operation running.
      await this.#ephemeral.catch(() => {}); // the key pair made at construction, too
      this.#agreement = null;
      this.#peerKey = null;
      throw failure;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Finds the peer's key and checks a signature with it. An unknown id is checked against a
   * fixed key all the same, so that its failure takes as long as a bad signature's.
   */
  async #authenticate(id: Uint8Array, signature: Uint8Array, signed: Uint8Array) {
    const found = await lookupPeer(this.#config, id);
    const verdict = await verifyDer(found ?? await dummyVerifyKey(), signature, signed);
    if (!found) {
      throw fail("handshake_unknown_peer", "getPublicKeyForId knows no key for the peer id");
    }
    if (verdict === "malformed") {
      throw fail("handshake_bad_signature", "the peer's signature is not strict DER");
    }
    return { key: found, valid: verdict === "valid" };
  }

  /** sid4 and the shared secret from both ephemeral containers; the client's master key too. */
  async #agree(
    ownPrivate: CryptoKey,
    peerPoint: Uint8Array,
    peerId: Uint8Array,
  ): Promise<Agreement> {
    const client = this.#role === "client";
    const ownId = this.#config.id;
    const [shared, sid4] = await both(
      importShare(peerPoint).then((peer) => agree(ownPrivate, peer)),
      deriveSessionId(
        this.#clientEphemeral,
        this.#serverEphemeral,
        client ? ownId : peerId,
        client ? peerId : ownId,
      ),
    );
    // The master key and the message keys derive in the steps that use them, beside the
    // verification there: a handshake left waiting for its next message has nothing running.
    const z = await importHmacKey(shared).finally(() => shared.fill(0));
    const agreement: Agreement = { sid4, z, master: null };
    // The client's next message carries a MAC under the master key: derive it here, beside the
    // server's verification. The server needs it only with message 3.
    if (client) await this.#master(agreement);
    return agreement;
  }

  /** The master key `M`, derived once, by the first step that needs it. */
  #master(agreement: Agreement): Promise<CryptoKey> {
    return agreement.master ??= deriveMasterWith(agreement.z, agreement.sid4).then(({ key }) =>
      key
    );
  }

  /** Builds the channel once both proofs are in. */
  async #channel(agreement: Agreement): Promise<ThemisChannel> {
    const keys = await deriveMessageKeys(await this.#master(agreement), agreement.sid4);
    const client = this.#role === "client";
    return await ThemisChannel.create({
      role: this.#role,
      peerId: this.#peerId,
      sessionId: agreement.sid4.slice().reverse(),
      sendKey: client ? keys.clientKey : keys.serverKey,
      receiveKey: client ? keys.serverKey : keys.clientKey,
      sendSeq: client ? keys.clientSeq : keys.serverSeq,
      receiveTop: client ? keys.serverSeq : keys.clientSeq,
      receiveSeen: 0,
      recordsSent: 0,
      bytesSent: 0,
      authFailures: 0,
    }, channelLimits(this.#config));
  }

  // ------------------------------------------------------------------ server

  /**
   * Message 1: the client's id and signed ephemeral key. Answers with message 2. The server's
   * signature and the key agreement are made while the client's signature is checked (the same
   * work a TLS server does for any hello) and are dropped if it fails.
   */
  async #onConnectionRequest(message: Uint8Array): Promise<HandshakeStep> {
    const m = this.#parseOrExplain(message, "message 1 (a connection request)", 1);
    this.#clientEphemeral = m.ephemeral;
    const ownId = this.#config.id;
    // The peer's whole verdict (signature, then policy) decides before the work beside it.
    const authenticated = this.#authenticate(m.id, m.signature, m.ephemeral).then(
      async ({ key, valid }) => {
        if (!valid) throw fail("handshake_bad_signature", "the client's signature does not verify");
        if (!(await accepts(this.#config.expectedPeer, this.#config.id, m.id))) {
          throw fail("handshake_peer_rejected", "the peer is not the one expected");
        }
        return key;
      },
    );
    const [key, [signature, agreement, container]] = await both(
      authenticated,
      this.#ephemeral.then(({ pair, container }) => {
        this.#serverEphemeral = container;
        return settleAll([
          signDer(this.#config.privateKey, concat(container, m.ephemeral, ownId, m.id)),
          this.#agree(pair.privateKey, m.point, m.id),
          container,
        ]);
      }),
    );
    this.#agreement = agreement;
    this.#peerKey = key;
    this.#peerId = m.id;
    this.#phase = "wait-3";
    const reply = encodeContainer(
      TAG_TSPM,
      encodeContainer(TAG_TSID, ownId),
      container,
      signature,
    );
    return { send: reply, channel: null };
  }

  /** Message 3: the client's transcript signature and MAC. Answers with message 4. */
  async #onClientProof(message: Uint8Array): Promise<HandshakeStep> {
    const what = "message 3";
    const { start, end } = outer(message, what);
    const data = message.subarray(start, end);
    if (data.length >= HEADER_LENGTH && data[0] === 0x54 && data[1] === 0x53) {
      // "TS…": an id container, so another message 1.
      throw fail("handshake_unexpected", "expected message 3, got another connection request");
    }
    const signatureLength = data.length - MAC_LENGTH;
    if (signatureLength < MIN_DER_SIGNATURE || signatureLength > MAX_DER_SIGNATURE) {
      throw fail("handshake_malformed", `${what} is not a signature and a 32-byte MAC`);
    }
    const signature = data.subarray(0, signatureLength);
    const mac = data.subarray(signatureLength);
    const agreement = this.#agreement!;
    const ownId = this.#config.id;
    const master = this.#master(agreement);
    // The proof and the channel are made while the client's are checked, and dropped if they fail.
    const [verdict, macOk, proof, channel] = await settleAll([
      verifyDer(
        this.#peerKey!,
        signature,
        concat(this.#clientEphemeral, this.#serverEphemeral, this.#peerId, ownId),
      ),
      master.then((m) => hmacVerify(m, mac, concat(this.#serverEphemeral, agreement.sid4))),
      master.then((m) => hmacSign(m, concat(this.#clientEphemeral, agreement.sid4))),
      this.#channel(agreement),
    ]);
    if (verdict !== "valid") {
      throw fail("handshake_bad_signature", "the client's transcript signature does not verify");
    }
    if (!macOk) throw fail("handshake_bad_finished", "the client's MAC does not verify");
    this.#done();
    return { send: encodeContainer(TAG_TSPM, proof), channel };
  }

  // ------------------------------------------------------------------ client

  /**
   * Message 2: the server's id, signed ephemeral key and transcript. Answers with message 3,
   * whose signature and key agreement are made while the server's signature is checked.
   */
  async #onServerReply(message: Uint8Array): Promise<HandshakeStep> {
    const m = this.#parseOrExplain(message, "message 2 (the server's reply)", 2);
    const ownId = this.#config.id;
    const transcript = concat(m.ephemeral, this.#clientEphemeral, m.id, ownId);
    this.#serverEphemeral = m.ephemeral;
    // The peer's whole verdict (signature, then policy) decides before the work beside it.
    const authenticated = this.#authenticate(m.id, m.signature, transcript).then(
      async ({ key, valid }) => {
        // A connection request signs only its own key: two clients are talking to each other.
        if (!valid && (await verifyDer(key, m.signature, m.ephemeral)) === "valid") {
          throw fail(
            "handshake_unexpected",
            "expected message 2, got a connection request: the peer is a client too " +
              "(both sides called connect() or connectRequest())",
          );
        }
        if (!valid) throw fail("handshake_bad_signature", "the server's signature does not verify");
        if (!(await accepts(this.#config.expectedPeer, ownId, m.id))) {
          throw fail("handshake_peer_rejected", "the peer is not the one expected");
        }
        return key;
      },
    );
    const [, [signature, agreement]] = await both(
      authenticated,
      this.#ephemeral.then(({ pair }) =>
        both(
          signDer(this.#config.privateKey, concat(this.#clientEphemeral, m.ephemeral, ownId, m.id)),
          this.#agree(pair.privateKey, m.point, m.id),
        )
      ),
    );
    this.#agreement = agreement;
    this.#peerId = m.id;
    const mac = await hmacSign(await this.#master(agreement), concat(m.ephemeral, agreement.sid4));
    this.#phase = "wait-4";
    return { send: encodeContainer(TAG_TSPM, signature, mac), channel: null };
  }

  /** Message 4: the server's MAC, all 32 bytes of it. */
  async #onServerProof(message: Uint8Array): Promise<HandshakeStep> {
    const { start, end } = outer(message, "message 4");
    const mac = message.subarray(start, end);
    if (mac.length !== MAC_LENGTH) {
      throw fail(
        "handshake_malformed",
        `message 4 must carry a 32-byte MAC, not ${mac.length} bytes`,
      );
    }
    const agreement = this.#agreement!;
    const [macOk, channel] = await both(
      this.#master(agreement).then((m) =>
        hmacVerify(m, mac, concat(this.#clientEphemeral, agreement.sid4))
      ),
      this.#channel(agreement),
    );
    if (!macOk) throw fail("handshake_bad_finished", "the server's MAC does not verify");
    this.#done();
    return { send: null, channel };
  }

  /** Parses message 1 or 2, naming the usual mix-ups when it is neither. */
  #parseOrExplain(message: Uint8Array, what: string, expected: 1 | 2): IdMessage {
    try {
      return parseIdMessage(message, what);
    } catch (err) {
      if (!(err instanceof ThemisError)) throw err;
      // A TSPM holding no id: message 3 (a signature, then a MAC) or 4 (a MAC alone).
      const span = (() => {
        try {
          return readWholeContainer(message, TAG_TSPM, what);
        } catch {
          return null;
        }
      })();
      if (span && message[span.start] !== 0x54) {
        const length = span.end - span.start;
        const got = length === MAC_LENGTH
          ? "message 4"
          : message[span.start] === 0x30
          ? "message 3"
          : null;
        if (got) {
          const hint = expected === 1 ? ": the peer thinks a handshake is already under way" : "";
          throw fail("handshake_unexpected", `expected ${what}, got ${got}${hint}`);
        }
      }
      throw fail("handshake_malformed", err.message, err);
    }
  }

  #done(): void {
    this.#phase = "done";
    this.#agreement = null;
    this.#peerKey = null;
  }
}
