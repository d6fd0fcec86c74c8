/**
 * The transport interface: where a session value travels between requests
 * (a cookie, a header, or the caller's own carrier).
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";

/** What a transport found on a request. */
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

/** Options of {@linkcode HttpSessionTransport.write}. */
export interface TransportWriteOptions {
  /** Seconds until the value expires; the transport may pass it on (Max-Age). */
  readonly maxAge: number;
  /** `present` from the read of the same request. */
  readonly present: readonly string[];
}

/**
 * Carries a session value on requests and responses. `sessions()` calls
 * `read` once per request and `write` only when the response must change the
 * value.
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
