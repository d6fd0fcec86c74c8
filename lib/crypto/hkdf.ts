/**
 * HKDF-SHA256 (RFC 5869) over `crypto.subtle`.
 *
 * @module
 */

const subtle = crypto.subtle;

/**
 * Imports input keying material as a non-extractable HKDF key.
 *
 * @param ikm The input keying material.
 * @returns An HKDF `CryptoKey` usable with {@linkcode hkdf} and {@linkcode hkdfKey}.
 *
 * @example
 * ```ts
 * import { importHkdfKey } from "./hkdf.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importHkdfKey(new Uint8Array(32));
 * assert.equal(key.algorithm.name, "HKDF");
 * ```
 */
export function importHkdfKey(ikm: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey("raw", ikm as Uint8Array<ArrayBuffer>, "HKDF", false, [
    "deriveBits",
    "deriveKey",
  ]);
}

/**
 * Derives `length` bytes: HKDF-SHA256(ikm, salt, info, length).
 *
 * @param key The input keying material, imported by {@linkcode importHkdfKey}.
 * @param salt The salt (may be empty: RFC 5869 then uses 32 zero bytes).
 * @param info The context and label.
 * @param length Output length in bytes, 1 to 8160.
 * @returns The output keying material.
 * @throws {RangeError} When `length` is out of range.
 *
 * @example
 * ```ts
 * import { hkdf, importHkdfKey } from "./hkdf.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importHkdfKey(new Uint8Array(22).fill(0x0b));
 * const okm = await hkdf(key, new Uint8Array(0), new Uint8Array(0), 42);
 * assert.equal(okm.length, 42);
 * ```
 */
export async function hkdf(
  key: CryptoKey,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new RangeError("HKDF output length must be 1 to 8160 bytes");
  }
  const bits = await subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: salt as Uint8Array<ArrayBuffer>,
      info: info as Uint8Array<ArrayBuffer>,
    },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/**
 * Derives a non-extractable key straight from HKDF, so the derived secret never
 * exists as bytes in JavaScript.
 *
 * @param key The input keying material, imported by {@linkcode importHkdfKey}.
 * @param salt The salt.
 * @param info The context and label.
 * @param use `"aes-gcm"` for an AES-256-GCM key or `"hmac"` for an HMAC-SHA256 key (256-bit).
 * @returns The derived `CryptoKey`.
 *
 * @example
 * ```ts
 * import { hkdfKey, importHkdfKey } from "./hkdf.ts";
 * import assert from "node:assert/strict";
 *
 * const base = await importHkdfKey(new Uint8Array(32));
 * const k = await hkdfKey(base, new Uint8Array(0), new Uint8Array([1]), "aes-gcm");
 * assert.equal(k.algorithm.name, "AES-GCM");
 * assert.equal(k.extractable, false);
 * ```
 */
export function hkdfKey(
  key: CryptoKey,
  salt: Uint8Array,
  info: Uint8Array,
  use: "aes-gcm" | "hmac",
): Promise<CryptoKey> {
  const params = {
    name: "HKDF",
    hash: "SHA-256",
    salt: salt as Uint8Array<ArrayBuffer>,
    info: info as Uint8Array<ArrayBuffer>,
  };
  return use === "aes-gcm"
    ? subtle.deriveKey(params, key, { name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ])
    : subtle.deriveKey(params, key, { name: "HMAC", hash: "SHA-256", length: 256 }, false, [
      "sign",
      "verify",
    ]);
}
