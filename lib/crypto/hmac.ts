/**
 * HMAC-SHA256 over `crypto.subtle`, with constant-time verification.
 *
 * @module
 */

const subtle = crypto.subtle;

/**
 * Imports raw bytes as a non-extractable HMAC-SHA256 key.
 *
 * @param raw The key bytes (at least 1 byte; 32 is recommended).
 * @returns The key, usable for `sign` and `verify`.
 * @throws {RangeError} When `raw` is empty.
 *
 * @example
 * ```ts
 * import { importHmacKey } from "./hmac.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importHmacKey(new Uint8Array(32));
 * assert.equal(key.algorithm.name, "HMAC");
 * ```
 */
export function importHmacKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length === 0) throw new RangeError("HMAC key must not be empty");
  return subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/**
 * Computes HMAC-SHA256(key, data).
 *
 * @param key An HMAC-SHA256 key.
 * @param data The message.
 * @returns The 32-byte MAC.
 *
 * @example
 * ```ts
 * import { hmacSign, importHmacKey } from "./hmac.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importHmacKey(new Uint8Array(32));
 * assert.equal((await hmacSign(key, new Uint8Array(3))).length, 32);
 * ```
 */
export async function hmacSign(key: CryptoKey, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>));
}

/**
 * Verifies a MAC in constant time (inside the crypto engine). A MAC of any
 * length other than 32 bytes is refused.
 *
 * @param key An HMAC-SHA256 key.
 * @param mac The MAC received.
 * @param data The message.
 * @returns `true` only when the MAC is valid.
 *
 * @example
 * ```ts
 * import { hmacSign, hmacVerify, importHmacKey } from "./hmac.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importHmacKey(new Uint8Array(32));
 * const mac = await hmacSign(key, new Uint8Array([1]));
 * assert.equal(await hmacVerify(key, mac, new Uint8Array([1])), true);
 * assert.equal(await hmacVerify(key, mac, new Uint8Array([2])), false);
 * ```
 */
export function hmacVerify(key: CryptoKey, mac: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (mac.length !== 32) return Promise.resolve(false);
  return subtle.verify(
    "HMAC",
    key,
    mac as Uint8Array<ArrayBuffer>,
    data as Uint8Array<ArrayBuffer>,
  );
}
