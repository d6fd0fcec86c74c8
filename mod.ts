/**
 * tessera: a mutually authenticated, forward-secret Secure Session over any
 * transport, built only on `crypto.subtle`.
 *
 * - {@linkcode SecureSession}: buffer API (`connectRequest`, `negotiate`,
 *   `wrap`, `unwrap`) and callback API (`connect`, `accept`, `send`,
 *   `receive`), state events, `rekey()`, `close()`, `save()`/`restore()`.
 * - Identity keys: {@linkcode generateIdentityKeyPair} and the import/export
 *   helpers in `@tessera/session/crypto`.
 * - Secure streams over any `{ readable, writable }` byte stream, and servers
 *   and clients with handshake deadlines: `@tessera/session/stream`.
 * - Cookie sessions for `Deno.serve`: `@tessera/session/cookie`.
 * - Typed errors with stable codes: `@tessera/session/errors`.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const a = await generateIdentityKeyPair();
 * const b = await generateIdentityKeyPair();
 * // Exactly one key per id, compared byte for byte, and null for strangers.
 * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
 * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId });
 *
 * const hello = await client.connectRequest();
 * const reply = await server.negotiate(hello);
 * const finished = await client.negotiate(reply!);
 * assert.equal(await server.negotiate(finished!), null);
 * const record = await client.wrap(new TextEncoder().encode("hi"));
 * assert.deepEqual(await server.unwrap(record), new TextEncoder().encode("hi"));
 * ```
 *
 * @module
 */

export * from "./lib/crypto/mod.ts";
export * from "./lib/errors.ts";
export {
  DEFAULT_MAX_RECORD_SIZE,
  type RestoreOptions,
  type SaveOptions,
  SecureSession,
  type SecureSessionEventMap,
  type SecureSessionOptions,
  type SessionLimits,
  type SessionTransport,
  type WrappingKey,
} from "./lib/session/secure_session.ts";
export {
  HandshakeEvent,
  KeyUpdateEvent,
  SessionCloseEvent,
  SessionErrorEvent,
  type SessionState,
  SessionStateEvent,
  type SessionStats,
  TicketEvent,
  type TicketEventKind,
} from "./lib/session/session_events.ts";
export type {
  PaddingPolicy,
  PeerPolicy,
  Profile,
  PublicKeyLookup,
  ResumptionOptions,
  Role,
  TicketDeclineReason,
} from "./lib/session/profile.ts";
export { tessera1 } from "./lib/session/tessera1.ts";
export { directoryLookup } from "./lib/session/directory_lookup.ts";
