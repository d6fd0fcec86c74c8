/**
 * The Secure Session facade: a mutually authenticated, forward-secret channel
 * with Themis's two APIs — buffer-aware (`connectRequest`/`negotiate`/`wrap`/
 * `unwrap`) and callback (`connect`/`accept`/`send`/`receive` over a
 * {@linkcode SessionTransport}) — usable in any mix on one session.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { concat, toBytes, u16 } from "../crypto/_bytes.ts";
import { assertSigningKey } from "../crypto/identity.ts";
import {
  HandshakeError,
  SavedStateError,
  SessionStateError,
  type TesseraError,
  TransportError,
} from "../errors.ts";
import { Reader } from "../wire/reader.ts";
import { entropy } from "./_entropy.ts";
import { openState, sealState, toWrappingKey, type WrappingKey } from "./_saved_state.ts";
import {
  type Channel,
  type ChannelLimits,
  type Handshake,
  type HandshakeConfig,
  implementationOf,
  MAX_ID_LENGTH,
  type PaddingPolicy,
  type PeerPolicy,
  type Profile,
  type ProfileImplementation,
  type PublicKeyLookup,
  type RecordParts,
  type ResumptionOptions,
  type Role,
  type TicketReport,
} from "./profile.ts";
import { MAX_TICKET_LIFETIME, type TicketAttributes } from "./resumption.ts";
import {
  HandshakeEvent,
  KeyUpdateEvent,
  SessionCloseEvent,
  SessionErrorEvent,
  type SessionState,
  SessionStateEvent,
  type SessionStats,
  TicketEvent,
} from "./session_events.ts";
import { tessera1 } from "./tessera1.ts";
import {
  DEFAULT_BYTES_PER_KEY,
  DEFAULT_MAX_AUTH_FAILURES,
  DEFAULT_RECORDS_PER_KEY,
  MAX_PADDING,
} from "./tessera1_channel.ts";

export type { WrappingKey } from "./_saved_state.ts";
export type { RecordParts } from "./profile.ts";

const EMPTY_BODY = new Uint8Array(0);

/**
 * For secure streams, not exported by the package: `session.wrap(data)`
 * with the record in two pieces, `head ‖ body`, which the stream copies
 * into its frames without concatenating them first. A profile whose
 * channel has no `sealParts` gives the whole record as `head`.
 */
export let wrapParts: (session: SecureSession, data: Uint8Array) => Promise<RecordParts>;

/**
 * The default largest plaintext of one record: 16 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_RECORD_SIZE } from "@tessera/session";
 * import { RECORD_OVERHEAD } from "./tessera1_channel.ts";
 * import { DEFAULT_MAX_FRAME_SIZE } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_RECORD_SIZE, 16 * 1024 * 1024);
 * // The largest default record fits one default frame of a stream transport.
 * assert.ok(DEFAULT_MAX_RECORD_SIZE + RECORD_OVERHEAD <= DEFAULT_MAX_FRAME_SIZE);
 * ```
 */
export const DEFAULT_MAX_RECORD_SIZE = 16 * 1024 * 1024;

/**
 * The caller's transport for the callback API. `receive` resolves to one whole
 * message (as `send` was given it), or `null` when the transport has ended.
 * Framing over byte streams is the transport's job (see `lib/transport`).
 *
 * The session checks the transport when it is given one: a missing `send` or
 * `receive` is a `TypeError` at construction. A `send` or `receive` that
 * throws, or that returns something other than what is declared here (a
 * promise; `send` may also return nothing), fails the call that used it with
 * `TransportError("transport_failed")`, the original in its `cause`.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession, type SessionTransport } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const sent: Uint8Array[] = [];
 * const transport: SessionTransport = {
 *   send: (message) => void sent.push(message),
 *   receive: () => Promise.resolve(null), // the peer never answers
 * };
 * const { privateKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = () => null;
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId, transport });
 * await assert.rejects(session.connect(), { code: "transport_closed" });
 * assert.equal(sent.length, 1); // the ClientHello went out
 * ```
 */
export interface SessionTransport {
  /**
   * Sends one message: returns nothing, or a promise that settles once the
   * message is written (or rejects when it cannot be).
   *
   * @param message The bytes.
   */
  send(message: Uint8Array): void | Promise<void>;
  /** Receives one message: a promise of the bytes, or of `null` at the end of the transport. */
  receive(): Promise<Uint8Array | null>;
  /**
   * Optional: the session calls it with the largest message it will accept
   * next, small during the handshake and the record bound once established.
   * A transport that can refuse an oversized message before reading it
   * (as `framedStreamTransport` and `webSocketTransport` do) should.
   *
   * @param maxMessageSize The bound, in bytes.
   */
  limit?(maxMessageSize: number): void;
  /**
   * Optional: ends the transport (closes the connection or socket under it).
   * The session calls it once it has no more use for the transport: from
   * `close()` after writing the close record, after receiving the peer's
   * close, and when the handshake or the session fails (after sending the
   * alert, so the peer is not left waiting). It may be called more than once.
   */
  close?(): void | Promise<void>;
}

/** Checks a transport given to the session: `null` for none. */
function checkTransport(transport: SessionTransport | null | undefined): SessionTransport | null {
  if (transport === undefined || transport === null) return null;
  if (typeof transport !== "object" && typeof transport !== "function") {
    throw new TypeError("transport must be an object with send() and receive() methods");
  }
  const pair = transport as { readable?: unknown; writable?: unknown };
  if (typeof transport.send !== "function" && pair.readable && pair.writable) {
    throw new TypeError(
      "transport is a byte stream ({ readable, writable }), not a message transport: " +
        "wrap it with framedStreamTransport(stream)",
    );
  }
  for (const method of ["send", "receive"] as const) {
    if (typeof transport[method] !== "function") {
      throw new TypeError(
        `transport.${method}() is missing: a transport needs send() and receive()`,
      );
    }
  }
  for (const method of ["limit", "close"] as const) {
    if (transport[method] !== undefined && typeof transport[method] !== "function") {
      throw new TypeError(`transport.${method} must be a method when present`);
    }
  }
  return transport;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
}

/**
 * Calls a transport method as a promise: a synchronous throw becomes a
 * rejection, and so does a return value the contract does not allow.
 */
function callTransport(
  call: () => unknown,
  name: "send" | "receive",
): Promise<unknown> {
  let result: unknown;
  try {
    result = call();
  } catch (err) {
    return Promise.reject(err);
  }
  if (isThenable(result)) return Promise.resolve(result);
  if (result === undefined && name === "send") return Promise.resolve();
  return Promise.reject(
    new TypeError(
      `transport.${name}() returned ${describe(result)}; it must return ${
        name === "send" ? "nothing or a promise" : "a promise"
      }`,
    ),
  );
}

/** Room for a profile's record header and tag on top of `maxRecordSize`. */
const RECORD_SLACK = 1024;
/** The handshake bound for a profile that does not state one. */
const DEFAULT_HANDSHAKE_BOUND = 64 * 1024;

/**
 * Limits shared by new and restored sessions.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession, type SessionLimits } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const limits: SessionLimits = { maxRecordSize: 64 * 1024, recordsPerKey: 1_000_000 };
 * const { privateKey } = await generateIdentityKeyPair();
 * const options = { id: "me", privateKey, getPublicKeyForId: () => null };
 * new SecureSession({ ...options, ...limits });
 * assert.throws(() => new SecureSession({ ...options, maxRecordSize: 0 }), RangeError);
 * const garbage = new TextEncoder().encode("not a saved session");
 * await assert.rejects(SecureSession.restore(garbage, new Uint8Array(32), limits), {
 *   code: "state_malformed",
 * });
 * ```
 */
export interface SessionLimits {
  /** The callback transport. Optional: the buffer API needs none. */
  transport?: SessionTransport;
  /** Records sealed under one key before an automatic key update. Default 2^24.5 (RFC 8446 §5.5). */
  recordsPerKey?: number;
  /** Record plaintext bytes under one key before an automatic key update. Default 2^38. */
  bytesPerKey?: number;
  /**
   * The largest plaintext of one record, 1 to 2^30 bytes. Default 16 MiB. It bounds what this
   * side accepts and sends; tessera/1 declares it to the peer in the handshake, and the peer
   * never sends more. What this side sends is also bounded by the peer's declared limit
   * ({@linkcode SecureSession.peerMaxRecordSize}). A restored session declares nothing anew:
   * restore it with at least the limit it was established with.
   */
  maxRecordSize?: number;
  /**
   * Records that may fail authentication under one key in datagram use
   * (`unwrap`) before the session fails. Default 1000. On a stream
   * (`receive`) the first refused record fails the session.
   */
  maxAuthFailures?: number;
  /** How this side pads its records to hide their length. Default `"none"`. */
  padding?: PaddingPolicy;
  /**
   * The clock, in milliseconds since the epoch (ticket lifetimes; the Themis profile's message
   * timestamps). Default `Date.now`.
   */
  now?: () => number;
}

/**
 * Options of {@linkcode SecureSession}.
 *
 * @example
 * ```ts
 * import {
 *   directoryLookup,
 *   generateIdentityKeyPair,
 *   SecureSession,
 *   type SecureSessionOptions,
 * } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ alice: publicKey });
 * const options: SecureSessionOptions = { id: "alice", privateKey, getPublicKeyForId };
 * const session = new SecureSession(options);
 * assert.equal(session.state, "idle");
 * assert.equal(session.profile, "tessera/1");
 * assert.deepEqual(session.id, new TextEncoder().encode("alice"));
 * ```
 */
export interface SecureSessionOptions extends SessionLimits {
  /** This side's id: a string (UTF-8) or bytes, 1 to 1024 bytes. */
  id: string | Uint8Array;
  /** This side's long-term ECDSA P-256 private key (from `generateIdentityKeyPair`). */
  privateKey: CryptoKey;
  /** Looks up the peer's public key by its id; may be async. Mandatory on both sides. */
  getPublicKeyForId: PublicKeyLookup;
  /** The protocol profile. Default {@linkcode tessera1}. */
  profile?: Profile;
  /**
   * The peer this session accepts: its id (compared byte for byte) or a
   * predicate over the authenticated id. A client checks it before it reveals
   * its own id, so naming the server keeps the client's id from any other
   * server its lookup knows. Default: any peer the lookup knows except one
   * presenting this session's own id.
   */
  expectedPeer?: PeerPolicy;
  /** Session resumption: the server's ticket store, the client's cache. */
  resumption?: ResumptionOptions;
}

/**
 * Options of {@linkcode SecureSession.restore}.
 *
 * @example
 * ```ts
 * import {
 *   directoryLookup,
 *   generateIdentityKeyPair,
 *   type RestoreOptions,
 *   SecureSession,
 *   tessera1,
 * } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const wrappingKey = crypto.getRandomValues(new Uint8Array(32));
 * const options: RestoreOptions = { profiles: [tessera1], maxRecordSize: 1024 };
 * const saved = await client.save(wrappingKey);
 * const restored = await SecureSession.restore(saved, wrappingKey, options);
 * const record = await restored.wrap(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode((await server.unwrap(record))!), "hi");
 * await assert.rejects(restored.wrap(new Uint8Array(1025)), { code: "record_too_large" });
 * ```
 */
export interface RestoreOptions extends SessionLimits {
  /** Profiles the saved state may belong to. Default `[tessera1]`. */
  profiles?: readonly Profile[];
  /** The context the state was saved with (bound into the seal). Default empty. */
  context?: string | Uint8Array;
  /** Refuse state older than this generation (`state_rolled_back`). Default 0. */
  minGeneration?: number;
}

/**
 * Options of {@linkcode SecureSession.save}.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type SaveOptions, SecureSession } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const options: SaveOptions = { context: "user 42" };
 * const saved = await client.save(key, options);
 * await assert.rejects(SecureSession.restore(saved, key, { context: "user 7" }), {
 *   code: "state_auth_failed",
 * });
 * assert.ok(await SecureSession.restore(saved, key, { context: "user 42" }));
 * ```
 */
export interface SaveOptions {
  /**
   * Bytes (or a string, as UTF-8) bound into the seal but not stored, such as
   * a user id or storage slot: the state restores only with the same context.
   */
  context?: string | Uint8Array;
}

type Limits = Omit<ChannelLimits, "random">;

function checkPadding(padding: PaddingPolicy | undefined): PaddingPolicy {
  if (padding === undefined || padding === "none" || typeof padding === "function") {
    return padding ?? "none";
  }
  if (typeof padding !== "object" || padding === null) {
    throw new TypeError('padding must be "none", { blockSize } or a function');
  }
  const size = padding.blockSize;
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_PADDING) {
    throw new RangeError(`padding blockSize must be 1 to ${MAX_PADDING}`);
  }
  return { blockSize: size };
}

/** Every option of {@linkcode SessionLimits}. */
const LIMIT_OPTIONS = [
  "transport",
  "recordsPerKey",
  "bytesPerKey",
  "maxRecordSize",
  "maxAuthFailures",
  "padding",
  "now",
] as const satisfies readonly (keyof SessionLimits)[];
/** Every option `new SecureSession()` reads. */
const SESSION_OPTIONS = [
  ...LIMIT_OPTIONS,
  "id",
  "privateKey",
  "getPublicKeyForId",
  "profile",
  "expectedPeer",
  "resumption",
] as const satisfies readonly (keyof SecureSessionOptions)[];
/** Every option `SecureSession.restore()` reads. */
const RESTORE_OPTIONS = [
  ...LIMIT_OPTIONS,
  "profiles",
  "context",
  "minGeneration",
] as const satisfies readonly (keyof RestoreOptions)[];
/** What a caller may mean by a name this API does not use. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  timeout: "a deadline around connect()/accept() (serveSecure, connectSecure, or AbortSignal)",
  handshakeTimeout: "a deadline around connect()/accept() (serveSecure, connectSecure)",
  key: "privateKey",
  publicKeyLookup: "getPublicKeyForId",
  lookup: "getPublicKeyForId",
  peer: "expectedPeer",
  peerId: "expectedPeer",
  tickets: "resumption",
};

function checkLimits(options: SessionLimits): Limits {
  const recordsPerKey = options.recordsPerKey ?? DEFAULT_RECORDS_PER_KEY;
  const maxRecordSize = options.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE;
  const bytesPerKey = options.bytesPerKey ?? DEFAULT_BYTES_PER_KEY;
  const maxAuthFailures = options.maxAuthFailures ?? DEFAULT_MAX_AUTH_FAILURES;
  if (
    !Number.isSafeInteger(bytesPerKey) || bytesPerKey < 1 || bytesPerKey > DEFAULT_BYTES_PER_KEY
  ) {
    throw new RangeError("bytesPerKey must be 1 to 2^38");
  }
  if (!Number.isSafeInteger(maxAuthFailures) || maxAuthFailures < 0 || maxAuthFailures > 2 ** 32) {
    throw new RangeError("maxAuthFailures must be 0 to 2^32");
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new TypeError("now must be a function");
  }
  if (!Number.isSafeInteger(recordsPerKey) || recordsPerKey < 1) {
    throw new RangeError("recordsPerKey must be a positive integer");
  }
  if (recordsPerKey > DEFAULT_RECORDS_PER_KEY) {
    throw new RangeError("recordsPerKey must not exceed the AES-GCM limit of 2^24.5");
  }
  if (!Number.isSafeInteger(maxRecordSize) || maxRecordSize < 1 || maxRecordSize > 2 ** 30) {
    throw new RangeError("maxRecordSize must be 1 to 2^30 bytes");
  }
  return {
    recordsPerKey,
    maxRecordSize,
    bytesPerKey,
    maxAuthFailures,
    padding: checkPadding(options.padding),
  };
}

function checkResumption(options: ResumptionOptions | undefined): ResumptionOptions {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null) {
    throw new TypeError("resumption must be an object");
  }
  const { store, tickets, lifetime, attributes, cache, endpoint } = options;
  if (
    store !== undefined && (typeof store.find !== "function" || typeof store.redeem !== "function")
  ) {
    throw new TypeError("resumption.store must be a TicketStore");
  }
  if (tickets !== undefined && (!Number.isSafeInteger(tickets) || tickets < 0 || tickets > 16)) {
    throw new RangeError("resumption.tickets must be 0 to 16");
  }
  if (
    lifetime !== undefined &&
    (!Number.isSafeInteger(lifetime) || lifetime < 1000 || lifetime > MAX_TICKET_LIFETIME)
  ) {
    throw new RangeError("resumption.lifetime must be 1 s to 7 days, in milliseconds");
  }
  if (attributes !== undefined && typeof attributes !== "function") {
    throw new TypeError("resumption.attributes must be a function");
  }
  if (cache !== undefined) {
    if (typeof cache.take !== "function" || typeof cache.add !== "function") {
      throw new TypeError("resumption.cache must be a ClientTicketCache");
    }
    if (typeof endpoint !== "string" || endpoint.length === 0) {
      throw new TypeError('resumption.endpoint (such as "host:port") is required with a cache');
    }
    if (endpoint.length > 1024 || /\p{Surrogate}/u.test(endpoint)) {
      throw new RangeError("resumption.endpoint must be 1 to 1024 well-formed characters");
    }
  }
  return { ...options };
}

function contextBytes(context: string | Uint8Array | undefined): Uint8Array {
  if (context === undefined) return new Uint8Array(0);
  if (typeof context !== "string" && !(context instanceof Uint8Array)) {
    throw new TypeError("context must be a string or bytes");
  }
  return toBytes(context);
}

function checkPeerPolicy(policy: PeerPolicy | undefined): PeerPolicy | null {
  if (policy === undefined) return null;
  if (typeof policy === "function") return policy;
  if (typeof policy !== "string" && !(policy instanceof Uint8Array)) {
    throw new TypeError("expectedPeer must be an id (string or bytes) or a function");
  }
  const bytes = toBytes(policy);
  if (bytes.length < 1 || bytes.length > MAX_ID_LENGTH) {
    throw new RangeError(`expectedPeer must be 1 to ${MAX_ID_LENGTH} bytes`);
  }
  return bytes.slice();
}

/** What `restore()` hands the constructor. Not exported: not a public way in. */
class Restored {
  constructor(
    readonly profile: ProfileImplementation,
    readonly role: Role,
    readonly id: Uint8Array,
    readonly channel: Channel,
    readonly limits: Limits,
    readonly transport: SessionTransport | null,
    readonly generation: number,
  ) {}
}

/** A tiny promise-chain lock: calls run one after another, in call order. */
class Lock {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/**
 * The events a {@linkcode SecureSession} dispatches, by type, for typed listeners.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession, type SecureSessionEventMap } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * const states: SecureSessionEventMap["statechange"]["state"][] = [];
 * session.addEventListener("statechange", (e) => states.push(e.state)); // no cast needed
 * await session.close();
 * assert.deepEqual(states, ["closed"]);
 * ```
 */
export interface SecureSessionEventMap {
  /** Every state transition. */
  statechange: SessionStateEvent;
  /** The session failed for good. */
  error: SessionErrorEvent;
  /** Tickets were used, declined, issued or could not be kept. */
  ticket: TicketEvent;
  /** The handshake completed: its duration, whether it resumed, the peer. */
  handshake: HandshakeEvent;
  /** A direction moved to fresh keys. */
  keyupdate: KeyUpdateEvent;
  /** The session ended, cleanly or not (after `statechange` to `closed`). */
  close: SessionCloseEvent;
}

/**
 * Typed listeners for {@linkcode SecureSessionEventMap}; any other event type
 * takes `EventTarget`'s signature.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * const codes: string[] = [];
 * const onError = (e: { error: { code: string } }) => codes.push(e.error.code);
 * session.addEventListener("error", onError);
 * session.removeEventListener("error", onError);
 * assert.deepEqual(codes, []);
 * ```
 */
export interface SecureSession {
  /**
   * Listens for a session event, typed by its name.
   *
   * @param type `"statechange"`, `"error"`, `"ticket"`, `"handshake"`, `"keyupdate"` or `"close"`.
   * @param listener Receives the typed event.
   * @param options As for `EventTarget`.
   */
  addEventListener<K extends keyof SecureSessionEventMap>(
    type: K,
    listener: (this: SecureSession, event: SecureSessionEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Listens for any other event type.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget`.
   */
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Stops listening for a session event.
   *
   * @param type `"statechange"`, `"error"`, `"ticket"`, `"handshake"`, `"keyupdate"` or `"close"`.
   * @param listener The listener given to `addEventListener`.
   * @param options As for `EventTarget`.
   */
  removeEventListener<K extends keyof SecureSessionEventMap>(
    type: K,
    listener: (this: SecureSession, event: SecureSessionEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Stops listening for any other event type.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget`.
   */
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/**
 * A Secure Session between two peers that know each other's ECDSA P-256
 * public keys by id.
 *
 * A new session is a potential server; `connectRequest()` or `connect()`
 * makes it the client. All methods are safe to call concurrently: handshake
 * steps and transport reads are serialized, sequence numbers are reserved
 * synchronously, concurrent `wrap()` calls resolve in sequence order (and
 * records are written to the transport in that order), and concurrent
 * `unwrap()` calls are decided in call order while they decrypt in parallel.
 *
 * @example Buffer API, both peers in one process
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const alice = await generateIdentityKeyPair();
 * const bob = await generateIdentityKeyPair();
 * // Exactly one key per id, compared byte for byte: see directoryLookup.
 * const getPublicKeyForId = directoryLookup({ alice: alice.publicKey, bob: bob.publicKey });
 *
 * const client = new SecureSession({ id: "alice", privateKey: alice.privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "bob", privateKey: bob.privateKey, getPublicKeyForId });
 *
 * let message: Uint8Array | null = await client.connectRequest();
 * while (message) {
 *   message = await server.negotiate(message);
 *   if (message) message = await client.negotiate(message);
 * }
 * const record = await client.wrap(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode((await server.unwrap(record))!), "hello");
 * assert.deepEqual(client.sessionId, server.sessionId);
 * ```
 */
export class SecureSession extends EventTarget {
  #profile: ProfileImplementation;
  #config: HandshakeConfig | null;
  #id: Uint8Array;
  #transport: SessionTransport | null;
  #role: Role | null = null;
  #state: SessionState = "idle";
  #failure: TesseraError | null = null;
  #handshake: Handshake | null = null;
  #channel: Channel | null = null;
  #handshakeLock = new Lock();
  #receiveLock = new Lock();
  #sendChain: Promise<void> = Promise.resolve();
  /** The last bound given to the transport's `limit`, if any. */
  #transportLimit = 0;
  #limits: Limits;
  #generation = 0;
  /**
   * How the session ended, once it has: `"closed"` by `close()` or by the
   * peer's close (then `receive()` resolves to `null`), `"saved"` when
   * `save()` handed it over (the transport is no longer this session's).
   */
  #ending: "closed" | "saved" | null = null;
  /** When this side's handshake started (`performance.now()`), for the handshake event. */
  #handshakeStart = 0;
  #stats = {
    recordsSent: 0,
    recordsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    keyUpdates: 0,
  };
  #sendEpoch = 0;
  #receiveEpoch = 0;

  /**
   * Creates a session in state `idle`.
   *
   * @param options Own id and private key, the peer key lookup, an optional transport and limits.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When the id or a limit is out of range.
   * @throws {KeyError} `key_unsupported` when `privateKey` is not an ECDSA P-256 signing key.
   */
  constructor(options: SecureSessionOptions) {
    super();
    if ((options as unknown) instanceof Restored) {
      const r = options as unknown as Restored;
      this.#profile = r.profile;
      this.#role = r.role;
      this.#id = r.id;
      this.#channel = r.channel;
      this.#limits = r.limits;
      this.#transport = r.transport;
      this.#generation = r.generation;
      this.#config = null;
      this.#state = "established";
      return;
    }
    if (typeof options !== "object" || options === null) {
      throw new TypeError("options must be an object");
    }
    checkKnownKeys(options, SESSION_OPTIONS, "SecureSession", OPTION_HINTS);
    if (typeof options.getPublicKeyForId !== "function") {
      throw new TypeError("getPublicKeyForId is mandatory");
    }
    if (typeof options.id !== "string" && !(options.id instanceof Uint8Array)) {
      throw new TypeError("id must be a string or a Uint8Array");
    }
    const id = toBytes(options.id).slice();
    if (id.length < 1 || id.length > MAX_ID_LENGTH) {
      throw new RangeError(`id must be 1 to ${MAX_ID_LENGTH} bytes`);
    }
    assertSigningKey(options.privateKey);
    this.#limits = checkLimits(options);
    this.#profile = implementationOf(options.profile ?? tessera1, "profile");
    this.#id = id;
    this.#transport = checkTransport(options.transport);
    const now = options.now ?? Date.now;
    this.#config = {
      id,
      privateKey: options.privateKey,
      getPublicKeyForId: this.#untilStopped(options.getPublicKeyForId),
      random: entropy().random,
      ...this.#limits,
      expectedPeer: this.#policyUntilStopped(checkPeerPolicy(options.expectedPeer)),
      resumption: checkResumption(options.resumption),
      now: () => now(),
      report: (report: TicketReport) => this.dispatchEvent(new TicketEvent(report)),
    };
  }

  /**
   * Wraps an application callback the handshake awaits (the key lookup, a peer policy) so that
   * `close()` ends the wait at once: a deadline that closes the session always frees the caller,
   * even when the callback never settles. The handshake's own crypto is never abandoned: a step
   * ends only once what it started has settled.
   */
  #untilStopped<A extends unknown[], R>(
    fn: (...args: A) => R,
  ): (...args: A) => Promise<Awaited<R>> {
    return (...args: A): Promise<Awaited<R>> => {
      let stop!: (reason: SessionStateError) => void;
      const stopped = new Promise<never>((_, reject) => (stop = reject));
      stopped.catch(() => {}); // raced below; never an unhandled rejection
      if (this.#stopReason) stop(this.#stopReason);
      else this.#stopWaiters.add(stop);
      const called = Promise.resolve().then(() => fn(...args));
      called.catch(() => {}); // abandoned when stopped first
      return Promise.race([called, stopped]).finally(() => this.#stopWaiters.delete(stop));
    };
  }

  #policyUntilStopped(policy: PeerPolicy | null): PeerPolicy | null {
    return typeof policy === "function" ? this.#untilStopped(policy) : policy;
  }

  /** The current state. */
  get state(): SessionState {
    return this.#state;
  }

  /** `"client"` or `"server"` once the handshake has started, else `null`. */
  get role(): Role | null {
    return this.#role;
  }

  /** The name of the protocol profile, e.g. `"tessera/1"`. */
  get profile(): string {
    return this.#profile.name;
  }

  /** This side's id. */
  get id(): Uint8Array {
    return this.#id.slice();
  }

  /** The authenticated peer id once established, else `null`. */
  get peerId(): Uint8Array | null {
    return this.#channel ? this.#channel.peerId.slice() : null;
  }

  /** The session id both peers derived, once established, else `null`. */
  get sessionId(): Uint8Array | null {
    return this.#channel ? this.#channel.sessionId.slice() : null;
  }

  /** Why the session failed, or `null`. */
  get error(): TesseraError | null {
    return this.#failure;
  }

  /** Whether the handshake resumed an earlier session with a ticket. */
  get resumed(): boolean {
    return this.#channel?.resumed ?? false;
  }

  /**
   * On a server whose handshake resumed a session: the attributes stored with
   * the ticket, exactly as they were issued. Otherwise `null`.
   */
  get attributes(): TicketAttributes | null {
    return this.#channel?.attributes ?? null;
  }

  /** After a resumed handshake: when the ticket used would have expired. Otherwise `null`. */
  get ticketExpiresAt(): number | null {
    return this.#channel?.ticketExpiresAt ?? null;
  }

  /**
   * The largest plaintext of one record that the peer declared it accepts, once established:
   * `wrap()` and `send()` refuse longer data with `record_too_large`. It is learned in every
   * handshake, resumed ones included, and kept by `save()`. `null` before the handshake
   * completes, after the session ends, and with a profile that has no such declaration (then
   * only this side's `maxRecordSize` applies).
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const { privateKey, publicKey } = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
   * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
   * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId, maxRecordSize: 1024 });
   * assert.equal(client.peerMaxRecordSize, null);
   * const reply = await server.negotiate(await client.connectRequest());
   * await server.negotiate((await client.negotiate(reply!))!);
   * assert.equal(client.peerMaxRecordSize, 1024); // the server declared it
   * assert.equal(server.peerMaxRecordSize, 16 * 1024 * 1024); // the client's default
   * await assert.rejects(client.wrap(new Uint8Array(1025)), {
   *   code: "record_too_large",
   *   message: "plaintext of 1025 bytes exceeds the peer's record size limit of 1024 bytes",
   * });
   * assert.ok(await server.unwrap(await client.wrap(new Uint8Array(1024))));
   * ```
   */
  get peerMaxRecordSize(): number | null {
    return this.#channel?.peerMaxRecordSize ?? null;
  }

  /**
   * How many times this session's state was saved and restored: 0 after a
   * handshake; the generation of the saved state it was restored from
   * otherwise (docs/protocol.md §6).
   */
  get generation(): number {
    return this.#generation;
  }

  /** `true` once the handshake completed on this side (and until close). */
  isEstablished(): boolean {
    return this.#state === "established";
  }

  #setState(state: SessionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    if (state === "negotiating") this.#handshakeStart = performance.now();
    this.dispatchEvent(new SessionStateEvent(previous, state));
    if (state === "established" && this.#channel) {
      const channel = this.#channel;
      this.#sendEpoch = channel.sendEpoch;
      this.#receiveEpoch = channel.receiveEpoch;
      const duration = performance.now() - this.#handshakeStart;
      this.dispatchEvent(
        new HandshakeEvent(duration, channel.resumed, channel.role, channel.peerId.slice()),
      );
    } else if (state === "closed" && this.#ending !== "saved") {
      this.dispatchEvent(new SessionCloseEvent(this.#failure));
    }
  }

  /** Counts a sealed record and reports a new sending epoch. */
  #sealed(channel: Channel, length: number): void {
    this.#stats.recordsSent++;
    this.#stats.bytesSent += length;
    if (channel.sendEpoch !== this.#sendEpoch) {
      this.#sendEpoch = channel.sendEpoch;
      this.#stats.keyUpdates++;
      this.dispatchEvent(new KeyUpdateEvent("send", channel.sendEpoch));
    }
  }

  /** Counts an accepted record and reports a new receiving epoch. */
  #opened(channel: Channel, length: number): void {
    this.#stats.recordsReceived++;
    this.#stats.bytesReceived += length;
    if (channel.receiveEpoch !== this.#receiveEpoch) {
      this.#receiveEpoch = channel.receiveEpoch;
      this.#stats.keyUpdates++;
      this.dispatchEvent(new KeyUpdateEvent("receive", channel.receiveEpoch));
    }
  }

  /**
   * Traffic counters: application records and plaintext bytes each way, and
   * key updates (a snapshot; handshake and close records are not counted).
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const a = await generateIdentityKeyPair();
   * const b = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
   * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId });
   * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId });
   * await server.negotiate((await client.negotiate((await server.negotiate(await client.connectRequest()))!))!);
   * await server.unwrap(await client.wrap(new Uint8Array(10)));
   * assert.equal(client.stats.bytesSent, 10);
   * assert.equal(server.stats.recordsReceived, 1);
   * ```
   */
  get stats(): SessionStats {
    return { ...this.#stats };
  }

  #fail(error: TesseraError): TesseraError {
    if (!this.#failure) {
      this.#failure = error;
      this.#handshake = null;
      this.#channel?.stop(error);
      this.#channel = null;
      this.#config = null;
      this.#stop(new SessionStateError("session_failed", "the session failed", { cause: error }));
      this.dispatchEvent(new SessionErrorEvent(error));
      this.#setState("closed");
    }
    return error;
  }

  #assertUsable(): void {
    if (this.#failure) {
      throw new SessionStateError("session_failed", "the session failed earlier", {
        cause: this.#failure,
      });
    }
    if (this.#state === "closed") throw new SessionStateError("session_closed", "session closed");
  }

  /** Throws why the session stopped (closed or failed) while a call was running. */
  #assertStopped(): never {
    this.#assertUsable();
    throw new SessionStateError("session_closed", "session closed");
  }

  /** Why the session stopped (closed or failed), once it has. */
  #stopReason: SessionStateError | null = null;
  /** The waits on the transport to end when the session stops; each removes itself. */
  #stopWaiters = new Set<(reason: SessionStateError) => void>();

  /** Ends every pending wait on the transport, and every later one. */
  #stop(reason: SessionStateError): void {
    this.#stopReason ??= reason;
    for (const reject of this.#stopWaiters) reject(this.#stopReason);
    this.#stopWaiters.clear();
  }

  #established(): Channel {
    this.#assertUsable();
    if (!this.#channel) {
      throw new SessionStateError("session_not_established", "the handshake is not complete");
    }
    return this.#channel;
  }

  #startHandshake(role: Role): Handshake {
    if (this.#role === null) {
      this.#role = role;
      this.#handshake = this.#profile.createHandshake(role, this.#config!);
      this.#setState("negotiating");
    }
    return this.#handshake!;
  }

  async #step(run: () => Promise<Uint8Array | null>): Promise<Uint8Array | null> {
    try {
      return await run();
    } catch (err) {
      // Closed or failed while the step ran: that, not the step's own failure, is the outcome.
      if (this.#state === "closed") this.#assertStopped();
      if (err instanceof HandshakeError) throw this.#fail(err);
      throw err;
    }
  }

  // ---------------------------------------------------------------- buffer API

  /**
   * Starts the handshake as the client and returns the first message to send.
   *
   * @returns The ClientHello.
   * @throws {SessionStateError} `session_invalid_call` when the session already has a role.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * const hello = await s.connectRequest();
   * assert.equal(s.state, "negotiating");
   * assert.ok(hello.length > 0);
   * ```
   */
  connectRequest(): Promise<Uint8Array> {
    return this.#handshakeLock.run(async () => {
      this.#assertUsable();
      if (this.#role !== null) {
        throw new SessionStateError(
          "session_invalid_call",
          "connectRequest() is only valid on a new session",
        );
      }
      const handshake = this.#startHandshake("client");
      const hello = (await this.#step(() => handshake.start()))!;
      if (this.#handshake !== handshake) this.#assertStopped();
      return hello;
    });
  }

  /**
   * Processes one handshake message from the peer. On a new session this
   * makes it the server.
   *
   * @param message The peer's handshake message.
   * @returns The message to send back, or `null` when there is nothing to send.
   * @throws {HandshakeError} When the handshake fails; the session is then closed for good.
   * @throws {SessionStateError} When the session is already established, closed or failed.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * await assert.rejects(s.negotiate(new Uint8Array([9])), { code: "handshake_unexpected" });
   * assert.equal(s.state, "closed");
   * ```
   */
  negotiate(message: Uint8Array): Promise<Uint8Array | null> {
    if (!(message instanceof Uint8Array)) {
      return Promise.reject(new TypeError("message must be a Uint8Array"));
    }
    return this.#handshakeLock.run(() => {
      this.#assertUsable();
      if (this.#channel) {
        throw new SessionStateError("session_invalid_call", "the session is already established");
      }
      const handshake = this.#startHandshake("server");
      return this.#step(async () => {
        const step = await handshake.receive(message);
        if (this.#handshake !== handshake) this.#assertStopped();
        if (step.channel) {
          this.#channel = step.channel;
          this.#handshake = null;
          this.#config = null;
          this.#setState("established");
        }
        return step.send;
      });
    });
  }

  /**
   * Protects application data for the peer.
   *
   * @param data The plaintext (up to `maxRecordSize` bytes and up to the peer's
   *   {@linkcode SecureSession.peerMaxRecordSize}; may be empty).
   * @returns The record to deliver to the peer's `unwrap`.
   * @throws {SessionStateError} When not established, closed or failed.
   * @throws {RecordError} `record_too_large` for data above either limit.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * await assert.rejects(s.wrap(new Uint8Array(1)), { code: "session_not_established" });
   * ```
   */
  wrap(data: Uint8Array): Promise<Uint8Array> {
    try {
      if (!(data instanceof Uint8Array)) throw new TypeError("data must be a Uint8Array");
      const channel = this.#established();
      const length = data.length;
      return channel.seal(data).then((record) => {
        this.#sealed(channel, length);
        return record;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  static {
    wrapParts = (session, data) => session.#wrapParts(data);
  }

  /** {@linkcode SecureSession.wrap}, with the record in two pieces (see {@linkcode wrapParts}). */
  #wrapParts(data: Uint8Array): Promise<RecordParts> {
    try {
      const channel = this.#established();
      if (!channel.sealParts) {
        return this.wrap(data).then((record) => ({ head: record, body: EMPTY_BODY }));
      }
      const length = data.length;
      return channel.sealParts(data).then((parts) => {
        this.#sealed(channel, length);
        return parts;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Authenticates and opens one record from the peer. Records may arrive
   * reordered within a window of 128 (8 with the Themis profile); every
   * duplicate or older record is refused.
   *
   * @param record The record.
   * @returns The plaintext, or `null` when the record was the peer's
   *   authenticated close (the session is then closed).
   * @throws {RecordError} When the record is refused; the session stays usable.
   * @throws {ThemisError} `themis_out_of_window` (Themis profile) for a message outside its
   *   sequence or time window; the session stays usable.
   * @throws {SessionStateError} When not established, closed or failed.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * await assert.rejects(s.unwrap(new Uint8Array(40)), { code: "session_not_established" });
   * ```
   */
  unwrap(record: Uint8Array): Promise<Uint8Array | null> {
    return this.#open(record, false);
  }

  async #open(record: Uint8Array, ordered: boolean): Promise<Uint8Array | null> {
    if (!(record instanceof Uint8Array)) throw new TypeError("record must be a Uint8Array");
    const channel = this.#established();
    let opened;
    try {
      opened = await channel.open(record, ordered);
    } catch (err) {
      // A refusal that ends the channel (on a stream, past the failure budget, the peer's
      // alert, a truncated close) ends the session; the peer's clean close is no failure.
      const failure = channel.failure;
      if (failure && failure.code !== "session_closed" && this.#channel === channel) {
        this.#fail(failure);
      }
      throw err;
    }
    // Accepted, so counted as received (and in any state saved since): deliver it, unless the
    // session failed meanwhile.
    if (this.#failure) this.#assertUsable();
    if (opened.kind === "close") {
      this.#ending ??= "closed";
      this.#channel = null;
      this.#setState("closed");
      return null;
    }
    this.#opened(channel, opened.data.length);
    return opened.data;
  }

  /**
   * Moves this side's sending direction to the next key epoch before its next
   * record (docs/protocol.md §4.2); the previous key is erased. The peer
   * follows automatically: each record names its epoch. With
   * `{ requestPeer: true }` the next record also asks the peer to update its
   * own sending keys. Keys are also updated automatically after
   * `recordsPerKey` records or `bytesPerKey` bytes.
   *
   * @param options `requestPeer`: ask the peer to update too.
   * @throws {SessionStateError} When not established, closed or failed.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * assert.throws(() => s.rekey(), { code: "session_not_established" });
   * ```
   */
  rekey(options: { requestPeer?: boolean } = {}): void {
    this.#established().rekey(options.requestPeer === true);
  }

  /**
   * Derives keying material bound to this session, for channel binding
   * (docs/protocol.md §4.3, in the spirit of RFC 8446 §7.5 and RFC 9266):
   * both peers get the same bytes for the same label, context and length,
   * and nobody else can compute them. Unlike {@linkcode SecureSession.sessionId},
   * the result is secret.
   *
   * @param label What the material is for: 1 to 255 bytes (a string as UTF-8).
   * @param context Bytes (or a string) mixed in, such as a token id; may be empty.
   * @param length How many bytes: 1 to 8160.
   * @returns The keying material.
   * @throws {SessionStateError} When not established, closed or failed.
   * @throws {RangeError} When the label or length is out of range.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import { directoryLookup } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const { privateKey, publicKey } = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
   * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
   * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
   * const reply = await server.negotiate(await client.connectRequest());
   * await server.negotiate((await client.negotiate(reply!))!);
   * const a = await client.exportKeyingMaterial("login token binding", "token 17", 32);
   * const b = await server.exportKeyingMaterial("login token binding", "token 17", 32);
   * assert.deepEqual(a, b);
   * const other = await client.exportKeyingMaterial("login token binding", "token 18", 32);
   * assert.notDeepEqual(a, other);
   * ```
   */
  exportKeyingMaterial(
    label: string | Uint8Array,
    context: string | Uint8Array,
    length: number,
  ): Promise<Uint8Array> {
    try {
      if (typeof label !== "string" && !(label instanceof Uint8Array)) {
        throw new TypeError("label must be a string or bytes");
      }
      if (typeof context !== "string" && !(context instanceof Uint8Array)) {
        throw new TypeError("context must be a string or bytes");
      }
      const labelBytes = toBytes(label);
      if (labelBytes.length < 1 || labelBytes.length > 255) {
        throw new RangeError("label must be 1 to 255 bytes");
      }
      if (!Number.isSafeInteger(length) || length < 1 || length > 8160) {
        throw new RangeError("length must be 1 to 8160");
      }
      return this.#established().exportKeyingMaterial(
        labelBytes.slice(),
        toBytes(context).slice(),
        length,
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Closes the session and the transport under it. Closing twice is harmless:
   * a second call resolves to `null` once the first one's work (sealing and
   * writing the close record, closing the transport) is done.
   *
   * - **Established:** seals the authenticated close record and returns it.
   *   With a transport, the record is written after every `send()` made
   *   before `close()` (their records were sealed first), then the transport
   *   is closed (its `close()`: a `framedStreamTransport` closes its
   *   `Deno.Conn`, a `webSocketTransport` its socket). The peer's `receive()`
   *   delivers everything sent before, then resolves to `null` (its
   *   `unwrap()` of the record returns `null`).
   * - **Handshake running or not begun:** nothing to seal; the transport is
   *   closed, so a peer waiting in its handshake ends with `transport_closed`.
   * - **This side's pending calls:** a `receive()` waiting on the transport
   *   resolves to `null`, as does every later `receive()` (the end, as when
   *   the peer closes); a pending `connect()` or `accept()` rejects with
   *   `session_closed` (no session was made); `send()`, `wrap()` and
   *   `unwrap()` after `close()` reject with `session_closed`.
   * - **Failed or cut:** when the session already failed, or the close record
   *   cannot be written, `close()` still closes the transport and resolves;
   *   the peer then sees the transport end without a close
   *   (`transport_closed`), never a clean end.
   * - **After `save()`:** does nothing; the session was handed over, and the
   *   transport with it.
   *
   * @returns The close record, or `null` when there is nothing to send.
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import { memoryTransportPair } from "@tessera/session/transport";
   * import assert from "node:assert/strict";
   *
   * const a = await generateIdentityKeyPair(), b = await generateIdentityKeyPair();
   * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
   * const [clientEnd, serverEnd] = memoryTransportPair();
   * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId, transport: clientEnd });
   * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId, transport: serverEnd });
   * await Promise.all([client.connect(), server.accept()]);
   *
   * const waiting = client.receive(); // nothing will come: the client itself closes
   * await client.send(new TextEncoder().encode("last words"));
   * await client.close();
   * assert.equal(await waiting, null); // closed by this side: the end, not an error
   * assert.equal(client.state, "closed");
   * // The peer reads what was sent before the close, then the end.
   * assert.equal(new TextDecoder().decode((await server.receive())!), "last words");
   * assert.equal(await server.receive(), null);
   * await assert.rejects(client.send(new Uint8Array(1)), { code: "session_closed" });
   * ```
   */
  async close(): Promise<Uint8Array | null> {
    if (this.#ending === "saved") return null;
    if (this.#closing) {
      await this.#closing.catch(() => {});
      await this.#endTransport(); // again: harmless, and a transport that failed to close retries
      return null;
    }
    this.#closing = this.#close();
    return await this.#closing;
  }

  /** The first `close()`: what a later one waits for. */
  #closing: Promise<Uint8Array | null> | null = null;

  async #close(): Promise<Uint8Array | null> {
    this.#ending ??= "closed";
    this.#stop(new SessionStateError("session_closed", "session closed"));
    const channel = this.#channel;
    let record: Uint8Array | null = null;
    try {
      if (this.#state === "closed" || !channel) {
        this.#handshake = null;
        this.#config = null;
        this.#setState("closed");
        return null;
      }
      // Closed before the close record is sealed: nothing can be sealed after it.
      const sealing = channel.sealClose();
      this.#channel = null;
      this.#setState("closed");
      record = await sealing;
      if (record && this.#transport) {
        // If the transport cannot take it, the peer sees the transport end instead.
        await this.#queueSend(Promise.resolve(record), false).catch(() => {});
      }
      return record;
    } finally {
      await this.#endTransport();
    }
  }

  // -------------------------------------------------------------- callback API

  #requireTransport(): SessionTransport {
    if (!this.#transport) {
      throw new TypeError("the callback API needs a transport (options.transport)");
    }
    return this.#transport;
  }

  /**
   * Writes one message. A failure fails the session and ends the transport,
   * unless `failSession` is false (the close record: the session is over).
   */
  async #transportSend(message: Uint8Array, failSession = true): Promise<void> {
    const transport = this.#requireTransport();
    try {
      await callTransport(() => transport.send(message), "send");
    } catch (cause) {
      // A transport's own typed error (e.g. transport_frame_too_large) keeps its code.
      const error = cause instanceof TransportError
        ? cause
        : new TransportError("transport_failed", "transport send failed", { cause });
      if (!failSession) throw error;
      this.#fail(error);
      await this.#endTransport();
      throw error;
    }
  }

  async #transportReceive(): Promise<Uint8Array> {
    const transport = this.#requireTransport();
    let message: unknown;
    let stop!: (reason: SessionStateError) => void;
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    stopped.catch(() => {}); // raced below; never an unhandled rejection
    if (this.#stopReason) stop(this.#stopReason);
    else this.#stopWaiters.add(stop);
    try {
      message = await Promise.race([callTransport(() => transport.receive(), "receive"), stopped]);
    } catch (cause) {
      if (cause instanceof SessionStateError) throw cause;
      throw this.#fail(
        cause instanceof TransportError
          ? cause
          : new TransportError("transport_failed", "transport receive failed", { cause }),
      );
    } finally {
      this.#stopWaiters.delete(stop);
    }
    if (message === null || message === undefined) {
      throw this.#fail(new TransportError("transport_closed", "the transport ended"));
    }
    if (!(message instanceof Uint8Array)) {
      throw this.#fail(
        new TransportError("transport_failed", "transport returned non-bytes", {
          cause: new TypeError(`transport.receive() resolved to ${describe(message)}`),
        }),
      );
    }
    return message;
  }

  /** Runs handshake steps over the transport until established. */
  async #drive(first: Uint8Array | null): Promise<void> {
    try {
      if (!this.#channel) {
        this.#limitTransport(this.#profile.maxHandshakeMessage ?? DEFAULT_HANDSHAKE_BOUND);
      }
      if (first) await this.#transportSend(first);
      while (!this.#channel) {
        this.#assertUsable();
        const reply = await this.negotiate(await this.#transportReceive());
        if (reply) await this.#transportSend(reply);
      }
      this.#limitTransport(this.#limits.maxRecordSize + RECORD_SLACK);
    } catch (err) {
      // Tell the peer (the alert), then end the transport so that nobody waits on it.
      const transport = this.#transport;
      if (err instanceof HandshakeError && err.alert && transport) {
        const alert = err.alert;
        await callTransport(() => transport.send(alert), "send").catch(() => {
          // The transport is broken: the peer learns from its end instead.
        });
      }
      if (err instanceof HandshakeError || this.#failure) await this.#endTransport();
      throw err;
    }
  }

  /** Ends the caller's transport, if it can be ended; its own failure is not ours. */
  async #endTransport(): Promise<void> {
    const transport = this.#transport;
    if (!transport?.close) return;
    try {
      await transport.close();
    } catch {
      // Already broken or closed.
    }
  }

  /** Tells the transport the largest message worth reading next, if it listens. */
  #limitTransport(size: number): void {
    if (this.#transportLimit === size) return;
    this.#transportLimit = size;
    const transport = this.#transport;
    if (!transport?.limit) return;
    try {
      transport.limit(size);
    } catch (cause) {
      throw this.#fail(
        new TransportError("transport_failed", "transport limit() failed", { cause }),
      );
    }
  }

  /**
   * Runs the whole handshake as the client over the transport.
   * On failure the transport is closed (after the alert, if any), so the
   * peer is not left waiting.
   *
   * @throws {HandshakeError} When the handshake fails.
   * @throws {TransportError} When the transport fails or ends.
   * @throws {SessionStateError} `session_closed` when `close()` is called meanwhile.
   *
   * @example
   * ```ts
   * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * import { memoryTransportPair } from "@tessera/session/transport";
   *
   * const [clientEnd, serverEnd] = memoryTransportPair();
   * const a = await generateIdentityKeyPair(), b = await generateIdentityKeyPair();
   * // Exactly one key per id, compared byte for byte, and null for strangers.
   * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
   * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId, transport: clientEnd });
   * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId, transport: serverEnd });
   *
   * await Promise.all([client.connect(), server.accept()]);
   * await client.send(new TextEncoder().encode("ping"));
   * assert.equal(new TextDecoder().decode((await server.receive())!), "ping");
   * ```
   */
  connect(): Promise<void> {
    return this.#receiveLock.run(async () => {
      this.#requireTransport();
      await this.#drive(await this.connectRequest());
    });
  }

  /**
   * Runs the whole handshake as the server over the transport. Calling
   * `receive()` on a new session does the same implicitly.
   * On failure the transport is closed (after the alert, if any), so the
   * peer is not left waiting.
   *
   * @throws {HandshakeError} When the handshake fails.
   * @throws {TransportError} When the transport fails or ends.
   * @throws {SessionStateError} `session_closed` when `close()` is called meanwhile.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({
   *   id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null,
   *   transport: { send() {}, receive: () => Promise.resolve(null) },
   * });
   * await assert.rejects(s.accept(), { code: "transport_closed" });
   * ```
   */
  accept(): Promise<void> {
    return this.#receiveLock.run(async () => {
      this.#requireTransport();
      if (!this.#channel) await this.#drive(null);
    });
  }

  /**
   * Wraps `data` and sends it through the transport. Concurrent calls are
   * written in the order they were made, and a call made before `close()` is
   * written before the close record. A transport failure fails the session
   * and closes the transport.
   *
   * @param data The plaintext.
   * @throws {SessionStateError} When not established, closed or failed.
   * @throws {RecordError} `record_too_large` for data above `maxRecordSize` or the peer's
   *   {@linkcode SecureSession.peerMaxRecordSize}; nothing is sent.
   * @throws {TransportError} When the transport fails.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({
   *   id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null,
   *   transport: { send() {}, receive: () => Promise.resolve(null) },
   * });
   * await assert.rejects(s.send(new Uint8Array(1)), { code: "session_not_established" });
   * ```
   */
  send(data: Uint8Array): Promise<void> {
    try {
      this.#requireTransport();
    } catch (err) {
      return Promise.reject(err);
    }
    const record = this.wrap(data);
    record.catch(() => {}); // reported through the queued send, never as an unhandled rejection
    return this.#queueSend(record);
  }

  /** Writes records in the order their sequence numbers were reserved. */
  #queueSend(record: Promise<Uint8Array>, failSession = true): Promise<void> {
    const sent = this.#sendChain.then(async () => this.#transportSend(await record, failSession));
    this.#sendChain = sent.catch(() => {});
    return sent;
  }

  /**
   * Receives the next message from the transport. On a new session this first
   * runs the handshake as the server. Records must arrive in order (a stream).
   *
   * `null` is the clean end, and only that: the peer's authenticated close
   * arrived (the transport is then closed too), or this side called
   * `close()`, also while this call was waiting. Every later call resolves to
   * `null` as well. A transport that ends without the peer's close record is
   * `transport_closed`, never `null`.
   *
   * @returns The plaintext, or `null` once the session was closed by either side.
   * @throws {RecordError} When a record is refused (the session then fails).
   * @throws {HandshakeError} When the implicit handshake fails.
   * @throws {TransportError} When the transport fails, or ends without a close.
   * @throws {SessionStateError} `session_failed` after a failure, `session_closed` after `save()`.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({
   *   id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null,
   *   transport: { send() {}, receive: () => Promise.resolve(new Uint8Array([9, 9, 9])) },
   * });
   * await assert.rejects(s.receive(), { code: "handshake_unexpected" });
   * ```
   */
  receive(): Promise<Uint8Array | null> {
    return this.#receiveLock.run(async () => {
      this.#requireTransport();
      try {
        if (this.#ending === "closed" && !this.#failure) return null;
        this.#assertUsable();
        if (!this.#channel) await this.#drive(null);
        this.#limitTransport(this.#limits.maxRecordSize + RECORD_SLACK);
        const data = await this.#open(await this.#transportReceive(), true);
        // The peer's close: the session is over both ways, and so is the transport.
        if (data === null) await this.#endTransport();
        return data;
      } catch (err) {
        // Closed by this side while waiting: the end, not an error.
        if (this.#ending === "closed" && !this.#failure) return null;
        // A stream that failed (a refused record, the peer's alert, a broken transport) is done.
        if (this.#failure) await this.#endTransport();
        throw err;
      }
    });
  }

  // ------------------------------------------------------------- save/restore

  /**
   * Saves the established session, sealed (AES-256-GCM) under `wrappingKey`,
   * and hands it over: this session stops (state `closed`, no close record
   * is sent) and the saved state is the only way to go on. The output is
   * versioned and authenticated and carries the next generation
   * (docs/protocol.md §6); it holds the session's secrets, so keep the
   * wrapping key as you would keep the session.
   *
   * @param wrappingKey An AES-256-GCM `CryptoKey` (encrypt+decrypt) or 32 raw bytes.
   * @param options `context`: bytes bound into the seal, needed again to restore.
   * @returns The sealed state for {@linkcode SecureSession.restore}.
   * @throws {SessionStateError} When not established.
   * @throws {KeyError} `key_unsupported` for an unusable wrapping key.
   *
   * @example
   * ```ts
   * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * const me = await generateIdentityKeyPair();
   * const s = new SecureSession({ id: "me", privateKey: me.privateKey, getPublicKeyForId: () => null });
   * await assert.rejects(s.save(new Uint8Array(32)), { code: "session_not_established" });
   * ```
   */
  async save(wrappingKey: WrappingKey, options: SaveOptions = {}): Promise<Uint8Array> {
    const channel = this.#established();
    const key = await toWrappingKey(wrappingKey);
    const context = contextBytes(options.context);
    if (this.#channel !== channel) this.#assertStopped();
    // Hand over: nothing more is sealed or opened here; records being opened are decided (and
    // the accepted ones delivered) before the state is read.
    const saved = new SessionStateError("session_closed", "the session was saved");
    this.#ending ??= "saved";
    this.#channel = null;
    channel.stop(saved);
    this.#stop(saved);
    this.#setState("closed");
    await channel.settled();
    const first = channel.failure;
    if (first !== saved) {
      // The peer's close came first: the session is over, there is nothing to save.
      if (first?.code === "session_closed") {
        this.#ending = "closed";
        throw first;
      }
      // It failed first (a truncated close, a refused stream record): nothing to save.
      throw this.#fail(first ?? saved);
    }
    const inner = concat(
      new Uint8Array([this.#role === "client" ? 0 : 1]),
      u16(this.#id.length),
      this.#id,
      await channel.exportState(),
    );
    return sealState(
      key,
      this.#profile.stateId,
      this.#generation + 1,
      context,
      inner,
      entropy().random,
    );
  }

  /**
   * Restores a saved session, established, with the saved state's
   * generation. Its sending direction always starts with fresh keys (a fork,
   * docs/protocol.md §4.2), so restoring the same state twice never reuses a
   * (key, nonce) pair; the peer follows the first copy it hears from and
   * refuses the other's records. To refuse an older copy, record the newest
   * generation you stored and pass it as `minGeneration`.
   *
   * @param saved The output of {@linkcode SecureSession.save}.
   * @param wrappingKey The key it was saved under.
   * @param options Transport, limits, the profiles to accept, the save's `context`, `minGeneration`.
   * @returns The established session.
   * @throws {SavedStateError} `state_malformed`, `state_unsupported_version`,
   *   `state_auth_failed` or `state_rolled_back`.
   *
   * @example
   * ```ts
   * import { SecureSession } from "@tessera/session";
   * import assert from "node:assert/strict";
   *
   * await assert.rejects(SecureSession.restore(new Uint8Array(3), new Uint8Array(32)), {
   *   code: "state_malformed",
   * });
   * ```
   */
  static async restore(
    saved: Uint8Array,
    wrappingKey: WrappingKey,
    options: RestoreOptions = {},
  ): Promise<SecureSession> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("options must be an object");
    }
    checkKnownKeys(options, RESTORE_OPTIONS, "SecureSession.restore()", OPTION_HINTS);
    const limits = checkLimits(options);
    const transport = checkTransport(options.transport);
    const minGeneration = options.minGeneration ?? 0;
    if (!Number.isSafeInteger(minGeneration) || minGeneration < 0) {
      throw new RangeError("minGeneration must be a non-negative integer");
    }
    const key = await toWrappingKey(wrappingKey);
    const { profileId, generation, inner } = await openState(
      key,
      saved,
      contextBytes(options.context),
    );
    if (generation < minGeneration) {
      throw new SavedStateError("state_rolled_back", "the saved state is older than required");
    }
    const profiles = (options.profiles ?? [tessera1]).map((p) => implementationOf(p, "profiles"));
    const profile = profiles.find((p) => p.stateId === profileId);
    if (!profile) throw new SavedStateError("state_malformed", "saved state of an unknown profile");
    const r = new Reader(inner, () => new SavedStateError("state_malformed", "bad saved state"));
    const roleByte = r.u8();
    if (roleByte > 1) throw new SavedStateError("state_malformed", "bad role");
    const id = r.vector16(MAX_ID_LENGTH, 1).slice();
    const now = options.now ?? Date.now;
    const channel = await profile.importChannel(r.rest(), {
      random: entropy().random,
      ...limits,
      now: () => now(),
    });
    const role = roleByte === 0 ? "client" : "server";
    if (channel.role !== role) {
      throw new SavedStateError("state_malformed", "the saved roles disagree");
    }
    const restored = new Restored(
      profile,
      role,
      id,
      channel,
      limits,
      transport,
      generation,
    );
    return new SecureSession(restored as unknown as SecureSessionOptions);
  }
}
