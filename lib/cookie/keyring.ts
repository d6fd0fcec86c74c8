/**
 * Keyrings: several keys with short ids, so that keys rotate without logging
 * everybody out. The current key seals; every key in the ring verifies and
 * decrypts; a value sealed under an older key reads fine and is reported
 * stale, so the caller re-seals it under the current key on its next write.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { copy, utf8 } from "../crypto/_bytes.ts";

/**
 * A key as given by the caller: a `CryptoKey`, exactly 32 raw bytes, or a
 * password string of at least {@linkcode MIN_KEY_PASSWORD_LENGTH} (32)
 * characters. A password is turned into the key with HKDF-SHA256 under a
 * label that differs between `hmac()` and `encrypt()` (see
 * {@linkcode PASSWORD_KEY_LABELS}).
 *
 * @example
 * ```ts
 * import { encrypt, type KeyInput, keyring } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const raw: KeyInput = crypto.getRandomValues(new Uint8Array(32));
 * const aes = { name: "AES-GCM", length: 256 };
 * const imported: KeyInput = await crypto.subtle.generateKey(aes, false, ["encrypt", "decrypt"]);
 * const sealer = encrypt({ key: keyring({ current: "b", keys: { a: raw, b: imported } }) });
 * const context = { name: "sid", purpose: "session" };
 * assert.equal(await sealer.read(await sealer.write("hi", context), context), "hi");
 * assert.throws(() => keyring({ current: "a", keys: { a: new Uint8Array(16) } }), RangeError);
 * ```
 */
export type KeyInput = CryptoKey | Uint8Array | string;

/**
 * The shortest password string accepted as a key, in Unicode code points (as
 * iron-session's minimum). A password key is derived with one fast HKDF-SHA256
 * step, which is safe only for high-entropy strings such as 32 random
 * characters; for a low-entropy passphrase use `deriveKeyFromPassphrase()`.
 *
 * @example
 * ```ts
 * import { encrypt } from "@tessera/session/cookie";
 * import { MIN_KEY_PASSWORD_LENGTH } from "./keyring.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MIN_KEY_PASSWORD_LENGTH, 32);
 * assert.throws(() => encrypt({ key: "x".repeat(MIN_KEY_PASSWORD_LENGTH - 1) }), RangeError);
 * ```
 */
export const MIN_KEY_PASSWORD_LENGTH = 32;

/**
 * The fixed HKDF-SHA256 `info` labels under which a password string given as a
 * key becomes the 32-byte key of `hmac()` or of `encrypt()`. The HKDF salt is
 * empty and the input keying material is the password's UTF-8 bytes, so a
 * password key equals the raw key
 * `HKDF-SHA256(ikm = utf8(password), salt = "", info = label, 32 bytes)`.
 * The labels differ, so one password gives unrelated keys for the two uses.
 *
 * @example
 * ```ts
 * import { hmac, PASSWORD_KEY_LABELS } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const password = "a random password of at least 32 characters";
 * const base = await crypto.subtle.importKey(
 *   "raw",
 *   new TextEncoder().encode(password),
 *   "HKDF",
 *   false,
 *   ["deriveBits"],
 * );
 * const info = new TextEncoder().encode(PASSWORD_KEY_LABELS.hmac);
 * const params = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info };
 * const raw = new Uint8Array(await crypto.subtle.deriveBits(params, base, 256));
 * const context = { name: "sid", purpose: "session" };
 * const signed = await hmac({ key: password }).write("hi", context);
 * assert.equal(await hmac({ key: raw }).read(signed, context), "hi");
 * ```
 */
export const PASSWORD_KEY_LABELS: Readonly<{ hmac: string; encrypt: string }> = Object.freeze({
  hmac: "tessera/session cookie hmac-sha256 key v1",
  encrypt: "tessera/session cookie aes-256-gcm key v1",
});

/**
 * The id of a key that is given alone (not in a {@linkcode Keyring}).
 *
 * @example
 * ```ts
 * import { DEFAULT_KEY_ID } from "./keyring.ts";
 * import { hmac } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_KEY_ID, "0");
 * const signer = hmac({ key: crypto.getRandomValues(new Uint8Array(32)) }); // a key given alone
 * const signed = await signer.write("hi", { name: "sid", purpose: "session" });
 * assert.equal(signed.split(".")[2], DEFAULT_KEY_ID); // t1.m.<key id>.<value>.<MAC>
 * ```
 */
export const DEFAULT_KEY_ID = "0";

/**
 * What {@linkcode keyring} takes.
 *
 * @example
 * ```ts
 * import { keyring, type KeyringOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: KeyringOptions = {
 *   current: "2025",
 *   keys: new Map([
 *     ["2024", crypto.getRandomValues(new Uint8Array(32))],
 *     ["2025", crypto.getRandomValues(new Uint8Array(32))],
 *   ]),
 * };
 * const ring = keyring(options);
 * assert.equal(ring.current, "2025");
 * assert.deepEqual(ring.ids, ["2024", "2025"]);
 * assert.throws(() => keyring({ ...options, current: "2023" }), TypeError);
 * ```
 */
export interface KeyringOptions {
  /** The id of the key that seals new values. It must be one of `keys`. */
  readonly current: string;
  /**
   * Every key by id, the current one included. An id is 1 to 16 characters
   * of `A-Z a-z 0-9 _ -`. Raw keys are exactly 32 bytes; password strings
   * have at least 32 characters.
   */
  readonly keys: Readonly<Record<string, KeyInput>> | ReadonlyMap<string, KeyInput>;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
const MAX_KEYS = 64;
const RAW_KEY_LENGTH = 32;
const MAX_KEY_PASSWORD_BYTES = 1024;

const entriesOf = new WeakMap<Keyring, ReadonlyMap<string, KeyInput>>();

/**
 * A fixed set of keys with ids and one current id. Create it with
 * {@linkcode keyring}; give it to `hmac({ key })` or `encrypt({ key })`.
 * A keyring holds its own copies of raw keys: changing the caller's arrays
 * afterwards changes nothing. It is immutable: to rotate, build a new one.
 *
 * @example
 * ```ts
 * import { hmac, Keyring, keyring } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const ring = keyring({ current: "a", keys: { a: key } });
 * assert.ok(ring instanceof Keyring);
 * assert.ok(Object.isFrozen(ring));
 * const context = { name: "sid", purpose: "session" };
 * const signed = await hmac({ key: ring }).write("hi", context);
 * key.fill(0); // the ring holds its own copy
 * assert.equal(await hmac({ key: ring }).read(signed, context), "hi");
 * ```
 */
export class Keyring {
  /** The id of the key that seals. */
  readonly current: string;
  /** Every key id, in the order given. */
  readonly ids: readonly string[];

  /**
   * Checks and copies the keys. Prefer {@linkcode keyring}.
   *
   * @param options The current id and the keys.
   * @throws {TypeError} When an id is not 1 to 16 characters of `A-Z a-z 0-9 _ -`,
   *   a key is neither a `CryptoKey`, a `Uint8Array` nor a well-formed string, or `current`
   *   is not one of the ids.
   * @throws {RangeError} When a raw key is not 32 bytes, a password has fewer than 32
   *   characters (or more than 1024 UTF-8 bytes), or there are no keys or more than 64.
   */
  constructor(options: KeyringOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("keyring() takes { current, keys }");
    }
    checkKnownKeys(options, ["current", "keys"], "keyring()");
    const source = options.keys;
    if (source === null || typeof source !== "object") {
      throw new TypeError("keyring keys must be a record or a Map of id to key");
    }
    const pairs: [string, unknown][] = source instanceof Map
      ? [...source.entries()]
      : Object.entries(source as Record<string, unknown>);
    if (pairs.length === 0) throw new RangeError("a keyring needs at least one key");
    if (pairs.length > MAX_KEYS) throw new RangeError(`a keyring holds at most ${MAX_KEYS} keys`);
    const map = new Map<string, KeyInput>();
    for (const [id, key] of pairs) {
      if (typeof id !== "string" || !KEY_ID.test(id)) {
        throw new TypeError("a key id is 1 to 16 characters of A-Z a-z 0-9 _ -");
      }
      map.set(id, checkKeyInput(key));
    }
    if (typeof options.current !== "string" || !map.has(options.current)) {
      throw new TypeError("keyring current id must be one of its key ids");
    }
    this.current = options.current;
    this.ids = Object.freeze([...map.keys()]);
    entriesOf.set(this, map);
    Object.freeze(this);
  }

  /**
   * Says whether the ring holds a key with exactly this id.
   *
   * @param id A key id.
   * @returns `true` when the id is in the ring.
   *
   * @example
   * ```ts
   * import { keyring } from "@tessera/session/cookie";
   * import assert from "node:assert/strict";
   *
   * const ring = keyring({ current: "b", keys: { a: new Uint8Array(32), b: new Uint8Array(32) } });
   * assert.equal(ring.has("a"), true);
   * assert.equal(ring.has("A"), false);
   * ```
   */
  has(id: string): boolean {
    return entriesOf.get(this)!.has(id);
  }
}

/**
 * Creates a keyring: several keys with ids, one of them current. Give it to
 * `hmac()` or `encrypt()` in place of a single key. Values sealed under any key
 * of the ring read fine; those not sealed under the current key are reported
 * `stale: true` by `inspect`, and a value naming an id that is not in the ring
 * is refused with `cookie_unknown_key`. The key id travels in the value and is
 * bound into the MAC or AAD, so it cannot be swapped.
 *
 * To rotate: add the new key, make it current, keep the old one until every
 * cookie sealed under it has expired or been re-sealed, then drop it. A key
 * given alone to `hmac()` or `encrypt()` has the id {@linkcode DEFAULT_KEY_ID}
 * (`"0"`), so the first rotation keeps it under that id.
 *
 * Use different keys for `hmac()` and `encrypt()`: a ring of raw keys can be
 * given to both, but then the same bytes serve two algorithms. A ring of
 * password strings can be given to both: each use derives its own key.
 *
 * @param options The current id and the keys (raw 32-byte arrays, `CryptoKey`s or
 *   password strings of at least 32 characters).
 * @returns The keyring.
 * @throws {TypeError} When an id is not 1 to 16 characters of `A-Z a-z 0-9 _ -`,
 *   a key is neither a `CryptoKey`, a `Uint8Array` nor a well-formed string, or `current`
 *   is not one of the ids.
 * @throws {RangeError} When a raw key is not 32 bytes, a password has fewer than 32
 *   characters (or more than 1024 UTF-8 bytes), or there are no keys or more than 64.
 *
 * @example Rotating a key without logging anybody out
 * ```ts
 * import { encrypt, keyring } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const oldKey = crypto.getRandomValues(new Uint8Array(32));
 * const newKey = crypto.getRandomValues(new Uint8Array(32));
 * const context = { name: "sid", purpose: "session" };
 *
 * const before = encrypt({ key: oldKey }); // id "0"
 * const sealed = await before.write("hello", context);
 *
 * const after = encrypt({ key: keyring({ current: "1", keys: { "0": oldKey, "1": newKey } }) });
 * assert.deepEqual(await after.inspect(sealed, context), { ok: true, value: "hello", stale: true });
 *
 * const retired = encrypt({ key: keyring({ current: "1", keys: { "1": newKey } }) });
 * assert.deepEqual(await retired.inspect(sealed, context), { ok: false, code: "cookie_unknown_key" });
 * ```
 */
export function keyring(options: KeyringOptions): Keyring {
  return new Keyring(options);
}

/**
 * Says whether a string has the syntax of a key id (1 to 16 characters of
 * `A-Z a-z 0-9 _ -`).
 *
 * @internal
 * @param id The candidate.
 * @returns `true` when it does.
 */
export function isKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

function checkKeyInput(key: unknown): KeyInput {
  if (key instanceof CryptoKey) return key;
  if (key instanceof Uint8Array) {
    if (key.length !== RAW_KEY_LENGTH) throw new RangeError("a raw key must be exactly 32 bytes");
    return copy(key);
  }
  if (typeof key === "string") {
    if (!key.isWellFormed()) throw new TypeError("a password key must be a well-formed string");
    let codePoints = 0;
    for (const _ of key) codePoints++;
    if (codePoints < MIN_KEY_PASSWORD_LENGTH || utf8(key).length > MAX_KEY_PASSWORD_BYTES) {
      throw new RangeError(
        `a password key must have at least ${MIN_KEY_PASSWORD_LENGTH} characters and at most ${MAX_KEY_PASSWORD_BYTES} bytes`,
      );
    }
    return key;
  }
  throw new TypeError(
    "a key must be a CryptoKey, a Uint8Array of 32 bytes or a password string of at least 32 characters",
  );
}

// ---------------------------------------------------------------------------
// Key resolution for hmac() and encrypt(). Not re-exported by the cookie
// module's public surface.

/** The algorithms a key can be resolved for. */
export type KeyAlgorithm = "HMAC" | "AES-GCM";

/**
 * Keys resolved for one algorithm: checked once, imported lazily once, and
 * cached for the life of the transformer.
 *
 * @internal
 */
export interface ResolvedKeys {
  /** The id that seals. */
  readonly current: string;
  /** The key that seals. */
  sealing(): Promise<CryptoKey>;
  /** The key with exactly this id, or `undefined`. */
  opening(id: string): Promise<CryptoKey | undefined>;
  /** Whether the ring holds exactly this id (no import needed). */
  has(id: string): boolean;
}

const USAGES: Record<KeyAlgorithm, { seal: KeyUsage; open: KeyUsage }> = {
  "HMAC": { seal: "sign", open: "verify" },
  "AES-GCM": { seal: "encrypt", open: "decrypt" },
};

/**
 * Checks a single key or a keyring for one algorithm, synchronously, and
 * returns a lazy, cached importer. Raw keys are imported non-extractable on
 * first use, once; password strings are first turned into 32 bytes with
 * HKDF-SHA256 under the algorithm's label in {@linkcode PASSWORD_KEY_LABELS}. A `CryptoKey` must have the algorithm (HMAC with SHA-256 and
 * at least 256 bits, or 256-bit AES-GCM) and usages (the current key must seal;
 * every key must open).
 *
 * @internal
 * @param input A key or a keyring.
 * @param algorithm The algorithm the transformer uses.
 * @param option The option name used in error messages.
 * @returns The resolved keys.
 * @throws {TypeError} When the input or a `CryptoKey` does not fit.
 * @throws {RangeError} When a raw key is not 32 bytes, or a password is shorter than 32
 *   characters.
 */
export function resolveKeys(input: unknown, algorithm: KeyAlgorithm, option: string): ResolvedKeys {
  let current: string;
  let entries: ReadonlyMap<string, KeyInput>;
  if (input instanceof Keyring) {
    current = input.current;
    entries = entriesOf.get(input)!;
  } else if (
    input instanceof CryptoKey || input instanceof Uint8Array || typeof input === "string"
  ) {
    current = DEFAULT_KEY_ID;
    entries = new Map([[DEFAULT_KEY_ID, checkKeyInput(input)]]);
  } else {
    throw new TypeError(
      `${option} must be a CryptoKey, 32 raw bytes, a password string of at least 32 characters or a Keyring`,
    );
  }
  for (const [id, key] of entries) {
    if (key instanceof CryptoKey) checkCryptoKey(key, algorithm, id === current, option);
  }

  const pending = new Map<string, KeyInput>(entries);
  const imported = new Map<string, Promise<CryptoKey>>();
  const get = (id: string): Promise<CryptoKey> | undefined => {
    const done = imported.get(id);
    if (done !== undefined) return done;
    const raw = pending.get(id);
    if (raw === undefined) return undefined;
    const promise = raw instanceof CryptoKey ? Promise.resolve(raw) : importRaw(raw, algorithm);
    imported.set(id, promise);
    pending.delete(id);
    return promise;
  };

  return {
    current,
    sealing: () => get(current)!,
    opening: (id) => get(id) ?? Promise.resolve(undefined),
    has: (id) => entries.has(id),
  };
}

async function importRaw(raw: Uint8Array | string, algorithm: KeyAlgorithm): Promise<CryptoKey> {
  const bytes = typeof raw === "string" ? await passwordKeyBytes(raw, algorithm) : raw;
  const params = algorithm === "HMAC"
    ? { name: "HMAC", hash: "SHA-256", length: 256 }
    : { name: "AES-GCM", length: 256 };
  const { seal, open } = USAGES[algorithm];
  const key = await crypto.subtle.importKey(
    "raw",
    bytes as Uint8Array<ArrayBuffer>,
    params,
    false,
    [
      seal,
      open,
    ],
  );
  if (bytes !== raw) bytes.fill(0);
  return key;
}

async function passwordKeyBytes(password: string, algorithm: KeyAlgorithm): Promise<Uint8Array> {
  const ikm = utf8(password);
  const base = await crypto.subtle.importKey(
    "raw",
    ikm as Uint8Array<ArrayBuffer>,
    "HKDF",
    false,
    ["deriveBits"],
  );
  ikm.fill(0);
  const label = algorithm === "HMAC" ? PASSWORD_KEY_LABELS.hmac : PASSWORD_KEY_LABELS.encrypt;
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: utf8(label) as Uint8Array<ArrayBuffer>,
    },
    base,
    RAW_KEY_LENGTH * 8,
  );
  return new Uint8Array(bits);
}

function checkCryptoKey(
  key: CryptoKey,
  algorithm: KeyAlgorithm,
  sealing: boolean,
  option: string,
): void {
  const alg = key.algorithm as { name?: string; length?: number; hash?: { name?: string } };
  if (key.type !== "secret" || alg.name !== algorithm) {
    throw new TypeError(`${option} must be a secret ${algorithm} key`);
  }
  if (algorithm === "HMAC") {
    if (alg.hash?.name !== "SHA-256") throw new TypeError(`${option} must be an HMAC-SHA256 key`);
    if (typeof alg.length !== "number" || alg.length < 256) {
      throw new RangeError(`${option} must be an HMAC key of at least 256 bits`);
    }
  } else if (alg.length !== 256) {
    throw new RangeError(`${option} must be a 256-bit AES-GCM key`);
  }
  const { seal, open } = USAGES[algorithm];
  if (!key.usages.includes(open) || (sealing && !key.usages.includes(seal))) {
    throw new TypeError(
      `${option} must allow "${open}"${sealing ? ` and, for the current key, "${seal}"` : ""}`,
    );
  }
}
