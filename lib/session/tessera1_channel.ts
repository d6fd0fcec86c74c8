/**
 * The tessera/1 record layer (docs/protocol.md §4.2, §5): AES-256-GCM per
 * direction under ratcheting epochs, 64-bit sequence numbers with
 * `nonce = iv ⊕ seq`, a replay window, the content type and padding inside
 * the encryption, forks after a restore, and a close that says what it closes.
 *
 * @module
 */

import { settleAll } from "../_settle.ts";
import { concat, equalPublic, toHex, u16, u32, u64 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { hmacSign, hmacVerify } from "../crypto/hmac.ts";
import { randomBytes, type RandomSource } from "../crypto/random.ts";
import {
  type HandshakeError,
  RecordError,
  SavedStateError,
  SessionStateError,
  type TesseraError,
} from "../errors.ts";
import { Reader } from "../wire/reader.ts";
import { type AlertKey, isAlert, readAlert } from "./_tessera1_alert.ts";
import {
  deriveForkKey,
  deriveRecordKeys,
  exporterValue,
  forkProofInput,
  nextTrafficSecret,
  type RecordKeys,
} from "./_tessera1_schedule.ts";
import type { TicketAttributes } from "./resumption.ts";
import type { Channel, OpenedRecord, PaddingPolicy, RecordParts, Role } from "./profile.ts";
import { MAX_ID_LENGTH } from "./profile.ts";
import { ReplayWindow } from "./replay_window.ts";
export { REPLAY_WINDOW_SIZE } from "./replay_window.ts";

/** First byte of every record. */
export const RECORD: number = 0x17;
/** Content type of application data. */
export const CONTENT_DATA: number = 0x17;
/** Content type of application data carrying an update request. */
export const CONTENT_DATA_UPDATE: number = 0x18;
/** Content type of an authenticated close. */
export const CONTENT_CLOSE: number = 0x15;
const FLAG_FORK = 0x01;
const FORK_LENGTH = 16;
const FORK_EXTENSION_LENGTH = FORK_LENGTH + 32;
/**
 * Bytes of a record header without the fork extension: marker, flags, epoch, sequence number.
 *
 * @example
 * ```ts
 * import { GCM_TAG_LENGTH } from "../crypto/aes_gcm.ts";
 * import { RECORD_HEADER_LENGTH, RECORD_OVERHEAD } from "./tessera1_channel.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(RECORD_HEADER_LENGTH, 1 + 1 + 4 + 8); // marker, flags, epoch, sequence number
 * assert.equal(RECORD_OVERHEAD, RECORD_HEADER_LENGTH + 1 + GCM_TAG_LENGTH); // + content type
 * ```
 */
export const RECORD_HEADER_LENGTH: number = 14;
/**
 * Bytes a record adds to its data without padding: header, content type and tag.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { RECORD_OVERHEAD } from "./tessera1_channel.ts";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const record = await client.wrap(new Uint8Array(100));
 * assert.equal(record.length, 100 + RECORD_OVERHEAD);
 * ```
 */
export const RECORD_OVERHEAD: number = RECORD_HEADER_LENGTH + 1 + 16;
/** The most padding one record may carry. */
export const MAX_PADDING: number = 256;
/**
 * Records sealed under one epoch before an automatic key update (RFC 8446 §5.5: 2^24.5).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { DEFAULT_RECORDS_PER_KEY } from "./tessera1_channel.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_RECORDS_PER_KEY, Math.floor(2 ** 24.5));
 * const { privateKey } = await generateIdentityKeyPair();
 * const options = { id: "me", privateKey, getPublicKeyForId: () => null };
 * new SecureSession({ ...options, recordsPerKey: DEFAULT_RECORDS_PER_KEY });
 * assert.throws(
 *   () => new SecureSession({ ...options, recordsPerKey: DEFAULT_RECORDS_PER_KEY + 1 }),
 *   RangeError,
 * );
 * ```
 */
export const DEFAULT_RECORDS_PER_KEY: number = 23_726_566;
/**
 * Bytes of record plaintext sealed under one epoch before an automatic key
 * update: 2^38 (256 GiB), below RFC 8446 §5.5's 2^24.5 records of 2^14 bytes.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { DEFAULT_BYTES_PER_KEY } from "./tessera1_channel.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_BYTES_PER_KEY, 2 ** 38);
 * const { privateKey } = await generateIdentityKeyPair();
 * const options = { id: "me", privateKey, getPublicKeyForId: () => null };
 * new SecureSession({ ...options, bytesPerKey: 1024 * 1024 });
 * assert.throws(() => new SecureSession({ ...options, bytesPerKey: 2 ** 39 }), RangeError);
 * ```
 */
export const DEFAULT_BYTES_PER_KEY: number = 2 ** 38;
/**
 * Records that may fail authentication under one receive epoch, outside a
 * stream, before the session fails.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { DEFAULT_MAX_AUTH_FAILURES } from "./tessera1_channel.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_AUTH_FAILURES, 1000);
 * const { privateKey } = await generateIdentityKeyPair();
 * new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null, maxAuthFailures: 10 });
 * ```
 */
export const DEFAULT_MAX_AUTH_FAILURES: number = 1000;
/** The highest sequence number in use: 2^64 − 2 (2^64 − 1 is never sealed nor accepted). */
const MAX_SEQ = (1n << 64n) - 2n;
const MAX_EPOCH = 0xffff_ffff;
const STATE_VERSION = 3;
/** The largest record size limit a peer may declare (docs/protocol.md §3.1): 2^30 bytes. */
export const MAX_RECORD_SIZE_LIMIT: number = 2 ** 30;

/** What the handshake proved, besides keys. */
export interface ChannelInfo {
  role: Role;
  peerId: Uint8Array;
  sessionId: Uint8Array;
  exporter: Uint8Array;
  /** The largest record content the peer declared it accepts (§3.1): what this side may send. */
  peerMaxRecordSize: number;
  resumed: boolean;
  attributes: TicketAttributes | null;
  ticketExpiresAt: number | null;
  /** Client only: the server's handshake key, for a late alert. */
  alertKey: AlertKey | null;
}

/** One direction's position: epoch, its traffic secret and (receive side) how it was entered. */
export interface DirectionState {
  epoch: number;
  secret: Uint8Array;
  /** The fork's `R` when this epoch was entered by a fork, else `null`. */
  fork: Uint8Array | null;
}

/** Everything a channel starts from; what `exportState` writes. */
export interface ChannelStart extends ChannelInfo {
  send: DirectionState;
  /** Whether the sending direction must fork before its first record (after a restore). */
  forkOnStart: boolean;
  sendSeq: bigint;
  receive: DirectionState;
  /** The lowest sequence number accepted in the receive epoch, or -1n. */
  receiveStart: bigint;
  window: ReplayWindow;
  accepted: bigint;
  authFailures: number;
  /** Whether the next record asks the peer to update its sending keys (a `rekey` request). */
  requestPeerUpdate?: boolean;
  /**
   * The sending epoch's record keys, when the handshake already derived them. Without them they
   * are derived by the first `seal` (a restored channel forks first, so never needs its saved
   * epoch's keys).
   */
  sendKeys?: RecordKeys;
}

/** Limits and randomness of a channel. */
export interface ChannelConfig {
  random: RandomSource;
  recordsPerKey: number;
  bytesPerKey: number;
  maxRecordSize: number;
  maxAuthFailures: number;
  padding: PaddingPolicy;
}

/** A sending epoch: its keys, and its header extension when it was entered by a fork. */
interface SendEpoch {
  epoch: number;
  secret: Promise<Uint8Array>;
  /** Derived on first use: by the first `seal` of the epoch, which awaits them. */
  readonly keys: Promise<RecordKeys>;
  /** Set once the keys are derived, so sealing skips a promise hop. */
  ready: RecordKeys | null;
  /** `R ‖ proof` for the header, when forked. */
  extension: Promise<Uint8Array> | null;
  extensionReady: Uint8Array | null;
  records: number;
  bytes: number;
}

/** A receive epoch the channel holds. */
interface ReceiveEpoch {
  epoch: number;
  fork: Uint8Array | null;
  secret: Uint8Array | null;
  keys: Promise<RecordKeys>;
  /** The epoch it was derived from, for a candidate next epoch. */
  from: ReceiveEpoch | null;
  /** Its fork-proof key, derived the first time a fork from it must be checked. */
  forkKey?: Promise<CryptoKey>;
}

function noop(): void {}

/**
 * Writes `iv ⊕ (00000000 ‖ seq)` into `out` (`seqBytes` are the 8 header bytes) and returns it.
 * Web Crypto copies its arguments before `encrypt` or `decrypt` returns, so a channel fills one
 * scratch nonce per direction right before each call.
 */
function nonceFor(iv: Uint8Array, seqBytes: Uint8Array, out: Uint8Array): Uint8Array {
  out.set(iv);
  for (let i = 0; i < 8; i++) out[4 + i]! ^= seqBytes[i]!;
  return out;
}

/** The record of its two pieces, `head ‖ body`, in one buffer. */
function joinParts(parts: RecordParts): Uint8Array {
  const record = new Uint8Array(parts.head.length + parts.body.length);
  record.set(parts.head);
  record.set(parts.body, parts.head.length);
  return record;
}

/**
 * Record plaintexts up to this size (content, type, padding; a secure stream's
 * largest record, 256 KiB, with any padding) are laid out in one buffer a
 * channel reuses, grown as records grow; larger ones get a buffer of their own.
 */
const MAX_REUSED_INNER = 256 * 1024 + 1 + MAX_PADDING;

function malformed(message: string): RecordError {
  return new RecordError("record_malformed", message);
}

/** Whether Web Crypto takes `bytes` as they are: not shared, not resizable. */
function plainBuffer(bytes: Uint8Array): boolean {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && !buffer.resizable;
}

function sameFork(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return equalPublic(a, b);
}

/** The padding a policy asks for, checked. */
function paddingFor(policy: PaddingPolicy, length: number): number {
  if (policy === "none") return 0;
  if (typeof policy === "function") {
    const pad = policy(length);
    if (!Number.isSafeInteger(pad) || pad < 0 || pad > MAX_PADDING) {
      throw new RangeError(`the padding function must return 0 to ${MAX_PADDING}`);
    }
    return pad;
  }
  const inner = length + 1;
  return (policy.blockSize - (inner % policy.blockSize)) % policy.blockSize;
}

/**
 * An established tessera/1 channel. Created by the handshake or by
 * {@linkcode Tessera1Channel.import}; used through the {@linkcode Channel} interface.
 */
export class Tessera1Channel implements Channel {
  readonly sessionId: Uint8Array;
  readonly peerId: Uint8Array;
  readonly resumed: boolean;
  readonly attributes: TicketAttributes | null;
  readonly ticketExpiresAt: number | null;
  readonly peerMaxRecordSize: number;
  #role: Role;
  #config: ChannelConfig;
  #exporter: Uint8Array;
  #alertKey: AlertKey | null;
  #failure: TesseraError | null = null;
  // Sending.
  #send: SendEpoch;
  #sendSeq: bigint;
  #updateRequested = false;
  /** A restored channel forks before its first record; until then it keeps the saved epoch. */
  #forkPending: boolean;
  #requestPeerUpdate = false;
  /** Resolves when every earlier `seal` has resolved or failed. */
  #sealTurn: Promise<void> = Promise.resolve();
  #sealNonce = new Uint8Array(12);
  /** The plaintext of each record sealed with its keys at hand, laid out for `encrypt`. */
  #sealInner: Uint8Array | null = null;
  #openNonce = new Uint8Array(12);
  // Receiving.
  #current: ReceiveEpoch;
  #currentReady: RecordKeys | null = null;
  #previous: ReceiveEpoch | null = null;
  /** Candidates for epoch current+1, by fork (`""` for the update): derived once each. */
  #next = new Map<string, Promise<ReceiveEpoch>>();
  #receiveStart: bigint;
  #window: ReplayWindow;
  #accepted: bigint;
  #authFailures: number;
  /** Resolves when every earlier `open` has been accepted or refused. */
  #acceptTurn: Promise<void> = Promise.resolve();

  private constructor(start: ChannelStart, config: ChannelConfig) {
    this.#config = config;
    this.#role = start.role;
    this.sessionId = start.sessionId;
    this.peerId = start.peerId;
    this.resumed = start.resumed;
    this.attributes = start.attributes;
    this.ticketExpiresAt = start.ticketExpiresAt;
    this.peerMaxRecordSize = start.peerMaxRecordSize;
    this.#exporter = start.exporter;
    this.#alertKey = start.alertKey;
    this.#sendSeq = start.sendSeq;
    this.#forkPending = start.forkOnStart;
    this.#send = this.#sendEpoch(
      start.send.epoch,
      Promise.resolve(start.send.secret),
      null,
      start.sendKeys ?? null,
    );
    // The first epoch's receive keys are derived when the first record arrives.
    const secret = start.receive.secret;
    let keys: Promise<RecordKeys> | null = null;
    this.#current = {
      epoch: start.receive.epoch,
      fork: start.receive.fork,
      secret,
      get keys(): Promise<RecordKeys> {
        return keys ??= deriveRecordKeys(secret);
      },
      from: null,
    };
    this.#receiveStart = start.receiveStart;
    this.#window = start.window;
    this.#accepted = start.accepted;
    this.#authFailures = start.authFailures;
    this.#requestPeerUpdate = start.requestPeerUpdate ?? false;
  }

  /**
   * Builds a channel.
   *
   * @param start Secrets and positions.
   * @param config Randomness and limits.
   * @returns The channel.
   */
  static create(start: ChannelStart, config: ChannelConfig): Tessera1Channel {
    return new Tessera1Channel(start, config);
  }

  /**
   * Rebuilds a channel from {@linkcode Tessera1Channel.exportState} output. Its
   * sending direction forks before its first record.
   *
   * @param state The exported state.
   * @param config Randomness and limits.
   * @returns The channel.
   * @throws {SavedStateError} `state_malformed` or `state_unsupported_version`.
   */
  static import(state: Uint8Array, config: ChannelConfig): Tessera1Channel {
    const bad = () => new SavedStateError("state_malformed", "bad channel state");
    const r = new Reader(state, bad);
    if (r.u8() !== STATE_VERSION) {
      throw new SavedStateError("state_unsupported_version", "unknown channel state version");
    }
    const roleByte = r.u8();
    if (roleByte > 1) throw bad();
    const peerId = r.vector16(MAX_ID_LENGTH, 1).slice();
    const sessionId = r.bytes(16).slice();
    const exporter = r.bytes(32).slice();
    const peerMaxRecordSize = r.u32();
    if (peerMaxRecordSize < 1 || peerMaxRecordSize > MAX_RECORD_SIZE_LIMIT) throw bad();
    const send = { epoch: r.u32(), secret: r.bytes(32).slice(), fork: null };
    const sendSeq = r.u64();
    const receiveEpoch = r.u32();
    const forked = r.u8();
    if (forked > 1) throw bad();
    const receiveFork = forked ? r.bytes(FORK_LENGTH).slice() : null;
    const receive = { epoch: receiveEpoch, secret: r.bytes(32).slice(), fork: receiveFork };
    const receiveStart = r.u64() - 1n;
    const highestPlusOne = r.u64();
    const bits = BigInt("0x" + toHex(r.bytes(16)));
    const accepted = r.u64();
    const authFailures = r.u32();
    const flags = r.u8();
    if (flags > 1) throw bad();
    r.end();
    if (sendSeq > MAX_SEQ + 1n || send.epoch >= MAX_EPOCH) throw bad();
    return new Tessera1Channel({
      role: roleByte === 0 ? "client" : "server",
      peerId,
      sessionId,
      exporter,
      peerMaxRecordSize,
      resumed: false,
      attributes: null,
      ticketExpiresAt: null,
      alertKey: null,
      send,
      forkOnStart: true,
      sendSeq,
      receive,
      receiveStart,
      window: ReplayWindow.from(highestPlusOne - 1n, highestPlusOne === 0n ? 0n : bits),
      accepted,
      authFailures,
      requestPeerUpdate: flags === 1,
    }, config);
  }

  /** Which side of the handshake this channel's owner played. */
  get role(): Role {
    return this.#role;
  }

  /** Why the channel failed for good, or `null`. */
  get failure(): TesseraError | null {
    return this.#failure;
  }

  /** The next sequence number this side will send. */
  get sendSequence(): bigint {
    return this.#sendSeq;
  }

  /** The current sending epoch. */
  get sendEpoch(): number {
    return this.#send.epoch;
  }

  /** The current receiving epoch. */
  get receiveEpoch(): number {
    return this.#current.epoch;
  }

  // ------------------------------------------------------------------ sending

  /**
   * A sending epoch. Nothing is derived here: the keys are derived by the first `seal` that
   * needs them (and awaited by it), so a channel that never sends, or is dropped, leaves no
   * derivation running. `ready` are keys the handshake already derived.
   */
  #sendEpoch(
    epoch: number,
    secret: Promise<Uint8Array>,
    extension: Promise<Uint8Array> | null,
    ready: RecordKeys | null = null,
  ): SendEpoch {
    let keys: Promise<RecordKeys> | null = ready ? Promise.resolve(ready) : null;
    const state: SendEpoch = {
      epoch,
      secret,
      get keys(): Promise<RecordKeys> {
        if (keys === null) {
          keys = secret.then(deriveRecordKeys);
          keys.then((k) => state.ready = k, noop);
        }
        return keys;
      },
      ready,
      extension,
      extensionReady: null,
      records: 0,
      bytes: 0,
    };
    extension?.then((x) => state.extensionReady = x, noop);
    // Failures surface through the seals that wait on these promises.
    secret.catch(noop);
    extension?.catch(noop);
    return state;
  }

  /** Forks the sending direction to the next epoch with a fresh random `R` (§4.2). */
  #fork(): void {
    const from = this.#send;
    if (from.epoch >= MAX_EPOCH) {
      throw new RecordError("record_sequence_exhausted", "key epochs exhausted");
    }
    const next = from.epoch + 1;
    const fork = randomBytes(FORK_LENGTH, this.#config.random);
    const secret = from.secret.then((s) => nextTrafficSecret(s, next, fork));
    const extension = from.secret
      .then(deriveForkKey)
      .then((forkKey) => hmacSign(forkKey, forkProofInput(next, fork)))
      .then((proof) => concat(fork, proof));
    this.#send = this.#sendEpoch(next, secret, extension);
  }

  /** Moves the sending direction to the next epoch (docs/protocol.md §4.2). */
  #update(): void {
    const current = this.#send;
    if (current.epoch >= MAX_EPOCH) {
      throw new RecordError("record_sequence_exhausted", "key epochs exhausted");
    }
    const next = current.epoch + 1;
    const secret = current.secret.then((s) => nextTrafficSecret(s, next));
    // The previous secret is not needed once the next one exists: wipe it.
    secret.then(() => current.secret.then((s) => s.fill(0)), noop);
    this.#send = this.#sendEpoch(next, secret, null);
  }

  rekey(requestPeer = false): void {
    this.#updateRequested = true;
    if (requestPeer) this.#requestPeerUpdate = true;
  }

  seal(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.#seal(CONTENT_DATA, plaintext).then(joinParts);
  }

  sealParts(plaintext: Uint8Array): Promise<RecordParts> {
    return this.#seal(CONTENT_DATA, plaintext);
  }

  sealClose(): Promise<Uint8Array> {
    return this.#seal(CONTENT_CLOSE, new Uint8Array(0)).then(joinParts);
  }

  /**
   * Refuses content above this side's `maxRecordSize` or above the limit the peer declared
   * (docs/protocol.md §5): a sender never sends more than its peer accepts.
   */
  #checkSendSize(length: number): void {
    const own = this.#config.maxRecordSize;
    const peer = this.peerMaxRecordSize;
    if (length <= own && length <= peer) return;
    throw new RecordError(
      "record_too_large",
      own <= peer
        ? `plaintext of ${length} bytes exceeds maxRecordSize of ${own} bytes`
        : `plaintext of ${length} bytes exceeds the peer's record size limit of ${peer} bytes`,
    );
  }

  #seal(type: number, content: Uint8Array): Promise<RecordParts> {
    try {
      if (this.#failure) throw this.#failure;
      this.#checkSendSize(content.length);
      if (this.#sendSeq > MAX_SEQ) {
        throw new RecordError("record_sequence_exhausted", "sequence numbers exhausted");
      }
      const pad = paddingFor(this.#config.padding, content.length);
      const innerLength = content.length + 1 + pad;
      // Everything that makes the nonce unique is decided synchronously here.
      if (this.#forkPending) {
        // The first record of a restored channel: the fork is its update, whatever was asked.
        this.#fork();
        this.#forkPending = false;
        this.#updateRequested = false;
      }
      let send = this.#send;
      if (
        this.#updateRequested || send.records >= this.#config.recordsPerKey ||
        (send.records > 0 && send.bytes + innerLength > this.#config.bytesPerKey)
      ) {
        this.#update();
        this.#updateRequested = false;
        send = this.#send;
      }
      if (type === CONTENT_DATA && this.#requestPeerUpdate) {
        type = CONTENT_DATA_UPDATE;
        this.#requestPeerUpdate = false;
      }
      const seq = this.#sendSeq++;
      send.records++;
      send.bytes += innerLength;
      const ready = send.ready !== null &&
        (send.extension === null || send.extensionReady !== null);
      // With the keys at hand, encryption starts before this call returns, and Web Crypto copies
      // its input before `encrypt` returns: the plaintext is laid out in a buffer reused for
      // every record. Otherwise it waits for the keys in a buffer of its own.
      const inner = ready && innerLength <= MAX_REUSED_INNER
        ? this.#reusedInner(innerLength)
        : new Uint8Array(innerLength);
      inner.set(content);
      inner[content.length] = type;
      if (pad > 0) inner.fill(0, content.length + 1); // the padding is zeros
      const sealed = ready
        ? this.#sealWith(send.ready!, send.epoch, send.extensionReady, seq, inner)
        : settleAll([send.keys, send.extension]).then(([keys, extension]) =>
          this.#sealWith(keys, send.epoch, extension, seq, inner)
        );
      // Records are encrypted concurrently but resolve in sequence order, so a caller that
      // forwards each record as it resolves keeps them in order.
      const previous = this.#sealTurn;
      const inOrder = sealed.then((record) => previous.then(() => record));
      this.#sealTurn = inOrder.then(noop, noop);
      return inOrder;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The first `length` bytes of the reused plaintext buffer, grown if needed. */
  #reusedInner(length: number): Uint8Array {
    let buffer = this.#sealInner;
    if (buffer === null || buffer.length < length) {
      const grown = Math.max(length, 2 * (buffer?.length ?? 0), 1024);
      buffer = this.#sealInner = new Uint8Array(Math.min(grown, MAX_REUSED_INNER));
    }
    return buffer.subarray(0, length);
  }

  #sealWith(
    keys: RecordKeys,
    epoch: number,
    extension: Uint8Array | null,
    seq: bigint,
    inner: Uint8Array,
  ): Promise<RecordParts> {
    const h = RECORD_HEADER_LENGTH + (extension ? FORK_EXTENSION_LENGTH : 0);
    const header = new Uint8Array(h);
    const view = new DataView(header.buffer);
    header[0] = RECORD;
    header[1] = extension ? FLAG_FORK : 0;
    view.setUint32(2, epoch);
    view.setBigUint64(6, seq);
    if (extension) header.set(extension, RECORD_HEADER_LENGTH);
    const nonce = nonceFor(keys.iv, header.subarray(6, 14), this.#sealNonce);
    return aesGcmEncrypt(keys.key, nonce, inner, header)
      .then((body) => ({ head: header, body }));
  }

  // ---------------------------------------------------------------- receiving

  /** Records a refusal; in stream use, or past the failure budget, it fails the channel. */
  #refuse(error: RecordError, ordered: boolean): RecordError {
    if (error.code === "record_auth_failed") {
      this.#authFailures++;
      if (this.#authFailures > this.#config.maxAuthFailures) {
        this.#failure ??= new RecordError(
          "record_auth_failed",
          `more than ${this.#config.maxAuthFailures} records failed authentication`,
        );
      }
    }
    if (ordered) this.#failure ??= error;
    return error;
  }

  /**
   * Opens a record. Its buffer is the caller's again once this returns (the promise, not its
   * outcome): the record is decrypted (Web Crypto copies its input) or copied before any await.
   * A secure stream relies on it, handing over records in its reused read buffer.
   */
  async open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord> {
    if (this.#failure) throw this.#failure;
    if (isAlert(record)) return await this.#openAlert(record, ordered);
    try {
      return await this.#open(record, ordered);
    } catch (err) {
      if (err instanceof RecordError) throw this.#refuse(err, ordered);
      throw err;
    }
  }

  /** A client whose server has not yet proved itself with a record accepts its alert. */
  async #openAlert(record: Uint8Array, ordered: boolean): Promise<never> {
    const key = this.#alertKey;
    // Only the server's protected alert, and only until it has proved itself with a record.
    if (!key || record[2] !== 0x01) {
      throw this.#refuse(malformed("an alert is not expected now"), ordered);
    }
    let refusal: HandshakeError;
    try {
      refusal = await readAlert(record, key);
    } catch (err) {
      const code = (err as HandshakeError).code === "handshake_decrypt_failed"
        ? "record_auth_failed"
        : "record_malformed";
      throw this.#refuse(new RecordError(code, "unacceptable alert"), ordered);
    }
    this.#failure ??= refusal;
    throw this.#failure;
  }

  async #open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord> {
    if (record.length < RECORD_OVERHEAD || record[0] !== RECORD) {
      throw malformed("not a record");
    }
    const flags = record[1]!;
    if (flags & ~FLAG_FORK) throw malformed("unknown record flags");
    const h = RECORD_HEADER_LENGTH + (flags ? FORK_EXTENSION_LENGTH : 0);
    if (record.length < h + 1 + 16) throw malformed("record too short for its header");
    const largest = h + this.#config.maxRecordSize + 1 + MAX_PADDING + 16;
    if (record.length > largest) {
      throw new RecordError(
        "record_too_large",
        `record of ${record.length} bytes exceeds ${largest} bytes, the most a record may take ` +
          `with maxRecordSize of ${this.#config.maxRecordSize} bytes`,
      );
    }
    const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
    const epoch = view.getUint32(2);
    const seq = view.getBigUint64(6);
    if (seq > MAX_SEQ) throw malformed("sequence number out of range");
    this.#window.check(seq, ordered);
    // The common case, a record of the current epoch whose keys are at hand: decryption starts
    // synchronously, and Web Crypto copies its inputs before it returns, so the caller's buffer
    // may change afterwards. Otherwise an await comes first: work on a copy.
    const current = this.#current;
    const ready = this.#currentReady;
    const fast = ready !== null && epoch === current.epoch && flags === 0 &&
      current.fork === null && plainBuffer(record);
    let target = current;
    let decrypting = fast
      ? aesGcmDecrypt(
        ready.key,
        nonceFor(ready.iv, record.subarray(6, 14), this.#openNonce),
        record.subarray(h),
        record.subarray(0, h),
      )
      : null;
    const copy = fast ? record : record.slice();
    // Records are decrypted concurrently, but accepted in call order, so the outcome never
    // depends on which decryption finishes first.
    const turn = this.#acceptTurn;
    let release!: () => void;
    this.#acceptTurn = new Promise<void>((resolve) => release = resolve);
    try {
      if (decrypting === null) {
        const header = copy.subarray(0, h);
        const fork = flags
          ? copy.subarray(RECORD_HEADER_LENGTH, RECORD_HEADER_LENGTH + FORK_LENGTH)
          : null;
        // A record more than one epoch ahead is judged once every earlier record is decided:
        // records in flight may move the epoch on before its turn.
        if (epoch > this.#current.epoch + 1) await turn;
        target = await this.#receiveEpochFor(epoch, fork, header, seq);
        // Moving on to the next epoch in datagram use keeps the one left behind for a grace
        // period: its keys are derived now (awaited here), while its secret still exists.
        const from = target.from;
        const [keys] = await settleAll([
          target.keys,
          !ordered && from !== null && from.secret !== null ? from.keys : null,
        ]);
        if (target === this.#current) this.#currentReady ??= keys;
        decrypting = aesGcmDecrypt(
          keys.key,
          nonceFor(keys.iv, header.subarray(6, 14), this.#openNonce),
          copy.subarray(h),
          header,
        );
      }
      const inner = await decrypting;
      if (inner === null) {
        throw new RecordError("record_auth_failed", "record failed authentication");
      }
      let end = inner.length;
      while (end > 0 && inner[end - 1] === 0) end--;
      if (end === 0) throw malformed("no content type");
      const type = inner[end - 1]!;
      const content = inner.subarray(0, end - 1);
      if (type !== CONTENT_DATA && type !== CONTENT_DATA_UPDATE && type !== CONTENT_CLOSE) {
        throw malformed("unknown content type");
      }
      if (type === CONTENT_CLOSE && content.length !== 0) throw malformed("close with content");
      if (content.length > this.#config.maxRecordSize) {
        throw new RecordError(
          "record_too_large",
          `record content of ${content.length} bytes exceeds maxRecordSize of ` +
            `${this.#config.maxRecordSize} bytes`,
        );
      }
      // Authenticated and well-formed: decide once every earlier call has been decided.
      await turn;
      if (this.#failure) throw this.#failure;
      this.#acceptInto(target, seq, ordered);
      this.#alertKey = null;
      if (type === CONTENT_CLOSE) {
        if (this.#accepted !== seq) {
          const truncated = new SessionStateError(
            "session_truncated",
            `the peer closed after ${seq} records; ${this.#accepted} arrived`,
          );
          this.#failure ??= truncated;
          throw truncated;
        }
        this.#failure ??= new SessionStateError("session_closed", "the peer closed the session");
        return { kind: "close", data: content };
      }
      this.#accepted++;
      if (type === CONTENT_DATA_UPDATE) this.#updateRequested = true;
      return { kind: "data", data: content };
    } finally {
      turn.then(release);
    }
  }

  /** The receive epoch that may open a record of `epoch` (docs/protocol.md §4.2). */
  #receiveEpochFor(
    epoch: number,
    fork: Uint8Array | null,
    header: Uint8Array,
    seq: bigint,
  ): ReceiveEpoch | Promise<ReceiveEpoch> {
    const current = this.#current;
    if (epoch === current.epoch) {
      if (!sameFork(fork, current.fork)) {
        throw new RecordError("record_auth_failed", "record of another fork");
      }
      return current;
    }
    if (epoch === current.epoch + 1) return this.#nextEpoch(epoch, fork, header);
    const previous = this.#previous;
    if (previous && epoch === previous.epoch) {
      if (!sameFork(fork, previous.fork)) {
        throw new RecordError("record_auth_failed", "record of another fork");
      }
      if (this.#receiveStart >= 0n && seq >= this.#receiveStart) {
        throw malformed("a record of the previous epoch after the current one began");
      }
      return previous;
    }
    if (epoch < current.epoch) throw new RecordError("record_too_old", "record of an erased epoch");
    throw malformed("record of a future epoch");
  }

  /**
   * The next epoch's keys, derived once per epoch (a fork's once its proof verifies under the
   * current epoch's key), however many records name it at once.
   */
  #nextEpoch(epoch: number, fork: Uint8Array | null, header: Uint8Array): Promise<ReceiveEpoch> {
    const current = this.#current;
    const name = fork ? toHex(fork) : "";
    const known = this.#next.get(name);
    if (known) return known;
    const deriving = (async () => {
      if (fork) {
        current.forkKey ??= deriveForkKey(current.secret!);
        const forkKey = await current.forkKey;
        const proof = header.subarray(RECORD_HEADER_LENGTH + FORK_LENGTH);
        if (!(await hmacVerify(forkKey, proof, forkProofInput(epoch, fork)))) {
          throw new RecordError("record_auth_failed", "fork proof does not verify");
        }
      }
      // The epoch may have moved on (and its secret been erased) while the proof was checked.
      if (current.secret === null) {
        throw new RecordError("record_too_old", "the epoch moved on");
      }
      const secret = await nextTrafficSecret(current.secret, epoch, fork ? fork.slice() : null);
      const next: ReceiveEpoch = {
        epoch,
        fork: fork ? fork.slice() : null,
        secret,
        keys: deriveRecordKeys(secret),
        from: current,
      };
      next.keys.catch(noop);
      return next;
    })();
    // A fork whose proof fails is forgotten, so a forger gains no cached entry.
    this.#next.set(name, deriving);
    deriving.catch(() => {
      if (this.#next.get(name) === deriving) this.#next.delete(name);
    });
    return deriving;
  }

  /** Marks `seq` accepted, moving to the record's epoch when it is the next one. */
  #acceptInto(target: ReceiveEpoch, seq: bigint, ordered: boolean): void {
    const advancing = target !== this.#current;
    if (advancing) {
      if (target === this.#previous) {
        if (seq >= this.#receiveStart) {
          throw malformed("a record of the previous epoch after the current one began");
        }
      } else if (target.from !== this.#current) {
        // An earlier record moved the epochs on while this one was being opened.
        throw new RecordError("record_too_old", "record of an erased epoch");
      }
    }
    this.#window.accept(seq, ordered);
    if (advancing && target !== this.#previous) {
      const old = this.#current;
      // In datagram use its keys were derived in `#open`, before the secret is erased here.
      old.secret?.fill(0);
      old.secret = null;
      target.from = null;
      this.#previous = ordered ? null : old;
      this.#current = target;
      this.#currentReady = null;
      target.keys.then((keys) => {
        if (this.#current === target) this.#currentReady = keys;
      }, noop);
      this.#next.clear();
      this.#receiveStart = seq;
      this.#authFailures = 0;
    } else if (!advancing && (this.#receiveStart < 0n || seq < this.#receiveStart)) {
      this.#receiveStart = seq;
    }
    // The grace for the previous epoch ends once the window has moved past the current one's start.
    if (this.#previous && this.#window.state.highest - this.#receiveStart >= 128n) {
      this.#previous = null;
    }
  }

  // ------------------------------------------------------------------- others

  exportKeyingMaterial(
    label: Uint8Array,
    context: Uint8Array,
    length: number,
  ): Promise<Uint8Array> {
    return exporterValue(this.#exporter, label, context, length);
  }

  async exportState(): Promise<Uint8Array> {
    const send = this.#send;
    const current = this.#current;
    const [sendSecret] = await Promise.all([send.secret]);
    const { highest, bits } = this.#window.state;
    const bitmap = new Uint8Array(16);
    new DataView(bitmap.buffer).setBigUint64(0, bits >> 64n);
    new DataView(bitmap.buffer).setBigUint64(8, BigInt.asUintN(64, bits));
    return concat(
      new Uint8Array([STATE_VERSION, this.#role === "client" ? 0 : 1]),
      u16(this.peerId.length),
      this.peerId,
      this.sessionId,
      this.#exporter,
      u32(this.peerMaxRecordSize),
      u32(send.epoch),
      sendSecret,
      u64(this.#sendSeq),
      u32(current.epoch),
      current.fork ? concat(new Uint8Array([1]), current.fork) : new Uint8Array([0]),
      current.secret!,
      u64(this.#receiveStart + 1n),
      u64(highest + 1n),
      bitmap,
      u64(this.#accepted),
      u32(this.#authFailures),
      new Uint8Array([this.#requestPeerUpdate ? 1 : 0]),
    );
  }

  /** Stops the channel: later calls fail with `reason`. */
  stop(reason: TesseraError): void {
    this.#failure ??= reason;
  }

  /** Resolves once every `open` called so far has been accepted or refused. */
  settled(): Promise<void> {
    return this.#acceptTurn;
  }
}
