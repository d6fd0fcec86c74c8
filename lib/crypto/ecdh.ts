/**
 * Ephemeral P-256 ECDH over `crypto.subtle`: a fresh key pair per handshake.
 *
 * @module
 */

import { KeyError } from "../errors.ts";

const subtle = crypto.subtle;
const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;

/**
 * Length of an uncompressed SEC1 P-256 point: `04 ‖ X ‖ Y`.
 *
 * @example
 * ```ts
 * import {
 *   exportPoint,
 *   generateEphemeralKeyPair,
 *   P256_POINT_LENGTH,
 * } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateEphemeralKeyPair();
 * const point = await exportPoint(publicKey);
 * assert.equal(point.length, P256_POINT_LENGTH);
 * assert.equal(P256_POINT_LENGTH, 1 + 32 + 32);
 * ```
 */
export const P256_POINT_LENGTH = 65;

/**
 * Generates a non-extractable ephemeral ECDH P-256 key pair.
 *
 * @returns The key pair; only the public half can be exported.
 *
 * @example
 * ```ts
 * import { generateEphemeralKeyPair } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const pair = await generateEphemeralKeyPair();
 * assert.equal(pair.privateKey.extractable, false);
 * ```
 */
export function generateEphemeralKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(ECDH_P256, false, ["deriveBits"]) as Promise<CryptoKeyPair>;
}

/** The DER tail of a P-256 PKCS#8 key that carries its public point: `[1] BIT STRING 04 ‖ X ‖ Y`. */
const PKCS8_POINT_PREFIX = [0xa1, 0x44, 0x03, 0x42, 0x00, 0x04];

/**
 * Generates an ephemeral ECDH P-256 key pair together with its 65-byte public
 * point. The point is read from the engine's PKCS#8 encoding when it carries
 * one (some engines recompute the point on every raw export, which costs a
 * scalar multiplication); otherwise it is exported raw. The private key is
 * extractable only so that this works: it never leaves the handshake that
 * created it, and the PKCS#8 bytes are zeroed at once.
 *
 * @returns The key pair and its uncompressed point `04 ‖ X ‖ Y`.
 *
 * @example
 * ```ts
 * import { generateEphemeralShare } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const { point } = await generateEphemeralShare();
 * assert.equal(point.length, 65);
 * assert.equal(point[0], 4);
 * ```
 */
export async function generateEphemeralShare(): Promise<
  { pair: CryptoKeyPair; point: Uint8Array<ArrayBuffer> }
> {
  const pair = await subtle.generateKey(ECDH_P256, true, ["deriveBits"]) as CryptoKeyPair;
  const der = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const at = der.length - 70;
    if (at > 0 && PKCS8_POINT_PREFIX.every((b, i) => der[at + i] === b)) {
      return { pair, point: der.slice(at + 5) };
    }
  } finally {
    der.fill(0);
  }
  return { pair, point: await exportPoint(pair.publicKey) };
}

/**
 * Exports an ECDH or ECDSA P-256 public key as a 65-byte uncompressed point.
 *
 * @param key A P-256 public key.
 * @returns `04 ‖ X ‖ Y`.
 *
 * @example
 * ```ts
 * import { exportPoint, generateEphemeralKeyPair } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const pair = await generateEphemeralKeyPair();
 * const point = await exportPoint(pair.publicKey);
 * assert.equal(point.length, 65);
 * assert.equal(point[0], 4);
 * ```
 */
export async function exportPoint(key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle.exportKey("raw", key));
}

/**
 * Imports a peer's P-256 point (65-byte uncompressed or 33-byte compressed) for ECDH.
 * The point is validated by the crypto engine: off-curve points, the point at
 * infinity and wrong lengths are refused.
 *
 * @param point The SEC1-encoded point.
 * @returns An ECDH public key.
 * @throws {KeyError} `key_invalid` when the point is not a valid P-256 point.
 *
 * @example
 * ```ts
 * import { exportPoint, generateEphemeralKeyPair, importEcdhPoint } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const pair = await generateEphemeralKeyPair();
 * const key = await importEcdhPoint(await exportPoint(pair.publicKey));
 * assert.equal(key.type, "public");
 * ```
 */
export async function importEcdhPoint(point: Uint8Array): Promise<CryptoKey> {
  const key = await importRawPoint(point, true);
  try {
    // Some engines defer point validation until first use; exporting forces it here.
    await subtle.exportKey("raw", key);
    return key;
  } catch (cause) {
    throw new KeyError("key_invalid", "not a valid P-256 point", { cause });
  }
}

/** A SEC1 point's shape checked, then imported for ECDH; `key_invalid` if either fails. */
async function importRawPoint(point: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  const first = point[0];
  const shapeOk = (point.length === 65 && first === 4) ||
    (point.length === 33 && (first === 2 || first === 3));
  if (!shapeOk) throw new KeyError("key_invalid", "not a SEC1 P-256 point");
  try {
    return await subtle.importKey(
      "raw",
      point as Uint8Array<ArrayBuffer>,
      ECDH_P256,
      extractable,
      [],
    );
  } catch (cause) {
    throw new KeyError("key_invalid", "not a valid P-256 point", { cause });
  }
}

/**
 * Imports a peer's ephemeral P-256 point for its one use, {@linkcode ecdhSecret}.
 * Unlike {@linkcode importEcdhPoint} it does not export the key again to force
 * validation (a point decompression or re-encoding per handshake): an engine
 * that defers validation refuses an invalid point in {@linkcode ecdhSecret}
 * instead, with the same `key_invalid` (pinned by the Wycheproof point tests).
 *
 * @param point The SEC1-encoded point, 65 bytes uncompressed or 33 compressed.
 * @returns An ECDH public key, to be used only with {@linkcode ecdhSecret}.
 * @throws {KeyError} `key_invalid` when the engine refuses the point at import.
 *
 * @example
 * ```ts
 * import { ecdhSecret, generateEphemeralShare, importEcdhShare } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const a = await generateEphemeralShare();
 * const b = await generateEphemeralShare();
 * const ab = await ecdhSecret(a.pair.privateKey, await importEcdhShare(b.point));
 * const ba = await ecdhSecret(b.pair.privateKey, await importEcdhShare(a.point));
 * assert.deepEqual(ab, ba);
 * ```
 */
export function importEcdhShare(point: Uint8Array): Promise<CryptoKey> {
  return importRawPoint(point, false);
}

/**
 * Computes the ECDH shared secret: the 32-byte X coordinate of `d·Q`.
 *
 * @param privateKey Own ephemeral private key.
 * @param publicKey The peer's public key.
 * @returns The 32-byte shared secret.
 * @throws {KeyError} `key_invalid` when the engine refuses the pair.
 *
 * @example
 * ```ts
 * import { ecdhSecret, generateEphemeralKeyPair } from "./ecdh.ts";
 * import assert from "node:assert/strict";
 *
 * const a = await generateEphemeralKeyPair();
 * const b = await generateEphemeralKeyPair();
 * assert.deepEqual(await ecdhSecret(a.privateKey, b.publicKey), await ecdhSecret(b.privateKey, a.publicKey));
 * ```
 */
export async function ecdhSecret(
  privateKey: CryptoKey,
  publicKey: CryptoKey,
): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(
      await subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256),
    );
  } catch (cause) {
    throw new KeyError("key_invalid", "ECDH key agreement failed", { cause });
  }
}
