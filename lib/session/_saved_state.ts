// Sealing of saved sessions (docs/protocol.md §6). Private.

import { concat, u64 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt, importAesGcmKey } from "../crypto/aes_gcm.ts";
import { randomBytes, type RandomSource } from "../crypto/random.ts";
import { KeyError, SavedStateError } from "../errors.ts";

const MAGIC = [0x54, 0x53, 0x53]; // "TSS"
const FORMAT_VERSION = 2;
const HEADER_LENGTH = 13;
const NONCE_LENGTH = 12;
/** Saved state is small; anything larger is not ours. */
const MAX_SAVED_LENGTH = 8192;

/**
 * A wrapping key: an AES-256-GCM `CryptoKey` or 32 raw bytes.
 *
 * @example
 * ```ts
 * import { SecureSession, type WrappingKey } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const raw: WrappingKey = crypto.getRandomValues(new Uint8Array(32));
 * const aes = { name: "AES-GCM", length: 256 };
 * const key: WrappingKey = await crypto.subtle.generateKey(aes, false, ["encrypt", "decrypt"]);
 * const garbage = new TextEncoder().encode("not a saved session");
 * for (const k of [raw, key]) {
 *   await assert.rejects(SecureSession.restore(garbage, k), { code: "state_malformed" });
 * }
 * await assert.rejects(SecureSession.restore(garbage, new Uint8Array(16)), RangeError);
 * ```
 */
export type WrappingKey = CryptoKey | Uint8Array;

/** Normalizes a wrapping key, checking it at the boundary. */
export async function toWrappingKey(key: WrappingKey): Promise<CryptoKey> {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new RangeError("wrapping key must be 32 bytes");
    return await importAesGcmKey(key);
  }
  if (!(key instanceof CryptoKey)) throw new TypeError("wrapping key must be a CryptoKey or bytes");
  const alg = key.algorithm as AesKeyAlgorithm;
  if (
    alg.name !== "AES-GCM" || alg.length !== 256 || !key.usages.includes("encrypt") ||
    !key.usages.includes("decrypt")
  ) {
    throw new KeyError("key_unsupported", "wrapping key must be AES-256-GCM with encrypt+decrypt");
  }
  return key;
}

/**
 * Seals `inner` for profile `profileId`:
 * `"TSS" ‖ 02 ‖ profile ‖ u64 generation ‖ nonce ‖ GCM(inner)`, the header and
 * the caller's context being the AAD.
 */
export async function sealState(
  key: CryptoKey,
  profileId: number,
  generation: number,
  context: Uint8Array,
  inner: Uint8Array,
  random: RandomSource,
): Promise<Uint8Array> {
  const header = concat(
    new Uint8Array([...MAGIC, FORMAT_VERSION, profileId]),
    u64(BigInt(generation)),
  );
  const nonce = randomBytes(NONCE_LENGTH, random);
  return concat(header, nonce, await aesGcmEncrypt(key, nonce, inner, concat(header, context)));
}

/** Opens sealed state; returns the profile id, the generation and the inner bytes. */
export async function openState(
  key: CryptoKey,
  sealed: Uint8Array,
  context: Uint8Array,
): Promise<{ profileId: number; generation: number; inner: Uint8Array }> {
  if (!(sealed instanceof Uint8Array)) throw new TypeError("saved state must be a Uint8Array");
  if (
    sealed.length < HEADER_LENGTH + NONCE_LENGTH + 16 || sealed.length > MAX_SAVED_LENGTH ||
    sealed[0] !== MAGIC[0] || sealed[1] !== MAGIC[1] || sealed[2] !== MAGIC[2]
  ) {
    throw new SavedStateError("state_malformed", "not a saved tessera session");
  }
  if (sealed[3] !== FORMAT_VERSION) {
    throw new SavedStateError("state_unsupported_version", "unknown saved state format version");
  }
  const header = sealed.subarray(0, HEADER_LENGTH);
  const nonce = sealed.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH);
  const inner = await aesGcmDecrypt(
    key,
    nonce,
    sealed.subarray(HEADER_LENGTH + NONCE_LENGTH),
    concat(header, context),
  );
  if (inner === null) {
    throw new SavedStateError(
      "state_auth_failed",
      "wrong wrapping key or context, or tampered state",
    );
  }
  const generation = new DataView(header.buffer, header.byteOffset + 5, 8).getBigUint64(0);
  if (generation > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SavedStateError("state_malformed", "generation out of range");
  }
  return { profileId: sealed[4]!, generation: Number(generation), inner };
}
