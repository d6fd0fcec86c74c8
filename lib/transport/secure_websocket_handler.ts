/**
 * A `Deno.serve` handler that accepts Secure Sessions over WebSocket: it
 * upgrades the request, runs the server's handshake under a deadline with a
 * bound on handshakes at once, closes the socket of every handshake that
 * fails, and hands each established session to the app.
 *
 * @module
 */

import type { SecureSession, SecureSessionOptions } from "../session/secure_session.ts";
import {
  busy,
  checkServerEndpoint,
  serveConnection,
  upgradeRequired,
  wantsWebSocket,
} from "./_secure_endpoint.ts";
import { webSocketTransport, type WebSocketTransportOptions } from "./websocket.ts";

/**
 * Options of the WebSocket endpoints ({@linkcode secureWebSocketHandler} for
 * `Deno.serve`, `bunWebSocketSessions` for `Bun.serve`): the server's session
 * options (each connection gets its own session; the endpoint makes the
 * transport) and how connections are accepted.
 *
 * Message size: Deno reads a whole WebSocket message into memory before any
 * library code sees it, up to its own built-in limit, which
 * `Deno.upgradeWebSocket` does not let you lower. Only then does the session
 * refuse a message above its bound (4096 bytes during the handshake,
 * `maxRecordSize` plus 1024 bytes of record overhead once established), and
 * `maxRecordSize` bounds what tessera accepts, not what was buffered. To
 * bound what a peer can make the server buffer, set the limit where messages
 * are read: in a WebSocket-aware proxy or gateway in front that enforces a
 * maximum message size, a little above `maxRecordSize` + 1024 (a plain
 * reverse proxy such as nginx or Caddy tunnels frames after the upgrade and
 * bounds connections, rates and idle time, not messages), or on Bun with
 * `maxPayloadLength`, which `bunWebSocketSessions` sets so.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { secureWebSocketHandler, type SecureWebSocketOptions } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options: SecureWebSocketOptions = {
 *   id: "server",
 *   privateKey,
 *   getPublicKeyForId: () => null,
 *   maxRecordSize: 64 * 1024, // and a proxy bound of about 66 KiB per message
 *   handshakeTimeout: 5_000,
 *   maxConcurrentHandshakes: 64,
 *   acceptPeer: (peerId) => peerId.length > 0,
 *   onError: (error) => console.log(error),
 * };
 * const handler = secureWebSocketHandler(options, () => {});
 * assert.equal(typeof handler, "function");
 * assert.throws(() => secureWebSocketHandler({ ...options, handshakeTimeout: 0 }, () => {}), RangeError);
 * ```
 */
export interface SecureWebSocketOptions extends Omit<SecureSessionOptions, "transport"> {
  /**
   * Milliseconds from the upgrade until the handshake must be complete; a
   * connection still handshaking then is closed (`handshake_timeout` to
   * `onError`). Default 10 000 (10 s).
   */
  handshakeTimeout?: number;
  /**
   * Handshakes that may run at once; a request above it is answered 503 with
   * `Retry-After: 1` before it is upgraded. Established sessions do not
   * count. Default 128.
   */
  maxConcurrentHandshakes?: number;
  /**
   * Decides, inside the handshake, whether this authenticated peer may
   * connect (after `expectedPeer`). A refusal fails the handshake with
   * `handshake_peer_rejected` and sends the client an alert: the client's
   * first `receive()` rejects with `handshake_refused`. A hook that throws
   * refuses the peer, and its error goes to `onError`.
   *
   * @param peerId The peer's authenticated id.
   * @param request The upgrade request (headers, URL).
   * @returns `true` to accept the peer.
   */
  acceptPeer?: (peerId: Uint8Array, request: Request) => boolean | Promise<boolean>;
  /**
   * Receives every failure of a connection: handshakes that fail or time out
   * (typed `TesseraError`s: the peer's doing), and errors thrown by
   * `acceptPeer` or `onSession` (the app's). Default: logs errors that are
   * not `TesseraError`s with `console.error`, and drops the rest.
   *
   * @param error What failed.
   * @param request The upgrade request of the connection.
   */
  onError?: (error: unknown, request: Request) => void;
  /**
   * Bounds of the socket's unread messages (`maxQueuedMessages`,
   * `maxQueuedBytes`) and of any message (`maxMessageSize`, default
   * `maxRecordSize` + 1024). See {@linkcode webSocketTransport}.
   */
  webSocket?: WebSocketTransportOptions;
}

/**
 * What the app does with each established session. The session stays open
 * until the promise it returns settles (then the endpoint closes it); a
 * function that returns nothing keeps the session, and closes it itself.
 *
 * @example
 * ```ts
 * import type { OnSecureSession } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * // Echo every message until the peer closes; returning closes the session.
 * const echo: OnSecureSession = async (session) => {
 *   for (let m = await session.receive(); m !== null; m = await session.receive()) {
 *     await session.send(m);
 *   }
 * };
 * assert.equal(typeof echo, "function");
 * ```
 */
export type OnSecureSession = (session: SecureSession, request: Request) => void | Promise<void>;

type UpgradeWebSocket = (request: Request) => { socket: WebSocket; response: Response };

/**
 * Makes a `Deno.serve` handler that runs a Secure Session over each
 * WebSocket connection, as the server. For each request it:
 *
 * 1. answers 426 Upgrade Required to a request that is not a WebSocket
 *    upgrade, 503 when `maxConcurrentHandshakes` handshakes already run, and
 *    400 when `Deno.upgradeWebSocket` refuses the request;
 * 2. upgrades it, and runs the handshake (`accept()`) within
 *    `handshakeTimeout`, with `acceptPeer` deciding inside it;
 * 3. on failure (a peer that says nothing, garbage, an unknown or refused
 *    peer), closes the socket and reports the typed error to `onError`;
 * 4. hands the established session to `onSession`. `session.close()` closes
 *    the socket; the session is also closed when `onSession`'s promise
 *    settles.
 *
 * The module does not touch `Deno` until a request arrives, so it loads in
 * any runtime (on Bun, use `bunWebSocketSessions`).
 *
 * @param options The server's session options and the endpoint's.
 * @param onSession Receives each established session and its upgrade request.
 * @returns A handler for `Deno.serve` (or a router's WebSocket route).
 * @throws {TypeError} When an option has the wrong type or `onSession` is not a function.
 * @throws {RangeError} When a bound is out of range.
 * @throws {KeyError} `key_unsupported` when `privateKey` is not an ECDSA P-256 signing key.
 *
 * @example An echo server and a client
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { connectWebSocket, secureWebSocketHandler } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const server = await generateIdentityKeyPair();
 * const ann = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey, ann: ann.publicKey });
 *
 * const handler = secureWebSocketHandler(
 *   { id: "server", privateKey: server.privateKey, getPublicKeyForId },
 *   async (session) => {
 *     for (let m = await session.receive(); m !== null; m = await session.receive()) {
 *       await session.send(m); // echo until the client closes
 *     }
 *   },
 * );
 * const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
 *
 * const session = await connectWebSocket(`ws://127.0.0.1:${http.addr.port}`, {
 *   id: "ann",
 *   privateKey: ann.privateKey,
 *   getPublicKeyForId,
 *   expectedPeer: "server",
 * });
 * await session.send(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode((await session.receive())!), "hello");
 * await session.close(); // the close record, then the socket closes
 *
 * const plain = await fetch(`http://127.0.0.1:${http.addr.port}/`);
 * await plain.body?.cancel();
 * assert.equal(plain.status, 426);
 * await http.shutdown();
 * ```
 */
export function secureWebSocketHandler(
  options: SecureWebSocketOptions,
  onSession: OnSecureSession,
): (request: Request) => Response {
  const endpoint = checkServerEndpoint(options, onSession);
  let handshaking = 0;
  return (request: Request): Response => {
    if (!wantsWebSocket(request)) return upgradeRequired();
    if (handshaking >= endpoint.maxConcurrentHandshakes) return busy();
    const upgrade = (globalThis as { Deno?: { upgradeWebSocket?: UpgradeWebSocket } }).Deno
      ?.upgradeWebSocket;
    if (typeof upgrade !== "function") {
      throw new TypeError(
        "secureWebSocketHandler() needs Deno.upgradeWebSocket; on Bun use bunWebSocketSessions()",
      );
    }
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = upgrade(request);
    } catch {
      return new Response("Bad WebSocket upgrade request.\n", { status: 400 });
    }
    handshaking++;
    const transport = webSocketTransport(upgraded.socket, endpoint.socket);
    void serveConnection(endpoint, transport, request, () => handshaking--);
    return upgraded.response;
  };
}
