/**
 * The cookie transport: carries a session value in a cookie with secure
 * defaults, splitting values too large for one cookie into numbered chunks.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { CookieError } from "../errors.ts";
import { concat, fromBase64Url, fromUtf8, toBase64Url, utf8 } from "../crypto/_bytes.ts";
import { sha256 } from "../crypto/sha256.ts";
import {
  type CookieAttributes,
  isAttributeValue,
  isCookieValue,
  isDomain,
  isToken,
  parseCookieHeader,
  serializeCookie,
} from "./_cookie_syntax.ts";
import type {
  HttpSessionTransport,
  TransportReadResult,
  TransportWriteOptions,
} from "./http_session_transport.ts";

/**
 * Options of {@linkcode cookieTransport}.
 *
 * @example
 * ```ts
 * import { cookieTransport, type CookieTransportOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: CookieTransportOptions = { name: "sid", sameSite: "Strict", persistent: false };
 * const transport = cookieTransport(options);
 * const headers = new Headers();
 * await transport.write(headers, "abc", { maxAge: 60, present: [] });
 * assert.equal(headers.get("set-cookie"), "sid=abc; Path=/; Secure; HttpOnly; SameSite=Strict");
 * ```
 */
export interface CookieTransportOptions {
  /**
   * The cookie name, an RFC 6265 token. Default `"__Host-session"`: the
   * `__Host-` prefix makes browsers refuse the cookie unless it is Secure, has
   * `Path=/` and no Domain, so a sibling subdomain cannot plant or shadow it.
   */
  readonly name?: string;
  /** The Path attribute. Default `"/"`. */
  readonly path?: string;
  /** The Domain attribute. Default none (host-only cookie). */
  readonly domain?: string;
  /**
   * The Secure attribute. Default `true`.
   *
   * `"auto"` is for development on `http://localhost`: Secure is left off
   * only when the request is plain `http:` to a loopback host (`localhost`,
   * `127.0.0.0/8`, `[::1]`), and set for everything else, including
   * `http:` to any other host. The decision uses the request that
   * `sessions()` hands to {@linkcode HttpSessionTransport.write}; a write
   * without a request is Secure. `"auto"` cannot be combined with a
   * `__Host-`/`__Secure-` name, `SameSite=None` or Partitioned (all need
   * Secure on every response).
   */
  readonly secure?: boolean | "auto";
  /**
   * Whether a proxy in front of the server sets `X-Forwarded-Proto`.
   * Default `false`: the header is ignored. When `true`, a first value of
   * `https` counts as an https request for `secure: "auto"`. The header can
   * only add Secure, never remove it, so a forged value cannot weaken a
   * cookie.
   */
  readonly trustProxy?: boolean;
  /** The HttpOnly attribute. Default `true`. */
  readonly httpOnly?: boolean;
  /** The SameSite attribute. Default `"Lax"`; `"None"` requires `secure`. */
  readonly sameSite?: "Strict" | "Lax" | "None";
  /** The Partitioned attribute (CHIPS). Default `false`; requires `secure`. */
  readonly partitioned?: boolean;
  /**
   * Send Max-Age so the cookie survives a browser restart until the session's
   * absolute expiry. Default `true`; `false` makes a browser-session cookie.
   * A session's own remember-me choice (`session.setPersistent()`) overrides it.
   */
  readonly persistent?: boolean;
  /**
   * The largest `name=value` of one cookie, in bytes. Default and maximum
   * 4096, what every browser accepts. Larger values are split into chunks.
   */
  readonly maxCookieSize?: number;
  /**
   * The most cookies one value may occupy (the hard budget). Default 4, at
   * most 20. Keep the whole Cookie header under proxies' limits (often 8 KiB).
   */
  readonly maxChunks?: number;
  /**
   * Try `deflate-raw` compression when a value does not fit in one cookie, and
   * keep it when it is shorter. Default `true`. Encrypted values do not
   * compress; encoded but unencrypted JSON does.
   */
  readonly compress?: boolean;
}

const HEADER = /^~([pz])([1-9][0-9]?)\.([A-Za-z0-9_-]{8})\./;
/** Room reserved in the first chunk for `~` flag count `.` tag `.`. */
const HEADER_ROOM = 14;
/** The longest decompressed value accepted. */
const MAX_INFLATED = 64 * 1024;

/** Every option `cookieTransport()` reads. */
const COOKIE_TRANSPORT_OPTIONS = [
  "name",
  "path",
  "domain",
  "secure",
  "trustProxy",
  "httpOnly",
  "sameSite",
  "partitioned",
  "persistent",
  "maxCookieSize",
  "maxChunks",
  "compress",
] as const satisfies readonly (keyof CookieTransportOptions)[];

/**
 * Creates a cookie transport.
 *
 * A value that fits is sent as one plain cookie `name=value`. A larger value
 * is optionally compressed (when that makes it shorter) and split into
 * `name`, `name.1`, `name.2`, …: the first carries a small header
 * `~<p|z><count>.<tag>.` naming the compression flag, the number of chunks and
 * a check of the whole, so a missing or mixed-up chunk is detected as
 * `cookie_chunk_missing`. All chunks are written together, and chunks the
 * request carried that the new value does not need are deleted.
 *
 * Reading never throws: the Cookie header is parsed strictly and boundedly
 * (junk pairs are ignored) and any problem becomes a `reason`.
 *
 * With `secure: "auto"` the Secure attribute is decided per request (see
 * {@linkcode CookieTransportOptions.secure}): only plain `http:` to a
 * loopback host, as in local development, drops it.
 *
 * @param options Cookie name, attributes and size budget.
 * @returns The transport, for `sessions({ transport })`.
 * @throws {TypeError} When the name or an attribute is invalid, or the
 *   `__Host-` rules (Secure, `Path=/`, no Domain) or `__Secure-` rule (Secure)
 *   are broken, or SameSite=None or Partitioned lacks Secure. `secure: "auto"`
 *   counts as lacking Secure for these rules.
 * @throws {RangeError} When `maxCookieSize` or `maxChunks` is out of range.
 *
 * @example
 * ```ts
 * import { cookieTransport } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = cookieTransport({ name: "__Host-sid" });
 * const headers = new Headers();
 * await transport.write(headers, "abc", { maxAge: 60, present: [] });
 * assert.equal(
 *   headers.get("set-cookie"),
 *   "__Host-sid=abc; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax",
 * );
 * const read = await transport.read(new Request("http://x/", { headers: { cookie: "__Host-sid=abc" } }));
 * assert.equal(read.value, "abc");
 *
 * assert.throws(() => cookieTransport({ name: "__Host-sid", domain: "example.com" }), TypeError);
 * ```
 *
 * @example Development on http://localhost
 * ```ts
 * import { cookieTransport } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = cookieTransport({ name: "sid", secure: "auto" });
 * const cookieFor = async (request: Request) => {
 *   const headers = new Headers();
 *   await transport.write(headers, "abc", { maxAge: 60, present: [], request });
 *   return headers.get("set-cookie")!;
 * };
 * assert.ok(!(await cookieFor(new Request("http://localhost:8000/"))).includes("Secure"));
 * assert.ok((await cookieFor(new Request("https://localhost/"))).includes("; Secure"));
 * assert.ok((await cookieFor(new Request("http://example.com/"))).includes("; Secure"));
 * // Prefixed names need Secure on every response.
 * assert.throws(() => cookieTransport({ name: "__Host-sid", secure: "auto" }), TypeError);
 * ```
 *
 * @example Behind a TLS-terminating proxy
 * ```ts
 * import { cookieTransport } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = cookieTransport({ name: "sid", secure: "auto", trustProxy: true });
 * const request = new Request("http://127.0.0.1:8000/", {
 *   headers: { "x-forwarded-proto": "https" },
 * });
 * const headers = new Headers();
 * await transport.write(headers, "abc", { maxAge: 60, present: [], request });
 * assert.ok(headers.get("set-cookie")!.includes("; Secure"));
 * ```
 */
export function cookieTransport(options: CookieTransportOptions = {}): HttpSessionTransport {
  checkKnownKeys(options, COOKIE_TRANSPORT_OPTIONS, "cookieTransport()", {
    maxAge: "persistent (lifetimes are sessions() options)",
    expires: "persistent (lifetimes are sessions() options)",
    cookieName: "name",
  });
  const name = options.name ?? "__Host-session";
  const secure = options.secure ?? true;
  if (secure !== true && secure !== false && secure !== "auto") {
    throw new TypeError('secure must be true, false or "auto"');
  }
  const trustProxy = options.trustProxy ?? false;
  if (typeof trustProxy !== "boolean") throw new TypeError("trustProxy must be a boolean");
  const attributes: CookieAttributes = {
    path: options.path ?? "/",
    domain: options.domain,
    secure: secure === true,
    httpOnly: options.httpOnly ?? true,
    sameSite: options.sameSite ?? "Lax",
    partitioned: options.partitioned ?? false,
  };
  validate(name, attributes, secure === "auto");
  // "auto": Secure unless this request is plain http to a loopback host.
  const secured: CookieAttributes = { ...attributes, secure: secure !== false };
  const attributesFor = (request: Request | undefined): CookieAttributes =>
    secure === "auto" && request !== undefined && !autoSecure(request, trustProxy)
      ? attributes
      : secured;
  const persistent = options.persistent ?? true;
  const compress = options.compress ?? true;
  const maxCookieSize = options.maxCookieSize ?? 4096;
  const maxChunks = options.maxChunks ?? 4;
  if (!Number.isSafeInteger(maxChunks) || maxChunks < 1 || maxChunks > 20) {
    throw new RangeError("maxChunks must be an integer from 1 to 20");
  }
  if (!Number.isSafeInteger(maxCookieSize) || maxCookieSize > 4096) {
    throw new RangeError("maxCookieSize must be an integer of at most 4096");
  }
  // Room for data in the first chunk and in each later chunk (`name.NN=`).
  const firstRoom = maxCookieSize - name.length - 1 - HEADER_ROOM;
  const laterRoom = maxCookieSize - name.length - 4;
  if (firstRoom < 64) throw new RangeError("maxCookieSize is too small for this cookie name");

  const chunkName = (i: number): string => (i === 0 ? name : `${name}.${i}`);
  const isOurs = (key: string): boolean =>
    key === name ||
    (key.startsWith(`${name}.`) && /^[1-9][0-9]?$/.test(key.slice(name.length + 1)));

  async function read(request: Request): Promise<TransportReadResult> {
    const cookies = parseCookieHeader(request.headers.get("cookie"));
    const present = [...cookies.keys()].filter(isOurs);
    const result = (
      value: string | null,
      reason: TransportReadResult["reason"],
    ): TransportReadResult => ({
      value,
      reason,
      present,
    });
    const first = cookies.get(name);
    if (first === undefined) {
      return result(null, present.length > 0 ? "cookie_chunk_missing" : null);
    }
    if (name.length + 1 + first.length > maxCookieSize) return result(null, "cookie_too_large");
    if (first === "") return result(null, "cookie_malformed");
    if (!first.startsWith("~")) return result(first, null);

    const header = HEADER.exec(first);
    if (header === null) return result(null, "cookie_malformed");
    const [prefix, flag, countText, tag] = header as unknown as [string, string, string, string];
    const count = Number(countText);
    if (count > maxChunks) return result(null, "cookie_too_large");
    let data = first.slice(prefix.length);
    for (let i = 1; i < count; i++) {
      const part = cookies.get(chunkName(i));
      if (part === undefined || part === "") return result(null, "cookie_chunk_missing");
      if (chunkName(i).length + 1 + part.length > maxCookieSize) {
        return result(null, "cookie_too_large");
      }
      data += part;
    }
    if ((await checkTag(data)) !== tag) return result(null, "cookie_chunk_missing");
    if (flag === "p") return result(data, null);
    const packed = fromBase64Url(data);
    if (packed === null) return result(null, "cookie_malformed");
    const inflated = await inflate(packed, MAX_INFLATED);
    if (inflated === "too_large") return result(null, "cookie_too_large");
    if (inflated === null) return result(null, "cookie_malformed");
    let value: string;
    try {
      value = fromUtf8(inflated);
    } catch {
      return result(null, "cookie_malformed");
    }
    return isCookieValue(value) && value !== ""
      ? result(value, null)
      : result(null, "cookie_malformed");
  }

  async function write(
    headers: Headers,
    value: string | null,
    options: TransportWriteOptions,
  ): Promise<void> {
    const written = new Set<string>();
    const attributes = attributesFor(options.request);
    if (value !== null) {
      if (value === "" || !isCookieValue(value)) {
        throw new TypeError("a session value must be a non-empty string of cookie-octets");
      }
      const maxAge = (options.persistent ?? persistent)
        ? Math.max(1, Math.floor(options.maxAge))
        : undefined;
      const parts = await split(value);
      parts.forEach((part, i) => {
        written.add(chunkName(i));
        headers.append("set-cookie", serializeCookie(chunkName(i), part, attributes, maxAge));
      });
    }
    for (const stale of options.present) {
      if (!written.has(stale) && isOurs(stale)) {
        headers.append("set-cookie", serializeCookie(stale, "", attributes, 0));
      }
    }
  }

  async function split(value: string): Promise<string[]> {
    if (!value.startsWith("~") && name.length + 1 + value.length <= maxCookieSize) return [value];
    let flag = "p";
    let data = value;
    if (compress) {
      const packed = toBase64Url(await deflate(utf8(value)));
      if (packed.length < value.length) {
        flag = "z";
        data = packed;
      }
    }
    const count = 1 + Math.ceil(Math.max(0, data.length - firstRoom) / laterRoom);
    if (count > maxChunks) {
      throw new CookieError(
        "cookie_too_large",
        `session value needs ${count} cookies; the budget is ${maxChunks}`,
      );
    }
    const parts = [`~${flag}${count}.${await checkTag(data)}.${data.slice(0, firstRoom)}`];
    for (let offset = firstRoom; offset < data.length; offset += laterRoom) {
      parts.push(data.slice(offset, offset + laterRoom));
    }
    return parts;
  }

  return { name, read, write };
}

/**
 * Whether `secure: "auto"` sets Secure for this request: always, except for
 * plain `http:` to a loopback host (and then still when a trusted proxy says
 * the client used https). The header can only add Secure.
 */
function autoSecure(request: Request, trustProxy: boolean): boolean {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return true;
  }
  if (url.protocol !== "http:" || !isLoopback(url.hostname)) return true;
  if (!trustProxy) return false;
  const forwarded = request.headers.get("x-forwarded-proto");
  return forwarded?.split(",")[0]?.trim().toLowerCase() === "https";
}

/** `localhost`, `127.0.0.0/8` or `[::1]`, as the URL parser normalizes them. */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function validate(name: string, a: CookieAttributes, auto: boolean): void {
  if (!isToken(name)) throw new TypeError("cookie name must be an RFC 6265 token");
  if (!a.path.startsWith("/") || !isAttributeValue(a.path)) {
    throw new TypeError("cookie path must start with '/' and contain no ';' or controls");
  }
  if (a.domain !== undefined && !isDomain(a.domain)) throw new TypeError("invalid cookie domain");
  if (!["Strict", "Lax", "None"].includes(a.sameSite)) {
    throw new TypeError("sameSite must be 'Strict', 'Lax' or 'None'");
  }
  // Browsers match the prefixes without regard to case (RFC 6265bis).
  const lower = name.toLowerCase();
  if (auto) {
    // "auto" drops Secure on http://localhost, where browsers refuse these cookies.
    if (lower.startsWith("__host-") || lower.startsWith("__secure-")) {
      throw new TypeError(
        'secure: "auto" cannot be used with a __Host- or __Secure- cookie name ' +
          "(they must be Secure on every response); choose a name without the prefix " +
          '(e.g. name: "session") or keep secure: true',
      );
    }
    if (a.sameSite === "None") {
      throw new TypeError('SameSite=None requires secure: true, not "auto"');
    }
    if (a.partitioned) throw new TypeError('Partitioned requires secure: true, not "auto"');
  }
  if (lower.startsWith("__host-") && (!a.secure || a.path !== "/" || a.domain !== undefined)) {
    throw new TypeError("a __Host- cookie must be Secure, have Path=/ and no Domain");
  }
  if (lower.startsWith("__secure-") && !a.secure) {
    throw new TypeError("a __Secure- cookie must be Secure");
  }
  if (a.sameSite === "None" && !a.secure) throw new TypeError("SameSite=None requires Secure");
  if (a.partitioned && !a.secure) throw new TypeError("Partitioned requires Secure");
}

/** A short check of the assembled chunk data (not a security measure: the transformer is). */
async function checkTag(data: string): Promise<string> {
  return toBase64Url(await sha256(utf8(data))).slice(0, 8);
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The most bytes one compressed byte can inflate to: a deflate match of 258
 * bytes takes at least 2 bits, 4 to a byte (RFC 1951's 1032:1 bound).
 */
const DEFLATE_MAX_RATIO = 1032;
/**
 * Compressed bytes handed to the decompressor per step (47): each step
 * inflates to at most 47 × 1032 bytes plus one 258-byte match begun in the
 * step before, under 48 KiB, so a bomb's output is never produced at once.
 */
const INFLATE_STEP = Math.floor(48 * 1024 / DEFLATE_MAX_RATIO);

/**
 * Inflates `bytes` in bounded steps, stopping as soon as the output passes
 * `limit`: the compressed input is fed {@linkcode INFLATE_STEP} bytes at a
 * time, and only when the output is read, so at most `limit` plus one step's
 * output (under 48 KiB) is ever inflated or held, whatever the input's ratio.
 * Checking the size after inflating the whole input would let 16 KB of
 * cookie inflate to 12 MB before being refused.
 */
async function inflate(bytes: Uint8Array, limit: number): Promise<Uint8Array | "too_large" | null> {
  let offset = 0;
  // A pull source with no queue: the next step is cut only when the
  // decompressor asks for input, which it does only when its output is read.
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + INFLATE_STEP));
      offset += INFLATE_STEP;
    },
  }, { highWaterMark: 0 });
  const reader = input.pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        // Stop now: cancelling also cancels the input, so no further step runs.
        await reader.cancel().catch(() => {});
        return "too_large";
      }
      chunks.push(value);
    }
  } catch {
    return null;
  } finally {
    reader.releaseLock();
  }
  return concat(...chunks);
}
