/**
 * Long-term identity keys: ECDSA P-256 with SHA-256.
 *
 * Private keys are non-extractable unless the caller asks otherwise.
 * Signatures are IEEE P1363 (`r ‖ s`, 64 bytes), as Web Crypto produces them;
 * `ecdsa_der.ts` converts them to and from DER.
 *
 * Public keys import from and export to JWK, SPKI DER, PEM (`PUBLIC KEY`), the
 * 65-byte uncompressed SEC1 point (`raw`) and the 33-byte compressed SEC1
 * point. Private keys import from and export to PKCS#8 DER, JWK and PEM
 * (`PRIVATE KEY`, or `EC PRIVATE KEY` as `openssl ecparam -genkey` writes it).
 * Every import
 * checks the key before returning it: some engines accept an off-curve point
 * or an out-of-range scalar at import time and fail only when the key is used,
 * so each import exports the key once to prove that the engine can use it.
 * Every failure on untrusted input is a {@linkcode KeyError}; no engine
 * `DOMException` escapes, and no message carries key bytes.
 *
 * @module
 */

import { KeyError } from "../errors.ts";
import { concat, equalPublic, fromBase64Url, toBase64, toBase64Url } from "./_bytes.ts";
import { OID_EC_PUBLIC_KEY, OID_P256, readTlv } from "./_der.ts";
import { decodePrivateKeyPem, decodePublicKeyPem, encodePem } from "./_pem.ts";
import { encodeSec1 } from "./_sec1.ts";

const subtle = crypto.subtle;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * An ECDSA P-256 identity key pair.
 *
 * @example
 * ```ts
 * import {
 *   generateIdentityKeyPair,
 *   type IdentityKeyPair,
 *   signP256,
 *   verifyP256,
 * } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const pair: IdentityKeyPair = await generateIdentityKeyPair();
 * const data = new TextEncoder().encode("transcript");
 * const signature = await signP256(pair.privateKey, data);
 * assert.ok(await verifyP256(pair.publicKey, signature, data));
 * ```
 */
export interface IdentityKeyPair {
  /** The private key; non-extractable unless created with `extractable: true`. */
  readonly privateKey: CryptoKey;
  /** The public key; always extractable. */
  readonly publicKey: CryptoKey;
}

/**
 * Options of {@linkcode generateIdentityKeyPair}.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKey,
 *   type GenerateIdentityOptions,
 *   generateIdentityKeyPair,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const options: GenerateIdentityOptions = { extractable: true };
 * const { privateKey } = await generateIdentityKeyPair(options);
 * assert.equal(privateKey.extractable, true);
 * assert.equal((await exportPrivateKey(privateKey, "pkcs8"))[0], 0x30); // DER SEQUENCE
 * ```
 */
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
  return { privateKey: pair.privateKey, publicKey: await reimportPublic(pair.publicKey) };
}

/**
 * Re-imports a public key from its point. Some engines keep a generated public
 * key as the private scalar and recompute the point on every verification;
 * an imported one holds the point, which halves the cost of each verify.
 */
async function reimportPublic(key: CryptoKey): Promise<CryptoKey> {
  try {
    const point = await subtle.exportKey("raw", key);
    return await subtle.importKey("raw", point, ECDSA_P256, true, ["verify"]);
  } catch {
    return key;
  }
}

const verifyKeys = new WeakMap<CryptoKey, Promise<CryptoKey>>();

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
 * import { assertSigningKey, generateIdentityKeyPair } from "./identity.ts";
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
 * import { generateIdentityKeyPair, signP256, verifyP256 } from "./identity.ts";
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
 * import { generateIdentityKeyPair, verifyP256 } from "./identity.ts";
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

/**
 * A public key as `getPublicKeyForId` may return it.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   exportPublicKeyJwk,
 *   generateIdentityKeyPair,
 *   type PublicKeyInput,
 *   toVerifyKey,
 * } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const inputs: PublicKeyInput[] = [
 *   publicKey,
 *   await exportPublicKey(publicKey, "raw"),
 *   await exportPublicKeyJwk(publicKey),
 * ];
 * for (const input of inputs) assert.equal((await toVerifyKey(input)).type, "public");
 * ```
 */
export type PublicKeyInput = CryptoKey | Uint8Array | JsonWebKey;

/**
 * Normalizes a public key to an ECDSA P-256 verification `CryptoKey`. Accepts a
 * `CryptoKey`, a JWK, or bytes: a 65-byte uncompressed point, a 33-byte
 * compressed point, or SPKI DER. Keys that are not `CryptoKey`s go through
 * {@linkcode importPublicKey}.
 *
 * @param input The key.
 * @returns A `CryptoKey` usable with {@linkcode verifyP256}.
 * @throws {KeyError} `key_invalid` for malformed bytes, `key_unsupported` for another algorithm.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, toVerifyKey } from "./identity.ts";
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
    let fast = verifyKeys.get(input);
    if (!fast) {
      fast = reimportPublic(input);
      verifyKeys.set(input, fast);
    }
    return await fast;
  }
  if (input instanceof Uint8Array) return await importPublicKey(input);
  if (input !== null && typeof input === "object") return await importPublicKey(input);
  throw new KeyError("key_unsupported", "expected an ECDSA P-256 public key");
}

/**
 * Encodings of an ECDSA P-256 public key.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   exportPublicKeyJwk,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 *   type PublicKeyFormat,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const format: PublicKeyFormat = "jwk";
 * const imported = await importPublicKey(await exportPublicKeyJwk(publicKey), format);
 * const raw = await exportPublicKey(publicKey, "raw");
 * assert.deepEqual(await exportPublicKey(imported, "raw"), raw);
 * ```
 */
export type PublicKeyFormat = "jwk" | "spki" | "raw" | "compressed" | "pem";

/**
 * Byte encodings of an ECDSA P-256 public key, as {@linkcode exportPublicKey} writes them.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 *   type PublicKeyExportFormat,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const lengths: Record<PublicKeyExportFormat, number> = { raw: 65, compressed: 33, spki: 91 };
 * for (const [format, length] of Object.entries(lengths) as [PublicKeyExportFormat, number][]) {
 *   const bytes = await exportPublicKey(publicKey, format);
 *   assert.equal(bytes.length, length);
 *   assert.equal((await importPublicKey(bytes, format)).type, "public");
 * }
 * ```
 */
export type PublicKeyExportFormat = "spki" | "raw" | "compressed";

/**
 * Encodings of an ECDSA P-256 private key.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKey,
 *   exportPrivateKeyJwk,
 *   generateIdentityKeyPair,
 *   importPrivateKey,
 *   type PrivateKeyFormat,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair({ extractable: true });
 * const encoded: [PrivateKeyFormat, Uint8Array | JsonWebKey][] = [
 *   ["pkcs8", await exportPrivateKey(privateKey, "pkcs8")],
 *   ["jwk", await exportPrivateKeyJwk(privateKey)],
 * ];
 * for (const [format, data] of encoded) {
 *   assert.equal((await importPrivateKey(data, { format })).type, "private");
 * }
 * ```
 */
export type PrivateKeyFormat = "pkcs8" | "jwk" | "pem";

/**
 * Options of {@linkcode importPrivateKey}.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKeyJwk,
 *   generateIdentityKeyPair,
 *   importPrivateKey,
 *   type ImportPrivateKeyOptions,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair({ extractable: true });
 * const jwk = await exportPrivateKeyJwk(privateKey);
 * const options: ImportPrivateKeyOptions = { format: "jwk", extractable: true };
 * const imported = await importPrivateKey(jwk, options);
 * assert.equal(imported.extractable, true);
 * assert.deepEqual(await exportPrivateKeyJwk(imported), jwk);
 * ```
 */
export interface ImportPrivateKeyOptions {
  /** The encoding. Default: `"pkcs8"` for bytes, `"jwk"` for an object, `"pem"` for a string. */
  format?: PrivateKeyFormat;
  /** Whether the imported key may be exported again. Default `false`. */
  extractable?: boolean;
}

/** Length of one P-256 coordinate or scalar in bytes. */
const COORDINATE_LENGTH = 32;
/** Length of a compressed SEC1 P-256 point: `02|03 ‖ X`. */
const COMPRESSED_LENGTH = 1 + COORDINATE_LENGTH;
/** Length of an uncompressed SEC1 P-256 point: `04 ‖ X ‖ Y`. */
const UNCOMPRESSED_LENGTH = 1 + 2 * COORDINATE_LENGTH;

function invalid(message: string): KeyError {
  return new KeyError("key_invalid", message);
}

function unsupported(message: string): KeyError {
  return new KeyError("key_unsupported", message);
}

/**
 * Classifies the AlgorithmIdentifier of an SPKI or PKCS#8 structure:
 * `"p256"` for id-ecPublicKey on prime256v1, `"other"` for any other algorithm
 * or curve, `null` when the structure does not parse this far. The engine
 * parses the rest.
 */
function derKeyAlgorithm(der: Uint8Array, pkcs8: boolean): "p256" | "other" | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  let offset = outer.start;
  if (pkcs8) {
    const version = readTlv(der, offset);
    if (!version || version.tag !== 0x02) return null;
    offset = version.end;
  }
  const algorithm = readTlv(der, offset);
  if (!algorithm || algorithm.tag !== 0x30 || algorithm.end > outer.end) return null;
  const oid = readTlv(der, algorithm.start);
  if (!oid || oid.tag !== 0x06 || oid.end > algorithm.end) return null;
  if (!equalPublic(der.subarray(algorithm.start, oid.end), OID_EC_PUBLIC_KEY)) return "other";
  const curve = readTlv(der, oid.end);
  if (!curve || curve.end > algorithm.end) return null;
  return curve.end === algorithm.end && equalPublic(der.subarray(oid.end, curve.end), OID_P256)
    ? "p256"
    : "other";
}

/** Decodes a JWK coordinate or scalar: strict base64url of exactly 32 bytes. */
function jwkCoordinate(value: unknown, name: string): string {
  if (typeof value !== "string") throw invalid(`JWK member ${name} is missing`);
  const bytes = fromBase64Url(value);
  if (bytes === null || bytes.length !== COORDINATE_LENGTH) {
    throw invalid(`JWK member ${name} is not 32 bytes of base64url`);
  }
  return value;
}

/** Checks the members of an EC P-256 JWK that name its algorithm and use. */
function checkJwkHeader(jwk: JsonWebKey, usage: "sign" | "verify"): void {
  if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) {
    throw new TypeError("expected a JWK object");
  }
  if (jwk.kty !== "EC") throw unsupported("JWK is not an EC key");
  if (jwk.crv !== "P-256") throw unsupported("JWK is not on curve P-256");
  if (jwk.alg !== undefined && jwk.alg !== "ES256") throw unsupported("JWK alg is not ES256");
  if (jwk.use !== undefined && jwk.use !== "sig") throw unsupported("JWK use is not sig");
  if (
    jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes(usage))
  ) {
    throw unsupported(`JWK key_ops does not allow ${usage}`);
  }
}

/** Checks that `key` is an ECDSA P-256 key of the given type. */
function checkKey(key: CryptoKey, type: KeyType): void {
  if (!(key instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
  if (!isP256Ecdsa(key) || key.type !== type) {
    throw unsupported(`expected an ECDSA P-256 ${type} key`);
  }
}

/** Checks that `key` may be exported. */
function checkExtractable(key: CryptoKey): void {
  if (!key.extractable) throw new KeyError("key_not_extractable", "the key is not extractable");
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Imports an ECDSA P-256 public key for verification.
 *
 * Formats: `"jwk"` (an object with `kty: "EC"`, `crv: "P-256"`, `x`, `y`; a
 * private member `d` is refused), `"spki"` (DER), `"pem"` (a string holding
 * one `-----BEGIN PUBLIC KEY-----` block, SPKI, as `openssl ec -pubout`
 * writes it), `"raw"` (65-byte uncompressed point `04 ‖ X ‖ Y`) and
 * `"compressed"` (33-byte point `02|03 ‖ X`). When `format` is omitted it is
 * detected: a string is PEM, an object is a JWK, 65 bytes starting with `04`
 * are raw, 33 bytes starting with `02` or `03` are compressed, and other bytes
 * are SPKI.
 *
 * PEM is read strictly: at most 16 KiB; lines end in LF or CRLF, and spaces or
 * tabs around a line are ignored; exactly one block, with no other text before
 * or after it; the same label on its BEGIN and END lines; a body of standard
 * base64 with padding, in lines of any length, without headers.
 *
 * The point is proven valid before the key is returned. The returned key is
 * extractable, like every public key Web Crypto generates.
 *
 * @param data The encoded key.
 * @param format The encoding; detected when omitted.
 * @returns An extractable ECDSA P-256 public key with usage `verify`.
 * @throws {TypeError} When `data` does not match `format` (bytes for a JWK, a
 * string for SPKI, and so on) or is neither bytes, a string nor an object.
 * @throws {KeyError} `key_invalid` for malformed bytes, PEM text or JWK
 * members, or a point not on P-256; `key_unsupported` for another key type,
 * algorithm or curve, a PEM block labelled other than `PUBLIC KEY`, or a JWK
 * whose `alg`, `use` or `key_ops` forbid verification.
 *
 * @example Importing a compressed point
 * ```ts
 * import {
 *   exportPublicKey,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const compressed = await exportPublicKey(publicKey, "compressed");
 * const imported = await importPublicKey(compressed);
 * assert.deepEqual(await exportPublicKey(imported, "raw"), await exportPublicKey(publicKey, "raw"));
 * ```
 *
 * @example Refusing a point that is not on the curve
 * ```ts
 * import { importPublicKey } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const point = new Uint8Array(65);
 * point[0] = 4;
 * await assert.rejects(importPublicKey(point), { code: "key_invalid" });
 * ```
 *
 * @example Reading a PEM public key, as `openssl ec -pubout` writes it
 * ```ts
 * import { importPublicKey } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const pem = `-----BEGIN PUBLIC KEY-----
 * MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEw5+VI2eBNVZhJvtmfM8tcBubuVee
 * NQHtffkKThfzRG1Mh29XZnDqFJaYtq6UPXehhQ6IWh2BrUVVMd3M3HsFSg==
 * -----END PUBLIC KEY-----
 * `;
 * const publicKey = await importPublicKey(pem);
 * assert.equal(publicKey.type, "public");
 * await assert.rejects(importPublicKey(pem.replace(/PUBLIC/g, "RSA PUBLIC")), {
 *   code: "key_unsupported",
 * });
 * ```
 */
export async function importPublicKey(
  data: Uint8Array | JsonWebKey | string,
  format?: PublicKeyFormat,
): Promise<CryptoKey> {
  if (format === undefined) {
    if (typeof data === "string") {
      format = "pem";
    } else if (isBytes(data)) {
      const first = data[0];
      if (data.length === UNCOMPRESSED_LENGTH && first === 0x04) format = "raw";
      else if (data.length === COMPRESSED_LENGTH && (first === 0x02 || first === 0x03)) {
        format = "compressed";
      } else format = "spki";
    } else if (data !== null && typeof data === "object") {
      format = "jwk";
    } else {
      throw new TypeError("expected key bytes, PEM text or a JWK object");
    }
  }
  let key: CryptoKey;
  switch (format) {
    case "jwk": {
      if (isBytes(data) || typeof data === "string") {
        throw new TypeError("format jwk expects a JWK object");
      }
      checkJwkHeader(data, "verify");
      if (data.d !== undefined) throw invalid("JWK is a private key; expected a public key");
      const jwk: JsonWebKey = {
        kty: "EC",
        crv: "P-256",
        x: jwkCoordinate(data.x, "x"),
        y: jwkCoordinate(data.y, "y"),
      };
      key = await engineImport("jwk", jwk, ["verify"], true);
      break;
    }
    case "raw":
    case "compressed": {
      if (!isBytes(data)) throw new TypeError(`format ${format} expects bytes`);
      const first = data[0];
      const shapeOk = format === "raw"
        ? data.length === UNCOMPRESSED_LENGTH && first === 0x04
        : data.length === COMPRESSED_LENGTH && (first === 0x02 || first === 0x03);
      if (!shapeOk) throw invalid(`not a ${format} SEC1 P-256 point`);
      key = await engineImport("raw", data, ["verify"], true);
      break;
    }
    case "spki":
    case "pem": {
      let der: Uint8Array;
      if (format === "pem") {
        if (typeof data !== "string") throw new TypeError("format pem expects a string");
        der = decodePublicKeyPem(data);
      } else {
        if (!isBytes(data)) throw new TypeError("format spki expects bytes");
        der = data;
      }
      const algorithm = derKeyAlgorithm(der, false);
      if (algorithm === null) throw invalid("not SPKI DER");
      if (algorithm === "other") throw unsupported("SPKI is not an EC P-256 key");
      key = await engineImport("spki", der, ["verify"], true);
      break;
    }
    default:
      throw new TypeError("unknown public key format");
  }
  // Some engines import an off-curve point and fail only on use: export once to prove it valid.
  await engineExport("raw", key);
  return key;
}

/** Imports through the engine; any engine failure becomes `key_invalid`. */
async function engineImport(
  format: "jwk" | "raw" | "spki" | "pkcs8",
  data: Uint8Array | JsonWebKey,
  usages: KeyUsage[],
  extractable: boolean,
): Promise<CryptoKey> {
  try {
    return format === "jwk"
      ? await subtle.importKey("jwk", data as JsonWebKey, ECDSA_P256, extractable, usages)
      : await subtle.importKey(
        format,
        data as Uint8Array<ArrayBuffer>,
        ECDSA_P256,
        extractable,
        usages,
      );
  } catch (cause) {
    throw new KeyError("key_invalid", "the key is not a valid P-256 key", { cause });
  }
}

/** Exports through the engine; any engine failure becomes `key_invalid`. */
async function engineExport(
  format: "raw" | "spki" | "pkcs8",
  key: CryptoKey,
): Promise<Uint8Array<ArrayBuffer>>;
async function engineExport(format: "jwk", key: CryptoKey): Promise<JsonWebKey>;
async function engineExport(
  format: "raw" | "spki" | "pkcs8" | "jwk",
  key: CryptoKey,
): Promise<Uint8Array<ArrayBuffer> | JsonWebKey> {
  try {
    return format === "jwk"
      ? await subtle.exportKey("jwk", key)
      : new Uint8Array(await subtle.exportKey(format, key));
  } catch (cause) {
    throw new KeyError("key_invalid", "the key is not a valid P-256 key", { cause });
  }
}

/**
 * Exports an ECDSA P-256 public key as bytes.
 *
 * Formats: `"raw"` (65-byte uncompressed point `04 ‖ X ‖ Y`), `"compressed"`
 * (33-byte point `02|03 ‖ X`, where the prefix carries the parity of Y) and
 * `"spki"` (DER).
 *
 * @param key An ECDSA P-256 public key.
 * @param format The encoding.
 * @returns The encoded key.
 * @throws {TypeError} When `key` is not a `CryptoKey` or `format` is unknown.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 public
 * key; `key_not_extractable` when it was imported non-extractable.
 *
 * @example
 * ```ts
 * import { exportPublicKey, generateIdentityKeyPair } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const raw = await exportPublicKey(publicKey, "raw");
 * const compressed = await exportPublicKey(publicKey, "compressed");
 * assert.equal(raw.length, 65);
 * assert.equal(compressed.length, 33);
 * assert.equal(compressed[0], 0x02 | (raw[64]! & 1));
 * assert.deepEqual(compressed.subarray(1), raw.subarray(1, 33));
 * ```
 */
export async function exportPublicKey(
  key: CryptoKey,
  format: PublicKeyExportFormat,
): Promise<Uint8Array<ArrayBuffer>> {
  checkKey(key, "public");
  if (format !== "raw" && format !== "compressed" && format !== "spki") {
    throw new TypeError("unknown public key format");
  }
  checkExtractable(key);
  if (format === "spki") return await engineExport("spki", key);
  const raw = await engineExport("raw", key);
  if (format === "raw") return raw;
  const out = new Uint8Array(COMPRESSED_LENGTH);
  out[0] = 0x02 | (raw[UNCOMPRESSED_LENGTH - 1]! & 1);
  out.set(raw.subarray(1, 1 + COORDINATE_LENGTH), 1);
  return out;
}

/**
 * Exports an ECDSA P-256 public key as a minimal JWK: `kty`, `crv`, `x`, `y`
 * only, the same on every runtime (no `alg`, `key_ops` or `ext`).
 *
 * @param key An ECDSA P-256 public key.
 * @returns The JWK `{ kty: "EC", crv: "P-256", x, y }`.
 * @throws {TypeError} When `key` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 public
 * key; `key_not_extractable` when it was imported non-extractable.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKeyJwk,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const jwk = await exportPublicKeyJwk(publicKey);
 * assert.deepEqual(Object.keys(jwk).sort(), ["crv", "kty", "x", "y"]);
 * assert.deepEqual(await exportPublicKeyJwk(await importPublicKey(jwk)), jwk);
 * ```
 */
export async function exportPublicKeyJwk(key: CryptoKey): Promise<JsonWebKey> {
  checkKey(key, "public");
  checkExtractable(key);
  const raw = await engineExport("raw", key);
  return {
    kty: "EC",
    crv: "P-256",
    x: toBase64Url(raw.subarray(1, 1 + COORDINATE_LENGTH)),
    y: toBase64Url(raw.subarray(1 + COORDINATE_LENGTH)),
  };
}

/**
 * Exports an ECDSA P-256 public key as PEM: one `-----BEGIN PUBLIC KEY-----`
 * block of SPKI DER, in 64-character lines with LF endings, as
 * `openssl ec -pubout` writes it. {@linkcode importPublicKey} reads it back,
 * and so does `openssl pkey -pubin`.
 *
 * @param key An ECDSA P-256 public key.
 * @returns The PEM text, ending in a newline.
 * @throws {TypeError} When `key` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 public
 * key; `key_not_extractable` when it was imported non-extractable.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   exportPublicKeyPem,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const pem = await exportPublicKeyPem(publicKey);
 * assert.ok(pem.startsWith("-----BEGIN PUBLIC KEY-----\n"));
 * const imported = await importPublicKey(pem);
 * assert.deepEqual(await exportPublicKey(imported, "raw"), await exportPublicKey(publicKey, "raw"));
 * ```
 */
export async function exportPublicKeyPem(key: CryptoKey): Promise<string> {
  return encodePem("PUBLIC KEY", await exportPublicKey(key, "spki"));
}

/**
 * Imports an ECDSA P-256 private key for signing. The key is non-extractable
 * unless `extractable: true` is passed.
 *
 * Formats: `"pkcs8"` (DER; the optional embedded public key may be absent),
 * `"jwk"` (an object with `kty: "EC"`, `crv: "P-256"` and all of `d`, `x`,
 * `y`) and `"pem"` (a string holding one `-----BEGIN PRIVATE KEY-----` block,
 * PKCS#8, or one `-----BEGIN EC PRIVATE KEY-----` block, SEC1 / RFC 5915, as
 * `openssl ecparam -genkey` writes it: its curve, when named, must be P-256,
 * and the `EC PARAMETERS` block that openssl writes before it without
 * `-noout` is accepted when it names P-256). PEM is read as strictly as by
 * {@linkcode importPublicKey}. Encrypted keys (`ENCRYPTED PRIVATE KEY`, or a
 * `Proc-Type: 4,ENCRYPTED` header) are refused: decrypt them first with
 * `openssl pkcs8 -topk8 -nocrypt -in key.pem`. The scalar is checked to be in
 * range and, when a public point is given, to match it.
 *
 * @param data The encoded key.
 * @param options `format` (detected from the type of `data` when omitted) and
 * `extractable` (default `false`).
 * @returns An ECDSA P-256 private key with usage `sign`.
 * @throws {TypeError} When `data` does not match `format` or is neither bytes,
 * a string nor an object.
 * @throws {KeyError} `key_invalid` for malformed bytes, PEM text or JWK
 * members, a scalar out of range, or a public point that does not match the
 * scalar; `key_unsupported` for another key type, algorithm or curve
 * (explicit curve parameters included), an encrypted key, a PEM block of
 * another kind, or a JWK whose `alg`, `use` or `key_ops` forbid signing.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKey,
 *   generateIdentityKeyPair,
 *   importPrivateKey,
 *   signP256,
 *   verifyP256,
 * } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair({ extractable: true });
 * const pkcs8 = await exportPrivateKey(keys.privateKey, "pkcs8");
 * const restored = await importPrivateKey(pkcs8);
 * assert.equal(restored.extractable, false);
 * const data = new Uint8Array([7]);
 * assert.ok(await verifyP256(keys.publicKey, await signP256(restored, data), data));
 * ```
 *
 * @example Reading the EC PRIVATE KEY that `openssl ecparam -genkey -noout` writes
 * ```ts
 * import { importPrivateKey, importPublicKey, signP256, verifyP256 } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * // A throwaway test key (tests/vectors/pem/p256_ec.pem); never publish a real one.
 * const privatePem = `-----BEGIN EC PRIVATE KEY-----
 * MHcCAQEEIMLnJa6iRvhXM/+qo/u0jjwPqV1FqVYqRzDvoxlhSfUEoAoGCCqGSM49
 * AwEHoUQDQgAEw5+VI2eBNVZhJvtmfM8tcBubuVeeNQHtffkKThfzRG1Mh29XZnDq
 * FJaYtq6UPXehhQ6IWh2BrUVVMd3M3HsFSg==
 * -----END EC PRIVATE KEY-----
 * `;
 * const publicPem = `-----BEGIN PUBLIC KEY-----
 * MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEw5+VI2eBNVZhJvtmfM8tcBubuVee
 * NQHtffkKThfzRG1Mh29XZnDqFJaYtq6UPXehhQ6IWh2BrUVVMd3M3HsFSg==
 * -----END PUBLIC KEY-----
 * `;
 * const privateKey = await importPrivateKey(privatePem);
 * assert.equal(privateKey.extractable, false);
 * const data = new TextEncoder().encode("hello");
 * const signature = await signP256(privateKey, data);
 * assert.ok(await verifyP256(await importPublicKey(publicPem), signature, data));
 * ```
 */
export async function importPrivateKey(
  data: Uint8Array | JsonWebKey | string,
  options: ImportPrivateKeyOptions = {},
): Promise<CryptoKey> {
  const extractable = options.extractable ?? false;
  let format = options.format;
  if (format === undefined) {
    if (typeof data === "string") format = "pem";
    else if (isBytes(data)) format = "pkcs8";
    else if (data !== null && typeof data === "object") format = "jwk";
    else throw new TypeError("expected key bytes, PEM text or a JWK object");
  }
  let probe: CryptoKey;
  let given: JsonWebKey | undefined;
  let givenPoint: Uint8Array | null = null;
  // A key rewrapped from SEC1 is imported once more from its checked JWK, so
  // that an extractable one exports the usual PKCS#8 (public key included).
  let rewrapped = false;
  if (format === "jwk") {
    if (isBytes(data) || typeof data === "string") {
      throw new TypeError("format jwk expects a JWK object");
    }
    checkJwkHeader(data, "sign");
    given = {
      kty: "EC",
      crv: "P-256",
      x: jwkCoordinate(data.x, "x"),
      y: jwkCoordinate(data.y, "y"),
      d: jwkCoordinate(data.d, "d"),
    };
    probe = await engineImport("jwk", given, ["sign"], true);
  } else if (format === "pkcs8" || format === "pem") {
    let der: Uint8Array;
    if (format === "pem") {
      if (typeof data !== "string") throw new TypeError("format pem expects a string");
      const pem = decodePrivateKeyPem(data);
      der = pem.pkcs8;
      givenPoint = pem.publicPoint;
      rewrapped = pem.rewrapped;
    } else {
      if (!isBytes(data)) throw new TypeError("format pkcs8 expects bytes");
      der = data;
    }
    const algorithm = derKeyAlgorithm(der, true);
    if (algorithm === null) throw invalid("not PKCS#8 DER");
    if (algorithm === "other") throw unsupported("PKCS#8 is not an EC P-256 key");
    probe = await engineImport("pkcs8", der, ["sign"], true);
  } else {
    throw new TypeError("unknown private key format");
  }
  // Some engines accept a scalar out of range, or a public point that does not
  // match the scalar, and fail only on use. The export recomputes or checks both.
  const checked = await engineExport("jwk", probe);
  if (
    typeof checked.d !== "string" || typeof checked.x !== "string" ||
    typeof checked.y !== "string"
  ) {
    throw invalid("the key is not a valid P-256 key");
  }
  if (given !== undefined && (checked.x !== given.x || checked.y !== given.y)) {
    throw invalid("the JWK public point does not match its private scalar");
  }
  if (givenPoint !== null && !samePoint(givenPoint, checked.x, checked.y)) {
    throw invalid("the public key in the EC PRIVATE KEY does not match its private scalar");
  }
  if (extractable && !rewrapped) return probe;
  return await engineImport(
    "jwk",
    { kty: "EC", crv: "P-256", x: checked.x, y: checked.y, d: checked.d },
    ["sign"],
    extractable,
  );
}

/**
 * Whether a SEC1 point (65 bytes uncompressed or 33 compressed) is the point
 * whose JWK coordinates are `x` and `y`.
 */
function samePoint(point: Uint8Array, x: string, y: string): boolean {
  const xs = fromBase64Url(x);
  const ys = fromBase64Url(y);
  if (xs === null || ys === null || ys.length !== COORDINATE_LENGTH) return false;
  if (point.length === UNCOMPRESSED_LENGTH) {
    return equalPublic(point, concat(new Uint8Array([0x04]), xs, ys));
  }
  return point[0] === (0x02 | (ys[COORDINATE_LENGTH - 1]! & 1)) &&
    equalPublic(point.subarray(1), xs);
}

/**
 * Exports an extractable ECDSA P-256 private key as PKCS#8 DER.
 *
 * @param key An ECDSA P-256 private key created or imported with `extractable: true`.
 * @param format Only `"pkcs8"`; use {@linkcode exportPrivateKeyJwk} for a JWK.
 * @returns The PKCS#8 DER bytes.
 * @throws {TypeError} When `key` is not a `CryptoKey` or `format` is not `"pkcs8"`.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 private
 * key; `key_not_extractable` when it is not extractable.
 *
 * @example
 * ```ts
 * import { exportPrivateKey, generateIdentityKeyPair } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const open = await generateIdentityKeyPair({ extractable: true });
 * assert.equal((await exportPrivateKey(open.privateKey, "pkcs8"))[0], 0x30);
 *
 * const closed = await generateIdentityKeyPair();
 * await assert.rejects(exportPrivateKey(closed.privateKey, "pkcs8"), {
 *   code: "key_not_extractable",
 * });
 * ```
 */
export async function exportPrivateKey(
  key: CryptoKey,
  format: "pkcs8",
): Promise<Uint8Array<ArrayBuffer>> {
  checkKey(key, "private");
  if (format !== "pkcs8") throw new TypeError("unknown private key format");
  checkExtractable(key);
  return await engineExport("pkcs8", key);
}

/**
 * Exports an extractable ECDSA P-256 private key as a minimal JWK: `kty`,
 * `crv`, `x`, `y`, `d` only.
 *
 * @param key An ECDSA P-256 private key created or imported with `extractable: true`.
 * @returns The JWK `{ kty: "EC", crv: "P-256", x, y, d }`.
 * @throws {TypeError} When `key` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 private
 * key; `key_not_extractable` when it is not extractable.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKeyJwk,
 *   generateIdentityKeyPair,
 *   importPrivateKey,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair({ extractable: true });
 * const jwk = await exportPrivateKeyJwk(keys.privateKey);
 * assert.deepEqual(Object.keys(jwk).sort(), ["crv", "d", "kty", "x", "y"]);
 * const again = await importPrivateKey(jwk, { extractable: true });
 * assert.deepEqual(await exportPrivateKeyJwk(again), jwk);
 * ```
 */
export async function exportPrivateKeyJwk(key: CryptoKey): Promise<JsonWebKey> {
  checkKey(key, "private");
  checkExtractable(key);
  const jwk = await engineExport("jwk", key);
  return {
    kty: "EC",
    crv: "P-256",
    x: jwkCoordinate(jwk.x, "x"),
    y: jwkCoordinate(jwk.y, "y"),
    d: jwkCoordinate(jwk.d, "d"),
  };
}

/**
 * Options of {@linkcode exportPrivateKeyPem}.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKeyPem,
 *   type ExportPrivateKeyPemOptions,
 *   generateIdentityKeyPair,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair({ extractable: true });
 * const options: ExportPrivateKeyPemOptions = { format: "sec1" };
 * const pem = await exportPrivateKeyPem(privateKey, options);
 * assert.ok(pem.startsWith("-----BEGIN EC PRIVATE KEY-----\n"));
 * ```
 */
export interface ExportPrivateKeyPemOptions {
  /**
   * `"pkcs8"` (default) writes a `PRIVATE KEY` block (PKCS#8, as
   * `openssl pkcs8 -topk8 -nocrypt` writes it); `"sec1"` writes an
   * `EC PRIVATE KEY` block (SEC1 / RFC 5915 with the named curve and the
   * public key, as `openssl ecparam -genkey -noout` writes it).
   */
  format?: "pkcs8" | "sec1";
}

/**
 * Exports an extractable ECDSA P-256 private key as unencrypted PEM, in
 * 64-character lines with LF endings. {@linkcode importPrivateKey} reads both
 * formats back, and so does `openssl pkey`. The text is as secret as the key:
 * write it to a file only the service can read.
 *
 * @param key An ECDSA P-256 private key created or imported with `extractable: true`.
 * @param options `format`: `"pkcs8"` (default) or `"sec1"`.
 * @returns The PEM text, ending in a newline.
 * @throws {TypeError} When `key` is not a `CryptoKey` or `format` is unknown.
 * @throws {KeyError} `key_unsupported` when `key` is not an ECDSA P-256 private
 * key; `key_not_extractable` when it is not extractable.
 *
 * @example
 * ```ts
 * import {
 *   exportPrivateKeyPem,
 *   generateIdentityKeyPair,
 *   importPrivateKey,
 *   signP256,
 *   verifyP256,
 * } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair({ extractable: true });
 * const pem = await exportPrivateKeyPem(keys.privateKey);
 * assert.ok(pem.startsWith("-----BEGIN PRIVATE KEY-----\n"));
 * const restored = await importPrivateKey(pem); // non-extractable
 * const data = new Uint8Array([1, 2, 3]);
 * assert.ok(await verifyP256(keys.publicKey, await signP256(restored, data), data));
 *
 * await assert.rejects(exportPrivateKeyPem(restored), { code: "key_not_extractable" });
 * ```
 */
export async function exportPrivateKeyPem(
  key: CryptoKey,
  options: ExportPrivateKeyPemOptions = {},
): Promise<string> {
  checkKey(key, "private");
  const format = options.format ?? "pkcs8";
  if (format !== "pkcs8" && format !== "sec1") throw new TypeError("unknown private key format");
  checkExtractable(key);
  if (format === "pkcs8") return encodePem("PRIVATE KEY", await engineExport("pkcs8", key));
  const jwk = await exportPrivateKeyJwk(key);
  const point = concat(
    new Uint8Array([0x04]),
    fromBase64Url(jwk.x!)!,
    fromBase64Url(jwk.y!)!,
  );
  return encodePem("EC PRIVATE KEY", encodeSec1(fromBase64Url(jwk.d!)!, point));
}

/**
 * Returns the public key that belongs to an extractable ECDSA P-256 private
 * key, taken from the `x` and `y` of its JWK export. A non-extractable private
 * key cannot give its public key: keep the public half from
 * {@linkcode generateIdentityKeyPair} instead.
 *
 * @param privateKey An extractable ECDSA P-256 private key.
 * @returns The matching public key (extractable, usage `verify`).
 * @throws {TypeError} When `privateKey` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when it is not an ECDSA P-256 private
 * key; `key_not_extractable` when it is not extractable.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   generateIdentityKeyPair,
 *   publicKeyFromPrivate,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair({ extractable: true });
 * const derived = await publicKeyFromPrivate(keys.privateKey);
 * assert.deepEqual(await exportPublicKey(derived, "raw"), await exportPublicKey(keys.publicKey, "raw"));
 * ```
 */
export async function publicKeyFromPrivate(privateKey: CryptoKey): Promise<CryptoKey> {
  const jwk = await exportPrivateKeyJwk(privateKey);
  return await importPublicKey({ kty: "EC", crv: "P-256", x: jwk.x!, y: jwk.y! }, "jwk");
}

/**
 * The stable fingerprint of an ECDSA P-256 public key: SHA-256 of its SPKI DER
 * encoding (as RFC 7469 pins are), 32 bytes. The same key gives the same
 * fingerprint in every encoding (`CryptoKey`, JWK, PEM, raw, compressed, SPKI),
 * so it serves logs, pinning and ticket stores.
 *
 * Definition, for other implementations: the SPKI is the DER
 * `SubjectPublicKeyInfo` with algorithm id-ecPublicKey (1.2.840.10045.2.1),
 * parameters the named curve prime256v1 (1.2.840.10045.3.1.7), and the
 * 65-byte uncompressed point `04 ‖ X ‖ Y`: 91 bytes, exactly what
 * `openssl pkey -pubin -outform DER` writes for an uncompressed key. So
 * `openssl pkey -pubin -in public.pem -outform DER | openssl dgst -sha256`
 * prints this fingerprint in hex. {@linkcode formatFingerprint} gives it as text.
 *
 * @param key The public key, in any form {@linkcode toVerifyKey} accepts.
 * @returns 32 bytes.
 * @throws {KeyError} `key_invalid` or `key_unsupported` when `key` is not a P-256 public key.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKey,
 *   generateIdentityKeyPair,
 *   publicKeyFingerprint,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const fingerprint = await publicKeyFingerprint(publicKey);
 * assert.equal(fingerprint.length, 32);
 * const compressed = await exportPublicKey(publicKey, "compressed");
 * assert.deepEqual(await publicKeyFingerprint(compressed), fingerprint);
 * ```
 */
export async function publicKeyFingerprint(key: PublicKeyInput): Promise<Uint8Array<ArrayBuffer>> {
  if (!(key instanceof CryptoKey)) return await fingerprintOf(await toVerifyKey(key));
  // A key object's fingerprint never changes: computed once, as lookups return the same keys.
  let known = fingerprints.get(key);
  if (!known) {
    known = toVerifyKey(key).then(fingerprintOf);
    fingerprints.set(key, known);
    known.catch(() => fingerprints.delete(key));
  }
  return (await known).slice();
}

const fingerprints = new WeakMap<CryptoKey, Promise<Uint8Array<ArrayBuffer>>>();

/**
 * Formats a {@linkcode publicKeyFingerprint} for logs, configuration and
 * pinning: `"sha256//"` followed by the standard base64 (with padding) of the
 * 32 bytes. This is the form of curl's `--pinnedpubkey` and the value of an
 * RFC 7469 `pin-sha256`, and openssl computes it from a PEM public key:
 *
 * ```sh
 * openssl pkey -pubin -in public.pem -outform DER | openssl dgst -sha256 -binary | openssl base64
 * ```
 *
 * Fingerprints are public: compare two formatted ones with `===`.
 *
 * @param fingerprint The 32 bytes of {@linkcode publicKeyFingerprint}.
 * @returns `"sha256//<base64>"`, 52 characters.
 * @throws {TypeError} When `fingerprint` is not a `Uint8Array`.
 * @throws {RangeError} When `fingerprint` is not 32 bytes.
 *
 * @example
 * ```ts
 * import {
 *   formatFingerprint,
 *   importPublicKey,
 *   publicKeyFingerprint,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const publicKey = await importPublicKey(`-----BEGIN PUBLIC KEY-----
 * MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEw5+VI2eBNVZhJvtmfM8tcBubuVee
 * NQHtffkKThfzRG1Mh29XZnDqFJaYtq6UPXehhQ6IWh2BrUVVMd3M3HsFSg==
 * -----END PUBLIC KEY-----`);
 * const pin = formatFingerprint(await publicKeyFingerprint(publicKey));
 * assert.equal(pin, "sha256//DY7/eQhECdK16rMpsXcz+vo8LUYetwh3sgVdmcn3UKk=");
 * ```
 */
export function formatFingerprint(fingerprint: Uint8Array): string {
  if (!(fingerprint instanceof Uint8Array)) throw new TypeError("expected fingerprint bytes");
  if (fingerprint.length !== 32) throw new RangeError("a SHA-256 fingerprint is 32 bytes");
  return "sha256//" + toBase64(fingerprint);
}

async function fingerprintOf(verify: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  const point = new Uint8Array(await subtle.exportKey("raw", verify));
  const spki = await subtle.importKey("raw", point, ECDSA_P256, true, ["verify"])
    .then((k) => subtle.exportKey("spki", k));
  return new Uint8Array(await subtle.digest("SHA-256", spki));
}
