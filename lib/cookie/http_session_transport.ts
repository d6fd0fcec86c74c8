/**
 * The transport interface: where a session value travels between requests
 * (a cookie, a header, or the caller's own carrier).
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";

/**
 * What a transport found on a request.
 *
 * @example
 * ```ts
 * import { cookieTransport, type TransportReadResult } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = cookieTransport({ name: "sid" });
 * const read = (cookie: string) =>
 *   transport.read(new Request("http://x/", { headers: { cookie } }));
 * const ok: TransportReadResult = await read("sid=abc; theme=dark");
 * assert.deepEqual(ok, { value: "abc", reason: null, present: ["sid"] });
 * const orphan: TransportReadResult = await read("sid.1=xyz");
 * assert.deepEqual(orphan, { value: null, reason: "cookie_chunk_missing", present: ["sid.1"] });
 * ```
 */
export interface TransportReadResult {
  /** The value carried by the request, or `null` when there is none or it was refused. */
  readonly value: string | null;
  /** Why a value that was present was refused, or `null`. */
  readonly reason: CookieErrorCode | null;
  /**
   * Transport-specific names seen on the request (e.g. every chunk cookie),
   * handed back to {@linkcode HttpSessionTransport.write} so that stale parts are
   * deleted.
   */
  readonly present: readonly string[];
}

/**
 * Options of {@linkcode HttpSessionTransport.write}.
 *
 * @example
 * ```ts
 * import { cookieTransport, type TransportWriteOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport = cookieTransport({ name: "sid" });
 * const options: TransportWriteOptions = { maxAge: 3600, present: ["sid", "sid.1"] };
 * const headers = new Headers();
 * await transport.write(headers, "abc", options);
 * const [value, stale] = headers.getSetCookie();
 * assert.ok(value!.startsWith("sid=abc; Max-Age=3600;"));
 * assert.ok(stale!.startsWith("sid.1=; Max-Age=0;")); // a chunk the new value does not need
 * ```
 */
export interface TransportWriteOptions {
  /** Seconds until the value expires; the transport may pass it on (Max-Age). */
  readonly maxAge: number;
  /**
   * The session's remember-me choice (`Session.setPersistent()`):
   * `false` asks for a browser-session cookie (no `Max-Age`), `true` for a
   * persistent one; `undefined` leaves it to the transport's default.
   * Clearing (`maxAge: 0`) ignores it.
   */
  readonly persistent?: boolean | undefined;
  /** `present` from the read of the same request. */
  readonly present: readonly string[];
  /**
   * The request this response answers, for per-request attributes such as
   * `cookieTransport({ secure: "auto" })`. `sessions()` always passes it.
   */
  readonly request?: Request;
}

/**
 * Carries a session value on requests and responses. `sessions()` calls
 * `read` once per request and `write` only when the response must change the
 * value.
 *
 * @example
 * ```ts
 * import { hmac, type HttpSessionTransport, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const transport: HttpSessionTransport = {
 *   name: "token",
 *   read: (request) =>
 *     Promise.resolve({ value: request.headers.get("x-token"), reason: null, present: [] }),
 *   write: (headers, value) => Promise.resolve(headers.set("x-token", value ?? "")),
 * };
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const handler = sessions({ transport, transformer: hmac({ key }) })((_req, _info, session) => {
 *   session.set("n", 1);
 *   return new Response("ok");
 * });
 * const response = await handler(new Request("https://example.com/"), {});
 * assert.ok(response.headers.get("x-token")!.startsWith("t1.m.0."));
 * ```
 */
export interface HttpSessionTransport {
  /** The cookie or header name; bound into transformer protection as `TransformContext.name`. */
  readonly name: string;
  /**
   * Finds the value on a request. Must never throw for bad input.
   *
   * @param request The incoming request.
   * @returns The value, or why it was refused.
   */
  read(request: Request): Promise<TransportReadResult>;
  /**
   * Puts a value (or its deletion, when `value` is `null`) on response headers.
   *
   * @param headers The mutable response headers.
   * @param value The protected value, or `null` to delete it.
   * @param options The lifetime and what the request carried.
   * @returns Nothing.
   * @throws {CookieError} `cookie_too_large` when the value exceeds the transport's budget.
   */
  write(headers: Headers, value: string | null, options: TransportWriteOptions): Promise<void>;
}
