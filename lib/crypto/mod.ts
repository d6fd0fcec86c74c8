/**
 * Typed wrappers over `crypto.subtle`: identity keys (ECDSA P-256), ephemeral
 * ECDH P-256, HKDF-SHA256, HMAC-SHA256, AES-256-GCM, SHA-256 and randomness.
 *
 * Everything here is a thin layer over Web Crypto: no cipher, MAC, hash or
 * curve arithmetic is written by hand.
 *
 * @example
 * ```ts
 * import { hmacSign, hmacVerify, importHmacKey } from "@tessera/session/crypto";
 * import assert from "node:assert/strict";
 *
 * const key = await importHmacKey(crypto.getRandomValues(new Uint8Array(32)));
 * const mac = await hmacSign(key, new TextEncoder().encode("hello"));
 * assert.ok(await hmacVerify(key, mac, new TextEncoder().encode("hello")));
 * ```
 *
 * @module
 */

export * from "./aes_gcm.ts";
export * from "./ecdh.ts";
export * from "./hkdf.ts";
export * from "./hmac.ts";
export * from "./random.ts";
export * from "./sha256.ts";
export * from "./identity.ts";
export * from "./ecdsa_der.ts";
