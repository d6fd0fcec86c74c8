/**
 * Long-term identity keys: ECDSA P-256 with SHA-256.
 *
 * Private keys are non-extractable unless the caller asks otherwise.
 * Signatures are IEEE P1363 (`r ‖ s`, 64 bytes), as Web Crypto produces them.
 *
 * @module
 */

import { KeyError } from "../errors.ts";

const subtle = crypto.subtle;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/** An ECDSA P-256 identity key pair. */
export interface IdentityKeyPair {
  /** The private key; non-extractable unless created with `extractable: true`. */
  readonly privateKey: CryptoKey;
  /** The public key; always extractable. */
  readonly publicKey: CryptoKey;
}

/** Options of {@linkcode generateIdentityKeyPair}. */
export interface GenerateIdentityOptions {
  /** Whether the private key may be exported. Default `false`. */
  extractable?: boolean;
}

/**
 * Generates a long-term ECDSA P-256 identity key pair.
 *
 * @param options `extractable` (default `false`) applies to the private key.
 * @returns The key pair.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * assert.equal(privateKey.extractable, false);
 * assert.equal(publicKey.extractable, true);
 * ```
 */
export async function generateIdentityKeyPair(
  options: GenerateIdentityOptions = {},
): Promise<IdentityKeyPair> {
  const pair = await subtle.generateKey(ECDSA_P256, options.extractable ?? false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: pair.publicKey };
}

function isP256Ecdsa(key: CryptoKey): boolean {
  const alg = key.algorithm as EcKeyAlgorithm;
  return alg.name === "ECDSA" && alg.namedCurve === "P-256";
}

/**
 * Checks that `key` is an ECDSA P-256 private key that may sign.
 *
 * @param key The key to check.
 * @throws {TypeError} When `key` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` for another algorithm, curve, type or usage.
 *
 * @example
 * ```ts
 * import { assertSigningKey, generateIdentityKeyPair } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * assertSigningKey(privateKey);
 * assert.throws(() => assertSigningKey(publicKey), { code: "key_unsupported" });
 * ```
 */
export function assertSigningKey(key: CryptoKey): void {
  if (!(key instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
  if (!isP256Ecdsa(key) || key.type !== "private" || !key.usages.includes("sign")) {
    throw new KeyError("key_unsupported", "expected an ECDSA P-256 private key with usage sign");
  }
}

/**
 * Signs `data` with ECDSA P-256 / SHA-256.
 *
 * @param privateKey An ECDSA P-256 private key.
 * @param data The message (hashed with SHA-256 by the engine).
 * @returns The 64-byte P1363 signature `r ‖ s`.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, signP256, verifyP256 } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair();
 * const sig = await signP256(keys.privateKey, new Uint8Array([1]));
 * assert.equal(sig.length, 64);
 * assert.ok(await verifyP256(keys.publicKey, sig, new Uint8Array([1])));
 * ```
 */
export async function signP256(
  privateKey: CryptoKey,
  data: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await subtle.sign(ECDSA_SHA256, privateKey, data as Uint8Array<ArrayBuffer>),
  );
}

/**
 * Verifies a 64-byte P1363 ECDSA P-256 / SHA-256 signature. Never throws for a
 * bad signature: any failure is `false`.
 *
 * @param publicKey An ECDSA P-256 public key.
 * @param signature The 64-byte signature.
 * @param data The message.
 * @returns `true` only when the signature is valid.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, verifyP256 } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair();
 * assert.equal(await verifyP256(keys.publicKey, new Uint8Array(64), new Uint8Array(1)), false);
 * ```
 */
export async function verifyP256(
  publicKey: CryptoKey,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    return await subtle.verify(
      ECDSA_SHA256,
      publicKey,
      signature as Uint8Array<ArrayBuffer>,
      data as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return false;
  }
}

/** A public key as `getPublicKeyForId` may return it. */
export type PublicKeyInput = CryptoKey | Uint8Array | JsonWebKey;

/**
 * Normalizes a public key to an ECDSA P-256 verification `CryptoKey`. Accepts a
 * `CryptoKey`, a JWK, or bytes: a 65-byte uncompressed point, a 33-byte
 * compressed point, or SPKI DER.
 *
 * @param input The key.
 * @returns A `CryptoKey` usable with {@linkcode verifyP256}.
 * @throws {KeyError} `key_invalid` for malformed bytes, `key_unsupported` for another algorithm.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, toVerifyKey } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair();
 * const raw = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
 * const key = await toVerifyKey(raw);
 * assert.equal(key.type, "public");
 * ```
 */
export async function toVerifyKey(input: PublicKeyInput): Promise<CryptoKey> {
  if (input instanceof CryptoKey) {
    if (!isP256Ecdsa(input) || input.type !== "public" || !input.usages.includes("verify")) {
      throw new KeyError("key_unsupported", "expected an ECDSA P-256 public key with usage verify");
    }
    return input;
  }
  try {
    if (input instanceof Uint8Array) {
      const first = input[0];
      const isPoint = (input.length === 65 && first === 4) ||
        (input.length === 33 && (first === 2 || first === 3));
      return await subtle.importKey(
        isPoint ? "raw" : "spki",
        input as Uint8Array<ArrayBuffer>,
        ECDSA_P256,
        true,
        ["verify"],
      );
    }
    if (input && typeof input === "object" && input.kty === "EC" && input.crv === "P-256") {
      const { kty, crv, x, y } = input;
      return await subtle.importKey("jwk", { kty, crv, x, y }, ECDSA_P256, true, ["verify"]);
    }
  } catch (cause) {
    throw new KeyError("key_invalid", "public key is not a valid P-256 key", { cause });
  }
  throw new KeyError("key_unsupported", "expected an ECDSA P-256 public key");
}
