/**
 * Typed errors for every failure tessera reports.
 *
 * Every error thrown by tessera is a {@linkcode TesseraError} with a stable
 * {@linkcode TesseraError.code} from the closed union
 * {@linkcode TesseraErrorCode}. Codes are part of the public API: match on
 * `err.code`, never on the message. Messages never contain key material,
 * plaintext or peer-supplied bytes.
 *
 * Misuse of the API by the caller (a wrong argument type, a value out of
 * range) throws the built-in `TypeError` or `RangeError` instead.
 *
 * @example Matching on a code
 * ```ts
 * import { HandshakeError, TesseraError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const err = new HandshakeError("handshake_unknown_peer", "peer id is not known");
 * assert.ok(err instanceof TesseraError);
 * assert.equal(err.code, "handshake_unknown_peer");
 * assert.equal(err.name, "HandshakeError");
 * ```
 *
 * @module
 */

/**
 * Codes of {@linkcode HandshakeError}: the handshake failed and the session is unusable.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { HandshakeError, type HandshakeErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId: () => null });
 * let code: HandshakeErrorCode | undefined;
 * try {
 *   await server.negotiate(new Uint8Array([9, 9, 9]));
 * } catch (err) {
 *   if (err instanceof HandshakeError) code = err.code; // narrowed to HandshakeErrorCode
 * }
 * assert.equal(code, "handshake_unexpected");
 * ```
 */
export type HandshakeErrorCode =
  /** A handshake message is truncated, oversized or has an invalid field. */
  | "handshake_malformed"
  /** A message arrived that the handshake does not expect at this point. */
  | "handshake_unexpected"
  /** The peer speaks another protocol version. */
  | "handshake_unsupported_version"
  /** The peer offers no cipher suite this side supports. */
  | "handshake_unsupported_suite"
  /** The encrypted part of a handshake message failed authentication. */
  | "handshake_decrypt_failed"
  /** `getPublicKeyForId` returned nothing for the peer's id. */
  | "handshake_unknown_peer"
  /** `getPublicKeyForId` threw or returned something that is not a key. */
  | "handshake_lookup_failed"
  /** The peer's signature over the transcript does not verify. */
  | "handshake_bad_signature"
  /** The peer's Finished MAC does not verify. */
  | "handshake_bad_finished"
  /** The peer's ephemeral public key is not a valid P-256 point. */
  | "handshake_bad_key_share"
  /** The peer's authenticated id is not the one expected (`expectedPeer`), or is this side's own. */
  | "handshake_peer_rejected"
  /** The peer sent an alert: it refused the handshake (its reason is not disclosed). */
  | "handshake_refused"
  /**
   * The connection or its handshake did not complete within its deadline
   * (`handshakeTimeout` of a WebSocket endpoint, secure stream or server,
   * `timeout` of `connectWebSocket` and `connectSecure`).
   */
  | "handshake_timeout";

/**
 * Codes of {@linkcode RecordError}: one record was refused; the session stays usable.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, RecordError, SecureSession } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const record = await client.wrap(new Uint8Array([1]));
 * await server.unwrap(record);
 * const err = await server.unwrap(record).catch((e: unknown) => e);
 * assert.ok(err instanceof RecordError);
 * assert.equal(err.code, "record_replayed"); // a RecordErrorCode; the session stays usable
 * ```
 */
export type RecordErrorCode =
  /** The record is shorter than its header and tag, or its header is invalid. */
  | "record_malformed"
  /** The record or plaintext is larger than the configured maximum. */
  | "record_too_large"
  /** Authentication failed: tampered, from another session, or a wrong key. */
  | "record_auth_failed"
  /** The sequence number was already accepted. */
  | "record_replayed"
  /** The sequence number is older than the replay window. */
  | "record_too_old"
  /** A stream transport delivered a record out of order. */
  | "record_out_of_order"
  /** The sending direction exhausted its 2^64 sequence numbers. */
  | "record_sequence_exhausted";

/**
 * Codes of {@linkcode SessionStateError}: the call does not fit the session's state.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { SessionStateError, type SessionStateErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * let code: SessionStateErrorCode | undefined;
 * try {
 *   session.rekey();
 * } catch (err) {
 *   if (err instanceof SessionStateError) code = err.code;
 * }
 * assert.equal(code, "session_not_established");
 * ```
 */
export type SessionStateErrorCode =
  /** The session has not completed its handshake. */
  | "session_not_established"
  /** The session was closed (locally or by the peer's authenticated close). */
  | "session_closed"
  /** The session failed earlier and refuses further use. */
  | "session_failed"
  /** The call is not valid for this role or at this point of the handshake. */
  | "session_invalid_call"
  /**
   * The peer closed the session, but records it sent before its close were
   * never accepted here: lost, or withheld by an attacker.
   */
  | "session_truncated"
  /**
   * The protocol profile does not support this operation. Reserved for
   * profiles without key update or close; tessera/1 supports everything.
   */
  | "session_unsupported";

/**
 * Codes of {@linkcode KeyError}: a key could not be imported, exported or used.
 *
 * @example
 * ```ts
 * import { exportPrivateKey, generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { KeyError, type KeyErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair(); // non-extractable
 * let code: KeyErrorCode | undefined;
 * try {
 *   await exportPrivateKey(privateKey, "pkcs8");
 * } catch (err) {
 *   if (err instanceof KeyError) code = err.code;
 * }
 * assert.equal(code, "key_not_extractable");
 * ```
 */
export type KeyErrorCode =
  /** Key bytes or JWK fields are malformed or describe an invalid point. */
  | "key_invalid"
  /** The key has the wrong algorithm, curve, type or usages for this use. */
  | "key_unsupported"
  /** Export was asked of a key created non-extractable. */
  | "key_not_extractable"
  /** A signature is not a valid encoding. */
  | "signature_malformed";

/**
 * Codes of {@linkcode SavedStateError}: a saved session could not be restored.
 *
 * @example
 * ```ts
 * import { SecureSession } from "@tessera/session";
 * import { SavedStateError, type SavedStateErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * let code: SavedStateErrorCode | undefined;
 * try {
 *   await SecureSession.restore(new TextEncoder().encode("garbage"), new Uint8Array(32));
 * } catch (err) {
 *   if (err instanceof SavedStateError) code = err.code;
 * }
 * assert.equal(code, "state_malformed");
 * ```
 */
export type SavedStateErrorCode =
  /** The bytes are not a saved tessera session. */
  | "state_malformed"
  /** The saved state has a format version this build does not read. */
  | "state_unsupported_version"
  /** Authentication failed: a wrong wrapping key, another context, or tampered bytes. */
  | "state_auth_failed"
  /** The saved state is older than the generation the caller requires (`minGeneration`). */
  | "state_rolled_back";

/**
 * Codes of {@linkcode TransportError}: the underlying transport failed.
 *
 * @example
 * ```ts
 * import { TransportError, type TransportErrorCode } from "@tessera/session/errors";
 * import { framedStreamTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const transport = framedStreamTransport(new TransformStream(), { maxFrameSize: 4 });
 * let code: TransportErrorCode | undefined;
 * try {
 *   await transport.send(new Uint8Array(5));
 * } catch (err) {
 *   if (err instanceof TransportError) code = err.code;
 * }
 * assert.equal(code, "transport_frame_too_large");
 * ```
 */
export type TransportErrorCode =
  /** The transport ended before a whole message arrived. */
  | "transport_closed"
  /** A frame announced a length above the configured bound. */
  | "transport_frame_too_large"
  /** The caller's `send` or `receive` callback threw. */
  | "transport_failed";

/**
 * Codes of {@linkcode TicketError}: a resumption ticket store failed.
 *
 * A ticket that is unknown, expired, revoked, replayed or has a bad binder is
 * not an error: the server declines it and the handshake goes on as a full
 * one, reporting the reason as a `TicketEvent` (`TicketDeclineReason`).
 *
 * @example
 * ```ts
 * import { TicketError, type TicketErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const err: unknown = new TicketError("ticket_store_unavailable", "the store is down");
 * assert.ok(err instanceof TicketError);
 * const code: TicketErrorCode = err.code;
 * assert.equal(code, "ticket_store_unavailable");
 * ```
 */
export type TicketErrorCode =
  /** The ticket store failed or stayed busy after bounded retries. */
  "ticket_store_unavailable";

/**
 * Codes of {@linkcode CookieError}: a cookie or header session value was refused.
 *
 * @example
 * ```ts
 * import { headerTransport } from "@tessera/session/cookie";
 * import { CookieError, type CookieErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const transport = headerTransport({ maxLength: 4 });
 * let code: CookieErrorCode | undefined;
 * try {
 *   await transport.write(new Headers(), "12345", { maxAge: 60, present: [] });
 * } catch (err) {
 *   if (err instanceof CookieError) code = err.code;
 * }
 * assert.equal(code, "cookie_too_large");
 * ```
 */
export type CookieErrorCode =
  /** The value does not parse (bad encoding, missing fields). */
  | "cookie_malformed"
  /** A MAC or AEAD tag failed: tampered, moved from another cookie, or wrong key. */
  | "cookie_tampered"
  /** The value names a key id that the keyring does not hold. */
  | "cookie_unknown_key"
  /** The value is past its absolute or idle expiry. */
  | "cookie_expired"
  /**
   * The value's issued-at lies further in the future than the allowed clock
   * skew (`clockSkew` of `sessions()`, default 60 s): it was minted by a
   * server whose clock runs ahead, and would otherwise outlive `maxAge`.
   */
  | "cookie_issued_in_future"
  /**
   * The value was revoked: the user's revocation epoch moved on (client-side),
   * or the server-side session existed and was deleted (logout, `regenerate()`,
   * a login that moved it to a new token, log out everywhere).
   */
  | "cookie_revoked"
  /**
   * Server-side storage has no trace of the token: it was never issued by this
   * store (forged, guessed, from another deployment), or its session ended
   * longer ago than its absolute lifetime. Logouts and expiries within a
   * session's lifetime give `cookie_revoked` or `cookie_expired` instead, so a
   * burst of this code in logs is what token guessing looks like.
   */
  | "cookie_unknown_session"
  /**
   * The value, or the set of chunks, exceeds the size budget. Thrown by
   * `sessions()` at commit when the handler stored more than the cookie,
   * header or store allows (answer 413).
   */
  | "cookie_too_large"
  /** A chunk of a chunked cookie is missing or inconsistent. */
  | "cookie_chunk_missing"
  /** A format version this build does not read. */
  | "cookie_unsupported_version"
  /**
   * A concurrent write to the same server-side session changed data this
   * request had read. Thrown by `sessions()` at commit (answer 409).
   */
  | "session_conflict"
  /**
   * The session storage or revocation store failed (after retries); what a
   * custom store threw is the `cause`. Thrown by `sessions()` (answer 503).
   */
  | "session_storage_failed";

/**
 * Codes of {@linkcode ThemisError}: the Themis profile (`@tessera/session/themis`)
 * refused input. A key container with a wrong tag, size or CRC is
 * `themis_container_invalid` (inside a handshake message, it is the `cause`
 * of a `handshake_malformed`); a data message outside the sequence or time
 * window is `themis_out_of_window`, and the session stays usable.
 *
 * @example
 * ```ts
 * import { ThemisError, type ThemisErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const err: unknown = new ThemisError("themis_out_of_window", "message outside the window");
 * assert.ok(err instanceof ThemisError);
 * const code: ThemisErrorCode = err.code;
 * assert.equal(code, "themis_out_of_window");
 * ```
 */
export type ThemisErrorCode =
  /** A Soter container has a wrong tag, size or CRC. */
  | "themis_container_invalid"
  /**
   * A Themis data message is more than 8 sequence numbers from the newest
   * accepted, or stamped more than a day from this side's clock.
   */
  | "themis_out_of_window";

/**
 * Every code tessera throws: a closed union, stable across minor versions.
 *
 * @example
 * ```ts
 * import { importPublicKey } from "@tessera/session/crypto";
 * import { TesseraError, type TesseraErrorCode } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * let code: TesseraErrorCode | undefined;
 * try {
 *   await importPublicKey(new Uint8Array(3));
 * } catch (err) {
 *   if (err instanceof TesseraError) code = err.code; // match on the code, never the message
 * }
 * assert.equal(code, "key_invalid");
 * ```
 */
export type TesseraErrorCode =
  | HandshakeErrorCode
  | RecordErrorCode
  | SessionStateErrorCode
  | KeyErrorCode
  | SavedStateErrorCode
  | TransportErrorCode
  | TicketErrorCode
  | CookieErrorCode
  | ThemisErrorCode;

/**
 * Base class of every error tessera throws on untrusted input or state.
 *
 * @example
 * ```ts
 * import { RecordError, TesseraError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * try {
 *   throw new RecordError("record_replayed", "sequence number already seen");
 * } catch (err) {
 *   assert.ok(err instanceof TesseraError);
 *   assert.equal((err as TesseraError).code, "record_replayed");
 * }
 * ```
 */
export class TesseraError extends Error {
  /** The stable code of this failure. */
  readonly code: TesseraErrorCode;

  /**
   * Creates an error.
   *
   * @param code The stable code.
   * @param message A human-readable message without secrets.
   * @param options `cause` of the error, if any (never a secret-bearing value).
   */
  constructor(code: TesseraErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The handshake failed. The session that threw it refuses further use.
 *
 * @example
 * ```ts
 * import { HandshakeError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new HandshakeError("handshake_bad_signature", "x").code, "handshake_bad_signature");
 * ```
 */
export class HandshakeError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: HandshakeErrorCode;
  /**
   * The alert to deliver to the peer so that it learns of the failure at
   * once (docs/protocol.md §3.6), or `null` when there is none to send (the
   * failure is local, or the peer's own alert). The callback API sends it
   * itself; with the buffer API, send it as you would a handshake message.
   */
  readonly alert: Uint8Array | null;
  /**
   * Creates a handshake error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause, and the alert for the peer.
   */
  constructor(
    code: HandshakeErrorCode,
    message: string,
    options?: ErrorOptions & { alert?: Uint8Array | null },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.alert = options?.alert ?? null;
  }
}

/**
 * One record was refused. Nothing of it was delivered; the session stays usable.
 *
 * @example
 * ```ts
 * import { RecordError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new RecordError("record_auth_failed", "x").code, "record_auth_failed");
 * ```
 */
export class RecordError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: RecordErrorCode;
  /**
   * Creates a record error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: RecordErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The call does not fit the session's state (not established, closed, failed).
 *
 * @example
 * ```ts
 * import { SessionStateError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new SessionStateError("session_closed", "x").code, "session_closed");
 * ```
 */
export class SessionStateError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: SessionStateErrorCode;
  /**
   * Creates a session state error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: SessionStateErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A key could not be imported, exported or used.
 *
 * @example
 * ```ts
 * import { KeyError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new KeyError("key_invalid", "x").code, "key_invalid");
 * ```
 */
export class KeyError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: KeyErrorCode;
  /**
   * Creates a key error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: KeyErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A saved session could not be restored.
 *
 * @example
 * ```ts
 * import { SavedStateError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new SavedStateError("state_auth_failed", "x").code, "state_auth_failed");
 * ```
 */
export class SavedStateError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: SavedStateErrorCode;
  /**
   * Creates a saved-state error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: SavedStateErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The transport under a session failed or delivered an invalid frame.
 *
 * @example
 * ```ts
 * import { TransportError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TransportError("transport_closed", "x").code, "transport_closed");
 * ```
 */
export class TransportError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: TransportErrorCode;
  /**
   * Creates a transport error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: TransportErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A resumption ticket store failed (after bounded retries, for the KV store).
 *
 * @example
 * ```ts
 * import { TicketError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const err = new TicketError("ticket_store_unavailable", "x");
 * assert.equal(err.code, "ticket_store_unavailable");
 * ```
 */
export class TicketError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: TicketErrorCode;
  /**
   * Creates a ticket error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: TicketErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A cookie or header session value was refused.
 *
 * @example
 * ```ts
 * import { CookieError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new CookieError("cookie_expired", "x").code, "cookie_expired");
 * ```
 */
export class CookieError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: CookieErrorCode;
  /**
   * Creates a cookie error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: CookieErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The Themis-compatible profile refused input.
 *
 * @example
 * ```ts
 * import { ThemisError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ThemisError("themis_container_invalid", "x").code, "themis_container_invalid");
 * ```
 */
export class ThemisError extends TesseraError {
  /** The stable code of this failure. */
  declare readonly code: ThemisErrorCode;
  /**
   * Creates a Themis profile error.
   *
   * @param code The stable code.
   * @param message A message without secrets.
   * @param options Optional cause.
   */
  constructor(code: ThemisErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
