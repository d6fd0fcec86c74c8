/**
 * Talking to Themis apps: the {@linkcode themis} profile of `SecureSession`,
 * byte-compatible with Themis Secure Session as WasmThemis 0.15.0 speaks it,
 * and the Themis key containers (`UEC2`, `REC2`) as tessera identity keys.
 * No WebAssembly: everything runs on `crypto.subtle`.
 *
 * @example A server for Themis clients, keys from Themis containers
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import {
 *   exportThemisPrivateKey,
 *   exportThemisPublicKey,
 *   importThemisPrivateKey,
 *   importThemisPublicKey,
 *   themis,
 * } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * // Containers as Themis apps store them (WasmThemis KeyPair.privateKey and .publicKey).
 * const made = {
 *   server: await generateIdentityKeyPair({ extractable: true }),
 *   app: await generateIdentityKeyPair({ extractable: true }),
 * };
 * const serverRec2 = await exportThemisPrivateKey(made.server.privateKey);
 * const serverUec2 = await exportThemisPublicKey(made.server.publicKey);
 * const appRec2 = await exportThemisPrivateKey(made.app.privateKey);
 * const appUec2 = await exportThemisPublicKey(made.app.publicKey);
 *
 * const known = new Map([
 *   ["server", await importThemisPublicKey(serverUec2)],
 *   ["mobile-42", await importThemisPublicKey(appUec2)],
 * ]);
 * const getPublicKeyForId = (id: Uint8Array) => known.get(new TextDecoder().decode(id));
 * const server = new SecureSession({
 *   id: "server",
 *   privateKey: await importThemisPrivateKey(serverRec2), // non-extractable
 *   getPublicKeyForId,
 *   profile: themis,
 * });
 * // Here the app is a tessera session too; a WasmThemis one sends the same bytes.
 * const app = new SecureSession({
 *   id: "mobile-42",
 *   privateKey: await importThemisPrivateKey(appRec2),
 *   getPublicKeyForId,
 *   profile: themis,
 * });
 * let message: Uint8Array | null = await app.connectRequest();
 * while (message) {
 *   message = await server.negotiate(message);
 *   if (message) message = await app.negotiate(message);
 * }
 * assert.equal(new TextDecoder().decode(server.peerId!), "mobile-42");
 * const wrapped = await app.wrap(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode((await server.unwrap(wrapped))!), "hello");
 * ```
 *
 * @module
 */

export * from "./themis.ts";
export * from "./key_containers.ts";
