/**
 * Moving users from iron-session to tessera without logging them out.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { MAX_COOKIE_AGE_SECONDS, secondsOption } from "./_seconds.ts";
import { encodePayload } from "./payload.ts";

/**
 * Options of {@linkcode fromIronSession}.
 *
 * @example
 * ```ts
 * import { decodePayload } from "./payload.ts";
 * import { fromIronSession, type FromIronSessionOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: FromIronSessionOptions = { maxAge: 60, idleTimeout: 10, now: () => 1000 };
 * const upgrade = fromIronSession(options);
 * const result = decodePayload(upgrade('{"user":42}')!, 1000);
 * assert.ok(result.ok);
 * assert.equal(result.payload.expiresAt, 61_000);
 * assert.equal(result.payload.idleExpiresAt, 11_000);
 * assert.deepEqual(result.payload.data, { user: 42 });
 * assert.equal(upgrade("[1, 2]"), null); // not a JSON object
 * ```
 */
export interface FromIronSessionOptions {
  /**
   * Absolute lifetime given to a migrated session, in seconds. Default
   * 604 800 (7 days, as `sessions()`).
   */
  readonly maxAge?: number;
  /**
   * Idle lifetime given to a migrated session, in seconds. Default 86 400
   * (24 hours, as `sessions()`).
   */
  readonly idleTimeout?: number;
  /** The clock, in ms since the Unix epoch. Default `Date.now`. */
  readonly now?: () => number;
}

/** A day in seconds. */
const DAY = 24 * 60 * 60;

/**
 * Builds the `upgrade` function of {@linkcode fallback} for iron-session
 * cookies. iron-session seals the bare JSON of the session data; `sessions()`
 * expects its own envelope (issued-at, expiries, data). The upgrade wraps the
 * recovered object in a fresh envelope, so the user stays logged in and the
 * session is re-sealed in tessera's format on the same response. Anything but
 * a JSON object is refused (`cookie_malformed`).
 *
 * The iron seal itself was verified by `iron()` (HMAC-SHA256, TTL) before the
 * upgrade runs. The migrated session starts a fresh lifetime (`maxAge`,
 * `idleTimeout`); the seal's own TTL only decides whether it is still accepted.
 *
 * @param options Lifetimes for the migrated session and a clock.
 * @returns The upgrade function.
 * @throws {RangeError} When a lifetime is not a whole number of seconds from
 *   1 to 400 days.
 * @throws {TypeError} For an unknown option name.
 *
 * @example
 * ```ts
 * import { cookieTransport, encrypt, fallback, fromIronSession, iron, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const withSession = sessions<{ user: string }>({
 *   transport: cookieTransport({ name: "myapp_session" }), // iron-session's cookieName
 *   transformer: fallback(
 *     encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) }),
 *     iron({ password: "the iron-session password, 32+ characters" }),
 *     { upgrade: fromIronSession() },
 *   ),
 * });
 * assert.equal(typeof withSession, "function");
 * ```
 */
export function fromIronSession(
  options: FromIronSessionOptions = {},
): (value: string) => string | null {
  checkKnownKeys(options, ["maxAge", "idleTimeout", "now"], "fromIronSession()", {
    ttl: "maxAge",
  });
  const maxAge = secondsOption("maxAge", options.maxAge, 7 * DAY, 1, MAX_COOKIE_AGE_SECONDS);
  const idleTimeout = secondsOption(
    "idleTimeout",
    options.idleTimeout,
    DAY,
    1,
    MAX_COOKIE_AGE_SECONDS,
  );
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError("now must be a function");
  return (value: string): string | null => {
    let data: unknown;
    try {
      data = JSON.parse(value);
    } catch {
      return null;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
    const issuedAt = now();
    return encodePayload({
      issuedAt,
      expiresAt: issuedAt + maxAge,
      idleExpiresAt: issuedAt + Math.min(idleTimeout, maxAge),
      data: data as Record<string, unknown>,
    });
  };
}
