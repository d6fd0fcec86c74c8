/**
 * Themis key containers: `UEC2` (a P-256 public key) and `REC2` (a P-256
 * private key), as WasmThemis `KeyPair`, `PublicKey` and `PrivateKey` hold
 * them and as Themis apps store them. They convert to and from tessera's
 * identity keys (ECDSA P-256 `CryptoKey`s), so one key pair serves both the
 * tessera/1 and the Themis profile.
 *
 * - `UEC2`: a 12-byte Soter header, then the SEC1 point: 33 bytes compressed
 *   (what Themis writes, 45 bytes in all) or 65 bytes uncompressed (77).
 * - `REC2`: a 12-byte Soter header, then `00 ‖ d` (what Themis writes, 45
 *   bytes in all) or the bare 32-byte scalar `d` (44).
 *
 * @module
 */

import { fromBase64Url } from "../crypto/_bytes.ts";
import { scalarToPkcs8 } from "../crypto/_sec1.ts";
import {
  exportPrivateKeyJwk,
  exportPublicKey,
  importPrivateKey,
  importPublicKey,
} from "../crypto/identity.ts";
import { KeyError, ThemisError } from "../errors.ts";
import { encodeContainer, readWholeContainer, TAG_REC2, TAG_UEC2 } from "./_container.ts";

/** "UEC" and "REC": the tag prefixes of EC public and private key containers. */
const UEC_PREFIX = 0x554543;
const REC_PREFIX = 0x524543;
/** The curve byte of a P-256 container: ASCII "2". */
const CURVE_P256 = 0x32;

/**
 * Checks the container around a key and returns its data: a Soter header
 * whose size is the whole input, a matching CRC, and the tag `UEC2` or `REC2`
 * as `kind` asks.
 */
function keyData(container: Uint8Array, kind: "public" | "private"): Uint8Array {
  if (!(container instanceof Uint8Array)) {
    throw new TypeError("a Themis key container must be a Uint8Array");
  }
  // A copy in a plain Uint8Array: subclasses (WasmThemis PublicKey and PrivateKey are ones)
  // construct their own kind on subarray() and slice().
  const bytes = new Uint8Array(container);
  const what = kind === "public" ? "UEC2 public key" : "REC2 private key";
  const span = readWholeContainer(bytes, null, what);
  const prefix = span.tag >>> 8;
  const curve = span.tag & 0xff;
  const expected = kind === "public" ? UEC_PREFIX : REC_PREFIX;
  if (prefix !== expected) {
    if (prefix === UEC_PREFIX || prefix === REC_PREFIX) {
      throw new KeyError(
        "key_unsupported",
        kind === "public"
          ? "this is a Themis private key container (REC); expected a public key (UEC2)"
          : "this is a Themis public key container (UEC); expected a private key (REC2)",
      );
    }
    throw new ThemisError("themis_container_invalid", `${what}: not an EC key container`);
  }
  if (curve !== CURVE_P256) {
    throw new KeyError("key_unsupported", "the Themis key is on another curve than P-256");
  }
  return bytes.subarray(span.start, span.end);
}

/**
 * Imports a Themis `UEC2` public key container (compressed or uncompressed
 * point) as an ECDSA P-256 verification key: what `getPublicKeyForId`
 * returns for either profile, and what {@linkcode exportThemisPublicKey}
 * writes back.
 *
 * @param container The `UEC2` container, 45 or 77 bytes (WasmThemis `PublicKey` is one).
 * @returns An extractable ECDSA P-256 public key with usage `verify`.
 * @throws {TypeError} When `container` is not a `Uint8Array`.
 * @throws {ThemisError} `themis_container_invalid` for a wrong tag, size or CRC.
 * @throws {KeyError} `key_unsupported` for a private key or another curve;
 *   `key_invalid` for a point that is not on P-256.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { exportThemisPublicKey, importThemisPublicKey } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const container = await exportThemisPublicKey(publicKey); // what a Themis app stores
 * assert.equal(new TextDecoder().decode(container.subarray(0, 4)), "UEC2");
 * const imported = await importThemisPublicKey(container);
 * assert.equal(imported.type, "public");
 * container[20]! ^= 1;
 * await assert.rejects(importThemisPublicKey(container), { code: "themis_container_invalid" });
 * ```
 */
export async function importThemisPublicKey(container: Uint8Array): Promise<CryptoKey> {
  const point = keyData(container, "public");
  if (point.length === 33 && (point[0] === 0x02 || point[0] === 0x03)) {
    return await importPublicKey(point, "compressed");
  }
  if (point.length === 65 && point[0] === 0x04) return await importPublicKey(point, "raw");
  throw new KeyError("key_invalid", "a UEC2 container holds a 33- or 65-byte SEC1 point");
}

/**
 * Options of {@linkcode exportThemisPublicKey}.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { exportThemisPublicKey, type ExportThemisPublicKeyOptions } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const options: ExportThemisPublicKeyOptions = { compressed: false };
 * assert.equal((await exportThemisPublicKey(publicKey, options)).length, 77);
 * ```
 */
export interface ExportThemisPublicKeyOptions {
  /** `true` (default): a 33-byte compressed point, as Themis writes; `false`: 65 bytes. */
  compressed?: boolean;
}

/**
 * Exports an ECDSA P-256 public key as a Themis `UEC2` container: what a
 * Themis app passes to `new PublicKey(bytes)` and returns from its
 * `getPublicKeyForId` callback.
 *
 * @param publicKey An ECDSA P-256 public key.
 * @param options `compressed` (default `true`, as Themis writes keys).
 * @returns The container: 45 bytes compressed, 77 uncompressed.
 * @throws {TypeError} When `publicKey` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when it is not an ECDSA P-256 public key;
 *   `key_not_extractable` when it was imported non-extractable.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { exportThemisPublicKey } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const container = await exportThemisPublicKey(publicKey);
 * assert.equal(container.length, 45);
 * assert.deepEqual([...container.subarray(4, 8)], [0, 0, 0, 45]); // the size, header included
 * ```
 */
export async function exportThemisPublicKey(
  publicKey: CryptoKey,
  options: ExportThemisPublicKeyOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const compressed = options.compressed ?? true;
  if (typeof compressed !== "boolean") throw new TypeError("compressed must be a boolean");
  const point = await exportPublicKey(publicKey, compressed ? "compressed" : "raw");
  return encodeContainer(TAG_UEC2, point);
}

/**
 * Options of {@linkcode importThemisPrivateKey}.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import {
 *   exportThemisPrivateKey,
 *   importThemisPrivateKey,
 *   type ImportThemisPrivateKeyOptions,
 * } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair({ extractable: true });
 * const options: ImportThemisPrivateKeyOptions = { extractable: true };
 * const again = await importThemisPrivateKey(await exportThemisPrivateKey(privateKey), options);
 * assert.equal(again.extractable, true);
 * ```
 */
export interface ImportThemisPrivateKeyOptions {
  /** Whether the imported key may be exported again. Default `false`. */
  extractable?: boolean;
}

/**
 * Imports a Themis `REC2` private key container as an ECDSA P-256 signing
 * key, the `privateKey` of a {@linkcode SecureSession} of either profile.
 * The key is non-extractable unless `extractable: true` is passed. The
 * scalar is checked to be in range.
 *
 * @param container The `REC2` container: 45 bytes (`00 ‖ d`, as Themis
 *   writes it; WasmThemis `PrivateKey` is one) or 44 bytes (`d`).
 * @param options `extractable` (default `false`).
 * @returns An ECDSA P-256 private key with usage `sign`.
 * @throws {TypeError} When `container` is not a `Uint8Array`.
 * @throws {ThemisError} `themis_container_invalid` for a wrong tag, size or CRC.
 * @throws {KeyError} `key_unsupported` for a public key or another curve;
 *   `key_invalid` for a scalar of the wrong length or out of range.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { signP256, verifyP256 } from "../crypto/identity.ts";
 * import { exportThemisPrivateKey, importThemisPrivateKey } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair({ extractable: true });
 * const container = await exportThemisPrivateKey(keys.privateKey);
 * const privateKey = await importThemisPrivateKey(container);
 * assert.equal(privateKey.extractable, false);
 * const data = new Uint8Array([1, 2, 3]);
 * assert.ok(await verifyP256(keys.publicKey, await signP256(privateKey, data), data));
 * ```
 */
export async function importThemisPrivateKey(
  container: Uint8Array,
  options: ImportThemisPrivateKeyOptions = {},
): Promise<CryptoKey> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const extractable = options.extractable ?? false;
  if (typeof extractable !== "boolean") throw new TypeError("extractable must be a boolean");
  const data = keyData(container, "private");
  let d: Uint8Array;
  if (data.length === 33 && data[0] === 0) d = data.subarray(1);
  else if (data.length === 32) d = data;
  else throw new KeyError("key_invalid", "a REC2 container holds 00 ‖ d or d, a 32-byte scalar");
  const pkcs8 = scalarToPkcs8(d);
  try {
    return await importPrivateKey(pkcs8, { format: "pkcs8", extractable });
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Exports an extractable ECDSA P-256 private key as a Themis `REC2`
 * container (`00 ‖ d`, 45 bytes, as Themis writes it): what a Themis app
 * passes to `new PrivateKey(bytes)`. The container is as secret as the key.
 *
 * @param privateKey An ECDSA P-256 private key created or imported with `extractable: true`.
 * @returns The 45-byte container.
 * @throws {TypeError} When `privateKey` is not a `CryptoKey`.
 * @throws {KeyError} `key_unsupported` when it is not an ECDSA P-256 private
 *   key; `key_not_extractable` when it is not extractable.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import { exportThemisPrivateKey } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const open = await generateIdentityKeyPair({ extractable: true });
 * const container = await exportThemisPrivateKey(open.privateKey);
 * assert.equal(new TextDecoder().decode(container.subarray(0, 4)), "REC2");
 * assert.equal(container.length, 45);
 *
 * const closed = await generateIdentityKeyPair(); // non-extractable by default
 * await assert.rejects(exportThemisPrivateKey(closed.privateKey), { code: "key_not_extractable" });
 * ```
 */
export async function exportThemisPrivateKey(
  privateKey: CryptoKey,
): Promise<Uint8Array<ArrayBuffer>> {
  const jwk = await exportPrivateKeyJwk(privateKey);
  const d = fromBase64Url(jwk.d!)!;
  const data = new Uint8Array(33);
  data.set(d, 1);
  d.fill(0);
  const container = encodeContainer(TAG_REC2, data);
  data.fill(0);
  return container;
}
