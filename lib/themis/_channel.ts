// Themis Secure Session data messages (themis-wire.md §3), as an established tessera Channel.
// Private: used through the Channel interface.
//
//   session id (4, SID big-endian) ‖ nonce (12, random) ‖ filler (4, random, unused) ‖
//   GCM(length u32 ‖ seq u32 ‖ timestamp u64 ‖ message) ‖ tag (16)          = n + 52 bytes
//
// AES-256-GCM with the 12-byte nonce, no AAD. Stricter than Themis where no honest Themis
// sender can notice: the whole message is authenticated before any field is believed, the
// length field must match the message exactly (so bytes after the tag are refused), each
// sequence number is accepted at most once, and nothing is sealed past the key's budget.

import { concat, u16, u32, u64 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt, importAesGcmKey } from "../crypto/aes_gcm.ts";
import { randomBytes } from "../crypto/random.ts";
import {
  RecordError,
  SavedStateError,
  SessionStateError,
  type TesseraError,
  ThemisError,
} from "../errors.ts";
import type { Channel, ChannelLimits, OpenedRecord, Role } from "../session/profile.ts";
import { Reader } from "../wire/reader.ts";

/** Bytes a data message adds to its message: session id, IV field, header, tag. */
export const MESSAGE_OVERHEAD = 52;
/** Offset of the encrypted part (after session id, nonce and filler). */
const CIPHERTEXT_OFFSET = 20;
/** Bytes of the encrypted header: length, sequence number, timestamp. */
const INNER_HEADER = 16;
/** How far (in sequence numbers) a message may lie from the newest one accepted. */
export const SEQUENCE_WINDOW = 8;
/** How far (in seconds) a message's timestamp may lie from this side's clock. */
export const TIME_WINDOW = 86_400;
/** The largest peer id this profile accepts, in bytes. */
export const MAX_PEER_ID = 4096;
const STATE_VERSION = 1;
const EMPTY = new Uint8Array(0);
const NO_TURN: Promise<void> = Promise.resolve();

function noop(): void {}

function malformed(message: string): RecordError {
  return new RecordError("record_malformed", message);
}

function outOfWindow(message: string): ThemisError {
  return new ThemisError("themis_out_of_window", message);
}

/** Whether Web Crypto takes `bytes` as they are: not shared, not resizable. */
function plainBuffer(bytes: Uint8Array): boolean {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && !buffer.resizable;
}

/** The clock in whole seconds, checked. */
function seconds(now: () => number): number {
  const value = Math.floor(now() / 1000);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError("the clock (now) must return milliseconds since the epoch");
  }
  return value;
}

/** Everything a channel starts from; what `exportState` writes. */
export interface ThemisChannelStart {
  readonly role: Role;
  readonly peerId: Uint8Array;
  /** The session id as it appears in data messages: `SID` big-endian, `sid4` reversed. */
  readonly sessionId: Uint8Array;
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  /** The next sequence number to send. */
  readonly sendSeq: number;
  /** The newest sequence number accepted, or the peer's first one before any. */
  readonly receiveTop: number;
  /** Which of `receiveTop − 0 … receiveTop − 8` were accepted (bit i for `top − i`). */
  readonly receiveSeen: number;
  readonly recordsSent: number;
  readonly bytesSent: number;
  readonly authFailures: number;
}

/**
 * An established Themis channel. Created by the handshake or by
 * {@linkcode ThemisChannel.import}; used through the {@linkcode Channel} interface.
 */
export class ThemisChannel implements Channel {
  readonly sessionId: Uint8Array;
  readonly peerId: Uint8Array;
  readonly resumed = false;
  readonly attributes = null;
  readonly ticketExpiresAt = null;
  readonly peerMaxRecordSize = null;
  readonly sendEpoch = 0;
  readonly receiveEpoch = 0;
  #role: Role;
  #config: ChannelLimits;
  #now: () => number;
  #failure: TesseraError | null = null;
  #sendKeyBytes: Uint8Array;
  #receiveKeyBytes: Uint8Array;
  /** The AES keys once imported (`null` until then), and their import. */
  #sendKey: CryptoKey | null = null;
  #receiveKey: CryptoKey | null = null;
  #sendKeyImport: Promise<CryptoKey>;
  #receiveKeyImport: Promise<CryptoKey>;
  #sendSeq: number;
  #recordsSent: number;
  #bytesSent: number;
  /** Resolves when every earlier `seal` has resolved or failed. */
  #sealTurn: Promise<void> = NO_TURN;
  /** Seals not yet resolved or failed: with none, a new one needs no ordering. */
  #sealsPending = 0;
  #top: number;
  #seen: number;
  #authFailures: number;
  /** Resolves when every earlier `open` has been accepted or refused. */
  #acceptTurn: Promise<void> = NO_TURN;

  private constructor(start: ThemisChannelStart, config: ChannelLimits) {
    this.#role = start.role;
    this.peerId = start.peerId;
    this.sessionId = start.sessionId;
    this.#sendKeyBytes = start.sendKey;
    this.#receiveKeyBytes = start.receiveKey;
    // Imported while the handshake's last message travels: the first message waits for them.
    this.#sendKeyImport = importAesGcmKey(start.sendKey);
    this.#receiveKeyImport = importAesGcmKey(start.receiveKey);
    this.#sendKeyImport.then((key) => this.#sendKey = key, noop);
    this.#receiveKeyImport.then((key) => this.#receiveKey = key, noop);
    this.#sendSeq = start.sendSeq >>> 0;
    this.#top = start.receiveTop >>> 0;
    this.#seen = start.receiveSeen;
    this.#recordsSent = start.recordsSent;
    this.#bytesSent = start.bytesSent;
    this.#authFailures = start.authFailures;
    this.#config = config;
    this.#now = config.now ?? Date.now;
  }

  /**
   * Builds a channel once its two AES-256-GCM keys are imported, so that nothing is left
   * running behind a session that is established and then dropped.
   *
   * @param start Keys, positions and what the handshake proved.
   * @param config Randomness, limits and the clock.
   * @returns The channel.
   */
  static async create(start: ThemisChannelStart, config: ChannelLimits): Promise<ThemisChannel> {
    const channel = new ThemisChannel(start, config);
    await Promise.allSettled([channel.#sendKeyImport, channel.#receiveKeyImport]);
    return channel;
  }

  /**
   * Rebuilds a channel from {@linkcode ThemisChannel.exportState} output.
   *
   * @param state The exported state.
   * @param config Randomness, limits and the clock.
   * @returns The channel.
   * @throws {SavedStateError} `state_malformed` or `state_unsupported_version`.
   */
  static import(state: Uint8Array, config: ChannelLimits): Promise<ThemisChannel> {
    const bad = () => new SavedStateError("state_malformed", "bad Themis channel state");
    const r = new Reader(state, bad);
    if (r.u8() !== STATE_VERSION) {
      throw new SavedStateError("state_unsupported_version", "unknown Themis channel state");
    }
    const roleByte = r.u8();
    if (roleByte > 1) throw bad();
    const peerId = r.vector16(MAX_PEER_ID, 1).slice();
    const sessionId = r.bytes(4).slice();
    const sendKey = r.bytes(32).slice();
    const receiveKey = r.bytes(32).slice();
    const sendSeq = r.u32();
    const recordsSent = r.u64();
    const bytesSent = r.u64();
    const receiveTop = r.u32();
    const receiveSeen = r.u16();
    const authFailures = r.u32();
    r.end();
    if (receiveSeen > 0x1ff || recordsSent > 2n ** 53n || bytesSent > 2n ** 53n) throw bad();
    return ThemisChannel.create({
      role: roleByte === 0 ? "client" : "server",
      peerId,
      sessionId,
      sendKey,
      receiveKey,
      sendSeq,
      receiveTop,
      receiveSeen,
      recordsSent: Number(recordsSent),
      bytesSent: Number(bytesSent),
      authFailures,
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

  // ------------------------------------------------------------------ sending

  seal(plaintext: Uint8Array): Promise<Uint8Array> {
    try {
      if (this.#failure) throw this.#failure;
      const n = plaintext.length;
      if (n === 0) {
        throw new RangeError(
          "the Themis profile sends no empty message: Themis refuses to wrap one",
        );
      }
      const max = this.#config.maxRecordSize;
      if (n > max) {
        throw new RecordError(
          "record_too_large",
          `plaintext of ${n} bytes exceeds maxRecordSize of ${max} bytes`,
        );
      }
      // Themis Secure Session has no key update: a session stops sealing at its key's budget.
      if (
        this.#recordsSent >= this.#config.recordsPerKey ||
        this.#bytesSent + n > this.#config.bytesPerKey
      ) {
        throw new RecordError(
          "record_sequence_exhausted",
          "this Themis session reached its key's budget (recordsPerKey or bytesPerKey) and " +
            "Themis has no key update: start a new session",
        );
      }
      const now = seconds(this.#now);
      // Everything that must be unique is decided synchronously here.
      const seq = this.#sendSeq;
      this.#sendSeq = (seq + 1) >>> 0;
      this.#recordsSent++;
      this.#bytesSent += n;
      const inner = new Uint8Array(INNER_HEADER + n);
      const view = new DataView(inner.buffer);
      view.setUint32(0, n + 12);
      view.setUint32(4, seq);
      view.setUint32(8, Math.floor(now / 2 ** 32));
      view.setUint32(12, now >>> 0);
      inner.set(plaintext, INNER_HEADER);
      const head = new Uint8Array(CIPHERTEXT_OFFSET);
      head.set(this.sessionId);
      head.set(randomBytes(16, this.#config.random), 4);
      const key = this.#sendKey;
      const nonce = head.subarray(4, 16);
      const sealed = (key
        ? aesGcmEncrypt(key, nonce, inner, EMPTY)
        : this.#sendKeyImport.then((k) =>
          aesGcmEncrypt(k, nonce, inner, EMPTY)
        ))
        .then((body) => {
          const out = new Uint8Array(CIPHERTEXT_OFFSET + body.length);
          out.set(head);
          out.set(body, CIPHERTEXT_OFFSET);
          return out;
        });
      // Messages are encrypted concurrently but resolve in sequence order, so a caller that
      // forwards each one as it resolves keeps them in order (Themis accepts gaps of 8 at most).
      const previous = this.#sealTurn;
      const inOrder = this.#sealsPending === 0
        ? sealed
        : sealed.then((message) => previous.then(() => message));
      this.#sealsPending++;
      const settled = () => {
        this.#sealsPending--;
      };
      this.#sealTurn = inOrder.then(settled, settled);
      return inOrder;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Themis Secure Session has no close message. */
  sealClose(): Promise<null> {
    return Promise.resolve(null);
  }

  rekey(): void {
    throw new SessionStateError(
      "session_unsupported",
      "Themis Secure Session has no key update; start a new session for fresh keys",
    );
  }

  exportKeyingMaterial(): Promise<Uint8Array> {
    return Promise.reject(
      new SessionStateError("session_unsupported", "Themis Secure Session defines no exporter"),
    );
  }

  // ---------------------------------------------------------------- receiving

  /** Records a refusal; in stream use, or past the failure budget, it fails the channel. */
  #refuse<E extends TesseraError>(error: E, ordered: boolean): E {
    if (error.code === "record_auth_failed") {
      this.#authFailures++;
      if (this.#authFailures > this.#config.maxAuthFailures) {
        this.#failure ??= new RecordError(
          "record_auth_failed",
          `more than ${this.#config.maxAuthFailures} messages failed authentication`,
        );
      }
    }
    if (ordered) this.#failure ??= error;
    return error;
  }

  async open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord> {
    if (this.#failure) throw this.#failure;
    try {
      return await this.#open(record, ordered);
    } catch (err) {
      if (err instanceof RecordError || err instanceof ThemisError) {
        throw this.#refuse(err, ordered);
      }
      throw err;
    }
  }

  async #open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord> {
    const total = record.length;
    if (total < MESSAGE_OVERHEAD) throw malformed("shorter than a Themis data message");
    const max = this.#config.maxRecordSize;
    if (total - MESSAGE_OVERHEAD > max) {
      throw new RecordError(
        "record_too_large",
        `message of ${total} bytes exceeds ${max + MESSAGE_OVERHEAD} bytes, the most a message ` +
          `may take with maxRecordSize of ${max} bytes`,
      );
    }
    const id = this.sessionId;
    if (record[0] !== id[0] || record[1] !== id[1] || record[2] !== id[2] || record[3] !== id[3]) {
      throw malformed("the message belongs to another session");
    }
    // Web Crypto copies its inputs before it returns, so the caller's buffer may change after
    // a call that starts at once. Anything else (the key still being imported, a buffer that is
    // not a plain Uint8Array over an ArrayBuffer) works on a copy.
    const key = this.#receiveKey;
    const bytes = key !== null && record.constructor === Uint8Array && plainBuffer(record)
      ? record
      : new Uint8Array(record);
    const nonce = bytes.subarray(4, 16);
    const sealed = bytes.subarray(CIPHERTEXT_OFFSET);
    const decrypting = key
      ? aesGcmDecrypt(key, nonce, sealed, EMPTY)
      : this.#receiveKeyImport.then((k) => aesGcmDecrypt(k, nonce, sealed, EMPTY));
    // Messages are decrypted concurrently but decided in call order.
    const turn = this.#acceptTurn;
    let release!: () => void;
    this.#acceptTurn = new Promise<void>((resolve) => release = resolve);
    try {
      const inner = await decrypting;
      if (inner === null) {
        throw new RecordError("record_auth_failed", "message failed authentication");
      }
      const view = new DataView(inner.buffer, inner.byteOffset, INNER_HEADER);
      const n = inner.length - INNER_HEADER;
      if (view.getUint32(0) !== n + 12) {
        throw malformed("the length field does not match the message");
      }
      const seq = view.getUint32(4);
      const timestamp = view.getUint32(8) * 2 ** 32 + view.getUint32(12);
      await turn;
      if (this.#failure) throw this.#failure;
      this.#checkSequence(seq, ordered);
      const now = seconds(this.#now);
      if (timestamp < now - TIME_WINDOW || timestamp > now + TIME_WINDOW) {
        throw outOfWindow("the message's timestamp is more than a day from this side's clock");
      }
      this.#acceptSequence(seq);
      return { kind: "data", data: inner.subarray(INNER_HEADER) };
    } finally {
      turn.then(release);
    }
  }

  /**
   * Refuses a sequence number more than 8 from the newest accepted (before any: from the
   * peer's first), one already accepted, and on a stream one below the newest.
   */
  #checkSequence(seq: number, ordered: boolean): void {
    const d = (seq - this.#top) | 0; // signed distance modulo 2^32
    if (d > SEQUENCE_WINDOW || d < -SEQUENCE_WINDOW) {
      throw outOfWindow(
        `sequence number ${d > 0 ? "ahead of" : "behind"} the newest accepted by ${Math.abs(d)}` +
          ` (at most ${SEQUENCE_WINDOW})`,
      );
    }
    if (this.#seen === 0 || d > 0) return;
    if (this.#seen & (1 << -d)) {
      throw new RecordError("record_replayed", "sequence number already accepted");
    }
    if (ordered) {
      throw new RecordError("record_out_of_order", "a stream delivered an older message");
    }
  }

  #acceptSequence(seq: number): void {
    const d = (seq - this.#top) | 0;
    if (this.#seen === 0) {
      this.#top = seq;
      this.#seen = 1;
    } else if (d > 0) {
      this.#top = seq;
      this.#seen = ((this.#seen << d) | 1) & 0x1ff;
    } else {
      this.#seen |= 1 << -d;
    }
  }

  // ------------------------------------------------------------------- others

  exportState(): Promise<Uint8Array> {
    return Promise.resolve(concat(
      new Uint8Array([STATE_VERSION, this.#role === "client" ? 0 : 1]),
      u16(this.peerId.length),
      this.peerId,
      this.sessionId,
      this.#sendKeyBytes,
      this.#receiveKeyBytes,
      u32(this.#sendSeq),
      u64(BigInt(this.#recordsSent)),
      u64(BigInt(this.#bytesSent)),
      u32(this.#top),
      u16(this.#seen),
      u32(this.#authFailures),
    ));
  }

  stop(reason: TesseraError): void {
    this.#failure ??= reason;
  }

  settled(): Promise<void> {
    return this.#acceptTurn;
  }
}
