/**
 * The sealed session envelope: what a transformer protects in client-side
 * mode and what a server-side store keeps per session.
 *
 * The envelope carries its format version, when it was issued, its absolute
 * and idle expiry, an optional user id with that user's revocation epoch, the
 * application data and pending flash values. Expiry is checked on every read
 * against an injectable clock, so an old value dies even when a browser keeps
 * it; an issued-at further ahead of that clock than the allowed skew is
 * refused too, so a server whose clock runs fast cannot mint values that
 * outlive their lifetime elsewhere.
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";

/**
 * The envelope format version this build writes and reads.
 *
 * @example
 * ```ts
 * import { checkPayload, PAYLOAD_VERSION, toWire } from "./payload.ts";
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
 * import { decodePayload, MAX_PAYLOAD_LENGTH } from "./payload.ts";
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
 * import { MAX_USER_ID_LENGTH } from "./payload.ts";
 * import { Session } from "@tessera/session/cookie";
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
 * How far, by default, an envelope's issued-at may lie ahead of the reader's
 * clock, in milliseconds: 60 seconds. A value issued further in the future is
 * refused with `cookie_issued_in_future` (`sessions()` option `clockSkew`).
 *
 * @example
 * ```ts
 * import { decodePayload, DEFAULT_CLOCK_SKEW, encodePayload } from "./payload.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_CLOCK_SKEW, 60_000);
 * const now = 1_000_000;
 * const hour = 3_600_000;
 * const at = (issuedAt: number): string =>
 *   encodePayload({ issuedAt, expiresAt: issuedAt + hour, idleExpiresAt: issuedAt + hour, data: {} });
 * assert.equal(decodePayload(at(now + DEFAULT_CLOCK_SKEW), now).ok, true); // a minute ahead: fine
 * assert.deepEqual(decodePayload(at(now + DEFAULT_CLOCK_SKEW + 1), now), {
 *   ok: false,
 *   code: "cookie_issued_in_future",
 * });
 * ```
 */
export const DEFAULT_CLOCK_SKEW = 60_000;

/**
 * Options of {@linkcode checkPayload} and {@linkcode decodePayload}.
 *
 * @example
 * ```ts
 * import { checkPayload, type PayloadCheckOptions } from "./payload.ts";
 * import assert from "node:assert/strict";
 *
 * const wire = { v: 1, iat: 10_000, exp: 20_000, idl: 20_000, d: {} };
 * const strict: PayloadCheckOptions = { clockSkew: 0 };
 * assert.deepEqual(checkPayload(wire, 9_999, strict), { ok: false, code: "cookie_issued_in_future" });
 * assert.equal(checkPayload(wire, 9_999, { clockSkew: 1 }).ok, true);
 * assert.equal(checkPayload(wire, 0, { clockSkew: Infinity }).ok, true); // check turned off
 * ```
 */
export interface PayloadCheckOptions {
  /**
   * How far, in milliseconds, issued-at may lie ahead of `now` (another
   * server's clock running fast). Default {@linkcode DEFAULT_CLOCK_SKEW}
   * (60 s). `Infinity` turns the check off: server-side stores do that and
   * leave it to `sessions()`, which knows the configured skew.
   */
  readonly clockSkew?: number;
}

/**
 * A session envelope. Times are milliseconds since the Unix epoch.
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload, type SessionPayload } from "./payload.ts";
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
  /**
   * Remember-me: `false` for a browser-session cookie (no `Max-Age`), `true`
   * for a persistent one; absent, the transport's default decides.
   */
  readonly persistent?: boolean | undefined;
}

/**
 * The outcome of {@linkcode decodePayload} and {@linkcode checkPayload}.
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload, type PayloadResult } from "./payload.ts";
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
 * import { decodePayload, encodePayload } from "./payload.ts";
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
 * format version, issued-at not beyond `now` plus the allowed clock skew,
 * then absolute and idle expiry against `now`. Never throws for bad input.
 *
 * @param text The encoded envelope.
 * @param now The current time in milliseconds since the Unix epoch.
 * @param options The allowed clock skew (default 60 s).
 * @returns The envelope, or the reason it was refused: `cookie_malformed`,
 *   `cookie_unsupported_version`, `cookie_too_large`, `cookie_issued_in_future`
 *   or `cookie_expired`.
 * @throws {RangeError} When `options.clockSkew` is negative or not a number
 *   (a caller mistake; bad input never throws).
 *
 * @example
 * ```ts
 * import { decodePayload, encodePayload } from "./payload.ts";
 * import assert from "node:assert/strict";
 *
 * const text = encodePayload({ issuedAt: 0, expiresAt: 1000, idleExpiresAt: 500, data: {} });
 * assert.deepEqual(decodePayload(text, 600), { ok: false, code: "cookie_expired" });
 * assert.deepEqual(decodePayload("not json", 0), { ok: false, code: "cookie_malformed" });
 * ```
 */
export function decodePayload(
  text: string,
  now: number,
  options: PayloadCheckOptions = {},
): PayloadResult {
  const skew = clockSkewOf(options);
  if (text.length > MAX_PAYLOAD_LENGTH) return fail("cookie_too_large");
  let wire: unknown;
  try {
    wire = JSON.parse(text);
  } catch {
    return fail("cookie_malformed");
  }
  return checkPayload(wire, now, { clockSkew: skew });
}

/**
 * Checks a parsed envelope in its JSON wire form (`{v, iat, exp, idl, uid?,
 * ep?, d, f?}`, as produced by `JSON.parse` of an encoded envelope) and
 * returns it as a {@linkcode SessionPayload}. Stores use it on what they read
 * back (with `{ clockSkew: Infinity }`: `sessions()` checks issued-at against
 * its configured skew). Never throws for bad input.
 *
 * The checks, in order: shape, format version, issued-at at most `now +
 * clockSkew` (else `cookie_issued_in_future`), then absolute and idle expiry
 * (else `cookie_expired`).
 *
 * @param wire The parsed JSON value.
 * @param now The current time in milliseconds since the Unix epoch.
 * @param options The allowed clock skew (default 60 s).
 * @returns The envelope, or the reason it was refused.
 * @throws {RangeError} When `options.clockSkew` is negative or not a number
 *   (a caller mistake; bad input never throws).
 *
 * @example
 * ```ts
 * import { checkPayload } from "./payload.ts";
 * import assert from "node:assert/strict";
 *
 * const ok = checkPayload({ v: 1, iat: 0, exp: 100, idl: 50, d: {} }, 10);
 * assert.equal(ok.ok, true);
 * assert.deepEqual(checkPayload({ v: 2 }, 10), { ok: false, code: "cookie_unsupported_version" });
 * ```
 */
export function checkPayload(
  wire: unknown,
  now: number,
  options: PayloadCheckOptions = {},
): PayloadResult {
  const skew = clockSkewOf(options);
  if (!isPlainObject(wire)) return fail("cookie_malformed");
  if (wire.v !== PAYLOAD_VERSION) {
    return fail(typeof wire.v === "number" ? "cookie_unsupported_version" : "cookie_malformed");
  }
  const { iat, exp, idl, uid, ep, d, f, ps } = wire;
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
  if (ps !== undefined && typeof ps !== "boolean") return fail("cookie_malformed");
  // Issued further ahead than the skew: a fast clock minted it, and it would outlive maxAge.
  if (iat > now + skew) return fail("cookie_issued_in_future");
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
  if (ps !== undefined) return { ok: true, payload: { ...payload, persistent: ps } };
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
 * import { toWire } from "./payload.ts";
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
  if (payload.persistent !== undefined) wire.ps = payload.persistent;
  return wire;
}

/**
 * Whether `userId` is acceptable as a session's user id: see {@linkcode userIdProblem}.
 *
 * @internal
 */
export function validUserId(userId: string): boolean {
  return userIdProblem(userId) === null;
}

/**
 * Why `userId` is not acceptable as a session's user id, or `null` when it
 * is: a string of 1 to 256 UTF-16 code units, well-formed (no lone
 * surrogate), without control characters (U+0000 to U+001F, U+007F to U+009F:
 * CR, LF, NUL, NEL, ...) or line and paragraph separators (U+2028, U+2029),
 * which would split a header or a log line.
 *
 * @internal
 */
export function userIdProblem(userId: unknown): string | null {
  if (typeof userId !== "string") return "userId must be a string";
  if (userId.length === 0) return "userId must not be empty";
  if (userId.length > MAX_USER_ID_LENGTH) {
    return `userId must be at most ${MAX_USER_ID_LENGTH} characters, not ${userId.length}`;
  }
  for (let i = 0; i < userId.length; i++) {
    const c = userId.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) {
      const name = `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
      return `userId must not contain control characters or line separators (${name} at index ${i})`;
    }
  }
  if (!userId.isWellFormed()) return "userId must be well-formed UTF-16 (it has a lone surrogate)";
  return null;
}

function clockSkewOf(options: PayloadCheckOptions): number {
  const skew = options?.clockSkew ?? DEFAULT_CLOCK_SKEW;
  if (typeof skew !== "number" || !(skew >= 0)) {
    throw new RangeError("clockSkew must be a non-negative number of ms");
  }
  return skew;
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
