/**
 * A message transport over a `WebSocket`: one binary WebSocket message per
 * session message. Works with `Deno.upgradeWebSocket` on the server, the
 * `WebSocket` client in Deno, Bun and browsers.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { TransportError } from "../errors.ts";
import type { SessionTransport } from "../session/secure_session.ts";

/** How long `close()` waits for the peer to answer the close: 1 s. */
const CLOSE_WAIT = 1000;

/**
 * Options of {@linkcode webSocketTransport}.
 *
 * @example
 * ```ts
 * import { webSocketTransport, type WebSocketTransportOptions } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const options: WebSocketTransportOptions = { maxMessageSize: 4 };
 * let refused: Promise<unknown> = Promise.resolve();
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   refused = webSocketTransport(socket, options).receive().catch((err) => err.code);
 *   return response;
 * });
 * const client = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
 * await client.send(new Uint8Array(5));
 * assert.equal(await refused, "transport_frame_too_large");
 * assert.equal(await client.receive(), null); // the server closed the socket
 * await server.shutdown();
 * ```
 */
export interface WebSocketTransportOptions {
  /** The largest message accepted, in bytes. Default 16 MiB plus record overhead. */
  maxMessageSize?: number;
  /** Messages held unread before the socket is closed as flooding. Default 1024. */
  maxQueuedMessages?: number;
  /** Bytes held unread before the socket is closed as flooding. Default 64 MiB. */
  maxQueuedBytes?: number;
  /**
   * Backpressure: `send()` resolves only once the socket's `bufferedAmount`
   * (bytes accepted but not yet written to the network) is at most this
   * many bytes, so a peer that stops reading holds the sender back instead
   * of growing the buffer without bound. Default 4 MiB.
   */
  maxBufferedBytes?: number;
}

/**
 * A {@linkcode SessionTransport} over a WebSocket.
 *
 * @example
 * ```ts
 * import { webSocketTransport, type WebSocketTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   webSocketTransport(socket).send(new Uint8Array([1])); // sent once the socket opens
 *   return response;
 * });
 * const url = `ws://127.0.0.1:${server.addr.port}`;
 * const transport: WebSocketTransport = webSocketTransport(new WebSocket(url));
 * assert.deepEqual(await transport.receive(), new Uint8Array([1]));
 * transport.close();
 * assert.equal(await transport.receive(), null);
 * await server.shutdown();
 * ```
 */
export interface WebSocketTransport extends SessionTransport {
  /**
   * Sends one message (after the socket opens, if it is still connecting).
   *
   * @param message The bytes.
   */
  send(message: Uint8Array): Promise<void>;
  /**
   * Lowers the largest message accepted next (never above `maxMessageSize`);
   * a `SecureSession` calls it with its handshake bound, then its record bound.
   *
   * @param maxMessageSize The bound, in bytes.
   */
  limit(maxMessageSize: number): void;
  /**
   * Closes the socket. Resolves once it has closed (the peer answered the close), or after
   * one second when the peer does not answer.
   */
  close(): Promise<void>;
}

/**
 * Adapts a WebSocket. `receive()` resolves to `null` once the socket has
 * closed and every queued message was read. A text message, an oversized
 * message or a flood of unread messages fails the transport
 * (`transport_failed` / `transport_frame_too_large`) and closes the socket.
 *
 * @param ws The socket, open or connecting.
 * @param options Bounds.
 * @returns The transport.
 * @throws {RangeError} When a bound is out of range.
 *
 * @example
 * ```ts
 * import { webSocketTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   const t = webSocketTransport(socket);
 *   t.receive().then((m) => m && t.send(m)); // echo one message
 *   return response;
 * });
 * const t = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
 * await t.send(new Uint8Array([42]));
 * assert.deepEqual(await t.receive(), new Uint8Array([42]));
 * t.close();
 * await server.shutdown();
 * ```
 */
export function webSocketTransport(
  ws: WebSocket,
  options: WebSocketTransportOptions = {},
): WebSocketTransport {
  if (
    ws === null || typeof ws !== "object" || typeof (ws as WebSocket).send !== "function" ||
    typeof (ws as WebSocket).addEventListener !== "function"
  ) {
    throw new TypeError(
      typeof ws === "string"
        ? "webSocketTransport() takes an open or opening WebSocket, not a URL: " +
          "pass new WebSocket(url), or use connectWebSocket(url, options)"
        : "webSocketTransport() takes a WebSocket",
    );
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError("options must be an object");
  }
  checkKnownKeys(
    options,
    ["maxMessageSize", "maxQueuedMessages", "maxQueuedBytes", "maxBufferedBytes"],
    "webSocketTransport()",
  );
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024 + 64;
  const maxQueued = options.maxQueuedMessages ?? 1024;
  const maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024;
  if (!Number.isSafeInteger(maxQueuedBytes) || maxQueuedBytes < 1) {
    throw new RangeError("maxQueuedBytes must be a positive integer");
  }
  let queuedBytes = 0;
  /** Sends waiting for the socket to drain: woken early when it closes or fails. */
  const draining = new Set<() => void>();
  const wakeDraining = (): void => {
    for (const wake of draining) wake();
    draining.clear();
  };
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  if (!Number.isSafeInteger(maxBufferedBytes) || maxBufferedBytes < 0) {
    throw new RangeError(
      `maxBufferedBytes must be a non-negative integer, not ${maxBufferedBytes}`,
    );
  }
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) {
    throw new RangeError("maxMessageSize must be a positive integer");
  }
  if (!Number.isSafeInteger(maxQueued) || maxQueued < 1) {
    throw new RangeError("maxQueuedMessages must be a positive integer");
  }
  let bound = maxMessageSize;
  ws.binaryType = "arraybuffer";
  const queue: Uint8Array[] = [];
  const waiters: { resolve(m: Uint8Array | null): void; reject(e: unknown): void }[] = [];
  let failure: TransportError | null = null;
  let closed = ws.readyState === WebSocket.CLOSED;

  const fail = (error: TransportError): void => {
    if (failure) return;
    failure = error;
    queue.length = 0;
    queuedBytes = 0;
    wakeDraining();
    for (const w of waiters.splice(0)) w.reject(error);
    try {
      ws.close(1008, "protocol error");
    } catch { /* already closing */ }
  };

  ws.addEventListener("message", (event: MessageEvent) => {
    if (failure) return;
    if (!(event.data instanceof ArrayBuffer)) {
      return fail(new TransportError("transport_failed", "received a non-binary message"));
    }
    if (event.data.byteLength > Math.min(maxMessageSize, bound)) {
      const limit = Math.min(maxMessageSize, bound);
      return fail(
        new TransportError(
          "transport_frame_too_large",
          `a message of ${event.data.byteLength} bytes exceeds ${
            bound < maxMessageSize
              ? "the bound the session set for its next message"
              : "maxMessageSize"
          }: ${limit} bytes`,
        ),
      );
    }
    const message = new Uint8Array(event.data);
    const waiter = waiters.shift();
    if (waiter) return waiter.resolve(message);
    if (queue.length >= maxQueued || queuedBytes + message.length > maxQueuedBytes) {
      return fail(
        new TransportError(
          "transport_failed",
          `too many unread messages: ${queue.length + 1} messages, ${
            queuedBytes + message.length
          } bytes (limits ${maxQueued} messages, ${maxQueuedBytes} bytes)`,
        ),
      );
    }
    queue.push(message);
    queuedBytes += message.length;
  });
  ws.addEventListener("close", () => {
    closed = true;
    for (const w of waiters.splice(0)) w.resolve(null);
    wakeDraining();
  });
  ws.addEventListener("error", () => {
    if (!closed) fail(new TransportError("transport_failed", "WebSocket error"));
  });

  const opened = new Promise<void>((resolve, reject) => {
    if (ws.readyState === WebSocket.OPEN) return resolve();
    if (ws.readyState === WebSocket.CLOSED) {
      return reject(new TransportError("transport_closed", "the WebSocket closed"));
    }
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener(
      "close",
      () => reject(new TransportError("transport_closed", "the WebSocket closed")),
      { once: true },
    );
  });
  opened.catch(() => {});

  return {
    async send(message: Uint8Array): Promise<void> {
      if (failure) throw failure;
      if (message.length > maxMessageSize) {
        throw new TransportError(
          "transport_frame_too_large",
          `a message of ${message.length} bytes exceeds maxMessageSize (${maxMessageSize} bytes)`,
        );
      }
      await opened;
      if (ws.readyState !== WebSocket.OPEN) {
        throw new TransportError("transport_closed", "the WebSocket is not open");
      }
      ws.send(message.slice());
      // The standard WebSocket has no drain event: wait, backing off, while the socket holds
      // more than the bound (the peer is not reading), until it drains or closes.
      for (let wait = 1; ws.bufferedAmount > maxBufferedBytes; wait = Math.min(wait * 2, 50)) {
        if (failure) throw failure;
        if (ws.readyState !== WebSocket.OPEN) {
          throw new TransportError("transport_closed", "the WebSocket closed while sending");
        }
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            draining.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, wait);
          draining.add(wake);
        });
      }
    },
    receive(): Promise<Uint8Array | null> {
      if (failure) return Promise.reject(failure);
      const message = queue.shift();
      if (message) queuedBytes -= message.length;
      if (message) return Promise.resolve(message);
      if (closed) return Promise.resolve(null);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    limit(maxMessageSize: number): void {
      bound = maxMessageSize;
    },
    close(): Promise<void> {
      if (closed) return Promise.resolve();
      try {
        ws.close();
      } catch { /* already closing */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      return new Promise<void>((resolve) => {
        if (closed) return resolve();
        ws.addEventListener("close", () => resolve(), { once: true });
        timer = setTimeout(resolve, CLOSE_WAIT);
      }).finally(() => clearTimeout(timer));
    },
  };
}
