/**
 * Bounded binary decoding shared by the protocol profiles.
 *
 * @example
 * ```ts
 * import { Reader } from "@tessera/session/wire";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([1]), (m) => new RangeError(m));
 * assert.equal(r.u8(), 1);
 * assert.throws(() => r.u8(), RangeError);
 * ```
 *
 * @module
 */

export * from "./reader.ts";
