/**
 * Secure streams and servers: a {@linkcode SecureSession} over any duplex
 * byte stream, in the shape of the stream it wraps.
 *
 * - {@linkcode SecureStream}: `{ readable, writable }` in (a `Deno.Conn`, a
 *   Web streams pair, a Node or Bun socket through `Duplex.toWeb()`), the
 *   same shape out, authenticated and encrypted, with backpressure, close and
 *   truncation detection.
 * - {@linkcode serveSecure}: an accept loop with a handshake deadline, a
 *   bound on concurrent handshakes, a peer hook, close-on-failure and a
 *   graceful shutdown.
 * - {@linkcode connectSecure}: a client connection and its handshake within
 *   one deadline.
 *
 * @example Three lines to a secure server
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { connectSecure, serveSecure } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const server = await generateIdentityKeyPair();
 * const client = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey, client: client.publicKey });
 *
 * const session = { id: "server", privateKey: server.privateKey, getPublicKeyForId };
 * const echo = serveSecure({ hostname: "127.0.0.1", port: 0, session }, (stream) =>
 *   stream.readable.pipeTo(stream.writable));
 *
 * const stream = await connectSecure({
 *   port: echo.addr.port,
 *   session: { id: "client", privateKey: client.privateKey, getPublicKeyForId, expectedPeer: "server" },
 * });
 * const writer = stream.writable.getWriter();
 * const reader = stream.readable.getReader();
 * await writer.write(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode((await reader.read()).value), "hello");
 * await writer.close(); // the authenticated close; the server's handler returns
 * assert.equal((await reader.read()).done, true);
 * await echo.shutdown();
 * ```
 *
 * @module
 */

export {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_STREAM_BUFFER_SIZE,
  SecureStream,
  type SecureStreamOptions,
  type StreamSessionOptions,
} from "./secure_stream.ts";
export {
  DEFAULT_MAX_CONCURRENT_HANDSHAKES,
  type SecureConnectionInfo,
  type SecureHandler,
  SecureServer,
  serveSecure,
  type ServeSecureAddr,
  type ServeSecureOptions,
} from "./serve_secure.ts";
export { connectSecure, type ConnectSecureOptions } from "./connect_secure.ts";
