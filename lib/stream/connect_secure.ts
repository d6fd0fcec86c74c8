/**
 * A secure client: connects over TCP or a Unix socket and runs the handshake,
 * both within one deadline.
 *
 * @module
 */

import { HandshakeError } from "../errors.ts";
import {
  checkKeys,
  checkStreamOptions,
  DEFAULT_HANDSHAKE_TIMEOUT,
  integerOption,
  MAX_TIMEOUT,
  signalOption,
} from "./_options.ts";
import { SecureStream, type StreamSessionOptions } from "./secure_stream.ts";

/**
 * Options of {@linkcode connectSecure}: where to connect (a TCP `port` and
 * `hostname`, or a Unix socket `path`), the session, and the deadline.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { connectSecure, type ConnectSecureOptions } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options: ConnectSecureOptions = {
 *   hostname: "127.0.0.1",
 *   port: 443,
 *   session: { id: "client", privateKey, getPublicKeyForId: () => null, expectedPeer: "server" },
 *   timeout: 5_000,
 * };
 * await assert.rejects(connectSecure({ ...options, timeout: -1 }), RangeError);
 * ```
 */
export interface ConnectSecureOptions {
  /** This side's session; name the server with `expectedPeer`. */
  session: StreamSessionOptions;
  /** The TCP host. Default `"127.0.0.1"`, as `Deno.connect`. */
  hostname?: string;
  /** The TCP port. */
  port?: number;
  /** The path of a Unix socket, instead of TCP. */
  path?: string;
  /**
   * Milliseconds for connecting and the handshake together; past them the
   * call rejects with `handshake_timeout`. Default 10 000.
   */
  timeout?: number;
  /**
   * Aborts connecting and the handshake (the call rejects with the signal's
   * reason), and, once established, the stream.
   */
  signal?: AbortSignal;
  /** Bytes the stream buffers per direction. Default 2 MiB. */
  bufferSize?: number;
}

const CONNECT_KEYS = [
  "session",
  "hostname",
  "port",
  "path",
  "timeout",
  "signal",
  "bufferSize",
] as const;

/**
 * Connects to a secure server and runs the handshake as the client: the
 * connection and the handshake together must complete within `timeout`.
 *
 * @param options Where to connect, the session, the deadline, a signal.
 * @returns The established stream (its transport is closed with it).
 * @throws {HandshakeError} When the handshake fails; `handshake_timeout` past the deadline.
 * @throws {TransportError} When the connection ends during the handshake.
 * @throws {TypeError} For an unknown option or a wrong type.
 * @throws {RangeError} For an option out of range.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { connectSecure } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * // A server that accepts connections and never answers.
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const { privateKey } = await generateIdentityKeyPair();
 * await assert.rejects(
 *   connectSecure({
 *     port: listener.addr.port,
 *     session: { id: "client", privateKey, getPublicKeyForId: () => null },
 *     timeout: 100,
 *   }),
 *   { code: "handshake_timeout" },
 * );
 * (await accepted).close();
 * listener.close();
 * ```
 */
export async function connectSecure(options: ConnectSecureOptions): Promise<SecureStream> {
  checkKeys(options, CONNECT_KEYS, "connectSecure");
  const timeout = integerOption(
    options.timeout,
    "timeout",
    1,
    MAX_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT,
  );
  const config = checkStreamOptions({ ...options, handshakeTimeout: timeout }, "connectSecure");
  const signal = signalOption(options.signal);
  const { hostname, port, path } = options;
  if (hostname !== undefined && typeof hostname !== "string") {
    throw new TypeError("connectSecure: hostname must be a string");
  }
  if (path !== undefined) {
    if (hostname !== undefined || port !== undefined) {
      throw new TypeError("connectSecure: give either a path (Unix socket) or a port and hostname");
    }
    if (typeof path !== "string" || path.length === 0) {
      throw new TypeError("connectSecure: path must be a non-empty string");
    }
  } else if (port === undefined) {
    throw new TypeError("connectSecure: a port or a path is needed");
  } else {
    integerOption(port, "port", 1, 65_535, 0);
  }

  const started = Date.now();
  const connecting = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    connecting.abort();
  }, timeout);
  const onAbort = (): void => connecting.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  let conn: Deno.Conn;
  try {
    if (signal?.aborted) throw signal.reason;
    conn = path !== undefined
      ? await Deno.connect({ transport: "unix", path })
      : await Deno.connect({
        hostname: hostname ?? "127.0.0.1",
        port: port!,
        signal: connecting.signal,
      });
  } catch (err) {
    if (timedOut) {
      throw new HandshakeError("handshake_timeout", `no connection within ${timeout} ms`, {
        cause: err,
      });
    }
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  try {
    (conn as Partial<Deno.TcpConn>).setNoDelay?.(true); // the stream batches writes itself
  } catch {
    // Not every connection has the option.
  }
  if (timedOut || signal?.aborted) {
    // A Unix connect cannot be interrupted: it finished past the deadline, or after the abort.
    conn.close();
    if (signal?.aborted) throw signal.reason;
    throw new HandshakeError("handshake_timeout", `no connection within ${timeout} ms`);
  }
  return await SecureStream.connect(conn, {
    session: config.session,
    handshakeTimeout: Math.max(1, timeout - (Date.now() - started)),
    signal,
    bufferSize: config.bufferSize,
  });
}
