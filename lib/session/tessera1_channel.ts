/**
 * The tessera/1 record layer: AES-256-GCM per direction, 64-bit sequence
 * numbers, `nonce = iv ⊕ seq`, a replay window, key update by key id.
 *
 * Record: `type (1) ‖ key id (8) ‖ seq (8, BE) ‖ ciphertext ‖ tag (16)`, the
 * 17-byte header being the AAD. See docs/protocol.md §5.
 *
 * @module
 */

import { concat, fromHex, toHex, u16, u64 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { importHkdfKey } from "../crypto/hkdf.ts";
import { randomBytes, type RandomSource } from "../crypto/random.ts";
import { RecordError, SavedStateError } from "../errors.ts";
import { Reader } from "../wire/reader.ts";
import { deriveRecordKey, type RecordKey } from "./_tessera1_schedule.ts";
import type { Channel, OpenedRecord, Role } from "./profile.ts";
import { ReplayWindow } from "./replay_window.ts";
export { REPLAY_WINDOW_SIZE } from "./replay_window.ts";
import { MAX_ID_LENGTH } from "./profile.ts";

/** Record type of application data. */
export const RECORD_DATA: number = 0x17;
/** Record type of an authenticated close. */
export const RECORD_CLOSE: number = 0x15;
/**
 * Bytes of the record header: type, key id, sequence number.
 *
 * @example
 * ```ts
 * import { GCM_TAG_LENGTH } from "@tessera/session/crypto";
 * import { RECORD_HEADER_LENGTH, RECORD_OVERHEAD } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * assert.equal(RECORD_HEADER_LENGTH, 1 + 8 + 8); // type, key id, sequence number
 * assert.equal(RECORD_OVERHEAD, RECORD_HEADER_LENGTH + GCM_TAG_LENGTH);
 * ```
 */
export const RECORD_HEADER_LENGTH: number = 17;
/**
 * Bytes a record adds to its plaintext: header and tag.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { RECORD_OVERHEAD } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId: () => publicKey });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId: () => publicKey });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const record = await client.wrap(new Uint8Array(100));
 * assert.equal(record.length, 100 + RECORD_OVERHEAD);
 * ```
 */
export const RECORD_OVERHEAD: number = RECORD_HEADER_LENGTH + 16;
/**
 * Records sealed under one key before an automatic key update (RFC 8446 §5.5: 2^24.5).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { DEFAULT_RECORDS_PER_KEY } from "@tessera/session/session";
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
const KEY_ID_LENGTH = 8;
/** The highest sequence number in use: 2^64 − 2 (2^64 − 1 is never sealed nor accepted). */
const MAX_SEQ = (1n << 64n) - 2n;
const RECEIVE_KEY_CACHE = 4;
const STATE_VERSION = 1;

/** Everything a channel needs; what `exportState` writes. */
export interface ChannelSecrets {
  role: Role;
  peerId: Uint8Array;
  sessionId: Uint8Array;
  sendSecret: Uint8Array;
  receiveSecret: Uint8Array;
  resumptionSecret: Uint8Array;
  sendSeq: bigint;
  window: ReplayWindow;
}

/** Limits and randomness of a channel. */
export interface ChannelConfig {
  random: RandomSource;
  recordsPerKey: number;
  maxRecordSize: number;
}

/**
 * Writes `iv ⊕ (00000000 ‖ seq)` into `out`, with `seq` taken as the 8 big-endian bytes of a
 * record header, and returns `out`. Web Crypto copies its arguments before `encrypt` or
 * `decrypt` returns, so one scratch buffer per direction serves every record.
 */
function nonceFor(iv: Uint8Array, seqBytes: Uint8Array, out: Uint8Array): Uint8Array {
  out.set(iv);
  for (let i = 0; i < 8; i++) out[4 + i]! ^= seqBytes[i]!;
  return out;
}

function sealWith(
  { key, iv }: RecordKey,
  header: Uint8Array,
  plaintext: Uint8Array,
  scratch: Uint8Array,
): Promise<Uint8Array> {
  const nonce = nonceFor(iv, header.subarray(9), scratch);
  return aesGcmEncrypt(key, nonce, plaintext, header).then((sealed) => {
    const out = new Uint8Array(RECORD_HEADER_LENGTH + sealed.length);
    out.set(header);
    out.set(sealed, RECORD_HEADER_LENGTH);
    return out;
  });
}

function noop(): void {}

/** Whether Web Crypto takes `bytes` as they are: not shared, not resizable. */
function plainBuffer(bytes: Uint8Array): boolean {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && !buffer.resizable;
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < KEY_ID_LENGTH; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * An established tessera/1 channel. Created by the handshake or by
 * {@linkcode Tessera1Channel.import}; used through the {@linkcode Channel} interface.
 */
export class Tessera1Channel implements Channel {
  readonly sessionId: Uint8Array;
  readonly peerId: Uint8Array;
  #s: ChannelSecrets;
  #config: ChannelConfig;
  #sendBase: CryptoKey;
  #receiveBase: CryptoKey;
  #sendKeyId = new Uint8Array(KEY_ID_LENGTH);
  #sendKey!: Promise<RecordKey>;
  /** The current sending key once derived, so sealing skips a promise hop. */
  #sendReady: RecordKey | null = null;
  #sendCount = 0;
  /** Scratch nonces: filled and handed to Web Crypto, which copies them at once. */
  #sealNonce = new Uint8Array(12);
  #openNonce = new Uint8Array(12);
  /** Resolves when every earlier `seal` has resolved or failed. */
  #sealTurn: Promise<void> = Promise.resolve();
  /** Resolves when every earlier `open` has been accepted or refused. */
  #acceptTurn: Promise<void> = Promise.resolve();
  #receiveKeys = new Map<string, Promise<RecordKey>>();
  /** The key id that last authenticated a record, and its key: the common case. */
  #lastReceive: { id: Uint8Array; key: RecordKey } | null = null;

  private constructor(
    secrets: ChannelSecrets,
    config: ChannelConfig,
    sendBase: CryptoKey,
    receiveBase: CryptoKey,
  ) {
    this.#s = secrets;
    this.#config = config;
    this.sessionId = secrets.sessionId;
    this.peerId = secrets.peerId;
    this.#sendBase = sendBase;
    this.#receiveBase = receiveBase;
    this.rekey();
  }

  /**
   * Builds a channel from secrets. Its sending direction starts under a fresh
   * random key id, so two channels built from the same secrets never share a
   * (key, nonce) pair.
   *
   * @param secrets The secrets.
   * @param config Randomness and limits.
   * @returns The channel.
   */
  static async create(secrets: ChannelSecrets, config: ChannelConfig): Promise<Tessera1Channel> {
    const [sendBase, receiveBase] = await Promise.all([
      importHkdfKey(secrets.sendSecret),
      importHkdfKey(secrets.receiveSecret),
    ]);
    return new Tessera1Channel(secrets, config, sendBase, receiveBase);
  }

  /**
   * Rebuilds a channel from {@linkcode Tessera1Channel.exportState} output.
   *
   * @param state The exported state.
   * @param config Randomness and limits.
   * @returns The channel, sending under a fresh key id.
   * @throws {SavedStateError} `state_malformed` or `state_unsupported_version`.
   */
  static import(state: Uint8Array, config: ChannelConfig): Promise<Tessera1Channel> {
    const r = new Reader(state, () => new SavedStateError("state_malformed", "bad channel state"));
    const version = r.u8();
    if (version !== STATE_VERSION) {
      throw new SavedStateError("state_unsupported_version", "unknown channel state version");
    }
    const roleByte = r.u8();
    if (roleByte > 1) throw new SavedStateError("state_malformed", "bad role");
    const peerId = r.vector16(MAX_ID_LENGTH, 1).slice();
    const sessionId = r.bytes(16).slice();
    const sendSecret = r.bytes(32).slice();
    const receiveSecret = r.bytes(32).slice();
    const resumptionSecret = r.bytes(32).slice();
    const sendSeq = r.u64();
    const highestPlusOne = r.u64();
    const bits = BigInt("0x" + toHex(r.bytes(16)));
    r.end();
    return Tessera1Channel.create({
      role: roleByte === 0 ? "client" : "server",
      peerId,
      sessionId,
      sendSecret,
      receiveSecret,
      resumptionSecret,
      sendSeq,
      window: ReplayWindow.from(highestPlusOne - 1n, highestPlusOne === 0n ? 0n : bits),
    }, config);
  }

  /** The secret this side keeps to derive resumption tickets. */
  get resumptionSecret(): Uint8Array {
    return this.#s.resumptionSecret;
  }

  /** The next sequence number this side will send. */
  get sendSequence(): bigint {
    return this.#s.sendSeq;
  }

  /** The current sending key id. */
  get sendKeyId(): Uint8Array {
    return this.#sendKeyId.slice();
  }

  rekey(): void {
    const keyId = randomBytes(KEY_ID_LENGTH, this.#config.random);
    const derived = deriveRecordKey(this.#sendBase, keyId);
    this.#sendKeyId = keyId;
    this.#sendKey = derived;
    this.#sendReady = null;
    this.#sendCount = 0;
    derived.then((key) => {
      if (this.#sendKey === derived) this.#sendReady = key;
    }, () => {});
  }

  seal(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.#seal(RECORD_DATA, plaintext);
  }

  sealClose(): Promise<Uint8Array> {
    return this.#seal(RECORD_CLOSE, new Uint8Array(0));
  }

  #seal(type: number, plaintext: Uint8Array): Promise<Uint8Array> {
    if (plaintext.length > this.#config.maxRecordSize) {
      return Promise.reject(new RecordError("record_too_large", "plaintext exceeds maxRecordSize"));
    }
    if (this.#s.sendSeq > MAX_SEQ) {
      return Promise.reject(
        new RecordError("record_sequence_exhausted", "sequence numbers exhausted"),
      );
    }
    if (this.#sendCount >= this.#config.recordsPerKey) this.rekey();
    const ready = this.#sendReady;
    // The plaintext is read now: by Web Crypto if the key is ready and it takes the buffer, else
    // from a copy (before a sequence number is taken, so a refused buffer consumes none).
    const data = ready && plainBuffer(plaintext) ? plaintext : plaintext.slice();
    // Everything that makes the nonce unique is taken synchronously here.
    const seq = this.#s.sendSeq++;
    this.#sendCount++;
    const header = new Uint8Array(RECORD_HEADER_LENGTH);
    header[0] = type;
    header.set(this.#sendKeyId, 1);
    new DataView(header.buffer).setBigUint64(9, seq);
    const sealed = ready
      ? sealWith(ready, header, data, this.#sealNonce)
      : this.#sendKey.then((key) => sealWith(key, header, data, new Uint8Array(12)));
    // Records are encrypted concurrently but resolve in sequence order, so a caller that
    // forwards each record as it resolves keeps them in order.
    const previous = this.#sealTurn;
    const inOrder = sealed.then((record) => previous.then(() => record));
    this.#sealTurn = inOrder.then(noop, noop);
    return inOrder;
  }

  async open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord> {
    if (record.length < RECORD_OVERHEAD) {
      throw new RecordError("record_malformed", "record is shorter than header and tag");
    }
    const type = record[0];
    if (type !== RECORD_DATA && type !== RECORD_CLOSE) {
      throw new RecordError("record_malformed", "unknown record type");
    }
    if (record.length > RECORD_OVERHEAD + this.#config.maxRecordSize) {
      throw new RecordError("record_too_large", "record exceeds maxRecordSize");
    }
    const header = record.subarray(0, RECORD_HEADER_LENGTH);
    const body = record.subarray(RECORD_HEADER_LENGTH);
    const seq = new DataView(record.buffer, record.byteOffset + 9, 8).getBigUint64(0);
    if (seq > MAX_SEQ) throw new RecordError("record_malformed", "sequence number out of range");
    this.#s.window.check(seq, ordered);
    // Records are decrypted concurrently, but accepted into the window in call order, so the
    // outcome never depends on which decryption finishes first.
    const turn = this.#acceptTurn;
    let release!: () => void;
    this.#acceptTurn = new Promise<void>((resolve) => release = resolve);
    try {
      return await this.#openChecked(header, body, seq, ordered, type, turn);
    } finally {
      turn.then(release);
    }
  }

  async #openChecked(
    header: Uint8Array,
    body: Uint8Array,
    seq: bigint,
    ordered: boolean,
    type: number,
    turn: Promise<void>,
  ): Promise<OpenedRecord> {
    const last = this.#lastReceive;
    let recordKey: RecordKey;
    let nonce = this.#openNonce;
    if (last && sameId(last.id, header.subarray(1, 9)) && plainBuffer(header)) {
      // Decryption starts synchronously and Web Crypto copies its inputs before it returns.
      recordKey = last.key;
    } else {
      // An await comes first, and the caller may reuse its buffer meanwhile: take the bytes now.
      header = header.slice();
      body = body.slice();
      nonce = new Uint8Array(12);
      recordKey = await this.#receiveKey(header.subarray(1, 9));
    }
    const plaintext = await aesGcmDecrypt(
      recordKey.key,
      nonceFor(recordKey.iv, header.subarray(9), nonce),
      body,
      header,
    );
    if (plaintext === null) {
      throw new RecordError("record_auth_failed", "record failed authentication");
    }
    if (type === RECORD_CLOSE && plaintext.length !== 0) {
      throw new RecordError("record_malformed", "close with a body");
    }
    // Authenticated and well-formed: mark it once every earlier call has been decided
    // (throws if a concurrent opening of the same record won).
    await turn;
    this.#s.window.accept(seq, ordered);
    if (recordKey !== last?.key) this.#rememberReceiveKey(header.slice(1, 9), recordKey);
    return { kind: type === RECORD_CLOSE ? "close" : "data", data: plaintext };
  }

  /** The key of a key id: cached, or derived (and cached only once it authenticates a record). */
  #receiveKey(keyId: Uint8Array): Promise<RecordKey> {
    return this.#receiveKeys.get(toHex(keyId)) ?? deriveRecordKey(this.#receiveBase, keyId.slice());
  }

  #rememberReceiveKey(keyId: Uint8Array, value: RecordKey): void {
    const name = toHex(keyId);
    const cache = this.#receiveKeys;
    cache.delete(name);
    cache.set(name, Promise.resolve(value));
    if (cache.size > RECEIVE_KEY_CACHE) cache.delete(cache.keys().next().value!);
    this.#lastReceive = { id: keyId, key: value };
  }

  exportState(): Uint8Array {
    const s = this.#s;
    const { highest, bits } = s.window.state;
    return concat(
      new Uint8Array([STATE_VERSION, s.role === "client" ? 0 : 1]),
      u16(s.peerId.length),
      s.peerId,
      s.sessionId,
      s.sendSecret,
      s.receiveSecret,
      s.resumptionSecret,
      u64(s.sendSeq),
      u64(highest + 1n),
      fromHex(bits.toString(16).padStart(32, "0")),
    );
  }
}
