/**
 * Secure Sessions over `Bun.serve` WebSockets. Bun's server-side socket
 * (`ServerWebSocket`) is not a standard `WebSocket`: its messages arrive
 * through the server's `websocket.message(ws, message)` handler, not through
 * events on the socket. {@linkcode bunWebSocketSessions} returns those
 * handlers and the `upgrade` call for `fetch`, and runs each connection as
 * `secureWebSocketHandler` does on Deno. Typed structurally: no Bun types are
 * imported, and the module loads in any runtime.
 *
 * @module
 */

import { TransportError } from "../errors.ts";
import type { SessionTransport } from "../session/secure_session.ts";
import {
  busy,
  checkServerEndpoint,
  serveConnection,
  type ServerEndpoint,
  type SocketBounds,
  upgradeRequired,
  wantsWebSocket,
} from "./_secure_endpoint.ts";
import type { OnSecureSession, SecureWebSocketOptions } from "./secure_websocket_handler.ts";

/**
 * The parts of Bun's `ServerWebSocket` this adapter uses.
 *
 * @example
 * ```ts
 * import type { BunServerWebSocket } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * // A stand-in, as a test might build one; Bun passes its own ServerWebSocket.
 * const sent: Uint8Array[] = [];
 * const ws: BunServerWebSocket = {
 *   data: undefined,
 *   readyState: 1,
 *   send(data) {
 *     sent.push(data);
 *     return data.length;
 *   },
 *   close() {},
 * };
 * assert.equal(ws.send(new Uint8Array(3)), 3);
 * ```
 */
export interface BunServerWebSocket {
  /** What `server.upgrade(request, { data })` attached (the adapter's per-socket state). */
  readonly data: unknown;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /**
   * Sends one binary message.
   *
   * @param data The bytes.
   * @returns Bytes sent; -1 when queued under backpressure; 0 when dropped.
   */
  send(data: Uint8Array): number;
  /**
   * Closes the socket.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): void;
}

/**
 * The part of Bun's `Server` that upgrades a request.
 *
 * @example
 * ```ts
 * import type { BunServer } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const server: BunServer = { upgrade: () => false }; // Bun passes its own Server
 * assert.equal(server.upgrade(new Request("http://localhost/")), false);
 * ```
 */
export interface BunServer {
  /**
   * Upgrades `request` to a WebSocket.
   *
   * @param request The HTTP request.
   * @param options `data` to attach to the socket.
   * @returns Whether the upgrade happened.
   */
  upgrade(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean;
}

/**
 * The `websocket` handlers for `Bun.serve`, with `maxPayloadLength` set to
 * the largest message a session accepts, so Bun refuses a larger message
 * (closing the socket) while it reads it.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { bunWebSocketSessions, type BunWebSocketHandlers } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options = { id: "server", privateKey, getPublicKeyForId: () => null };
 * const handlers: BunWebSocketHandlers = bunWebSocketSessions(
 *   { ...options, maxRecordSize: 64 * 1024 },
 *   () => {},
 * ).websocket;
 * assert.equal(handlers.maxPayloadLength, 64 * 1024 + 1024);
 * ```
 */
export interface BunWebSocketHandlers {
  /**
   * Starts the handshake on a socket upgraded by `upgrade`.
   *
   * @param ws The socket.
   */
  open(ws: BunServerWebSocket): void;
  /**
   * Delivers one message to the socket's session.
   *
   * @param ws The socket.
   * @param message The message (text messages fail the session).
   */
  message(ws: BunServerWebSocket, message: string | ArrayBuffer | Uint8Array): void;
  /**
   * Ends the socket's session transport.
   *
   * @param ws The socket.
   * @param code The close code.
   * @param reason The close reason.
   */
  close(ws: BunServerWebSocket, code?: number, reason?: string): void;
  /**
   * Lets sends waiting on backpressure go on.
   *
   * @param ws The socket.
   */
  drain(ws: BunServerWebSocket): void;
  /** The largest message Bun reads: `maxRecordSize` + 1024 (or `webSocket.maxMessageSize`). */
  readonly maxPayloadLength: number;
}

/**
 * What {@linkcode bunWebSocketSessions} returns: `upgrade` for the `fetch`
 * handler, and the `websocket` handlers for `Bun.serve`.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { bunWebSocketSessions, type BunWebSocketSessions } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const sessions: BunWebSocketSessions = bunWebSocketSessions(
 *   { id: "server", privateKey, getPublicKeyForId: () => null },
 *   () => {},
 * );
 * const server = { upgrade: () => true };
 * const plain = sessions.upgrade(new Request("http://localhost/"), server);
 * assert.equal(plain?.status, 426);
 * ```
 */
export interface BunWebSocketSessions {
  /**
   * Upgrades a WebSocket request for a session; call it from `fetch` and
   * return what it returns.
   *
   * @param request The request.
   * @param server The `Bun.serve` server (`fetch`'s second argument).
   * @returns `undefined` once upgraded (Bun answers the upgrade); otherwise
   *   426 for a request that is not a WebSocket upgrade, 503 when
   *   `maxConcurrentHandshakes` handshakes already run, 400 when Bun refuses
   *   the upgrade.
   */
  upgrade(request: Request, server: BunServer): Response | undefined;
  /** The handlers to pass as `Bun.serve({ websocket })`. */
  readonly websocket: BunWebSocketHandlers;
}

/** The adapter's per-socket state, attached as the socket's `data`. */
class SocketState {
  transport: ServerSocketTransport | null = null;
  constructor(readonly request: Request) {}
}

const OPEN = 1;

/** A session transport over a Bun `ServerWebSocket`, fed by the server's handlers. */
class ServerSocketTransport implements SessionTransport {
  #ws: BunServerWebSocket;
  #bounds: SocketBounds;
  #bound: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #waiters: { resolve(m: Uint8Array | null): void; reject(e: unknown): void }[] = [];
  #drainWaiters: (() => void)[] = [];
  #failure: TransportError | null = null;
  #ended = false;

  constructor(ws: BunServerWebSocket, bounds: SocketBounds) {
    this.#ws = ws;
    this.#bounds = bounds;
    this.#bound = bounds.maxMessageSize;
  }

  #fail(error: TransportError): void {
    if (this.#failure || this.#ended) return;
    this.#failure = error;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const w of this.#waiters.splice(0)) w.reject(error);
    this.#release();
    try {
      this.#ws.close(1008, "protocol error");
    } catch { /* already closing */ }
  }

  #release(): void {
    for (const resume of this.#drainWaiters.splice(0)) resume();
  }

  /** A message from `websocket.message`. */
  deliver(data: string | ArrayBuffer | Uint8Array): void {
    if (this.#failure || this.#ended) return;
    if (typeof data === "string") {
      return this.#fail(new TransportError("transport_failed", "received a non-binary message"));
    }
    const length = data.byteLength;
    if (length > Math.min(this.#bounds.maxMessageSize, this.#bound)) {
      return this.#fail(
        new TransportError("transport_frame_too_large", "message exceeds the bound"),
      );
    }
    const message = new Uint8Array(length);
    message.set(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve(message);
    if (
      this.#queue.length >= this.#bounds.maxQueuedMessages ||
      this.#queuedBytes + length > this.#bounds.maxQueuedBytes
    ) {
      return this.#fail(new TransportError("transport_failed", "too many unread messages"));
    }
    this.#queue.push(message);
    this.#queuedBytes += length;
  }

  /** The socket closed (`websocket.close`). */
  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve(null);
    this.#release();
  }

  /** The socket can take more (`websocket.drain`). */
  drained(): void {
    this.#release();
  }

  send(message: Uint8Array): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (message.length > this.#bounds.maxMessageSize) {
      return Promise.reject(
        new TransportError("transport_frame_too_large", "message exceeds the bound"),
      );
    }
    if (this.#ended || this.#ws.readyState !== OPEN) {
      return Promise.reject(new TransportError("transport_closed", "the WebSocket is not open"));
    }
    const status = this.#ws.send(message.slice());
    if (status === 0) {
      return Promise.reject(new TransportError("transport_closed", "the WebSocket dropped it"));
    }
    // Queued under backpressure: resolve once Bun drains the socket (or it ends).
    if (status === -1) return new Promise((resolve) => this.#drainWaiters.push(resolve));
    return Promise.resolve();
  }

  receive(): Promise<Uint8Array | null> {
    if (this.#failure) return Promise.reject(this.#failure);
    const message = this.#queue.shift();
    if (message) {
      this.#queuedBytes -= message.length;
      // Queued before the session lowered its bound: checked again now.
      if (message.length > this.#bound) {
        const error = new TransportError("transport_frame_too_large", "message exceeds the bound");
        this.#fail(error);
        return Promise.reject(error);
      }
      return Promise.resolve(message);
    }
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  limit(maxMessageSize: number): void {
    this.#bound = maxMessageSize;
  }

  close(): void {
    if (this.#ended) return;
    try {
      this.#ws.close(1000);
    } catch { /* already closing */ }
  }
}

/**
 * Runs Secure Sessions over `Bun.serve` WebSockets, as the server: the same
 * options, deadline, bound, peer hook and hand-over as
 * `secureWebSocketHandler` on Deno. Give `websocket` to `Bun.serve` and
 * call `upgrade(request, server)` from `fetch` for the session route. The
 * handlers serve only sockets upgraded through this `upgrade`; any other
 * socket is closed at `open`.
 *
 * Bun reads each message whole before `message` is called; `websocket`
 * carries `maxPayloadLength` (the session's record bound plus 1024), so Bun
 * itself refuses larger messages while reading them (closing with 1009).
 * A session's `send()` resolves once Bun has taken the message; when Bun
 * reports backpressure, once the socket has drained (or closed).
 *
 * @param options The server's session options and the endpoint's (see
 *   `SecureWebSocketOptions`).
 * @param onSession Receives each established session and its upgrade request;
 *   the session is closed once the promise it returns settles.
 * @returns `upgrade` for `fetch` and the `websocket` handlers.
 * @throws {TypeError} When an option has the wrong type or `onSession` is not a function.
 * @throws {RangeError} When a bound is out of range.
 * @throws {KeyError} `key_unsupported` when `privateKey` is not an ECDSA P-256 signing key.
 *
 * @example Under Bun
 * ```ts ignore
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { bunWebSocketSessions } from "@tessera/session/transport";
 *
 * const server = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey });
 * const sessions = bunWebSocketSessions(
 *   { id: "server", privateKey: server.privateKey, getPublicKeyForId },
 *   async (session) => {
 *     for (let m = await session.receive(); m !== null; m = await session.receive()) {
 *       await session.send(m);
 *     }
 *   },
 * );
 * Bun.serve({
 *   port: 3000,
 *   fetch: (request, bun) => sessions.upgrade(request, bun),
 *   websocket: sessions.websocket,
 * });
 * ```
 *
 * @example Driven by hand, as Bun drives it
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { bunWebSocketSessions, type BunServerWebSocket } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const failed = Promise.withResolvers<unknown>();
 * const sessions = bunWebSocketSessions(
 *   { id: "server", privateKey, getPublicKeyForId: () => null, onError: failed.resolve },
 *   () => {},
 * );
 * const sockets: BunServerWebSocket[] = [];
 * const closed = Promise.withResolvers<void>();
 * const server = {
 *   upgrade(_request: Request, options?: { data?: unknown }): boolean {
 *     const close = () => closed.resolve();
 *     sockets.push({ data: options?.data, readyState: 1, send: (m) => m.length, close });
 *     return true;
 *   },
 * };
 * const request = new Request("http://localhost/", { headers: { upgrade: "websocket" } });
 * assert.equal(sessions.upgrade(request, server), undefined); // upgraded
 * const ws = sockets[0]!;
 * sessions.websocket.open(ws);
 * sessions.websocket.message(ws, new Uint8Array([9, 9, 9])); // not a ClientHello
 * await closed.promise; // the adapter sent its alert and closed the socket
 * sessions.websocket.close(ws, 1000, "");
 * assert.equal(((await failed.promise) as { code: string }).code, "handshake_unexpected");
 * ```
 */
export function bunWebSocketSessions(
  options: SecureWebSocketOptions,
  onSession: OnSecureSession,
): BunWebSocketSessions {
  const endpoint: ServerEndpoint = checkServerEndpoint(options, onSession);
  let handshaking = 0;
  const stateOf = (ws: BunServerWebSocket): SocketState | null =>
    ws.data instanceof SocketState ? ws.data : null;
  return {
    upgrade(request: Request, server: BunServer): Response | undefined {
      if (!wantsWebSocket(request)) return upgradeRequired();
      if (handshaking >= endpoint.maxConcurrentHandshakes) return busy();
      if (server.upgrade(request, { data: new SocketState(request) })) return undefined;
      return new Response("Bad WebSocket upgrade request.\n", { status: 400 });
    },
    websocket: {
      open(ws: BunServerWebSocket): void {
        const state = stateOf(ws);
        if (!state || state.transport) {
          try {
            ws.close(1011, "not a session socket");
          } catch { /* already closing */ }
          return;
        }
        const transport = new ServerSocketTransport(ws, endpoint.socket);
        state.transport = transport;
        handshaking++;
        void serveConnection(endpoint, transport, state.request, () => handshaking--);
      },
      message(ws: BunServerWebSocket, message: string | ArrayBuffer | Uint8Array): void {
        stateOf(ws)?.transport?.deliver(message);
      },
      close(ws: BunServerWebSocket): void {
        stateOf(ws)?.transport?.end();
      },
      drain(ws: BunServerWebSocket): void {
        stateOf(ws)?.transport?.drained();
      },
      maxPayloadLength: endpoint.socket.maxMessageSize,
    },
  };
}
