// Byte helpers shared by every layer. Private: not part of the public API.

const encoder = new TextEncoder();
// `ignoreBOM` keeps a leading U+FEFF as text: decoding gives back exactly the string encoded.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Returns the UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

/** UTF-8 encodes a string. */
export function utf8(value: string): Uint8Array {
  return encoder.encode(value);
}

/** Strict UTF-8 decode; throws `TypeError` on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Concatenates byte arrays into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Copies bytes into a fresh `Uint8Array` backed by its own `ArrayBuffer`. */
export function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** Non-secret equality (ids, labels). Never use it for MACs or tags. */
export function equalPublic(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex encoding. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Strict hex decoding (even length, [0-9a-fA-F] only); throws `TypeError`. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError("invalid hex string");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_REVERSE = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_REVERSE[B64URL.charCodeAt(i)] = i;

/** The runtime's own encoder (`Uint8Array.prototype.toBase64`), where there is one. */
const nativeToBase64 = (Uint8Array.prototype as { toBase64?: unknown }).toBase64 as
  | ((this: Uint8Array, options: { alphabet: "base64url"; omitPadding: true }) => string)
  | undefined;
const NATIVE_OPTIONS = { alphabet: "base64url", omitPadding: true } as const;

/** Base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  if (nativeToBase64 !== undefined) return nativeToBase64.call(bytes, NATIVE_OPTIONS);
  return toBase64UrlPortable(bytes);
}

/** {@linkcode toBase64Url} in plain JavaScript, for runtimes without `toBase64`. */
export function toBase64UrlPortable(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! +
      B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** The runtime's own decoder (`Uint8Array.fromBase64`), where there is one. */
const nativeFromBase64 = (Uint8Array as { fromBase64?: unknown }).fromBase64 as
  | ((
    text: string,
    options: { alphabet: "base64url"; lastChunkHandling: "strict" },
  ) => Uint8Array<ArrayBuffer>)
  | undefined;
const NATIVE_DECODE = { alphabet: "base64url", lastChunkHandling: "strict" } as const;
/** The alphabet alone: the native decoder would skip ASCII whitespace and accept padding. */
const BASE64URL_TEXT = /^[A-Za-z0-9_-]*$/;
const PADDING = ["", "", "==", "="];

/**
 * Strict base64url decoding without padding. Returns `null` for any character
 * outside the alphabet, an impossible length, or non-canonical trailing bits,
 * so every byte string has exactly one accepted encoding.
 */
export function fromBase64Url(text: string): Uint8Array | null {
  if (text.length % 4 === 1) return null;
  if (nativeFromBase64 === undefined) return fromBase64UrlPortable(text);
  if (!BASE64URL_TEXT.test(text)) return null;
  try {
    // Padded to whole chunks, "strict" refuses non-zero trailing bits.
    return nativeFromBase64(text + PADDING[text.length % 4]!, NATIVE_DECODE);
  } catch {
    return null;
  }
}

/** {@linkcode fromBase64Url} in plain JavaScript, for runtimes without `fromBase64`. */
export function fromBase64UrlPortable(text: string): Uint8Array | null {
  if (text.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_REVERSE[c]! : -1;
    if (v < 0) return null;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  if (bits > 0 && (value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  const text = toBase64Url(bytes).replaceAll("-", "+").replaceAll("_", "/");
  return text + "=".repeat((4 - (text.length % 4)) % 4);
}

/**
 * Strict standard base64 decoding: padding required, no whitespace, no
 * base64url characters, canonical trailing bits. Returns `null` otherwise.
 */
export function fromBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(text)) return null;
  const body = text.endsWith("==")
    ? text.slice(0, -2)
    : text.endsWith("=")
    ? text.slice(0, -1)
    : text;
  if (body.includes("=")) return null;
  return fromBase64Url(body.replaceAll("+", "-").replaceAll("/", "_"));
}

/** Writes a big-endian u16. */
export function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

/** Writes a big-endian u32. */
export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

/** Writes a big-endian u64. */
export function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n));
  return out;
}
