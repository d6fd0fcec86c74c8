/**
 * The client side of a Secure Session over WebSocket: open the socket, run
 * the handshake, all within one deadline, and return the established session.
 * Uses only the standard `WebSocket`, so it runs in Deno, Bun and browsers.
 *
 * @module
 */

import type { SecureSession, SecureSessionOptions } from "../session/secure_session.ts";
import {
  checkSessionOptions,
  checkSocketOptions,
  checkTimeout,
  handshakeWithin,
  sessionOn,
} from "./_secure_endpoint.ts";
import { webSocketTransport, type WebSocketTransportOptions } from "./websocket.ts";

/**
 * Options of {@linkcode connectWebSocket}: the client's session options (the
 * function makes the transport) and how the socket is opened.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { connectWebSocket, type ConnectWebSocketOptions } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options: ConnectWebSocketOptions = {
 *   id: "ann",
 *   privateKey,
 *   getPublicKeyForId: () => null,
 *   expectedPeer: "server",
 *   timeout: 5_000,
 * };
 * await assert.rejects(connectWebSocket("ftp://example.com/", options), TypeError);
 * ```
 */
export interface ConnectWebSocketOptions extends Omit<SecureSessionOptions, "transport"> {
  /**
   * Milliseconds for the socket to open and the handshake to finish; past
   * it, the socket is closed and the call rejects with `handshake_timeout`.
   * Default 10 000 (10 s).
   */
  timeout?: number;
  /** WebSocket subprotocols to offer, as for `new WebSocket(url, protocols)`. */
  protocols?: string | string[];
  /**
   * Bounds of unread messages and of any message (default `maxRecordSize`
   * + 1024). See {@linkcode webSocketTransport}.
   */
  webSocket?: WebSocketTransportOptions;
}

/**
 * Opens a WebSocket to `url` (binary messages as `ArrayBuffer`s), runs the
 * handshake as the client, and returns the established session. Name the
 * server with `expectedPeer`: the client then reveals its id to no other.
 *
 * `session.close()` sends the close record and closes the socket. A server
 * that refuses this client (its `acceptPeer`, an unknown id) tells it with
 * an alert that arrives after the client's last handshake message: the
 * session's first `receive()` rejects with `handshake_refused`.
 *
 * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
 * @param options The client's session options, `timeout` and socket bounds.
 * @returns The established session.
 * @throws {TypeError} When the URL or an option is invalid.
 * @throws {RangeError} When a bound is out of range.
 * @throws {HandshakeError} `handshake_timeout` past `timeout`, or the handshake's own failure.
 * @throws {TransportError} When the socket cannot be opened or closes during the handshake.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { connectWebSocket, secureWebSocketHandler } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const server = await generateIdentityKeyPair();
 * const ann = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey, ann: ann.publicKey });
 * const http = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   secureWebSocketHandler(
 *     { id: "server", privateKey: server.privateKey, getPublicKeyForId },
 *     async (session) => {
 *       await session.send(new TextEncoder().encode("welcome"));
 *       await session.receive(); // null once the client closes
 *     },
 *   ),
 * );
 * const session = await connectWebSocket(`ws://127.0.0.1:${http.addr.port}/chat`, {
 *   id: "ann",
 *   privateKey: ann.privateKey,
 *   getPublicKeyForId,
 *   expectedPeer: "server",
 *   timeout: 2_000,
 * });
 * assert.equal(new TextDecoder().decode(session.peerId!), "server");
 * assert.equal(new TextDecoder().decode((await session.receive())!), "welcome");
 * await session.close();
 * await http.shutdown();
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions,
): Promise<SecureSession> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const { timeout, protocols, webSocket, ...rest } = options;
  const sessionOptions = checkSessionOptions(rest);
  const deadline = checkTimeout(timeout, "timeout");
  const socketOptions = checkSocketOptions(webSocket, sessionOptions);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new TypeError("url must be an absolute ws:, wss:, http: or https: URL");
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(target.protocol)) {
    throw new TypeError("url must be an absolute ws:, wss:, http: or https: URL");
  }
  if (target.protocol === "http:") target.protocol = "ws:";
  if (target.protocol === "https:") target.protocol = "wss:";
  const socket = protocols === undefined
    ? new WebSocket(target.href)
    : new WebSocket(target.href, protocols);
  socket.binaryType = "arraybuffer";
  const session = sessionOn(
    sessionOptions,
    sessionOptions.expectedPeer,
    webSocketTransport(socket, socketOptions),
  );
  // The transport's first send waits for the socket to open, inside the same deadline.
  await handshakeWithin(session, () => session.connect(), deadline);
  return session;
}
