/**
 * The source of randomness used by tessera, injectable for deterministic tests.
 *
 * @module
 */

/**
 * Fills the given array with random bytes and returns it. The default is
 * `crypto.getRandomValues`. Production code never needs another one: a custom
 * source exists so that tests can pin wire-format vectors.
 *
 * @example
 * ```ts
 * import { randomBytes, type RandomSource } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * // A fixed source for a test vector; production code keeps the default.
 * const fixed: RandomSource = (bytes) => bytes.fill(0xab);
 * assert.deepEqual(randomBytes(3, fixed), new Uint8Array([0xab, 0xab, 0xab]));
 * ```
 */
export type RandomSource = (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>;

const MAX_GET_RANDOM = 65536;

/**
 * The default random source: `crypto.getRandomValues`, chunked so that any
 * length works.
 *
 * @param bytes The array to fill.
 * @returns The same array, filled.
 *
 * @example
 * ```ts
 * import { systemRandom } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * const a = systemRandom(new Uint8Array(32));
 * const b = systemRandom(new Uint8Array(32));
 * assert.notDeepEqual(a, b);
 * ```
 */
export function systemRandom(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  for (let offset = 0; offset < bytes.length; offset += MAX_GET_RANDOM) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(bytes.length, offset + MAX_GET_RANDOM)));
  }
  return bytes;
}

/**
 * Returns `length` fresh random bytes from `source`.
 *
 * @param length How many bytes.
 * @param source The random source (default {@linkcode systemRandom}).
 * @returns A new array of random bytes.
 *
 * @example
 * ```ts
 * import { randomBytes } from "./random.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(randomBytes(16).length, 16);
 * ```
 */
export function randomBytes(
  length: number,
  source: RandomSource = systemRandom,
): Uint8Array<ArrayBuffer> {
  const out = source(new Uint8Array(length));
  if (!(out instanceof Uint8Array) || out.length !== length) {
    throw new TypeError("random source returned the wrong number of bytes");
  }
  return out;
}
