// Soter containers (docs: themis-wire.md §1.1): a 12-byte header — 4-byte ASCII tag, u32 BE
// total size (header included), CRC-32C stored little-endian — then the data. The CRC covers
// the whole container with its own field zeroed. Private: not part of the public API.

import { ThemisError } from "../errors.ts";

/** Length of a container header. */
export const HEADER_LENGTH = 12;

/** Tags, as the four ASCII bytes read big-endian. */
export const TAG_TSPM = 0x5453504d; // "TSPM": handshake message
export const TAG_TSID = 0x54534944; // "TSID": peer id
export const TAG_UEC2 = 0x55454332; // "UEC2": P-256 public key
export const TAG_REC2 = 0x52454332; // "REC2": P-256 private key

/** CRC-32C (Castagnoli), reflected polynomial 0x82F63B78. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Feeds `bytes[start..end)` into a running (pre-inverted) CRC-32C state. */
function crcUpdate(state: number, bytes: Uint8Array, start: number, end: number): number {
  let c = state;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** CRC-32C of `bytes`: init 0xFFFFFFFF, final XOR 0xFFFFFFFF. */
export function crc32c(bytes: Uint8Array): number {
  return (crcUpdate(0xffffffff, bytes, 0, bytes.length) ^ 0xffffffff) >>> 0;
}

/** The CRC of the container `bytes[start..end)`, its crc field (bytes 8..11) taken as zeros. */
function containerCrc(bytes: Uint8Array, start: number, end: number): number {
  let c = crcUpdate(0xffffffff, bytes, start, start + 8);
  for (let i = 0; i < 4; i++) c = CRC_TABLE[c & 0xff]! ^ (c >>> 8);
  c = crcUpdate(c, bytes, start + HEADER_LENGTH, end);
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes a container header for `size` total bytes at `offset`, then its CRC once `out` is full. */
function writeHeader(out: Uint8Array, offset: number, tag: number, size: number): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, HEADER_LENGTH);
  view.setUint32(0, tag);
  view.setUint32(4, size);
  view.setUint32(8, 0);
}

function sealCrc(out: Uint8Array, offset: number, size: number): void {
  const crc = containerCrc(out, offset, offset + size);
  new DataView(out.buffer, out.byteOffset + offset + 8, 4).setUint32(0, crc, true);
}

/** Builds one container holding the concatenation of `parts`. */
export function encodeContainer(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = HEADER_LENGTH;
  for (const part of parts) size += part.length;
  if (size > 0xffffffff) throw new RangeError("container too large");
  const out = new Uint8Array(size);
  writeHeader(out, 0, tag, size);
  let offset = HEADER_LENGTH;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  sealCrc(out, 0, size);
  return out;
}

function invalid(message: string): ThemisError {
  return new ThemisError("themis_container_invalid", message);
}

/** Where one container lies in the buffer read: its tag, data start and end. */
export interface ContainerSpan {
  readonly tag: number;
  /** Offset of the first data byte. */
  readonly start: number;
  /** Offset just after the container. */
  readonly end: number;
}

/** A tag as text for messages: its four characters when they are capitals or digits, else hex. */
export function tagName(tag: number): string {
  const chars = [tag >>> 24, (tag >>> 16) & 0xff, (tag >>> 8) & 0xff, tag & 0xff];
  return chars.every((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a))
    ? String.fromCharCode(...chars)
    : `0x${(tag >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * Reads the container at `bytes[offset..]`, which must lie within `limit` (the end of the
 * enclosing container or buffer): a whole header, a size of at least 12 that does not run past
 * `limit`, the expected tag when one is given, and a matching CRC.
 *
 * @throws {ThemisError} `themis_container_invalid` for any other input.
 */
export function readContainer(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  expected: number | null,
  what: string,
): ContainerSpan {
  if (offset + HEADER_LENGTH > limit) throw invalid(`${what}: truncated container header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_LENGTH);
  const tag = view.getUint32(0);
  if (expected !== null && tag !== expected) {
    throw invalid(`${what}: expected a ${tagName(expected)} container, got ${tagName(tag)}`);
  }
  const size = view.getUint32(4);
  if (size < HEADER_LENGTH) throw invalid(`${what}: container size ${size} is below its header`);
  if (size > limit - offset) {
    throw invalid(`${what}: container of ${size} bytes overruns the ${limit - offset} available`);
  }
  const end = offset + size;
  if (view.getUint32(8, true) !== containerCrc(bytes, offset, end)) {
    throw invalid(`${what}: container checksum does not match`);
  }
  return { tag, start: offset + HEADER_LENGTH, end };
}

/**
 * Reads a container that must fill `bytes` exactly: a declared size that differs from the
 * length given is refused (Themis ignores bytes past the size; no honest sender adds any).
 *
 * @throws {ThemisError} `themis_container_invalid`.
 */
export function readWholeContainer(
  bytes: Uint8Array,
  expected: number | null,
  what: string,
): ContainerSpan {
  const span = readContainer(bytes, 0, bytes.length, expected, what);
  if (span.end !== bytes.length) {
    throw invalid(`${what}: ${bytes.length - span.end} bytes follow the container`);
  }
  return span;
}
