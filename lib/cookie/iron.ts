/**
 * Compatibility with iron (`Fe26.2` seals, as written by `iron-session`,
 * `@hapi/iron` and `iron-webcrypto`), and {@linkcode fallback}, the way to
 * move users from an old format to a new one without logging them out.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { fromBase64Url, fromUtf8, toBase64Url, toHex, utf8 } from "../crypto/_bytes.ts";
import type { SessionTransformer, TransformContext, TransformResult } from "./transformer.ts";
import {
  bounded,
  contextBinding,
  failure,
  type InspectingTransformer,
  inspectWith,
  maxLengthOption,
  writableBytes,
} from "./compose.ts";

/**
 * What {@linkcode iron} takes.
 *
 * @example
 * ```ts
 * import { iron, type IronOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const oldPassword = "an old password of at least 32 characters";
 * const newPassword = "a new password of at least 32 characters!";
 * const context = { name: "iron-session", purpose: "session" };
 * const sealed = await iron({ password: { 1: oldPassword } }).write("hi", context);
 * const options: IronOptions = { password: { 1: oldPassword, 2: newPassword }, ttl: 3600 };
 * const rotated = iron(options);
 * assert.deepEqual(await rotated.inspect(sealed, context), { ok: true, value: "hi", stale: true });
 * assert.ok((await rotated.write("hi", context)).startsWith("Fe26.2*2*"));
 * ```
 */
export interface IronOptions {
  /**
   * The password (at least 32 characters), or passwords by id, as in
   * iron-session: `{ 2: "new...", 1: "old..." }`. Ids are iron's: letters,
   * digits and `_`. A single password has the id `"1"`, as in iron-session.
   */
  readonly password: string | Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /**
   * The id of the password that seals. Default: the highest numeric id, as
   * iron-session picks it; required when some id is not a number.
   */
  readonly current?: string;
  /**
   * Lifetime written into new seals, in seconds; `0` writes no expiry.
   * Default: 14 days, iron-session's default.
   */
  readonly ttl?: number;
  /** Allowed clock skew when checking a seal's expiry, in seconds (default 60, as iron). */
  readonly timestampSkewSec?: number;
  /** The clock, in milliseconds since the epoch (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Append iron-session's `~2` version suffix to new seals (default `true`;
   * iron-session 8 reads seals without it as its pre-v6 format).
   */
  readonly versionSuffix?: boolean;
  /** The longest value read or written, in characters (default 16384). */
  readonly maxLength?: number;
}

/**
 * What {@linkcode fallback} takes besides the two transformers.
 *
 * @example
 * ```ts
 * import { digest, encrypt, fallback, type FallbackOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const legacy = digest({ salt: "old-app" });
 * const options: FallbackOptions = { upgrade: (value) => JSON.stringify({ theme: value }) };
 * const primary = encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const sealer = fallback(primary, legacy, options);
 * const context = { name: "prefs", purpose: "ui" };
 * const old = await legacy.write("dark", context);
 * assert.deepEqual(await sealer.inspect(old, context), {
 *   ok: true,
 *   value: '{"theme":"dark"}',
 *   stale: true,
 * });
 * ```
 */
export interface FallbackOptions {
  /**
   * Turns a value recovered by the legacy transformer into what the primary
   * one carries (for instance, wraps iron-session's bare JSON into the
   * envelope the session layer expects). Returning `null` refuses the value
   * (`cookie_malformed`). Default: the value as is.
   *
   * @param value The value the legacy transformer recovered.
   * @returns The value to hand on, or `null`.
   */
  readonly upgrade?: (value: string) => string | null | Promise<string | null>;
}

const PREFIX = "Fe26.2";
const PREFIX_LIKE = /^Fe26\.[0-9]{1,3}$/;
const PASSWORD_ID = /^\w{1,64}$/;
const SALT = /^[0-9A-Fa-f]{1,128}$/;
const EXPIRATION = /^[0-9]{1,15}$/;
const VERSION_SUFFIX = "2";
const MIN_PASSWORD_LENGTH = 32;
const MAX_PASSWORDS = 64;
const SALT_BYTES = 32;
const IV_BYTES = 16;
const MAC_BYTES = 32;
const FOURTEEN_DAYS = 14 * 24 * 3600;
const MAX_TTL = 100 * 365 * 24 * 3600;

/**
 * Creates a transformer that reads and writes iron's `Fe26.2` seals, the
 * format of `iron-session` (with its `~2` suffix) and `@hapi/iron`: AES-256-CBC
 * and HMAC-SHA256 under keys derived from a password with PBKDF2 (SHA-1, one
 * iteration, a fresh random 256-bit salt per key per seal), a password id, and
 * an optional expiry checked with iron's 60-second skew. The MAC is checked in
 * constant time by `crypto.subtle`, before the expiry and before decryption.
 *
 * The string given to `write` is sealed as is; `read` returns the sealed
 * string. iron-session seals `JSON.stringify(data)`, so its cookies read as
 * the JSON text of the session, and JSON written here unseals with
 * iron-session's `unsealData` to the parsed object.
 *
 * The iron format binds neither the cookie name nor the purpose, and derives
 * two keys with PBKDF2 for every seal and every read: use it to keep the users
 * of an iron-session app, through {@linkcode fallback}, and seal new values
 * with `encrypt()`. Seals under a password id other than the current one are
 * reported `stale: true`; an id that is not in `password` gives
 * `cookie_unknown_key`; a seal past its expiry gives `cookie_expired`.
 *
 * @param options The password or passwords by id, the TTL, and a clock.
 * @returns The transformer.
 * @throws {TypeError} When a password is not a string, an id is not made of
 *   letters, digits and `_`, or `current` is not one of the ids.
 * @throws {RangeError} When a password is shorter than 32 characters, or `ttl`,
 *   `timestampSkewSec` or `maxLength` is out of range.
 *
 * @example Reading and writing iron seals
 * ```ts
 * import { iron } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const legacy = iron({ password: { 1: "an old password of at least 32 characters" } });
 * const context = { name: "iron-session", purpose: "session" };
 * const sealed = await legacy.write('{"user":42}', context);
 * assert.ok(sealed.startsWith("Fe26.2*1*"));
 * assert.ok(sealed.endsWith("~2"));
 * assert.equal(await legacy.read(sealed, context), '{"user":42}');
 * ```
 */
export function iron(options: IronOptions): InspectingTransformer {
  if (options === null || typeof options !== "object") {
    throw new TypeError("iron() takes { password }");
  }
  checkKnownKeys(
    options,
    ["password", "current", "ttl", "timestampSkewSec", "now", "versionSuffix", "maxLength"],
    "iron()",
  );
  const passwords = passwordMap(options.password);
  const current = currentId(passwords, options.current);
  const ttl = integerOption(options.ttl, FOURTEEN_DAYS, 0, MAX_TTL, "ttl");
  const skewMs = integerOption(options.timestampSkewSec, 60, 0, 24 * 3600, "timestampSkewSec") *
    1000;
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError("iron() now must be a function");
  const suffix = options.versionSuffix ?? true;
  const maxLength = maxLengthOption(options.maxLength);

  const bases = new Map<string, Promise<CryptoKey>>();
  const base = (id: string): Promise<CryptoKey> => {
    let key = bases.get(id);
    if (key === undefined) {
      key = crypto.subtle.importKey(
        "raw",
        utf8(passwords.get(id)!) as Uint8Array<ArrayBuffer>,
        "PBKDF2",
        false,
        ["deriveKey"],
      );
      bases.set(id, key);
    }
    return key;
  };

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    contextBinding("iron", context);
    if (typeof value !== "string" || value.length === 0) return failure("cookie_malformed");
    if (value.length > maxLength) return failure("cookie_too_large");
    let seal = value;
    const tilde = value.indexOf("~");
    if (tilde >= 0) {
      const version = value.slice(tilde + 1);
      if (version !== VERSION_SUFFIX) {
        return failure(
          /^[0-9]{1,3}$/.test(version) ? "cookie_unsupported_version" : "cookie_malformed",
        );
      }
      seal = value.slice(0, tilde);
    }
    const star = seal.indexOf("*");
    const prefix = star < 0 ? seal : seal.slice(0, star);
    if (prefix !== PREFIX) {
      return failure(PREFIX_LIKE.test(prefix) ? "cookie_unsupported_version" : "cookie_malformed");
    }
    const parts = seal.split("*");
    if (parts.length !== 8) return failure("cookie_malformed");
    const [, id, encSalt, ivText, cipherText, expiration, macSalt, macText] = parts as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (id !== "" && !PASSWORD_ID.test(id)) return failure("cookie_malformed");
    if (!SALT.test(encSalt) || !SALT.test(macSalt)) return failure("cookie_malformed");
    if (expiration !== "" && !EXPIRATION.test(expiration)) return failure("cookie_malformed");
    const iv = fromBase64Url(ivText);
    const cipher = fromBase64Url(cipherText);
    const mac = fromBase64Url(macText);
    if (
      iv === null || iv.length !== IV_BYTES || cipher === null || cipher.length === 0 ||
      cipher.length % 16 !== 0 || mac === null || mac.length !== MAC_BYTES
    ) {
      return failure("cookie_malformed");
    }
    const passwordId = id === "" ? "default" : id;
    if (!passwords.has(passwordId)) return failure("cookie_unknown_key");
    const password = await base(passwordId);
    const macBase = parts.slice(0, 6).join("*");
    let plain: Uint8Array;
    try {
      const macKey = await derive(password, macSalt, "HMAC");
      const valid = await crypto.subtle.verify(
        "HMAC",
        macKey,
        mac as Uint8Array<ArrayBuffer>,
        utf8(macBase) as Uint8Array<ArrayBuffer>,
      );
      if (!valid) return failure("cookie_tampered");
      if (expiration !== "" && Number(expiration) <= now() - skewMs) {
        return failure("cookie_expired");
      }
      const encKey = await derive(password, encSalt, "AES-CBC");
      plain = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-CBC", iv: iv as Uint8Array<ArrayBuffer> },
          encKey,
          cipher as Uint8Array<ArrayBuffer>,
        ),
      );
    } catch {
      return failure("cookie_tampered");
    }
    let text: string;
    try {
      text = fromUtf8(plain);
    } catch {
      return failure("cookie_malformed");
    }
    return { ok: true, value: text, stale: passwordId !== current };
  };

  return {
    async write(value: string, context: TransformContext): Promise<string> {
      const plain = writableBytes(value, maxLength, 4 / 3);
      contextBinding("iron", context);
      const password = await base(current);
      const encSalt = toHex(crypto.getRandomValues(new Uint8Array(SALT_BYTES)));
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const encKey = await derive(password, encSalt, "AES-CBC");
      const cipher = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-CBC", iv },
          encKey,
          plain as Uint8Array<ArrayBuffer>,
        ),
      );
      const expiration = ttl === 0 ? "" : String(now() + ttl * 1000);
      const macBase = `${PREFIX}*${current}*${encSalt}*${toBase64Url(iv)}*${
        toBase64Url(cipher)
      }*${expiration}`;
      const macSalt = toHex(crypto.getRandomValues(new Uint8Array(SALT_BYTES)));
      const macKey = await derive(password, macSalt, "HMAC");
      const mac = new Uint8Array(
        await crypto.subtle.sign("HMAC", macKey, utf8(macBase) as Uint8Array<ArrayBuffer>),
      );
      const sealed = `${macBase}*${macSalt}*${toBase64Url(mac)}${
        suffix ? `~${VERSION_SUFFIX}` : ""
      }`;
      return bounded(sealed, maxLength);
    },
    async read(value: string, context: TransformContext): Promise<string | null> {
      const result = await inspect(value, context);
      return result.ok ? result.value : null;
    },
    inspect,
  };
}

/**
 * Reads with `primary`, or else with `legacy`; always writes with `primary`.
 * A value that only `legacy` accepts is returned with `stale: true`, so the
 * session layer re-seals it in the primary format on its next write: users
 * move to the new format as they come back, and nobody is logged out.
 *
 * When both refuse a value, the code is the primary's, unless the primary
 * did not recognise the format (`cookie_malformed` or
 * `cookie_unsupported_version`) and the legacy transformer said something more
 * precise (for instance `cookie_expired` or `cookie_tampered` for an iron seal).
 *
 * @param primary The transformer that writes, and reads first.
 * @param legacy The transformer that only reads.
 * @param options An optional `upgrade` of values recovered by `legacy`.
 * @returns The combined transformer.
 * @throws {TypeError} When either transformer lacks `write` or `read`, or `upgrade` is not a function.
 *
 * @example Moving from iron-session to AES-GCM
 * ```ts
 * import { encrypt, fallback, iron } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const legacy = iron({ password: "the iron-session password, 32+ characters" });
 * const sealer = fallback(encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) }), legacy);
 * const context = { name: "session", purpose: "session" };
 *
 * const oldCookie = await legacy.write('{"user":42}', context);
 * assert.deepEqual(await sealer.inspect(oldCookie, context), {
 *   ok: true,
 *   value: '{"user":42}',
 *   stale: true,
 * });
 * const newCookie = await sealer.write('{"user":42}', context);
 * assert.ok(newCookie.startsWith("t1.e."));
 * assert.deepEqual(await sealer.inspect(newCookie, context), {
 *   ok: true,
 *   value: '{"user":42}',
 *   stale: false,
 * });
 * ```
 */
export function fallback(
  primary: SessionTransformer,
  legacy: SessionTransformer,
  options: FallbackOptions = {},
): InspectingTransformer {
  checkKnownKeys(options, ["upgrade"], "fallback()");
  for (const t of [primary, legacy]) {
    if (
      t === null || typeof t !== "object" || typeof t.write !== "function" ||
      typeof t.read !== "function"
    ) {
      throw new TypeError("fallback() takes transformers with write() and read()");
    }
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError("fallback() options must be an object");
  }
  const upgrade = options.upgrade;
  if (upgrade !== undefined && typeof upgrade !== "function") {
    throw new TypeError("fallback() upgrade must be a function");
  }

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    contextBinding("fallback", context);
    const first = await inspectWith(primary, value, context);
    if (first.ok) return first;
    const second = await inspectWith(legacy, value, context);
    if (!second.ok) {
      const unrecognised = first.code === "cookie_malformed" ||
        first.code === "cookie_unsupported_version";
      return unrecognised && second.code !== "cookie_malformed" ? second : first;
    }
    let upgraded: string | null = second.value;
    if (upgrade !== undefined) {
      try {
        upgraded = await upgrade(second.value);
      } catch {
        upgraded = null;
      }
    }
    if (typeof upgraded !== "string") return failure("cookie_malformed");
    return { ok: true, value: upgraded, stale: true };
  };

  return {
    write: (value: string, context: TransformContext): Promise<string> =>
      primary.write(value, context),
    async read(value: string, context: TransformContext): Promise<string | null> {
      const result = await inspect(value, context);
      return result.ok ? result.value : null;
    },
    inspect,
  };
}

function passwordMap(input: unknown): ReadonlyMap<string, string> {
  let pairs: [string, unknown][];
  if (typeof input === "string") pairs = [["1", input]];
  else if (input instanceof Map) pairs = [...input.entries()];
  else if (input !== null && typeof input === "object") pairs = Object.entries(input);
  else throw new TypeError("iron() password must be a string or passwords by id");
  if (pairs.length === 0) throw new RangeError("iron() needs at least one password");
  if (pairs.length > MAX_PASSWORDS) {
    throw new RangeError(`iron() takes at most ${MAX_PASSWORDS} passwords`);
  }
  const map = new Map<string, string>();
  for (const [id, password] of pairs) {
    if (typeof id !== "string" || !PASSWORD_ID.test(id)) {
      throw new TypeError("an iron password id is made of letters, digits and _");
    }
    if (typeof password !== "string") throw new TypeError("an iron password must be a string");
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new RangeError(`an iron password must have at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    map.set(id, password);
  }
  return map;
}

function currentId(passwords: ReadonlyMap<string, string>, current: unknown): string {
  if (current !== undefined) {
    if (typeof current !== "string" || !passwords.has(current)) {
      throw new TypeError("iron() current must be one of the password ids");
    }
    return current;
  }
  const ids = [...passwords.keys()];
  if (!ids.every((id) => /^[0-9]{1,15}$/.test(id))) {
    throw new TypeError("iron() needs current when a password id is not a number");
  }
  let best = ids[0]!;
  for (const id of ids) if (Number(id) > Number(best)) best = id;
  return best;
}

function integerOption(
  value: unknown,
  fallbackValue: number,
  min: number,
  max: number,
  name: string,
): number {
  if (value === undefined) return fallbackValue;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`iron() ${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function derive(password: CryptoKey, salt: string, use: "HMAC" | "AES-CBC"): Promise<CryptoKey> {
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-1", salt: utf8(salt) as Uint8Array<ArrayBuffer>, iterations: 1 },
    password,
    use === "HMAC"
      ? { name: "HMAC", hash: "SHA-256", length: 256 }
      : { name: "AES-CBC", length: 256 },
    false,
    use === "HMAC" ? ["sign", "verify"] : ["encrypt", "decrypt"],
  );
}
