/**
 * The header transport: carries a session value in a request and response
 * header, for API clients that do not keep cookies.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { CookieError } from "../errors.ts";
import { isCookieValue, isToken } from "./_cookie_syntax.ts";
import type {
  HttpSessionTransport,
  TransportReadResult,
  TransportWriteOptions,
} from "./http_session_transport.ts";

/**
 * Options of {@linkcode headerTransport}.
 *
 * @example
 * ```ts
 * import { headerTransport, type HeaderTransportOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: HeaderTransportOptions = { name: "X-Api-Session", maxLength: 16 };
 * const transport = headerTransport(options);
 * assert.equal(transport.name, "x-api-session");
 * const long = new Request("http://x/", { headers: { "x-api-session": "x".repeat(17) } });
 * assert.equal((await transport.read(long)).reason, "cookie_too_large");
 * ```
 */
export interface HeaderTransportOptions {
  /** The header name, an RFC 7230 token, compared case-insensitively. Default `"X-Session"`. */
  readonly name?: string;
  /** The longest value accepted or sent, in bytes. Default 8192. */
  readonly maxLength?: number;
}

/**
 * Creates a header transport. The client sends the value it last received in
 * the request header of the same name. The response carries the header only
 * when the value changed; an empty header value tells the client to forget
 * the session (logout, or a refused value).
 *
 * The name bound into transformer protection is the lower-cased header name.
 *
 * @param options The header name and size limit.
 * @returns The transport, for `sessions({ transport })`.
 * @throws {TypeError} When the name is not a token.
 * @throws {RangeError} When `maxLength` is not a positive integer.
 *
 * @example
 * ```ts
 * import { headerTransport } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = headerTransport({ name: "X-Api-Session" });
 * const headers = new Headers();
 * await transport.write(headers, "abc", { maxAge: 60, present: [] });
 * assert.equal(headers.get("x-api-session"), "abc");
 * const request = new Request("http://x/", { headers: { "x-api-session": "abc" } });
 * assert.equal((await transport.read(request)).value, "abc");
 * ```
 */
export function headerTransport(options: HeaderTransportOptions = {}): HttpSessionTransport {
  checkKnownKeys(options, ["name", "maxLength"], "headerTransport()");
  const name = (options.name ?? "X-Session").toLowerCase();
  if (!isToken(name)) throw new TypeError("header name must be an RFC 7230 token");
  const maxLength = options.maxLength ?? 8192;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) {
    throw new RangeError("maxLength must be a positive integer");
  }

  // deno-lint-ignore require-await
  async function read(request: Request): Promise<TransportReadResult> {
    const raw = request.headers.get(name);
    const result = (
      value: string | null,
      reason: TransportReadResult["reason"],
    ): TransportReadResult => ({ value, reason, present: raw === null ? [] : [name] });
    if (raw === null || raw === "") return result(null, null);
    if (raw.length > maxLength) return result(null, "cookie_too_large");
    if (!isCookieValue(raw)) return result(null, "cookie_malformed");
    return result(raw, null);
  }

  // deno-lint-ignore require-await
  async function write(
    headers: Headers,
    value: string | null,
    options: TransportWriteOptions,
  ): Promise<void> {
    if (value === null) {
      if (options.present.length > 0) headers.set(name, "");
      return;
    }
    if (value === "" || !isCookieValue(value)) {
      throw new TypeError("a session value must be a non-empty string of cookie-octets");
    }
    if (value.length > maxLength) {
      throw new CookieError("cookie_too_large", `session value exceeds ${maxLength} bytes`);
    }
    headers.set(name, value);
  }

  return { name, read, write };
}
