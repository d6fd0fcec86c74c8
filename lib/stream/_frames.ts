/**
 * Length-prefixed frames over a byte stream, for secure streams: the framing
 * of `framedStreamTransport` (a u32 big-endian length, then that many bytes),
 * with what a stream needs on top of it: frames queued without a promise each
 * and written coalesced, large frames read straight into their own buffer,
 * the bytes not yet written, and an abort.
 *
 * A `Deno.Conn` (or any object with `read(p)`, `write(p)` and `close()`) is
 * read and written through those methods, which cost far less per byte than
 * its streams; anything else through its `readable` and `writable`.
 *
 * @module
 */

import { TransportError } from "../errors.ts";
import type { SessionTransport } from "../session/secure_session.ts";
import type { ByteStreamPair } from "../transport/framed_stream.ts";

const PREFIX = 4;
/**
 * Frames up to this size are read through one reused buffer, and then copied
 * out. The buffer starts small (a connection that only handshakes never needs
 * more) and grows with the frames.
 */
const SCRATCH = 512 * 1024;
const FIRST_SCRATCH = 8 * 1024;
/**
 * Frames are written in batches of up to this size, copied together (one
 * write costs more than copying this much); a larger frame is written alone.
 */
const BATCH = 512 * 1024;
/** The largest frame the framing can describe that this side reads: 2^31 bytes. */
const MAX_FRAME = 2 ** 31;

const noop = (): void => {};

/** The byte stream under the frames. */
interface ByteIO {
  /** Whether a buffer given to `write` is free again once the write resolved. */
  readonly reusable: boolean;
  /** Reads up to `target.length` bytes into `target`; `null` at the end of the stream. */
  readInto(target: Uint8Array): Promise<number | null>;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the stream once written, and releases it. */
  end(): Promise<void>;
  /** Releases the stream now. */
  abort(): Promise<void>;
}

/** What a `Deno.Conn` offers besides its streams. */
interface DirectConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

function isDirectConn(value: unknown): value is DirectConn {
  const conn = value as Partial<DirectConn>;
  return typeof conn.read === "function" && typeof conn.write === "function" &&
    typeof conn.close === "function";
}

class DirectIO implements ByteIO {
  readonly reusable = true;
  #conn: DirectConn;
  #closed = false;

  constructor(conn: DirectConn) {
    this.#conn = conn;
  }

  async readInto(target: Uint8Array): Promise<number | null> {
    if (this.#closed) return null;
    try {
      return await this.#conn.read(target);
    } catch (cause) {
      if (this.#closed) return null; // our own close interrupted the read
      throw cause;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
    }
  }

  end(): Promise<void> {
    return this.abort();
  }

  abort(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed by someone else.
      }
    }
    return Promise.resolve();
  }
}

class StreamIO implements ByteIO {
  // A chunk may be passed on as it is (a TransformStream hands it to its reader).
  readonly reusable = false;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #rest: Uint8Array | null = null;
  #released: Promise<void> | null = null;

  constructor(pair: ByteStreamPair) {
    this.#reader = pair.readable.getReader();
    this.#writer = pair.writable.getWriter();
  }

  async readInto(target: Uint8Array): Promise<number | null> {
    let chunk = this.#rest;
    while (chunk === null) {
      const next = await this.#reader.read();
      if (next.done) return null;
      if (!(next.value instanceof Uint8Array)) {
        throw new TypeError("the readable side gave something other than bytes");
      }
      if (next.value.length > 0) chunk = next.value;
    }
    const n = Math.min(chunk.length, target.length);
    target.set(n === chunk.length ? chunk : chunk.subarray(0, n));
    this.#rest = n < chunk.length ? chunk.subarray(n) : null;
    return n;
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#writer.write(bytes);
  }

  end(): Promise<void> {
    this.#released ??= (async () => {
      await this.#writer.close().catch(noop);
      await this.#reader.cancel().catch(noop);
    })();
    return this.#released;
  }

  abort(): Promise<void> {
    this.#released ??= Promise.all([
      this.#writer.abort().catch(noop),
      this.#reader.cancel().catch(noop),
    ]).then(noop);
    return this.#released;
  }
}

/** A frame queued: its content is `head ‖ body`. */
interface Queued {
  head: Uint8Array;
  body: Uint8Array | null;
  length: number;
}

/** Resolves the sends whose bytes are all written. */
interface Waiter {
  until: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Frames over a byte stream; a {@linkcode SessionTransport} for the handshake
 * and the session's close, and the record pipe of a secure stream.
 */
export class FrameIO implements SessionTransport {
  #io: ByteIO;
  #bound = MAX_FRAME;
  // Reading: a scratch buffer holding bytes [start, end).
  #buf = new Uint8Array(FIRST_SCRATCH);
  #start = 0;
  #end = 0;
  #receiving: Promise<unknown> = Promise.resolve();
  #readFailure: TransportError | null = null;
  // Writing.
  #queue: Queued[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #enqueued = 0;
  #written = 0;
  #waiters: Waiter[] = [];
  #writing: Promise<void> | null = null;
  /** The batch buffer, when the stream lets it be reused. */
  #batch: Uint8Array | null = null;
  #writeFailure: TransportError | null = null;
  #ending: Promise<void> | null = null;
  #aborted = false;
  /** Called whenever queued bytes were written. */
  onWritten: () => void = noop;
  /** Called once when writing fails. */
  onWriteError: (error: TransportError) => void = noop;

  /**
   * Takes the byte stream. Its readable and writable sides (or, for a
   * `Deno.Conn`, its read and write methods) are this object's from now on.
   *
   * @throws {TypeError} When `stream` is not a byte stream pair, or a side is locked.
   */
  constructor(stream: ByteStreamPair) {
    if (typeof stream !== "object" || stream === null) {
      throw new TypeError("the transport must be a { readable, writable } byte stream");
    }
    if (isDirectConn(stream)) {
      this.#io = new DirectIO(stream);
      return;
    }
    const { readable, writable } = stream;
    if (!(readable instanceof ReadableStream) || !(writable instanceof WritableStream)) {
      throw new TypeError("the transport must be a { readable, writable } byte stream");
    }
    if (readable.locked || writable.locked) {
      throw new TypeError("the transport's readable or writable side is locked");
    }
    this.#io = new StreamIO(stream);
  }

  /** Bytes of frames queued and not yet written. */
  get bufferedAmount(): number {
    return this.#queuedBytes;
  }

  /**
   * Lowers or raises the largest frame accepted next.
   *
   * @param maxMessageSize The bound, in bytes.
   */
  limit(maxMessageSize: number): void {
    this.#bound = Math.min(maxMessageSize, MAX_FRAME);
  }

  // ------------------------------------------------------------------ reading

  /**
   * Receives one frame (a buffer of its own), or `null` at a clean end between frames.
   *
   * @throws {TransportError} `transport_closed` inside a frame, `transport_frame_too_large`
   *   above the bound, `transport_failed` when reading fails.
   */
  receive(): Promise<Uint8Array | null> {
    const next = this.#receiving.then(() => this.#receiveOne(false));
    this.#receiving = next.catch(noop);
    return next;
  }

  /**
   * Receives one frame as {@linkcode FrameIO.receive} does, without copying
   * it out of the read buffer: a frame up to 512 KiB is a view of that
   * buffer, which the next receive overwrites. For one reader that is done
   * with each frame before it asks for the next (a stream hands it to
   * `unwrap()`, which copies or decrypts a record before it returns, as Web
   * Crypto copies its input), and that calls no other `receive` meanwhile.
   *
   * @throws {TransportError} As {@linkcode FrameIO.receive}.
   */
  receiveLent(): Promise<Uint8Array | null> {
    const next = this.#receiving.then(() => this.#receiveOne(true));
    this.#receiving = next.catch(noop);
    return next;
  }

  async #read(target: Uint8Array): Promise<number | null> {
    if (this.#aborted) return null;
    let n;
    try {
      n = await this.#io.readInto(target);
    } catch (cause) {
      if (this.#aborted || this.#ending) return null;
      throw new TransportError("transport_failed", "reading the stream failed", { cause });
    }
    if (n === 0) throw new TransportError("transport_failed", "the stream read no bytes");
    return n;
  }

  /** Reads until `n` (at most SCRATCH) bytes are buffered; `false` at the end of the stream. */
  async #fill(n: number): Promise<boolean> {
    if (n > this.#buf.length) {
      // A larger frame than so far: a larger buffer (bulk traffic gets SCRATCH at once).
      const larger = new Uint8Array(Math.min(SCRATCH, Math.max(n, this.#buf.length * 4)));
      larger.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = larger;
    } else if (this.#start + n > this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end - this.#start < n) {
      const count = await this.#read(this.#buf.subarray(this.#end));
      if (count === null) return false;
      this.#end += count;
    }
    return true;
  }

  async #receiveOne(lent: boolean): Promise<Uint8Array | null> {
    if (this.#readFailure) throw this.#readFailure;
    if (!(await this.#fill(PREFIX))) {
      if (this.#end === this.#start) return null;
      throw new TransportError("transport_closed", "the stream ended inside a frame header");
    }
    const b = this.#buf;
    const s = this.#start;
    const length = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
    if (length > this.#bound) {
      // The stream is now inside a frame it will not read: it cannot be resynchronized.
      this.#readFailure = new TransportError(
        "transport_frame_too_large",
        "a frame exceeds the size this side accepts",
      );
      this.#start = this.#end = 0;
      throw this.#readFailure;
    }
    this.#start += PREFIX;
    if (length <= SCRATCH - PREFIX) {
      if (!(await this.#fill(length))) {
        throw new TransportError("transport_closed", "the stream ended inside a frame");
      }
      const from = this.#start;
      this.#start += length;
      return lent ? this.#buf.subarray(from, from + length) : this.#buf.slice(from, from + length);
    }
    // A large frame gets its own buffer, read into directly.
    const frame = new Uint8Array(length);
    let filled = Math.min(length, this.#end - this.#start);
    frame.set(this.#buf.subarray(this.#start, this.#start + filled));
    this.#start += filled;
    while (filled < length) {
      const count = await this.#read(frame.subarray(filled));
      if (count === null) {
        throw new TransportError("transport_closed", "the stream ended inside a frame");
      }
      filled += count;
    }
    return frame;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Queues one frame; its bytes are written in queue order. Nothing is
   * written once the stream was aborted or writing failed.
   *
   * @param message The frame's content, or its first part (not copied: leave it unchanged).
   * @param rest The rest of the frame's content, if it comes in two parts (not copied either).
   */
  queue(message: Uint8Array, rest?: Uint8Array): void {
    if (this.#aborted || this.#writeFailure || this.#ending) return;
    const length = message.length + (rest?.length ?? 0);
    if (length > MAX_FRAME) {
      this.#failWrite(new TransportError("transport_frame_too_large", "message too large"));
      return;
    }
    this.#queue.push({ head: message, body: rest ?? null, length });
    this.#queuedBytes += PREFIX + length;
    this.#enqueued += PREFIX + length;
    this.#kick();
  }

  #kick(): void {
    if (this.#writing) return;
    // The callback runs asynchronously, after #writing is set, even when the loop has no work.
    this.#writing = this.#writeLoop().then(() => {
      this.#writing = null;
      if (this.#queueHead < this.#queue.length && !this.#aborted && !this.#writeFailure) {
        this.#kick();
      }
    });
  }

  /**
   * Sends one frame.
   *
   * @param message The bytes.
   * @returns Resolves once written (at once when the stream was aborted: nothing is sent).
   */
  send(message: Uint8Array): Promise<void> {
    if (this.#writeFailure) return Promise.reject(this.#writeFailure);
    this.queue(message);
    return this.flushed();
  }

  /** Resolves once every frame queued so far is written (or will never be). */
  flushed(): Promise<void> {
    if (this.#writeFailure) return Promise.reject(this.#writeFailure);
    if (this.#written >= this.#enqueued || this.#aborted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ until: this.#enqueued, resolve, reject });
    });
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#queueHead < this.#queue.length && !this.#aborted) {
        const first = this.#queue[this.#queueHead]!;
        if (first.length + PREFIX > BATCH) {
          // Too large to copy: the length with the small first part (a record's header), then
          // the rest as it is.
          this.#queueHead++;
          const { head, body } = first;
          const small = body !== null && head.length <= 1024;
          const prefix = new Uint8Array(PREFIX + (small ? head.length : 0));
          new DataView(prefix.buffer).setUint32(0, first.length);
          if (small) prefix.set(head, PREFIX);
          await this.#io.write(prefix);
          if (!small) await this.#io.write(head);
          if (body) await this.#io.write(body);
          this.#wrote(PREFIX + first.length);
          continue;
        }
        let size = 0;
        let end = this.#queueHead;
        while (end < this.#queue.length) {
          const next = this.#queue[end]!.length + PREFIX;
          if (size + next > BATCH) break;
          size += next;
          end++;
        }
        let batch: Uint8Array;
        if (this.#io.reusable) {
          if (!this.#batch || this.#batch.length < size) {
            this.#batch = new Uint8Array(
              Math.min(BATCH, Math.max(size, 2 * (this.#batch?.length ?? 0))),
            );
          }
          batch = this.#batch.subarray(0, size);
        } else {
          batch = new Uint8Array(size);
        }
        let offset = 0;
        for (let i = this.#queueHead; i < end; i++) {
          const { head, body, length: n } = this.#queue[i]!;
          batch[offset] = n >>> 24;
          batch[offset + 1] = (n >>> 16) & 0xff;
          batch[offset + 2] = (n >>> 8) & 0xff;
          batch[offset + 3] = n & 0xff;
          batch.set(head, offset + PREFIX);
          if (body) batch.set(body, offset + PREFIX + head.length);
          offset += PREFIX + n;
        }
        this.#queueHead = end;
        await this.#io.write(batch);
        this.#wrote(size);
      }
    } catch (cause) {
      if (!this.#aborted) {
        this.#failWrite(
          new TransportError("transport_failed", "writing the stream failed", { cause }),
        );
      }
    }
  }

  #wrote(n: number): void {
    this.#written += n;
    this.#queuedBytes -= n;
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    while (this.#waiters.length > 0 && this.#waiters[0]!.until <= this.#written) {
      this.#waiters.shift()!.resolve();
    }
    this.onWritten();
  }

  #failWrite(error: TransportError): void {
    if (this.#writeFailure) return;
    this.#writeFailure = error;
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    this.onWriteError(error);
  }

  // ---------------------------------------------------------------- releasing

  /**
   * Ends the stream once every queued frame is written, and releases it.
   * The session calls it after a failed handshake's alert.
   */
  close(): Promise<void> {
    this.#ending ??= (async () => {
      while (this.#writing) await this.#writing;
      await this.#io.end();
    })();
    return this.#ending;
  }

  /** Releases the stream now: queued frames are dropped, reads end. */
  abort(): Promise<void> {
    if (!this.#aborted) {
      this.#aborted = true;
      this.#queue = [];
      this.#queueHead = 0;
      this.#queuedBytes = 0;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    }
    return this.#io.abort();
  }

  /** Releases the stream (if it is not yet) and resolves once no read or write is under way. */
  async dispose(): Promise<void> {
    await this.#io.abort();
    while (this.#writing) await this.#writing;
    await this.#receiving;
    await this.#ending?.catch(noop);
  }
}
