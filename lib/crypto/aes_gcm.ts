/**
 * AES-256-GCM over `crypto.subtle` with a 96-bit nonce and a 128-bit tag.
 *
 * @module
 */

const subtle = crypto.subtle;

/**
 * Length of an AES-GCM nonce in bytes.
 *
 * @example
 * ```ts
 * import { aesGcmEncrypt, GCM_NONCE_LENGTH, importAesGcmKey } from "./aes_gcm.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(GCM_NONCE_LENGTH, 12);
 * const key = await importAesGcmKey(crypto.getRandomValues(new Uint8Array(32)));
 * const nonce = crypto.getRandomValues(new Uint8Array(GCM_NONCE_LENGTH));
 * const aad = new Uint8Array(0);
 * await aesGcmEncrypt(key, nonce, new Uint8Array([1]), aad);
 * const short = new Uint8Array(8);
 * await assert.rejects(aesGcmEncrypt(key, short, new Uint8Array([1]), aad), RangeError);
 * ```
 */
export const GCM_NONCE_LENGTH = 12;
/**
 * Length of an AES-GCM tag in bytes.
 *
 * @example
 * ```ts
 * import { aesGcmEncrypt, GCM_TAG_LENGTH, importAesGcmKey } from "./aes_gcm.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importAesGcmKey(crypto.getRandomValues(new Uint8Array(32)));
 * const plaintext = new TextEncoder().encode("hello");
 * const sealed = await aesGcmEncrypt(key, new Uint8Array(12), plaintext, new Uint8Array(0));
 * assert.equal(GCM_TAG_LENGTH, 16);
 * assert.equal(sealed.length, plaintext.length + GCM_TAG_LENGTH);
 * ```
 */
export const GCM_TAG_LENGTH = 16;

/**
 * Imports a 32-byte raw key as a non-extractable AES-256-GCM key.
 *
 * @param raw Exactly 32 bytes.
 * @returns The key, usable to encrypt and decrypt.
 * @throws {RangeError} When `raw` is not 32 bytes.
 *
 * @example
 * ```ts
 * import { importAesGcmKey } from "./aes_gcm.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importAesGcmKey(new Uint8Array(32));
 * assert.equal(key.algorithm.name, "AES-GCM");
 * ```
 */
export function importAesGcmKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== 32) throw new RangeError("AES-256-GCM key must be 32 bytes");
  return subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

/**
 * Encrypts and authenticates. The caller guarantees that `(key, nonce)` is never reused.
 *
 * @param key An AES-GCM key.
 * @param nonce A 12-byte nonce, unique for this key.
 * @param plaintext The data to encrypt.
 * @param aad Additional authenticated data.
 * @returns `ciphertext ‖ tag` (plaintext length + 16 bytes).
 * @throws {RangeError} When the nonce is not 12 bytes.
 *
 * @example
 * ```ts
 * import { aesGcmDecrypt, aesGcmEncrypt, importAesGcmKey } from "./aes_gcm.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importAesGcmKey(new Uint8Array(32));
 * const nonce = new Uint8Array(12);
 * const sealed = await aesGcmEncrypt(key, nonce, new Uint8Array([1, 2]), new Uint8Array(0));
 * assert.deepEqual(await aesGcmDecrypt(key, nonce, sealed, new Uint8Array(0)), new Uint8Array([1, 2]));
 * ```
 */
export function aesGcmEncrypt(
  key: CryptoKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  if (nonce.length !== GCM_NONCE_LENGTH) {
    return Promise.reject(new RangeError("AES-GCM nonce must be 12 bytes"));
  }
  // The tag length is Web Crypto's default, 128 bits.
  return subtle.encrypt(
    {
      name: "AES-GCM",
      iv: nonce as Uint8Array<ArrayBuffer>,
      additionalData: aad as Uint8Array<ArrayBuffer>,
    },
    key,
    plaintext as Uint8Array<ArrayBuffer>,
  ).then(toBytes);
}

function toBytes(buffer: ArrayBuffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer);
}

/**
 * Authenticates and decrypts. Returns `null` on any failure, so that no
 * unauthenticated byte and no engine error escapes.
 *
 * @param key An AES-GCM key.
 * @param nonce The 12-byte nonce.
 * @param sealed `ciphertext ‖ tag`.
 * @param aad Additional authenticated data.
 * @returns The plaintext, or `null` when authentication fails.
 *
 * @example
 * ```ts
 * import { aesGcmDecrypt, importAesGcmKey } from "./aes_gcm.ts";
 * import assert from "node:assert/strict";
 *
 * const key = await importAesGcmKey(new Uint8Array(32));
 * assert.equal(await aesGcmDecrypt(key, new Uint8Array(12), new Uint8Array(20), new Uint8Array(0)), null);
 * ```
 */
export function aesGcmDecrypt(
  key: CryptoKey,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (nonce.length !== GCM_NONCE_LENGTH || sealed.length < GCM_TAG_LENGTH) {
    return Promise.resolve(null);
  }
  try {
    return subtle.decrypt(
      {
        name: "AES-GCM",
        iv: nonce as Uint8Array<ArrayBuffer>,
        additionalData: aad as Uint8Array<ArrayBuffer>,
      },
      key,
      sealed as Uint8Array<ArrayBuffer>,
    ).then(toBytes, failed);
  } catch {
    return Promise.resolve(null);
  }
}

function failed(): null {
  return null;
}
