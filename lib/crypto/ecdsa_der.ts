/**
 * Conversion between the two encodings of an ECDSA P-256 signature: IEEE P1363
 * (`r ‖ s`, 64 bytes, what Web Crypto signs and verifies) and strict ASN.1 DER
 * (`SEQUENCE { INTEGER r, INTEGER s }`, what Themis and X.509 use).
 *
 * The DER parser accepts exactly one encoding per signature: short-form
 * lengths, minimal positive integers, no trailing bytes. Anything else is a
 * {@linkcode KeyError} with code `signature_malformed`.
 *
 * @module
 */

import { KeyError } from "../errors.ts";

/** Length of one P-256 scalar (`r` or `s`) in bytes. */
const SCALAR_LENGTH = 32;
/** Length of a P1363 P-256 signature: `r ‖ s`. */
const P1363_LENGTH = 2 * SCALAR_LENGTH;
const TAG_SEQUENCE = 0x30;
const TAG_INTEGER = 0x02;

function malformed(message: string): KeyError {
  return new KeyError("signature_malformed", message);
}

/** Encodes one 32-byte big-endian scalar as a minimal DER INTEGER (tag, length, value). */
function encodeInteger(scalar: Uint8Array): Uint8Array {
  let start = 0;
  while (start < scalar.length && scalar[start] === 0) start++;
  if (start === scalar.length) throw malformed("signature has a zero r or s");
  const pad = scalar[start]! & 0x80 ? 1 : 0;
  const length = scalar.length - start + pad;
  const out = new Uint8Array(2 + length);
  out[0] = TAG_INTEGER;
  out[1] = length;
  out.set(scalar.subarray(start), 2 + pad);
  return out;
}

/**
 * Converts a 64-byte P1363 signature (`r ‖ s`) to strict minimal DER:
 * `30 len 02 lenR r 02 lenS s`, where each integer carries a leading `00` only
 * when its top bit is set.
 *
 * @param sig The 64-byte P1363 signature, as {@linkcode signP256} returns it.
 * @returns The DER encoding, 8 to 72 bytes.
 * @throws {TypeError} When `sig` is not a `Uint8Array`.
 * @throws {KeyError} `signature_malformed` when `sig` is not 64 bytes or `r` or `s` is zero.
 *
 * @example Converting a Web Crypto signature to DER
 * ```ts
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { p1363ToDer } from "./ecdsa_der.ts";
 * import { signP256 } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair();
 * const der = p1363ToDer(await signP256(keys.privateKey, new Uint8Array([1, 2, 3])));
 * assert.equal(der[0], 0x30);
 * assert.ok(der.length >= 8 && der.length <= 72);
 * ```
 */
export function p1363ToDer(sig: Uint8Array): Uint8Array<ArrayBuffer> {
  if (!(sig instanceof Uint8Array)) throw new TypeError("signature must be a Uint8Array");
  if (sig.length !== P1363_LENGTH) throw malformed("P1363 signature must be 64 bytes");
  const r = encodeInteger(sig.subarray(0, SCALAR_LENGTH));
  const s = encodeInteger(sig.subarray(SCALAR_LENGTH));
  const out = new Uint8Array(2 + r.length + s.length);
  out[0] = TAG_SEQUENCE;
  out[1] = r.length + s.length; // at most 70: always the short form
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/**
 * Reads one DER INTEGER at `offset` and writes its magnitude, left-padded, into
 * `out` at `outOffset`. Returns the offset after the integer.
 */
function decodeInteger(
  der: Uint8Array,
  offset: number,
  end: number,
  out: Uint8Array,
  outOffset: number,
): number {
  if (offset + 2 > end) throw malformed("DER signature is truncated");
  if (der[offset] !== TAG_INTEGER) throw malformed("DER signature integer has a wrong tag");
  const length = der[offset + 1]!;
  if (length & 0x80) throw malformed("DER signature integer has a long-form length");
  if (length === 0) throw malformed("DER signature integer is empty");
  const start = offset + 2;
  const stop = start + length;
  if (stop > end) throw malformed("DER signature integer overruns its sequence");
  const first = der[start]!;
  if (first & 0x80) throw malformed("DER signature integer is negative");
  let valueStart = start;
  if (first === 0) {
    if (length === 1) throw malformed("DER signature has a zero r or s");
    if (!(der[start + 1]! & 0x80)) throw malformed("DER signature integer is not minimal");
    valueStart = start + 1;
  }
  const valueLength = stop - valueStart;
  if (valueLength > SCALAR_LENGTH) throw malformed("DER signature integer exceeds 256 bits");
  out.set(der.subarray(valueStart, stop), outOffset + SCALAR_LENGTH - valueLength);
  return stop;
}

/**
 * Parses a strict DER ECDSA P-256 signature into the 64-byte P1363 form that
 * {@linkcode verifyP256} takes. Every length is bounds-checked; the parser
 * refuses a wrong tag, a long-form or non-minimal length, a negative,
 * zero or non-minimal integer, an integer of more than 256 bits, and
 * trailing bytes.
 *
 * Values in `[n, 2^256)` fit the P1363 form and are left to
 * {@linkcode verifyP256}, which refuses them.
 *
 * @param der The DER signature.
 * @returns The 64-byte signature `r ‖ s`.
 * @throws {TypeError} When `der` is not a `Uint8Array`.
 * @throws {KeyError} `signature_malformed` for any encoding that is not strict DER.
 *
 * @example Verifying a DER signature
 * ```ts
 * import { derToP1363, p1363ToDer } from "./ecdsa_der.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { signP256, verifyP256 } from "./identity.ts";
 * import assert from "node:assert/strict";
 *
 * const keys = await generateIdentityKeyPair();
 * const data = new TextEncoder().encode("transcript");
 * const der = p1363ToDer(await signP256(keys.privateKey, data));
 * assert.ok(await verifyP256(keys.publicKey, derToP1363(der), data));
 * ```
 *
 * @example Refusing trailing bytes
 * ```ts
 * import { derToP1363 } from "./ecdsa_der.ts";
 * import assert from "node:assert/strict";
 *
 * const der = new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]);
 * assert.throws(() => derToP1363(der), { code: "signature_malformed" });
 * ```
 */
export function derToP1363(der: Uint8Array): Uint8Array<ArrayBuffer> {
  if (!(der instanceof Uint8Array)) throw new TypeError("signature must be a Uint8Array");
  if (der.length < 2) throw malformed("DER signature is truncated");
  if (der[0] !== TAG_SEQUENCE) throw malformed("DER signature is not a SEQUENCE");
  const length = der[1]!;
  if (length & 0x80) throw malformed("DER signature has a long-form length");
  if (2 + length > der.length) throw malformed("DER signature is truncated");
  if (2 + length < der.length) throw malformed("DER signature has trailing bytes");
  const out = new Uint8Array(P1363_LENGTH);
  const afterR = decodeInteger(der, 2, der.length, out, 0);
  const afterS = decodeInteger(der, afterR, der.length, out, SCALAR_LENGTH);
  if (afterS !== der.length) throw malformed("DER signature has extra data in its sequence");
  return out;
}
