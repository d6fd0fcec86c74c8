/**
 * The transformer interface: how a session value is protected on its way into
 * a cookie or header and checked on its way back.
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";

/**
 * Where a value is going or coming from. Built-in transformers bind both fields
 * (and their own format version) into every MAC and AEAD tag, so a value
 * cannot be moved to another cookie or used for another purpose.
 *
 * @example
 * ```ts
 * import { hmac, type TransformContext } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const signer = hmac({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const session: TransformContext = { name: "__Host-session", purpose: "session" };
 * const csrf: TransformContext = { name: "__Host-session", purpose: "csrf" };
 * const value = await signer.write("v", session);
 * assert.equal(await signer.read(value, session), "v");
 * assert.equal(await signer.read(value, csrf), null); // bound to its purpose
 * ```
 */
export interface TransformContext {
  /** The cookie or header name, e.g. `"__Host-session"`. */
  readonly name: string;
  /** What the value is for, e.g. `"session"`; defaults to `"session"` in `sessions()`. */
  readonly purpose: string;
}

/**
 * The outcome of {@linkcode SessionTransformer.inspect}.
 *
 * @example
 * ```ts
 * import { encrypt, type TransformResult } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const sealer = encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const context = { name: "sid", purpose: "session" };
 * const describe = (r: TransformResult) => (r.ok ? `value ${r.value}` : `refused ${r.code}`);
 * const sealed = await sealer.write("hi", context);
 * assert.equal(describe(await sealer.inspect(sealed, context)), "value hi");
 * const tampered = sealed.slice(0, -1) + (sealed.endsWith("A") ? "B" : "A"); // last tag bits
 * assert.equal(describe(await sealer.inspect(tampered, context)), "refused cookie_tampered");
 * ```
 */
export type TransformResult =
  | {
    readonly ok: true;
    /** The recovered inner value. */
    readonly value: string;
    /** `true` when the value was sealed under a key that is no longer current. */
    readonly stale: boolean;
  }
  | {
    readonly ok: false;
    /** Why the value was refused. */
    readonly code: CookieErrorCode;
  };

/**
 * A reversible, verifying transformation of a string value (Ktor's
 * `SessionTransportTransformer`, made async for Web Crypto).
 *
 * `read` must return `null` on *any* failure and must never throw for bad
 * input. Built-in transformers also implement `inspect`, which says why a value
 * was refused and whether it should be re-sealed under the current key.
 *
 * @example
 * ```ts
 * import { compose, hmac, type SessionTransformer } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * // Adds a prefix on write; refuses (null) any value without it on read.
 * const tagged: SessionTransformer = {
 *   write: (value) => Promise.resolve(`v:${value}`),
 *   read: (value) => Promise.resolve(value.startsWith("v:") ? value.slice(2) : null),
 * };
 * const sealer = compose(tagged, hmac({ key: crypto.getRandomValues(new Uint8Array(32)) }));
 * const context = { name: "sid", purpose: "session" };
 * assert.equal(await sealer.read(await sealer.write("hi", context), context), "hi");
 * assert.equal(await tagged.read("hi", context), null);
 * ```
 */
export interface SessionTransformer {
  /**
   * Protects `value`.
   *
   * @param value The inner value.
   * @param context The cookie name and purpose bound into the protection.
   * @returns The protected value, safe for a cookie (no `;`, `,`, space or quote).
   */
  write(value: string, context: TransformContext): Promise<string>;
  /**
   * Checks and unwraps a protected value.
   *
   * @param value The protected value.
   * @param context The cookie name and purpose expected.
   * @returns The inner value, or `null` on any failure.
   */
  read(value: string, context: TransformContext): Promise<string | null>;
  /**
   * Like `read`, with the reason of a failure and a staleness flag.
   *
   * @param value The protected value.
   * @param context The cookie name and purpose expected.
   * @returns The result.
   */
  inspect?(value: string, context: TransformContext): Promise<TransformResult>;
}
