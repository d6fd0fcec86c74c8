// A bounded DER reader and writer for the few key structures identity keys need (SPKI, PKCS#8,
// SEC1 ECPrivateKey). Private: not part of the public API.

import { concat } from "./_bytes.ts";

/** `OBJECT IDENTIFIER 1.2.840.10045.2.1` (id-ecPublicKey), tag and length included. */
export const OID_EC_PUBLIC_KEY = new Uint8Array([
  0x06,
  0x07,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x02,
  0x01,
]);

/** `OBJECT IDENTIFIER 1.2.840.10045.3.1.7` (prime256v1, P-256), tag and length included. */
export const OID_P256 = new Uint8Array([
  0x06,
  0x08,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x03,
  0x01,
  0x07,
]);

/** DER tags used by the key structures. */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  /** `[0]` constructed, context-specific. */
  CONTEXT_0: 0xa0,
  /** `[1]` constructed, context-specific. */
  CONTEXT_1: 0xa1,
} as const;

/** One DER element: its tag, and where its content starts and ends in the buffer read. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Reads one DER tag-length header at `offset`. Returns `null` unless it is a
 * single-byte tag with a definite, minimally encoded length (at most two length
 * bytes) whose content fits before `limit` (default: the end of `der`).
 */
export function readTlv(der: Uint8Array, offset: number, limit = der.length): Tlv | null {
  if (offset + 2 > limit) return null;
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) return null;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 2 || start + count > limit) return null;
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | der[start + i]!;
    start += count;
    // DER: the long form only above 127, and no leading zero length byte.
    if (length < 0x80 || (count === 2 && length < 0x100)) return null;
  }
  const end = start + length;
  return end <= limit ? { tag, start, end } : null;
}

/** Encodes one DER element; the content is at most 65535 bytes. */
export function encodeTlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(...content);
  const n = body.length;
  if (n > 0xffff) throw new RangeError("DER content is too long");
  const header = n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : [tag, 0x82, n >> 8, n & 0xff];
  return concat(new Uint8Array(header), body);
}
