/**
 * A message transport over a byte stream: each message is sent as a 4-byte
 * big-endian length followed by its bytes. Works over any `ReadableStream` /
 * `WritableStream` pair: `Deno.Conn` (TCP, Unix sockets, TLS), Web streams,
 * `Bun` sockets wrapped as streams.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { TransportError } from "../errors.ts";
import type { SessionTransport } from "../session/secure_session.ts";

/**
 * The default largest frame: 16 MiB plus record overhead.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_SIZE, framedStreamTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_FRAME_SIZE, 16 * 1024 * 1024 + 64);
 * const transport = framedStreamTransport(new TransformStream<Uint8Array, Uint8Array>());
 * await assert.rejects(transport.send(new Uint8Array(DEFAULT_MAX_FRAME_SIZE + 1)), {
 *   code: "transport_frame_too_large",
 * });
 * ```
 */
export const DEFAULT_MAX_FRAME_SIZE: number = 16 * 1024 * 1024 + 64;
const PREFIX = 4;

/**
 * A readable and writable byte stream, such as a `Deno.Conn`.
 *
 * @example
 * ```ts
 * import { type ByteStreamPair, framedStreamTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = listener.addr.port;
 * const [conn, accepted] = await Promise.all([
 *   Deno.connect({ hostname: "127.0.0.1", port }),
 *   listener.accept(),
 * ]);
 * const stream: ByteStreamPair = conn; // a Deno.Conn is a readable and writable byte stream
 * const [a, b] = [framedStreamTransport(stream), framedStreamTransport(accepted)];
 * await a.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await b.receive(), new Uint8Array([1, 2, 3]));
 * await Promise.all([a.close(), b.close()]);
 * listener.close();
 * ```
 */
export interface ByteStreamPair {
  /** The incoming bytes. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The outgoing bytes. */
  readonly writable: WritableStream<Uint8Array>;
}

/**
 * Options of {@linkcode framedStreamTransport}.
 *
 * @example
 * ```ts
 * import { framedStreamTransport, type FramedStreamOptions } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const options: FramedStreamOptions = { maxFrameSize: 4 };
 * const transport = framedStreamTransport(new TransformStream<Uint8Array, Uint8Array>(), options);
 * await assert.rejects(transport.send(new Uint8Array(5)), { code: "transport_frame_too_large" });
 * const sent = transport.send(new Uint8Array(4)); // a loopback: what it sends, it receives
 * assert.deepEqual(await transport.receive(), new Uint8Array(4));
 * await sent;
 * ```
 */
export interface FramedStreamOptions {
  /** The largest frame accepted or sent, in bytes. Default {@linkcode DEFAULT_MAX_FRAME_SIZE}. */
  maxFrameSize?: number;
}

/**
 * A {@linkcode SessionTransport} over a byte stream, with a `close()` that ends it.
 *
 * @example
 * ```ts
 * import { framedStreamTransport, type FramedStreamTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const transport: FramedStreamTransport = framedStreamTransport(pipe);
 * const sent = transport.send(new Uint8Array([1]));
 * assert.deepEqual(await transport.receive(), new Uint8Array([1]));
 * await sent;
 * await transport.close();
 * assert.equal(await transport.receive(), null); // ended cleanly between frames
 * ```
 */
export interface FramedStreamTransport extends SessionTransport {
  /**
   * Sends one message as a frame; writes happen in call order.
   *
   * @param message The bytes.
   */
  send(message: Uint8Array): Promise<void>;
  /**
   * Lowers the largest frame accepted next (never above `maxFrameSize`); a
   * `SecureSession` calls it with its handshake bound, then its record bound.
   *
   * @param maxMessageSize The bound, in bytes.
   */
  limit(maxMessageSize: number): void;
  /** Closes the writable side and cancels the readable side. */
  close(): Promise<void>;
}

/**
 * Frames messages over a byte stream. `receive()` resolves to `null` when the
 * stream ends cleanly between frames; a stream that ends inside a frame is
 * `transport_closed`, a frame above the bound is `transport_frame_too_large`
 * (checked before anything is buffered).
 *
 * @param stream The stream pair, e.g. a `Deno.Conn`.
 * @param options The frame bound.
 * @returns The transport.
 * @throws {RangeError} When `maxFrameSize` is out of range.
 *
 * @example
 * ```ts
 * import { framedStreamTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const t = framedStreamTransport(pipe); // a loopback: what it sends, it receives
 * const sent = t.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await t.receive(), new Uint8Array([1, 2, 3]));
 * await sent;
 * ```
 */
export function framedStreamTransport(
  stream: ByteStreamPair,
  options: FramedStreamOptions = {},
): FramedStreamTransport {
  if (
    stream === null || typeof stream !== "object" ||
    typeof (stream as { readable?: { getReader?: unknown } }).readable?.getReader !== "function" ||
    typeof (stream as { writable?: { getWriter?: unknown } }).writable?.getWriter !== "function"
  ) {
    throw new TypeError(
      "framedStreamTransport() takes a { readable, writable } byte stream pair " +
        "(a Deno.Conn, a Web streams pair, or a Node socket through Duplex.toWeb)",
    );
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError("options must be an object");
  }
  checkKnownKeys(options, ["maxFrameSize"], "framedStreamTransport()");
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 1 || maxFrameSize > 2 ** 31) {
    throw new RangeError("maxFrameSize must be 1 to 2^31 bytes");
  }
  let bound = maxFrameSize;
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  let buffered: Uint8Array[] = [];
  let bufferedLength = 0;
  let ended = false;

  /** Takes `n` bytes from the front of the buffer (the caller checked they are there). */
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = buffered[0]!;
      const count = Math.min(head.length, n - filled);
      out.set(head.subarray(0, count), filled);
      filled += count;
      if (count === head.length) buffered.shift();
      else buffered[0] = head.subarray(count);
    }
    bufferedLength -= n;
    return out;
  };

  /** Reads until `n` bytes are buffered; `false` at a clean end of stream. */
  const fill = async (n: number): Promise<boolean> => {
    while (bufferedLength < n) {
      if (ended) return false;
      let chunk;
      try {
        chunk = await reader.read();
      } catch (cause) {
        throw new TransportError("transport_failed", "reading the stream failed", { cause });
      }
      if (chunk.done) {
        ended = true;
        return bufferedLength >= n;
      }
      if (chunk.value.length > 0) {
        buffered.push(chunk.value);
        bufferedLength += chunk.value.length;
      }
    }
    return true;
  };

  let receiving: Promise<unknown> = Promise.resolve();
  let failure: TransportError | null = null;
  const receiveOne = async (): Promise<Uint8Array | null> => {
    if (failure) throw failure;
    if (!(await fill(PREFIX))) {
      if (bufferedLength === 0) return null;
      throw new TransportError("transport_closed", "the stream ended inside a frame header");
    }
    const header = take(PREFIX);
    const length = new DataView(header.buffer).getUint32(0);
    if (length > Math.min(maxFrameSize, bound)) {
      buffered = [];
      bufferedLength = 0;
      // The stream is now inside a frame it will not read: it cannot be resynchronized.
      failure = new TransportError(
        "transport_frame_too_large",
        frameTooLarge(length, maxFrameSize, bound),
      );
      reader.cancel().catch(() => {});
      throw failure;
    }
    if (!(await fill(length))) {
      throw new TransportError("transport_closed", "the stream ended inside a frame");
    }
    return take(length);
  };

  let sending: Promise<void> = Promise.resolve();
  return {
    receive(): Promise<Uint8Array | null> {
      // Serialized: concurrent calls get consecutive frames.
      const next = receiving.then(receiveOne);
      receiving = next.catch(() => {});
      return next;
    },
    send(message: Uint8Array): Promise<void> {
      if (message.length > maxFrameSize) {
        return Promise.reject(
          new TransportError(
            "transport_frame_too_large",
            `a message of ${message.length} bytes exceeds maxFrameSize (${maxFrameSize} bytes)`,
          ),
        );
      }
      const frame = new Uint8Array(PREFIX + message.length);
      new DataView(frame.buffer).setUint32(0, message.length);
      frame.set(message, PREFIX);
      const next = sending.then(() => writer.write(frame)).catch((cause) => {
        throw new TransportError("transport_failed", "writing the stream failed", { cause });
      });
      sending = next.catch(() => {});
      return next;
    },
    limit(maxMessageSize: number): void {
      bound = maxMessageSize;
    },
    async close(): Promise<void> {
      await sending;
      await writer.close().catch(() => {});
      await reader.cancel().catch(() => {});
    },
  };
}

/** Says which bound a refused frame hit and by how much. */
function frameTooLarge(length: number, maxFrameSize: number, bound: number): string {
  const limit = Math.min(maxFrameSize, bound);
  const which = bound < maxFrameSize
    ? "the bound the session set for its next message (the handshake message bound, or its record bound)"
    : "maxFrameSize";
  return `a frame of ${length} bytes exceeds ${which}: ${limit} bytes`;
}
