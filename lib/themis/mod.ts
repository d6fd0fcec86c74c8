/**
 * Talking to Themis apps: the {@linkcode themis} profile of `SecureSession`,
 * byte-compatible with Themis Secure Session as WasmThemis 0.15.0 speaks it,
 * and the Themis key containers (`UEC2`, `REC2`) as tessera identity keys.
 * No WebAssembly: everything runs on `crypto.subtle`.
 *
 * @example A server for Themis clients, keys from Themis containers
 * ```ts
 * import { SecureSession } from "@tessera/session";
 * import {
 *   exportThemisPrivateKey,
 *   exportThemisPublicKey,
 *   importThemisPrivateKey,
 *   importThemisPublicKey,
 *   themis,
 * } from "@tessera/session/themis";
 * import { generateIdentityKeyPair } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * // Containers as a Themis app stores them (WasmThemis KeyPair.privateKey / .publicKey).
 * const serverPair = await generateIdentityKeyPair({ extractable: true });
 * const serverPrivate = await exportThemisPrivateKey(serverPair.privateKey); // REC2
 * const clientPair = await generateIdentityKeyPair();
 * const clientPublic = await exportThemisPublicKey(clientPair.publicKey); // UEC2
 *
 * const clients = new Map([["mobile-42", await importThemisPublicKey(clientPublic)]]);
 * const server = new SecureSession({
 *   id: "server",
 *   privateKey: await importThemisPrivateKey(serverPrivate), // non-extractable
 *   getPublicKeyForId: (id) => clients.get(new TextDecoder().decode(id)),
 *   profile: themis,
 * });
 * await assert.rejects(server.negotiate(new Uint8Array(8)), { code: "handshake_malformed" });
 * ```
 *
 * @module
 */

export * from "./themis.ts";
export * from "./key_containers.ts";
