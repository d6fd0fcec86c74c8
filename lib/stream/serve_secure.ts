/**
 * A secure server: accepts connections, runs their handshakes concurrently
 * under a deadline and a bound, and hands each established
 * {@linkcode SecureStream} to a handler.
 *
 * @module
 */

import { toBytes } from "../crypto/_bytes.ts";
import type { PeerPolicy } from "../session/profile.ts";
import { Signal } from "./_chunks.ts";
import {
  checkKeys,
  checkStreamOptions,
  functionOption,
  integerOption,
  type StreamConfig,
} from "./_options.ts";
import { SecureStream, type StreamSessionOptions } from "./secure_stream.ts";

/**
 * How many handshakes a server runs at once unless told otherwise: 128.
 * Further connections wait in the listener's backlog.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_CONCURRENT_HANDSHAKES } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_CONCURRENT_HANDSHAKES, 128);
 * ```
 */
export const DEFAULT_MAX_CONCURRENT_HANDSHAKES = 128;

/**
 * What a {@linkcode serveSecure} handler learns besides its stream.
 *
 * @example
 * ```ts
 * import type { SecureConnectionInfo } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const info: SecureConnectionInfo = {
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
 * };
 * assert.equal(info.remoteAddr.transport, "tcp");
 * ```
 */
export interface SecureConnectionInfo {
  /** The peer's network address. */
  readonly remoteAddr: Deno.Addr;
}

/**
 * Handles one established connection. The connection lives until the
 * returned promise settles: then the stream is closed (the authenticated
 * close is sent) when it resolved, or cut when it rejected.
 *
 * @example
 * ```ts
 * import type { SecureHandler } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const echo: SecureHandler = (stream) => stream.readable.pipeTo(stream.writable);
 * assert.equal(typeof echo, "function");
 * ```
 */
export type SecureHandler = (
  stream: SecureStream,
  info: SecureConnectionInfo,
) => void | Promise<void>;

/**
 * Options of {@linkcode serveSecure}: where to listen (a `listener`, a TCP
 * `port` and `hostname`, or a Unix socket `path`), the session, and the
 * limits on handshakes.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { serveSecure, type ServeSecureOptions } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const options: ServeSecureOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   session: { id: "server", privateKey, getPublicKeyForId: () => null },
 *   handshakeTimeout: 5_000,
 *   maxConcurrentHandshakes: 32,
 * };
 * const server = serveSecure(options, (stream) => stream.readable.pipeTo(stream.writable));
 * assert.equal(server.addr.transport, "tcp");
 * await server.shutdown();
 * assert.throws(() => serveSecure({ ...options, maxConcurrentHandshakes: 0 }, () => {}), RangeError);
 * ```
 */
export interface ServeSecureOptions {
  /** The session of every connection: this server's id, private key, the peer key lookup. */
  session: StreamSessionOptions;
  /** A listener to accept from (the server closes it when it stops). */
  listener?: Deno.Listener;
  /** The TCP host to listen on. Default `"0.0.0.0"`, as `Deno.listen`. */
  hostname?: string;
  /** The TCP port to listen on; 0 picks a free one (see `addr`). */
  port?: number;
  /** The path of a Unix socket to listen on, instead of TCP. */
  path?: string;
  /**
   * Milliseconds from accepting a connection to its established session;
   * a slower client is dropped (`handshake_timeout`). Default 10 000.
   */
  handshakeTimeout?: number;
  /** Handshakes under way at once; more connections wait to be accepted. Default 128. */
  maxConcurrentHandshakes?: number;
  /**
   * Decides, after the handshake has authenticated a client, whether this
   * server talks to it. A refused client gets the handshake's alert and a
   * `handshake_refused` error on its side. Checked beside `session.expectedPeer`.
   */
  acceptPeer?: (peerId: Uint8Array) => boolean | Promise<boolean>;
  /** Shuts the server down (as {@linkcode SecureServer.shutdown}) when aborted. */
  signal?: AbortSignal;
  /**
   * Learns of connections that failed (their handshake, a refused record,
   * the transport) and of handlers that threw. Default: handler errors are
   * logged with `console.error`, failed connections are dropped silently.
   */
  onError?: (error: unknown) => void;
  /** Bytes each stream buffers per direction. Default 2 MiB. */
  bufferSize?: number;
}

/**
 * The address type of a server listening with options `O`: a Unix address
 * for a `path`, the listener's for a `listener`, a TCP address for a `port`
 * (`Deno.Addr` when the options' type does not say).
 *
 * @example
 * ```ts
 * import type { ServeSecureAddr } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const addr: ServeSecureAddr<{ path: string; session: never }> = { transport: "unix", path: "/tmp/s" };
 * assert.equal(addr.path, "/tmp/s");
 * ```
 */
export type ServeSecureAddr<O> = O extends { path: string } ? Deno.UnixAddr
  : O extends { listener: Deno.Listener<Deno.Conn, infer A> } ? A
  : O extends { port: number } ? Deno.NetAddr
  : Deno.Addr;

const SERVE_KEYS = [
  "session",
  "listener",
  "hostname",
  "port",
  "path",
  "handshakeTimeout",
  "maxConcurrentHandshakes",
  "acceptPeer",
  "signal",
  "onError",
  "bufferSize",
] as const;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The session's own peer policy (or its default: anyone but itself), then `acceptPeer`. */
function peerPolicy(
  session: StreamSessionOptions,
  acceptPeer: (peerId: Uint8Array) => boolean | Promise<boolean>,
): PeerPolicy {
  const own = toBytes(session.id);
  const expected = session.expectedPeer;
  return async (id: Uint8Array): Promise<boolean> => {
    if (expected === undefined) {
      if (equalBytes(own, id)) return false;
    } else if (typeof expected === "function") {
      if ((await expected(id.slice())) !== true) return false;
    } else if (!equalBytes(toBytes(expected), id)) {
      return false;
    }
    return (await acceptPeer(id.slice())) === true;
  };
}

/** The listener the options name, or a new one. */
function listen(options: ServeSecureOptions): Deno.Listener {
  const { listener, hostname, port, path } = options;
  if (listener !== undefined) {
    if (hostname !== undefined || port !== undefined || path !== undefined) {
      throw new TypeError("serveSecure: give either a listener, or a port and hostname, or a path");
    }
    if (!isListener(listener)) throw new TypeError("serveSecure: listener must be a Deno.Listener");
    return listener;
  }
  if (path !== undefined) {
    if (hostname !== undefined || port !== undefined) {
      throw new TypeError("serveSecure: give either a path (Unix socket) or a port and hostname");
    }
    if (typeof path !== "string" || path.length === 0) {
      throw new TypeError("serveSecure: path must be a non-empty string");
    }
    return Deno.listen({ transport: "unix", path });
  }
  if (hostname !== undefined && typeof hostname !== "string") {
    throw new TypeError("serveSecure: hostname must be a string");
  }
  if (port === undefined) {
    throw new TypeError("serveSecure: a port, a path or a listener is needed");
  }
  const checked = integerOption(port, "port", 0, 65_535, 0);
  return Deno.listen({ hostname: hostname ?? "0.0.0.0", port: checked });
}

function isListener(value: unknown): value is Deno.Listener {
  const listener = value as Partial<Deno.Listener>;
  return typeof value === "object" && value !== null && typeof listener.accept === "function" &&
    typeof listener.close === "function" && typeof listener.addr === "object";
}

/** Whether an accept failed because the listener was closed. */
function listenerClosed(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted;
}

/** One connection, from accept to the end of its handler. */
interface Connection {
  conn: Deno.Conn;
  /** Aborts its handshake. */
  abort: AbortController;
  stream: SecureStream | null;
}

/**
 * A running secure server, from {@linkcode serveSecure}.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { connectSecure, SecureServer, serveSecure } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const server = await generateIdentityKeyPair();
 * const client = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey, client: client.publicKey });
 * const secure: SecureServer<Deno.NetAddr> = serveSecure({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   session: { id: "server", privateKey: server.privateKey, getPublicKeyForId },
 * }, async (stream) => {
 *   const writer = stream.writable.getWriter();
 *   await writer.write(new TextEncoder().encode("hello, " + new TextDecoder().decode(stream.peerId)));
 *   await writer.close();
 * });
 * const stream = await connectSecure({
 *   port: secure.addr.port,
 *   session: { id: "client", privateKey: client.privateKey, getPublicKeyForId, expectedPeer: "server" },
 * });
 * assert.equal(await new Response(stream.readable).text(), "hello, client");
 * await stream.close();
 * await secure.shutdown(); // stops accepting, waits for the open connections
 * ```
 */
export class SecureServer<A extends Deno.Addr = Deno.Addr> {
  /** The address the server listens on. */
  readonly addr: A;
  /** Resolves once the server has stopped accepting and every connection has ended. */
  readonly finished: Promise<void>;

  #listener: Deno.Listener;
  #handler: SecureHandler;
  #config: StreamConfig;
  #maxHandshakes: number;
  #onError: ((error: unknown) => void) | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = (): void => void this.shutdown();
  #handshaking = new Set<Connection>();
  #connections = new Set<Promise<void>>();
  #open = new Set<Connection>();
  #slotFree = new Signal();
  #stopping = false;
  #closing = false;
  #acceptLoop: Promise<void>;
  #shutdown: Promise<void> | null = null;

  /**
   * Checks the options, listens, and starts accepting: the same as
   * {@linkcode serveSecure}.
   *
   * @param options Where to listen, the session, the handshake limits, a signal.
   * @param handler Serves one established stream.
   * @throws {TypeError} For an unknown option, a wrong type, or no place to listen.
   * @throws {RangeError} For an option out of range.
   */
  constructor(options: ServeSecureOptions, handler: SecureHandler) {
    checkKeys(options, SERVE_KEYS, "serveSecure");
    if (typeof handler !== "function") {
      throw new TypeError("serveSecure: handler must be a function");
    }
    const config = checkStreamOptions(options, "serveSecure");
    this.#maxHandshakes = integerOption(
      options.maxConcurrentHandshakes,
      "maxConcurrentHandshakes",
      1,
      65_536,
      DEFAULT_MAX_CONCURRENT_HANDSHAKES,
    );
    const acceptPeer = functionOption<ServeSecureOptions["acceptPeer"]>(
      options.acceptPeer,
      "acceptPeer",
    );
    this.#onError = functionOption<(error: unknown) => void>(options.onError, "onError");
    if (acceptPeer) {
      config.session = { ...config.session, expectedPeer: peerPolicy(config.session, acceptPeer) };
    }
    this.#listener = listen(options);
    this.addr = this.#listener.addr as A;
    this.#handler = handler;
    this.#config = config;
    this.#signal = config.signal;
    this.#acceptLoop = this.#accept();
    this.finished = this.#acceptLoop.then(() => this.#drain());
    if (this.#signal?.aborted) void this.shutdown();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Stops accepting connections, drops handshakes under way, and resolves
   * once the handlers of established connections have returned and their
   * streams are closed. Calling it again returns the same promise.
   *
   * @returns Resolves as {@linkcode SecureServer.finished}.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#stop();
      await this.finished;
    })();
    return this.#shutdown;
  }

  /**
   * Stops at once: stops accepting, and cuts every connection (handshakes
   * and established streams, which fail with a `session_closed` error).
   *
   * @returns Resolves once everything is released.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stop();
    for (const connection of this.#open) void connection.stream?.abort();
    await this.finished;
  }

  /** Shuts the server down (`await using server = serveSecure(...)`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const connection of this.#handshaking) connection.abort.abort();
    this.#slotFree.notify();
  }

  #report(error: unknown, fromHandler: boolean): void {
    if (this.#onError) {
      try {
        this.#onError(error);
      } catch {
        // The reporter's own failure changes nothing.
      }
    } else if (fromHandler) {
      console.error("serveSecure: the handler threw", error);
    }
  }

  async #accept(): Promise<void> {
    while (!this.#stopping) {
      if (this.#handshaking.size >= this.#maxHandshakes) {
        await this.#slotFree.wait();
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#stopping || listenerClosed(err)) break;
        this.#report(err, false);
        continue;
      }
      if (this.#stopping) {
        conn.close();
        break;
      }
      this.#serve(conn);
    }
    this.#stop();
  }

  #serve(conn: Deno.Conn): void {
    const connection: Connection = { conn, abort: new AbortController(), stream: null };
    this.#handshaking.add(connection);
    try {
      (conn as Partial<Deno.TcpConn>).setNoDelay?.(true); // the stream batches writes itself
    } catch {
      // Not every connection has the option.
    }
    const done = this.#run(connection).finally(() => this.#connections.delete(done));
    this.#connections.add(done);
  }

  async #run(connection: Connection): Promise<void> {
    const { conn } = connection;
    let stream: SecureStream;
    try {
      stream = await SecureStream.accept(conn, {
        session: this.#config.session,
        handshakeTimeout: this.#config.handshakeTimeout,
        bufferSize: this.#config.bufferSize,
        signal: connection.abort.signal,
      });
    } catch (err) {
      if (!this.#stopping) this.#report(err, false);
      return;
    } finally {
      this.#handshaking.delete(connection);
      this.#slotFree.notify();
    }
    connection.stream = stream;
    this.#open.add(connection);
    try {
      if (this.#closing) {
        await stream.abort();
        return;
      }
      let failed = false;
      try {
        await this.#handler(stream, { remoteAddr: conn.remoteAddr });
      } catch (err) {
        failed = true;
        // A handler failing because close() cut its stream is no bug of the handler's.
        if (!this.#closing) this.#report(err, true);
        await stream.abort(err);
      }
      if (!failed) {
        await stream.close().catch((err) => {
          if (!this.#closing) this.#report(err, false);
        });
      }
    } finally {
      this.#open.delete(connection);
    }
  }

  async #drain(): Promise<void> {
    while (this.#connections.size > 0) {
      await Promise.allSettled([...this.#connections]);
    }
  }
}

/**
 * Listens and serves secure streams: every accepted connection runs its
 * handshake (at most `maxConcurrentHandshakes` at once, each within
 * `handshakeTimeout`), then goes to `handler`. A connection whose handshake
 * fails, or a client `acceptPeer` refuses, is closed and freed; the others
 * carry on. When the handler's promise resolves the stream is closed (the
 * authenticated close is sent); when it rejects the stream is cut.
 *
 * Listening is synchronous: `addr` is known at once (port 0 picks a free
 * port). Options are checked here: an unknown key or a wrong type is a
 * `TypeError`, a value out of range a `RangeError`.
 *
 * @param options Where to listen, the session, the handshake limits, a signal.
 * @param handler Serves one established stream.
 * @returns The running server.
 * @throws {TypeError} For an unknown option, a wrong type, or no place to listen.
 * @throws {RangeError} For an option out of range.
 *
 * @example A secure echo server and a client
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair } from "@tessera/session";
 * import { connectSecure, serveSecure } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * const server = await generateIdentityKeyPair();
 * const client = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ server: server.publicKey, client: client.publicKey });
 *
 * const echo = serveSecure({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   session: { id: "server", privateKey: server.privateKey, getPublicKeyForId },
 * }, (stream) => stream.readable.pipeTo(stream.writable));
 *
 * const stream = await connectSecure({
 *   port: echo.addr.port,
 *   session: { id: "client", privateKey: client.privateKey, getPublicKeyForId, expectedPeer: "server" },
 * });
 * const writer = stream.writable.getWriter();
 * await writer.write(new TextEncoder().encode("ping"));
 * const reader = stream.readable.getReader();
 * assert.equal(new TextDecoder().decode((await reader.read()).value), "ping");
 * reader.releaseLock();
 * writer.releaseLock();
 * await stream.close();
 * await echo.shutdown();
 * ```
 */
export function serveSecure<O extends ServeSecureOptions>(
  options: O,
  handler: SecureHandler,
): SecureServer<ServeSecureAddr<O>> {
  return new SecureServer<ServeSecureAddr<O>>(options, handler);
}
