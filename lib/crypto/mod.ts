/**
 * Identity keys: the long-term ECDSA P-256 key pairs that sessions
 * authenticate with. Generate them, import and export them (PEM, DER, JWK,
 * raw points), and compute the public-key fingerprint used in logs, pinning
 * and ticket stores. Private keys are non-extractable unless asked otherwise.
 *
 * @example
 * ```ts
 * import {
 *   exportPublicKeyPem,
 *   formatFingerprint,
 *   generateIdentityKeyPair,
 *   importPublicKey,
 *   publicKeyFingerprint,
 * } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const { publicKey } = await generateIdentityKeyPair();
 * const pem = await exportPublicKeyPem(publicKey);
 * assert.ok(pem.startsWith("-----BEGIN PUBLIC KEY-----"));
 * const again = await importPublicKey(pem);
 * assert.equal(
 *   formatFingerprint(await publicKeyFingerprint(again)),
 *   formatFingerprint(await publicKeyFingerprint(publicKey)),
 * );
 * ```
 *
 * @module
 */

export {
  exportPrivateKey,
  exportPrivateKeyJwk,
  exportPrivateKeyPem,
  type ExportPrivateKeyPemOptions,
  exportPublicKey,
  exportPublicKeyJwk,
  exportPublicKeyPem,
  formatFingerprint,
  generateIdentityKeyPair,
  type GenerateIdentityOptions,
  type IdentityKeyPair,
  importPrivateKey,
  type ImportPrivateKeyOptions,
  importPublicKey,
  type PrivateKeyFormat,
  type PublicKeyExportFormat,
  publicKeyFingerprint,
  type PublicKeyFormat,
  publicKeyFromPrivate,
  type PublicKeyInput,
} from "./identity.ts";
