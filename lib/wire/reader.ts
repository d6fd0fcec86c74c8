/**
 * A bounded binary reader: every read checks the bytes that remain, and a
 * short or malformed input becomes one typed error chosen by the caller.
 *
 * @module
 */

/**
 * Builds the error a {@linkcode Reader} throws when its input is malformed.
 *
 * @example
 * ```ts
 * import { type MalformedError, Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * const malformed: MalformedError = (message) => new SyntaxError(`bad message: ${message}`);
 * const reader = new Reader(new Uint8Array([0, 5, 1]), malformed); // announces 5 bytes, has 1
 * assert.throws(() => reader.vector16(16), SyntaxError);
 * ```
 */
export type MalformedError = (message: string) => Error;

/**
 * Reads big-endian integers and byte strings from a `Uint8Array` without ever
 * reading past its end.
 *
 * @example
 * ```ts
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([0, 2, 7, 9]), (m) => new RangeError(m));
 * assert.deepEqual(r.vector16(10), new Uint8Array([7, 9]));
 * r.end();
 * ```
 */
export class Reader {
  #bytes: Uint8Array;
  #offset = 0;
  #malformed: MalformedError;

  /**
   * Creates a reader.
   *
   * @param bytes The input; it is read in place, not copied.
   * @param malformed Builds the error thrown for short or invalid input.
   */
  constructor(bytes: Uint8Array, malformed: MalformedError) {
    this.#bytes = bytes;
    this.#malformed = malformed;
  }

  /** How many bytes were read so far. */
  get offset(): number {
    return this.#offset;
  }

  /** How many bytes remain. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /**
   * Reads exactly `length` bytes (a view into the input).
   *
   * @param length How many bytes.
   * @returns The bytes.
   */
  bytes(length: number): Uint8Array {
    if (length < 0 || length > this.remaining) throw this.#malformed("truncated input");
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  /**
   * Reads a u8.
   *
   * @returns The value.
   */
  u8(): number {
    return this.bytes(1)[0]!;
  }

  /**
   * Reads a big-endian u16.
   *
   * @returns The value.
   */
  u16(): number {
    const b = this.bytes(2);
    return (b[0]! << 8) | b[1]!;
  }

  /**
   * Reads a big-endian u32.
   *
   * @returns The value.
   */
  u32(): number {
    const b = this.bytes(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /**
   * Reads a big-endian u64.
   *
   * @returns The value.
   */
  u64(): bigint {
    const b = this.bytes(8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  }

  /**
   * Reads a byte string with a u8 length prefix, bounded by `max`.
   *
   * @param max The largest length accepted.
   * @param min The smallest length accepted (default 0).
   * @returns The bytes.
   */
  vector8(max: number, min = 0): Uint8Array {
    const length = this.u8();
    if (length < min || length > max) throw this.#malformed("length out of bounds");
    return this.bytes(length);
  }

  /**
   * Reads a byte string with a big-endian u16 length prefix, bounded by `max`.
   *
   * @param max The largest length accepted.
   * @param min The smallest length accepted (default 0).
   * @returns The bytes.
   */
  vector16(max: number, min = 0): Uint8Array {
    const length = this.u16();
    if (length < min || length > max) throw this.#malformed("length out of bounds");
    return this.bytes(length);
  }

  /**
   * Reads everything that remains.
   *
   * @returns The bytes.
   */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** Throws unless every byte was read (no trailing bytes). */
  end(): void {
    if (this.remaining !== 0) throw this.#malformed("trailing bytes");
  }
}
