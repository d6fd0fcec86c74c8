// SEC1 / RFC 5915 ECPrivateKey for P-256: the `EC PRIVATE KEY` that `openssl ecparam -genkey`
// writes. Web Crypto reads PKCS#8 only, so a SEC1 key is checked here and rewrapped as PKCS#8.
// Private: not part of the public API.
//
//   ECPrivateKey ::= SEQUENCE {
//     version        INTEGER { ecPrivkeyVer1(1) },
//     privateKey     OCTET STRING,                      -- the scalar, 32 bytes for P-256
//     parameters [0] ECParameters {{ NamedCurve }} OPTIONAL,
//     publicKey  [1] BIT STRING OPTIONAL }

import { KeyError } from "../errors.ts";
import { encodeTlv, OID_EC_PUBLIC_KEY, OID_P256, readTlv, TAG } from "./_der.ts";
import { equalPublic } from "./_bytes.ts";

/** Length of a P-256 scalar. */
const SCALAR_LENGTH = 32;
const VERSION_1 = new Uint8Array([0x01]);
const VERSION_0 = new Uint8Array([0x00]);

/** The content of a P-256 ECPrivateKey. */
export interface Sec1Key {
  /** The 32-byte private scalar. */
  readonly d: Uint8Array;
  /** The public point as written (65 bytes uncompressed or 33 compressed), or `null`. */
  readonly publicPoint: Uint8Array | null;
}

function invalid(message: string): KeyError {
  return new KeyError("key_invalid", message);
}

/**
 * Checks ECParameters that span `der[start..end)`: the named curve P-256 passes;
 * another named curve, explicit parameters or implicitCA is `key_unsupported`.
 */
export function checkNamedCurve(der: Uint8Array, start = 0, end = der.length): void {
  const element = readTlv(der, start, end);
  if (!element || element.end !== end) throw invalid("malformed EC parameters");
  if (element.tag === TAG.OID) {
    if (equalPublic(der.subarray(start, end), OID_P256)) return;
    throw new KeyError("key_unsupported", "the key is on another curve than P-256");
  }
  if (element.tag === TAG.SEQUENCE || element.tag === 0x05) {
    throw new KeyError(
      "key_unsupported",
      "explicit EC parameters are not supported; write the key with the named curve " +
        "(openssl ec -param_enc named_curve)",
    );
  }
  throw invalid("malformed EC parameters");
}

/**
 * Decodes a DER ECPrivateKey. The parameters, when present, must name P-256;
 * when absent the key is taken to be P-256.
 *
 * @throws {KeyError} `key_invalid` for malformed DER, `key_unsupported` for another curve.
 */
export function decodeSec1(der: Uint8Array): Sec1Key {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== TAG.SEQUENCE || outer.end !== der.length) {
    throw invalid("not a DER ECPrivateKey");
  }
  const version = readTlv(der, outer.start, outer.end);
  if (
    !version || version.tag !== TAG.INTEGER ||
    !equalPublic(der.subarray(version.start, version.end), VERSION_1)
  ) {
    throw invalid("ECPrivateKey version is not 1");
  }
  const scalar = readTlv(der, version.end, outer.end);
  if (!scalar || scalar.tag !== TAG.OCTET_STRING) throw invalid("ECPrivateKey has no private key");
  let offset = scalar.end;
  let field = offset < outer.end ? readTlv(der, offset, outer.end) : null;
  if (offset < outer.end && !field) throw invalid("malformed ECPrivateKey");
  // The curve first: a P-384 key must read as another curve, not as a scalar of the wrong length.
  if (field && field.tag === TAG.CONTEXT_0) {
    checkNamedCurve(der, field.start, field.end);
    offset = field.end;
    field = offset < outer.end ? readTlv(der, offset, outer.end) : null;
    if (offset < outer.end && !field) throw invalid("malformed ECPrivateKey");
  }
  if (scalar.end - scalar.start !== SCALAR_LENGTH) {
    throw invalid("ECPrivateKey private key is not 32 bytes");
  }
  let publicPoint: Uint8Array | null = null;
  if (field && field.tag === TAG.CONTEXT_1) {
    const bits = readTlv(der, field.start, field.end);
    if (!bits || bits.tag !== TAG.BIT_STRING || bits.end !== field.end) {
      throw invalid("malformed ECPrivateKey public key");
    }
    const point = der.subarray(bits.start + 1, bits.end);
    const shapeOk = (point.length === 65 && point[0] === 0x04) ||
      (point.length === 33 && (point[0] === 0x02 || point[0] === 0x03));
    if (der[bits.start] !== 0 || !shapeOk) throw invalid("malformed ECPrivateKey public key");
    publicPoint = point.slice();
    offset = field.end;
  }
  if (offset !== outer.end) throw invalid("unexpected data in ECPrivateKey");
  return { d: der.slice(scalar.start, scalar.end), publicPoint };
}

/**
 * Wraps a P-256 scalar as PKCS#8 DER (id-ecPublicKey, prime256v1) with no
 * public key: the engine derives the point, which the caller then compares.
 */
export function scalarToPkcs8(d: Uint8Array): Uint8Array<ArrayBuffer> {
  const ecPrivateKey = encodeTlv(
    TAG.SEQUENCE,
    encodeTlv(TAG.INTEGER, VERSION_1),
    encodeTlv(TAG.OCTET_STRING, d),
  );
  return encodeTlv(
    TAG.SEQUENCE,
    encodeTlv(TAG.INTEGER, VERSION_0),
    encodeTlv(TAG.SEQUENCE, OID_EC_PUBLIC_KEY, OID_P256),
    encodeTlv(TAG.OCTET_STRING, ecPrivateKey),
  );
}

/**
 * Encodes a P-256 ECPrivateKey as OpenSSL writes it: version 1, the scalar,
 * the named curve and the uncompressed public point.
 */
export function encodeSec1(d: Uint8Array, point: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeTlv(
    TAG.SEQUENCE,
    encodeTlv(TAG.INTEGER, VERSION_1),
    encodeTlv(TAG.OCTET_STRING, d),
    encodeTlv(TAG.CONTEXT_0, OID_P256),
    encodeTlv(TAG.CONTEXT_1, encodeTlv(TAG.BIT_STRING, new Uint8Array([0]), point)),
  );
}
