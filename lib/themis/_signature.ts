// ECDSA P-256 / SHA-256 signatures in the DER encoding Themis sends (themis-wire.md §1.3).
// Web Crypto signs and verifies P1363 (`r ‖ s`); lib/crypto/ecdsa_der.ts converts strictly.
// Private: not part of the public API.

import { derToP1363, p1363ToDer } from "../crypto/ecdsa_der.ts";
import { signP256, verifyP256 } from "../crypto/identity.ts";

/** The longest strict DER encoding of a P-256 signature. */
export const MAX_DER_SIGNATURE = 72;
/** The shortest: `30 06 02 01 r 02 01 s`. */
export const MIN_DER_SIGNATURE = 8;

/** Signs `data` and returns the strict minimal DER encoding (8 to 72 bytes). */
export async function signDer(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return p1363ToDer(await signP256(privateKey, data));
}

/**
 * Whether `der` is a strict DER signature of `data` under `publicKey`. Never throws: an
 * encoding that is not strict DER (BER lengths, padding, trailing bytes, oversized integers)
 * is `"malformed"`, a well-formed signature that does not verify is `"invalid"`.
 */
export async function verifyDer(
  publicKey: CryptoKey,
  der: Uint8Array,
  data: Uint8Array,
): Promise<"valid" | "invalid" | "malformed"> {
  let p1363: Uint8Array;
  try {
    p1363 = derToP1363(der);
  } catch {
    return "malformed";
  }
  return (await verifyP256(publicKey, p1363, data)) ? "valid" : "invalid";
}
