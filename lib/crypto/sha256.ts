/**
 * SHA-256 over `crypto.subtle`.
 *
 * @module
 */

/**
 * Hashes `data` with SHA-256.
 *
 * @param data The input.
 * @returns The 32-byte digest.
 *
 * @example
 * ```ts
 * import { sha256 } from "./sha256.ts";
 * import assert from "node:assert/strict";
 *
 * const d = await sha256(new TextEncoder().encode("abc"));
 * assert.equal(d[0], 0xba);
 * ```
 */
export async function sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}
