/**
 * The sealed session envelope: what a transformer protects in client-side
 * mode and what a server-side store keeps per session.
 *
 * The envelope carries its format version, when it was issued, its absolute
 * and idle expiry, an optional user id with that user's revocation epoch, the
 * application data and pending flash values. Expiry is checked on every read
 * against an injectable clock, so an old value dies even when a browser keeps
 * it.
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";

/**
 * The envelope format version this build writes and reads.
 *
 * @example
 * ```ts
 * import { checkPayload, PAYLOAD_VERSION, toWire } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * assert.equal(PAYLOAD_VERSION, 1);
 * const wire = toWire({ issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: {} });
 * assert.equal(wire.v, PAYLOAD_VERSION);
 * assert.deepEqual(checkPayload({ ...wire, v: PAYLOAD_VERSION + 1 }, 10), {
 *   ok: false,
 *   code: "cookie_unsupported_version",
 * });
 * ```
 */
export const PAYLOAD_VERSION = 1;

/**
 * The longest encoded envelope {@linkcode decodePayload} looks at, in characters.
 *
 * @example
 * ```ts
 * import { decodePayload, MAX_PAYLOAD_LENGTH } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_PAYLOAD_LENGTH, 64 * 1024);
 * const huge = " ".repeat(MAX_PAYLOAD_LENGTH + 1);
 * assert.deepEqual(decodePayload(huge, 0), { ok: false, code: "cookie_too_large" });
 * ```
 */
export const MAX_PAYLOAD_LENGTH = 64 * 1024;

/**
 * The longest user id an envelope may carry, in characters.
 *
 * @example
 * ```ts
 * import { MAX_USER_ID_LENGTH, Session } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_USER_ID_LENGTH, 256);
 * const session = new Session();
 * session.setUser("u".repeat(MAX_USER_ID_LENGTH));
 * assert.throws(() => session.setUser("u".repeat(MAX_USER_ID_LENGTH + 1)), TypeError);
 * ```
 */
export const MAX_USER_ID_LENGTH = 256;

/**
 * A session envelope. Times are milliseconds since the Unix epoch.
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload, type SessionPayload } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const payload: SessionPayload = {
 *   issuedAt: 0,
 *   expiresAt: 7_000,
 *   idleExpiresAt: 3_000,
 *   userId: "ann",
 *   data: { theme: "dark" },
 * };
 * const result = decodePayload(encodePayload(payload), 1_000);
 * assert.ok(result.ok);
 * assert.equal(result.payload.userId, "ann");
 * assert.deepEqual(result.payload.data, { theme: "dark" });
 * ```
 */
export interface SessionPayload {
  /** When the session was created (or last regenerated). */
  readonly issuedAt: number;
  /** The absolute expiry: the session dies at this time whatever the activity. */
  readonly expiresAt: number;
  /** The idle expiry: the session dies at this time unless renewed; never after `expiresAt`. */
  readonly idleExpiresAt: number;
  /** The user the session belongs to, if any. */
  readonly userId?: string | undefined;
  /** The user's revocation epoch when the session was bound to the user. */
  readonly epoch?: number | undefined;
  /** The application data (JSON values). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Flash values waiting to be read on a later request (JSON values). */
  readonly flash?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The outcome of {@linkcode decodePayload} and {@linkcode checkPayload}.
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload, type PayloadResult } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const describe = (result: PayloadResult): string =>
 *   result.ok ? `data ${JSON.stringify(result.payload.data)}` : `refused: ${result.code}`;
 * const text = encodePayload({ issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: { n: 1 } });
 * assert.equal(describe(decodePayload(text, 10)), 'data {"n":1}');
 * assert.equal(describe(decodePayload(text, 60)), "refused: cookie_expired");
 * ```
 */
export type PayloadResult =
  | { readonly ok: true; readonly payload: SessionPayload }
  | { readonly ok: false; readonly code: CookieErrorCode };

/**
 * Encodes an envelope as compact JSON. The transformer that protects it also
 * makes it safe for a cookie or header (every built-in one base64url-encodes).
 *
 * @param payload The envelope.
 * @returns The encoded envelope.
 * @throws {TypeError} When the data holds a value JSON cannot encode (a `BigInt`, a cycle).
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const text = encodePayload({ issuedAt: 0, expiresAt: 1000, idleExpiresAt: 500, data: { n: 1 } });
 * const result = decodePayload(text, 10);
 * assert.ok(result.ok);
 * assert.deepEqual(result.payload.data, { n: 1 });
 * ```
 */
export function encodePayload(payload: SessionPayload): string {
  return JSON.stringify(toWire(payload));
}

/**
 * Decodes and checks an encoded envelope: JSON syntax and shape,
 * format version, then absolute and idle expiry against `now`. Never throws
 * for bad input.
 *
 * @param text The encoded envelope.
 * @param now The current time in milliseconds since the Unix epoch.
 * @returns The envelope, or the reason it was refused: `cookie_malformed`,
 *   `cookie_unsupported_version`, `cookie_too_large` or `cookie_expired`.
 * @throws Nothing: every failure is a result.
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const text = encodePayload({ issuedAt: 0, expiresAt: 1000, idleExpiresAt: 500, data: {} });
 * assert.deepEqual(decodePayload(text, 600), { ok: false, code: "cookie_expired" });
 * assert.deepEqual(decodePayload("not json", 0), { ok: false, code: "cookie_malformed" });
 * ```
 */
export function decodePayload(text: string, now: number): PayloadResult {
  if (text.length > MAX_PAYLOAD_LENGTH) return fail("cookie_too_large");
  let wire: unknown;
  try {
    wire = JSON.parse(text);
  } catch {
    return fail("cookie_malformed");
  }
  return checkPayload(wire, now);
}

/**
 * Checks a parsed envelope in its JSON wire form (`{v, iat, exp, idl, uid?,
 * ep?, d, f?}`, as produced by `JSON.parse` of an encoded envelope) and
 * returns it as a {@linkcode SessionPayload}. Stores use it on what they read
 * back. Never throws for bad input.
 *
 * @param wire The parsed JSON value.
 * @param now The current time in milliseconds since the Unix epoch.
 * @returns The envelope, or the reason it was refused.
 * @throws Nothing: every failure is a result.
 *
 * @example
 * ```ts
 * import { checkPayload } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const ok = checkPayload({ v: 1, iat: 0, exp: 100, idl: 50, d: {} }, 10);
 * assert.equal(ok.ok, true);
 * assert.deepEqual(checkPayload({ v: 2 }, 10), { ok: false, code: "cookie_unsupported_version" });
 * ```
 */
export function checkPayload(wire: unknown, now: number): PayloadResult {
  if (!isPlainObject(wire)) return fail("cookie_malformed");
  if (wire.v !== PAYLOAD_VERSION) {
    return fail(typeof wire.v === "number" ? "cookie_unsupported_version" : "cookie_malformed");
  }
  const { iat, exp, idl, uid, ep, d, f } = wire;
  if (!isTime(iat) || !isTime(exp) || !isTime(idl) || iat > exp || idl > exp) {
    return fail("cookie_malformed");
  }
  if (uid !== undefined && (typeof uid !== "string" || !validUserId(uid))) {
    return fail("cookie_malformed");
  }
  if (ep !== undefined && (!Number.isSafeInteger(ep) || (ep as number) < 0 || uid === undefined)) {
    return fail("cookie_malformed");
  }
  if (!isPlainObject(d) || (f !== undefined && !isPlainObject(f))) return fail("cookie_malformed");
  if (now >= exp || now >= idl) return fail("cookie_expired");
  const payload: SessionPayload = {
    issuedAt: iat,
    expiresAt: exp,
    idleExpiresAt: idl,
    userId: uid,
    epoch: ep as number | undefined,
    data: d,
    flash: f,
  };
  return { ok: true, payload };
}

/**
 * Returns the JSON wire form of an envelope (the inverse of {@linkcode checkPayload}).
 *
 * @param payload The envelope.
 * @returns A plain object ready for `JSON.stringify` or a structured-clone store.
 * @throws Nothing.
 *
 * @example
 * ```ts
 * import { toWire } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const wire = toWire({ issuedAt: 1, expiresAt: 3, idleExpiresAt: 2, data: {} });
 * assert.deepEqual(wire, { v: 1, iat: 1, exp: 3, idl: 2, d: {} });
 * ```
 */
export function toWire(payload: SessionPayload): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    v: PAYLOAD_VERSION,
    iat: payload.issuedAt,
    exp: payload.expiresAt,
    idl: payload.idleExpiresAt,
  };
  if (payload.userId !== undefined) wire.uid = payload.userId;
  if (payload.userId !== undefined && payload.epoch !== undefined) wire.ep = payload.epoch;
  wire.d = payload.data;
  if (payload.flash !== undefined && Object.keys(payload.flash).length > 0) wire.f = payload.flash;
  return wire;
}

/** Whether `userId` is acceptable as a session's user id (1 to 256 characters, no controls). */
export function validUserId(userId: string): boolean {
  if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) return false;
  for (let i = 0; i < userId.length; i++) {
    const c = userId.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return userId.isWellFormed();
}

function fail(code: CookieErrorCode): PayloadResult {
  return { ok: false, code };
}

function isTime(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
