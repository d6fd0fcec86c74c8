/**
 * Secure streams: any duplex byte stream (`{ readable, writable }`, such as a
 * `Deno.Conn`) in, the same shape out, authenticated and encrypted by a
 * {@linkcode SecureSession} once the handshake completes.
 *
 * Records travel as the frames of `framedStreamTransport` (a u32 big-endian
 * length, then the record), so the wire is the one docs/protocol.md
 * describes. Writes of any size are cut into records; small writes made while
 * a record is being sealed are coalesced into the next one; records grow
 * (16 KiB up to 256 KiB) while data keeps coming and start small again after a
 * pause; several records are sealed and opened at once, in order.
 *
 * @module
 */

import { HandshakeError, RecordError, SessionStateError, TransportError } from "../errors.ts";
import {
  DEFAULT_MAX_RECORD_SIZE,
  type RecordParts,
  SecureSession,
  type SecureSessionOptions,
  wrapParts,
} from "../session/secure_session.ts";
import type { SessionState } from "../session/session_events.ts";
import type { ByteStreamPair } from "../transport/framed_stream.ts";
import { ChunkQueue, Signal } from "./_chunks.ts";
import { FrameIO } from "./_frames.ts";
import { checkKeys, checkStreamOptions, type StreamConfig } from "./_options.ts";

export { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_STREAM_BUFFER_SIZE } from "./_options.ts";

/** The first record size, and again after a pause. */
const MIN_RECORD = 16 * 1024;
/**
 * The largest record a stream writes (lower if the session or the peer
 * accepts less). Larger records save crypto.subtle calls and per-record work,
 * but past this size each call costs more per byte (buffers allocated and
 * copied outside the CPU caches): in interleaved runs of bench/stream_bench.ts's
 * bulk workload, 256 KiB records moved bulk data faster than 64 KiB, 128 KiB
 * and 512 KiB ones (about 10% above 128 KiB). Keep the frames' read buffer and
 * the channel's reused plaintext buffer able to hold a record this size.
 */
const MAX_RECORD = 256 * 1024;
/** After this many milliseconds without writes, records start small again. */
const IDLE_RESET = 100;
/** Records being sealed at once. */
const MAX_SEALING = 4;
/** Records being opened at once. */
const MAX_OPENING = 8;
/** Writes up to this size are copied at once; larger ones are read in place until sealed. */
const COPY_LIMIT = 64 * 1024;
/** tessera/1 (docs/protocol.md §5): a record starts with 17 and has its u64 sequence at 6. */
const RECORD = 0x17;
const RECORD_HEADER = 14;

const noop = (): void => {};

/** Whether a view's buffer can change size (a resizable `ArrayBuffer`, a growable shared one). */
function resizable(buffer: ArrayBufferLike): boolean {
  const b = buffer as { resizable?: boolean; growable?: boolean };
  return b.resizable === true || b.growable === true;
}

/**
 * The largest record content this side may send: `chosen`, and never more
 * than the peer accepts (declared in its handshake when the session knows
 * it, else the protocol default of 16 MiB).
 */
function sendableRecordSize(session: SecureSession, chosen: number): number {
  // The peer declared what it accepts in the handshake; a profile without the declaration
  // (null) leaves the protocol default.
  return Math.max(1, Math.min(chosen, session.peerMaxRecordSize ?? DEFAULT_MAX_RECORD_SIZE));
}

/**
 * The options of a stream's session: those of {@linkcode SecureSession}
 * except `transport`, which the stream provides.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import type { StreamSessionOptions } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session: StreamSessionOptions = { id: "me", privateKey, getPublicKeyForId: () => null };
 * assert.equal(session.id, "me");
 * ```
 */
export type StreamSessionOptions = Omit<SecureSessionOptions, "transport">;

/**
 * Options of {@linkcode SecureStream.connect} and {@linkcode SecureStream.accept}.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { SecureStream, type SecureStreamOptions } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options: SecureStreamOptions = {
 *   session: { id: "me", privateKey, getPublicKeyForId: () => null },
 *   handshakeTimeout: 50,
 * };
 * // A peer that never answers: the handshake gives up after 50 ms.
 * const silent = { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream() };
 * await assert.rejects(SecureStream.connect(silent, options), { code: "handshake_timeout" });
 * ```
 */
export interface SecureStreamOptions {
  /** This side's session: id, private key, the peer key lookup, limits. */
  session: StreamSessionOptions;
  /**
   * Milliseconds the handshake may take before the transport is closed and
   * the call rejects with `handshake_timeout`. Default
   * {@linkcode DEFAULT_HANDSHAKE_TIMEOUT} (10 s).
   */
  handshakeTimeout?: number;
  /**
   * Aborts the handshake (the call rejects with the signal's reason), and,
   * once established, the stream (as {@linkcode SecureStream.abort}).
   */
  signal?: AbortSignal;
  /**
   * Bytes the stream buffers in each direction: written and not yet sent,
   * received and not yet read. Writes wait while more is buffered; reading
   * from the transport pauses. Default {@linkcode DEFAULT_STREAM_BUFFER_SIZE}.
   */
  bufferSize?: number;
}

const STREAM_KEYS = ["session", "handshakeTimeout", "signal", "bufferSize"] as const;

/** A record being sealed, in sequence order. */
interface Sealing {
  bytes: number;
  record: RecordParts | null;
  error: unknown;
  done: boolean;
}

/** A record being opened, in sequence order. */
interface Opening {
  bytes: number;
  data: Uint8Array | null;
  error: unknown;
  failed: boolean;
  done: boolean;
}

/**
 * An authenticated, encrypted duplex byte stream over another one, from
 * {@linkcode SecureStream.connect}, {@linkcode SecureStream.accept},
 * `connectSecure()` or a `serveSecure()` handler.
 *
 * - `writable` takes `Uint8Array` chunks of any size (empty ones send
 *   nothing); `readable` gives the bytes the peer wrote, in order, chunked as
 *   records arrive.
 * - Both directions apply backpressure: a write resolves once its bytes are
 *   taken and the stream buffers at most `bufferSize` bytes; reading from the
 *   transport pauses while `bufferSize` bytes wait for the reader.
 * - Closing the writable (or {@linkcode SecureStream.close}) sends what was
 *   written, then the authenticated close (tessera/1's close ends the
 *   session in both directions), then closes the transport. The peer's
 *   readable ends cleanly after the last byte; its later writes fail with
 *   `session_closed`. This side's readable ends after the records already
 *   received.
 * - A transport that ends without the peer's close is `transport_closed` on
 *   the readable (`transport_failed` when it ends with an error), after the
 *   bytes that did arrive: never a clean end. A refused record
 *   (`record_auth_failed`, out of order) ends the stream.
 * - Aborting the writable (or {@linkcode SecureStream.abort}) cuts the
 *   transport without the close: the peer reads a truncation error.
 *
 * @example A stream over a Web streams pair
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { SecureStream } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const alice = await generateIdentityKeyPair();
 * const bob = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ alice: alice.publicKey, bob: bob.publicKey });
 * // Any { readable, writable } byte stream does: a Deno.Conn, a Bun socket via Duplex.toWeb...
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const [client, server] = await Promise.all([
 *   SecureStream.connect({ readable: down.readable, writable: up.writable }, {
 *     session: { id: "alice", privateKey: alice.privateKey, getPublicKeyForId, expectedPeer: "bob" },
 *   }),
 *   SecureStream.accept({ readable: up.readable, writable: down.writable }, {
 *     session: { id: "bob", privateKey: bob.privateKey, getPublicKeyForId },
 *   }),
 * ]);
 * assert.equal(new TextDecoder().decode(server.peerId), "alice");
 *
 * const writer = client.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello, "));
 * await writer.write(new TextEncoder().encode("bob"));
 * await writer.close(); // the authenticated close: bob's readable ends cleanly
 * assert.equal(await new Response(server.readable).text(), "hello, bob");
 * await Promise.all([client.closed, server.closed]);
 * ```
 */
export class SecureStream {
  /** The peer's bytes, decrypted and authenticated. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes for the peer. */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * The established session underneath: its events (`statechange`,
   * `error`, `ticket`), `resumed`, `attributes`, `exportKeyingMaterial()`.
   * Leave its records to the stream: `wrap`, `send` or `close` on it
   * directly would interleave with the stream's own.
   */
  readonly session: SecureSession;
  /**
   * Resolves once the stream is over (closed by either side, the transport
   * closed and every operation finished); rejects with the error that ended
   * it otherwise.
   */
  readonly closed: Promise<void>;

  #io: FrameIO;
  #peerId: Uint8Array;
  #sessionId: Uint8Array;
  #bufferSize: number;
  #pipelined: boolean;
  #ownRecordLimit: number;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => void this.abort(this.#signal?.reason);
  #resolveClosed!: () => void;
  #rejectClosed!: (error: unknown) => void;
  /** crypto.subtle work under way: every one is awaited before `closed` settles. */
  #ops = 0;
  #opsIdle = new Signal();

  // Writing.
  #pending = new ChunkQueue();
  #sealing: Sealing[] = [];
  #sealingBytes = 0;
  #target = MIN_RECORD;
  #lastSeal = 0;
  #writeProgress = new Signal();
  #writableController!: WritableStreamDefaultController;
  #closing = false;
  /** The close record was handed to the transport: the writing side is done. */
  #closeSent = false;
  #writeError: unknown = undefined;
  #writeErrored = false;
  #localClose: Promise<void> | null = null;

  // Reading.
  #opening: Opening[] = [];
  #openingBytes = 0;
  #ready = new ChunkQueue();
  #readRoom = new Signal();
  #readData = new Signal();
  #stopReading = false;
  #readEnding = false;
  #readEnded = false;
  #readError: unknown = undefined;
  #readErrored = false;
  #readCancelled = false;
  #nextSeq = 0n;
  #readLoop: Promise<void>;

  // The end.
  #remoteClosed = false;
  #failed = false;
  #failure: unknown = undefined;
  #finishing: Promise<void> | null = null;
  #closeCall: Promise<void> | null = null;

  private constructor(io: FrameIO, session: SecureSession, config: StreamConfig) {
    this.#io = io;
    this.session = session;
    this.#peerId = session.peerId!;
    this.#sessionId = session.sessionId!;
    this.#bufferSize = config.bufferSize;
    this.#pipelined = session.profile === "tessera/1";
    this.#ownRecordLimit = Math.min(
      MAX_RECORD,
      config.session.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE,
    );
    this.closed = new Promise<void>((resolve, reject) => {
      this.#resolveClosed = resolve;
      this.#rejectClosed = reject;
    });
    this.closed.catch(noop); // reported to whoever awaits it, never as an unhandled rejection
    io.onWritten = () => {
      this.#pump();
      this.#writeProgress.notify();
    };
    io.onWriteError = (error) => this.#writeFailed(error);
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#cancelReading(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWriting(),
      abort: (reason) => this.abort(reason ?? undefined),
    });
    this.#readLoop = this.#runReadLoop();
    this.#signal = config.signal;
    if (this.#signal?.aborted) this.#onAbort();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Runs the handshake as the client over `transport` and returns the
   * established stream. The transport is the stream's from then on, and is
   * closed when the handshake fails.
   *
   * @param transport The byte stream: a `Deno.Conn` (TCP, Unix, TLS), a Web
   *   streams pair, a Node or Bun socket through `Duplex.toWeb()`.
   * @param options The session options, the handshake deadline, a signal, the buffer size.
   * @returns The stream, once this side is established (tessera/1's client
   *   is after its second message; a server that then refuses it makes the
   *   readable fail with `handshake_refused`).
   * @throws {HandshakeError} When the handshake fails, or `handshake_timeout` past its deadline.
   * @throws {TransportError} When the transport fails or ends during the handshake.
   * @throws {TypeError} For an unknown option, a wrong type, a locked transport.
   * @throws {RangeError} For an option out of range.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair } from "@tessera/session";
   * import { SecureStream } from "@tessera/session/stream";
   * import assert from "node:assert/strict";
   *
   * const { privateKey } = await generateIdentityKeyPair();
   * const session = { id: "me", privateKey, getPublicKeyForId: () => null };
   * const pipe = { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream() };
   * await assert.rejects(SecureStream.connect(pipe, { session, timeout: 5 } as never), {
   *   name: "TypeError",
   *   message: 'SecureStream.connect: unknown option "timeout"',
   * });
   * ```
   */
  static connect(transport: ByteStreamPair, options: SecureStreamOptions): Promise<SecureStream> {
    return SecureStream.#establish(transport, options, "client", "SecureStream.connect");
  }

  /**
   * Runs the handshake as the server over `transport` and returns the
   * established stream. The transport is the stream's from then on, and is
   * closed when the handshake fails.
   *
   * @param transport The byte stream, as for {@linkcode SecureStream.connect}.
   * @param options The session options, the handshake deadline, a signal, the buffer size.
   * @returns The stream, once the client is authenticated.
   * @throws {HandshakeError} When the handshake fails, or `handshake_timeout` past its deadline.
   * @throws {TransportError} When the transport fails or ends during the handshake.
   * @throws {TypeError} For an unknown option, a wrong type, a locked transport.
   * @throws {RangeError} For an option out of range.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair } from "@tessera/session";
   * import { SecureStream } from "@tessera/session/stream";
   * import assert from "node:assert/strict";
   *
   * const { privateKey } = await generateIdentityKeyPair();
   * const session = { id: "server", privateKey, getPublicKeyForId: () => null };
   * // Garbage instead of a ClientHello.
   * const pipe = {
   *   readable: ReadableStream.from([new Uint8Array([0, 0, 0, 3, 9, 9, 9])]),
   *   writable: new WritableStream<Uint8Array>(),
   * };
   * await assert.rejects(SecureStream.accept(pipe, { session }), { code: "handshake_unexpected" });
   * ```
   */
  static accept(transport: ByteStreamPair, options: SecureStreamOptions): Promise<SecureStream> {
    return SecureStream.#establish(transport, options, "server", "SecureStream.accept");
  }

  static async #establish(
    transport: ByteStreamPair,
    options: SecureStreamOptions,
    role: "client" | "server",
    where: string,
  ): Promise<SecureStream> {
    checkKeys(options, STREAM_KEYS, where);
    const config = checkStreamOptions(options, where);
    return await establish(transport, config, role, (io, session) => {
      return new SecureStream(io, session, config);
    });
  }

  /** The peer's authenticated id. */
  get peerId(): Uint8Array {
    return this.#peerId.slice();
  }

  /** The session id both peers derived. */
  get sessionId(): Uint8Array {
    return this.#sessionId.slice();
  }

  /** The session's state: `established` until either side closes, then `closed`. */
  get state(): SessionState {
    return this.session.state;
  }

  /**
   * Bytes written to `writable` and not yet handed to the transport: waiting
   * to be sealed, being sealed, or sealed and waiting for the transport.
   */
  get bufferedAmount(): number {
    return this.#pending.bytes + this.#sealingBytes + this.#io.bufferedAmount;
  }

  /**
   * Closes the stream: what was written is sent, then the authenticated
   * close, then the transport is closed. Closing twice is harmless.
   *
   * @returns Resolves once closed; rejects with the error that ended the stream, if one did.
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
   * import { SecureStream } from "@tessera/session/stream";
   * import assert from "node:assert/strict";
   *
   * const a = await generateIdentityKeyPair();
   * const b = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
   * const up = new TransformStream<Uint8Array, Uint8Array>();
   * const down = new TransformStream<Uint8Array, Uint8Array>();
   * const [client, server] = await Promise.all([
   *   SecureStream.connect({ readable: down.readable, writable: up.writable }, {
   *     session: { id: "a", privateKey: a.privateKey, getPublicKeyForId },
   *   }),
   *   SecureStream.accept({ readable: up.readable, writable: down.writable }, {
   *     session: { id: "b", privateKey: b.privateKey, getPublicKeyForId },
   *   }),
   * ]);
   * await server.close();
   * assert.equal(server.state, "closed");
   * const reader = client.readable.getReader();
   * assert.equal((await reader.read()).done, true); // a clean end, not an error
   * await client.closed;
   * await assert.rejects(client.writable.getWriter().write(new Uint8Array(1)), {
   *   code: "session_closed",
   * });
   * ```
   */
  close(): Promise<void> {
    this.#closeCall ??= (async () => {
      if (!this.writable.locked) await this.writable.close().catch(noop);
      await this.#closeWriting().catch(noop);
      await this.#finish();
      return this.closed;
    })();
    return this.#closeCall;
  }

  /**
   * Cuts the stream: no close is sent, the transport is closed at once,
   * buffered bytes are dropped, and both sides of this stream fail with
   * `reason`. The peer reads a `TransportError` (`transport_closed` when its
   * transport just ends, `transport_failed` when it reports the cut as an
   * error), never a clean end. Does nothing once the stream is over.
   *
   * @param reason Why; `closed`, the readable and the writable reject with it.
   *   Default: a `session_closed` error.
   * @returns Resolves once everything is released.
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
   * import { SecureStream } from "@tessera/session/stream";
   * import assert from "node:assert/strict";
   *
   * const a = await generateIdentityKeyPair();
   * const b = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
   * const up = new TransformStream<Uint8Array, Uint8Array>();
   * const down = new TransformStream<Uint8Array, Uint8Array>();
   * const [client, server] = await Promise.all([
   *   SecureStream.connect({ readable: down.readable, writable: up.writable }, {
   *     session: { id: "a", privateKey: a.privateKey, getPublicKeyForId },
   *   }),
   *   SecureStream.accept({ readable: up.readable, writable: down.writable }, {
   *     session: { id: "b", privateKey: b.privateKey, getPublicKeyForId },
   *   }),
   * ]);
   * await client.abort();
   * await assert.rejects(client.closed, { code: "session_closed" });
   * // A Web streams pair reports the cut as an error: transport_failed. Over TCP: transport_closed.
   * await assert.rejects(new Response(server.readable).text(), { name: "TransportError" });
   * await assert.rejects(server.closed, { name: "TransportError" });
   * ```
   */
  async abort(reason?: unknown): Promise<void> {
    this.#fail(reason ?? new SessionStateError("session_closed", "the stream was aborted"));
    await this.#finish();
  }

  // ------------------------------------------------------------------ writing

  #assertWritable(): void {
    if (this.#failed) throw this.#failure;
    if (this.#writeErrored) throw this.#writeError;
    if (this.#remoteClosed || this.#closing) {
      throw new SessionStateError("session_closed", "the secure stream is closed");
    }
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError("a secure stream writes Uint8Array chunks");
    }
    this.#assertWritable();
    if (chunk.length === 0) return;
    if (
      this.#pending.bytes === 0 && this.#sealing.length === 0 &&
      performance.now() - this.#lastSeal > IDLE_RESET
    ) {
      this.#target = MIN_RECORD;
    }
    // A large write is sealed from the caller's buffer (wrap copies synchronously), so the write
    // resolves only once all of it is taken; a small one is copied and may resolve at once, as is
    // one from a resizable buffer, which the caller could shrink under the stream.
    const borrowed = chunk.length > COPY_LIMIT && !resizable(chunk.buffer);
    this.#pending.push(borrowed ? chunk : chunk.slice());
    this.#pump();
    for (;;) {
      this.#assertWritable();
      if ((!borrowed || this.#pending.bytes === 0) && this.bufferedAmount <= this.#bufferSize) {
        return;
      }
      await this.#writeProgress.wait();
    }
  }

  /** Starts sealing what is pending, as far as the limits allow. */
  #pump(): void {
    while (this.#pending.bytes > 0 && !this.#failed && !this.#remoteClosed && !this.#writeErrored) {
      if (this.#sealing.length >= MAX_SEALING) return;
      if (this.#sealingBytes + this.#io.bufferedAmount >= this.#bufferSize) return;
      const size = sendableRecordSize(this.session, Math.min(this.#target, this.#ownRecordLimit));
      // Nagle-like: while a record is being sealed or written, small data waits to join the next.
      const busy = this.#sealing.length > 0 || this.#io.bufferedAmount > 0;
      if (busy && this.#pending.bytes < size) return;
      const data = this.#pending.take(Math.min(size, this.#pending.bytes));
      if (data.length === size && this.#pending.bytes > 0) {
        this.#target = Math.min(this.#target * 2, MAX_RECORD);
      }
      this.#seal(data);
    }
  }

  #seal(data: Uint8Array): void {
    const entry: Sealing = { bytes: data.length, record: null, error: undefined, done: false };
    this.#sealing.push(entry);
    this.#sealingBytes += data.length;
    this.#lastSeal = performance.now();
    this.#ops++;
    // The record in two pieces: the frames copy both into their write buffer.
    wrapParts(this.session, data).then(
      (record) => {
        entry.record = record;
        this.#sealed(entry);
      },
      (error) => {
        entry.error = error ?? new Error("sealing failed");
        this.#sealed(entry);
      },
    );
  }

  /** Hands sealed records to the transport in sequence order. */
  #sealed(entry: Sealing): void {
    entry.done = true;
    this.#opDone();
    while (this.#sealing.length > 0 && this.#sealing[0]!.done) {
      const head = this.#sealing.shift()!;
      this.#sealingBytes -= head.bytes;
      if (head.record) this.#io.queue(head.record.head, head.record.body);
      else if (!this.#remoteClosed) this.#fail(head.error);
    }
    this.#pump();
    this.#writeProgress.notify();
  }

  #closeWriting(): Promise<void> {
    this.#localClose ??= (async () => {
      // The peer's close first: nothing left to send. A failure: that, as the outcome.
      const over = (): boolean => {
        if (this.#remoteClosed) return true;
        this.#assertWritable();
        return false;
      };
      // Everything written goes out first.
      while (this.#pending.bytes > 0 || this.#sealing.length > 0) {
        if (over()) return;
        this.#pump();
        await this.#writeProgress.wait();
      }
      if (over()) return;
      await this.#io.flushed().catch(noop);
      if (over()) return;
      this.#closing = true;
      // tessera/1's close ends both directions: records from now on are not opened.
      this.#stopReading = true;
      this.#readEnding = true;
      this.#readRoom.notify();
      this.#checkReadEnd();
      // The close record goes out through the frames. If the transport fails under it (the peer
      // closing at the same moment), this side's data is out already: the close still succeeds.
      this.#closeSent = true;
      await this.session.close().catch(noop);
      await this.#io.close().catch(noop);
      if (this.#failed) throw this.#failure;
      await this.#finish();
    })();
    return this.#localClose;
  }

  /**
   * Writing failed: later writes fail with the error. Whether the stream
   * failed is for the reading side to say, since the peer's close may be
   * waiting there (a peer that closed and went away makes writes fail first).
   */
  #writeFailed(error: unknown): void {
    if (this.#closeSent || this.#writeErrored || this.#failed || this.#remoteClosed) return;
    this.#writeErrored = true;
    this.#writeError = error;
    this.#pending.clear();
    try {
      this.#writableController.error(error);
    } catch {
      // Already closed or errored.
    }
    this.#writeProgress.notify();
    if (this.#stopReading) this.#fail(error);
  }

  // ------------------------------------------------------------------ reading

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (!this.#readCancelled) {
      const chunk = this.#ready.shift();
      if (chunk) {
        controller.enqueue(chunk);
        this.#readRoom.notify();
        return;
      }
      if (this.#readErrored) {
        controller.error(this.#readError);
        return;
      }
      if (this.#readEnded) {
        controller.close();
        return;
      }
      await this.#readData.wait();
    }
  }

  #cancelReading(): void {
    this.#readCancelled = true;
    this.#readData.notify();
    this.#stopReading = true;
    this.#readEnding = true;
    this.#ready.clear();
    this.#readRoom.notify();
    if (this.#writeErrored) this.#fail(this.#writeError); // nothing is left to go on with
  }

  async #runReadLoop(): Promise<void> {
    try {
      while (!this.#stopReading) {
        if (
          this.#opening.length >= MAX_OPENING ||
          this.#openingBytes + this.#ready.bytes >= this.#bufferSize
        ) {
          await this.#readRoom.wait();
          continue;
        }
        if (!this.#pipelined) {
          // A profile whose records this stream cannot order itself: one at a time.
          const data = await this.session.receive();
          if (this.#stopReading) break;
          if (data === null) this.#peerClosed();
          else this.#deliver(data);
          continue;
        }
        // A view of the frames' read buffer, valid until the next receive: checked and handed
        // to unwrap() at once, which copies or decrypts it before it returns.
        const frame = await this.#io.receiveLent();
        if (this.#stopReading) break;
        if (frame === null) {
          throw new TransportError(
            "transport_closed",
            "the transport ended without the peer's close",
          );
        }
        this.#checkOrder(frame);
        this.#open(frame);
      }
    } catch (error) {
      // The records before the fault are delivered first; one of them may be the peer's close,
      // which makes what follows it no error.
      await this.#openingSettled();
      if (!this.#stopReading) this.#fail(error);
    }
  }

  /** Waits for the records being opened to be delivered or refused. */
  async #openingSettled(): Promise<void> {
    while (this.#opening.length > 0) await this.#readRoom.wait();
  }

  /**
   * A stream accepts records only in order. `unwrap()` (which lets several
   * records decrypt at once) takes them in any order within a window, so the
   * order is checked here first, from the record header (docs/protocol.md §5).
   */
  #checkOrder(frame: Uint8Array): void {
    if (frame.length < RECORD_HEADER || frame[0] !== RECORD) return; // unwrap refuses it
    const seq = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(6);
    if (seq !== this.#nextSeq) {
      throw seq < this.#nextSeq
        ? new RecordError("record_replayed", "sequence number already seen on a stream")
        : new RecordError("record_out_of_order", "stream record arrived out of order");
    }
    this.#nextSeq = seq + 1n;
  }

  #open(frame: Uint8Array): void {
    const entry: Opening = {
      bytes: frame.length,
      data: null,
      error: undefined,
      failed: false,
      done: false,
    };
    this.#opening.push(entry);
    this.#openingBytes += frame.length;
    this.#ops++;
    this.session.unwrap(frame).then(
      (data) => {
        entry.data = data;
        this.#opened(entry);
      },
      (error) => {
        entry.failed = true;
        entry.error = error;
        this.#opened(entry);
      },
    );
  }

  /** Delivers opened records in sequence order. */
  #opened(entry: Opening): void {
    entry.done = true;
    this.#opDone();
    while (this.#opening.length > 0 && this.#opening[0]!.done) {
      const head = this.#opening.shift()!;
      this.#openingBytes -= head.bytes;
      if (this.#failed || this.#remoteClosed) continue; // nothing after the end
      if (head.failed) this.#fail(head.error);
      else if (head.data === null) this.#peerClosed();
      else this.#deliver(head.data);
    }
    this.#readRoom.notify();
    this.#checkReadEnd();
  }

  #deliver(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#ready.push(data);
    this.#readData.notify();
  }

  /** After this side's close, the readable ends once the records being opened are delivered. */
  #checkReadEnd(): void {
    if (this.#readEnding && this.#opening.length === 0 && !this.#readEnded) {
      this.#readEnded = true;
      this.#readData.notify();
    }
  }

  // ------------------------------------------------------------------ the end

  /** The peer's authenticated close: everything before it was delivered. */
  #peerClosed(): void {
    if (this.#remoteClosed || this.#failed) return;
    this.#remoteClosed = true;
    this.#stopReading = true;
    this.#readEnding = true;
    this.#readEnded = true;
    this.#pending.clear();
    this.#readData.notify();
    this.#readRoom.notify();
    this.#writeProgress.notify();
    // The session is over in both directions: nothing more to read or write.
    void this.#io.abort();
    void this.#finish();
  }

  #fail(error: unknown): void {
    if (this.#failed || this.#remoteClosed || this.#finishing) return;
    this.#failed = true;
    this.#failure = error;
    this.#stopReading = true;
    if (!this.#readEnded) {
      this.#readErrored = true;
      this.#readError = error;
    }
    this.#pending.clear();
    try {
      this.#writableController.error(error);
    } catch {
      // Already closed or errored.
    }
    this.#readData.notify();
    this.#readRoom.notify();
    this.#writeProgress.notify();
    void this.#io.abort();
    void this.#finish();
  }

  #opDone(): void {
    this.#ops--;
    if (this.#ops === 0) this.#opsIdle.notify();
  }

  /** Releases everything, waits for every operation under way, then settles `closed`. */
  #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      this.#stopReading = true;
      this.#readRoom.notify();
      await this.#io.dispose(); // after a clean close, already done; else a cut
      await this.#readLoop;
      while (this.#ops > 0) await this.#opsIdle.wait();
      // A stream that failed leaves its session closed too (the transport is gone: nothing is
      // sent); a close already under way (its record being sealed) is waited for.
      await this.session.close().catch(noop);
      await this.#io.dispose();
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#checkReadEnd();
      if (this.#failed) this.#rejectClosed(this.#failure);
      else this.#resolveClosed();
    })();
    return this.#finishing;
  }
}

/**
 * Runs the handshake over `transport` and builds the stream: the deadline,
 * the signal, and on any failure, the transport closed and every operation
 * finished before the error is thrown.
 */
async function establish<T>(
  transport: ByteStreamPair,
  config: StreamConfig,
  role: "client" | "server",
  build: (io: FrameIO, session: SecureSession) => T,
): Promise<T> {
  const io = new FrameIO(transport);
  let session: SecureSession;
  try {
    session = new SecureSession({ ...config.session, transport: io } as SecureSessionOptions);
  } catch (err) {
    await io.dispose();
    throw err;
  }
  const { signal, handshakeTimeout } = config;
  let outcome: "timeout" | "aborted" | null = null;
  // Cutting the transport ends a handshake waiting on the peer; closing the session also ends
  // one waiting on the application (a getPublicKeyForId or acceptPeer that never settles).
  const stop = (): void => {
    void io.abort();
    session.close().catch(noop);
  };
  let silent = false;
  const timer = setTimeout(() => {
    outcome ??= "timeout";
    // Still idle: not one handshake message arrived (for a server, no ClientHello).
    silent = session.state === "idle";
    stop();
  }, handshakeTimeout);
  const onAbort = (): void => {
    outcome ??= "aborted";
    stop();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (signal?.aborted) onAbort();
    if (outcome === null) await (role === "client" ? session.connect() : session.accept());
    if (outcome !== null) throw new TransportError("transport_closed", "the handshake was stopped");
    return build(io, session);
  } catch (err) {
    void io.abort();
    await session.close().catch(noop);
    await io.dispose();
    if (outcome === "timeout") {
      throw new HandshakeError(
        "handshake_timeout",
        silent
          ? `no handshake message arrived within ${handshakeTimeout} ms (is the peer a server too?)`
          : `the handshake did not complete within ${handshakeTimeout} ms`,
        { cause: err },
      );
    }
    if (outcome === "aborted") throw signal!.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
