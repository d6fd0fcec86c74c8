/**
 * Composition of session transformers, and the format rules every built-in
 * transformer shares: the `t1.` version prefix, the size bound checked before
 * any crypto, and the canonical context binding that goes into every MAC and
 * AEAD tag.
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";
import { CookieError } from "../errors.ts";
import { concat, utf8 } from "../crypto/_bytes.ts";
import type { SessionTransformer, TransformContext, TransformResult } from "./transformer.ts";

/**
 * The largest protected value a built-in transformer reads or writes by
 * default: 16 KiB of characters. Longer input is refused before it is split,
 * decoded or passed to any crypto.
 *
 * @example
 * ```ts
 * import { hmac } from "@tessera/session/cookie";
 * import { MAX_SEALED_LENGTH } from "./compose.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_SEALED_LENGTH, 16384);
 * const signer = hmac({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const context = { name: "sid", purpose: "session" };
 * const tooLong = "x".repeat(MAX_SEALED_LENGTH + 1);
 * const refused = { ok: false, code: "cookie_too_large" };
 * assert.deepEqual(await signer.inspect(tooLong, context), refused);
 * await assert.rejects(signer.write(tooLong, context), { code: "cookie_too_large" });
 * ```
 */
export const MAX_SEALED_LENGTH = 16384;

/**
 * The format version every built-in tessera transformer writes first.
 *
 * @example
 * ```ts
 * import { digest } from "@tessera/session/cookie";
 * import { FORMAT_VERSION } from "./compose.ts";
 * import assert from "node:assert/strict";
 *
 * const checksum = digest();
 * const context = { name: "prefs", purpose: "ui" };
 * const value = await checksum.write("dark", context);
 * assert.equal(value.split(".")[0], FORMAT_VERSION);
 * const future = value.replace(`${FORMAT_VERSION}.`, "t2.");
 * assert.deepEqual(await checksum.inspect(future, context), {
 *   ok: false,
 *   code: "cookie_unsupported_version",
 * });
 * ```
 */
export const FORMAT_VERSION = "t1";

/**
 * A transformer whose `inspect` is always present, as every built-in one's is.
 *
 * @example
 * ```ts
 * import { encrypt, hmac, type InspectingTransformer } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const key = () => crypto.getRandomValues(new Uint8Array(32));
 * const transformers: InspectingTransformer[] = [hmac({ key: key() }), encrypt({ key: key() })];
 * const context = { name: "sid", purpose: "session" };
 * for (const t of transformers) {
 *   // `inspect` needs no existence check here
 *   assert.deepEqual(await t.inspect("garbage", context), { ok: false, code: "cookie_malformed" });
 * }
 * ```
 */
export type InspectingTransformer = SessionTransformer & {
  /**
   * Like `read`, with the reason of a failure and a staleness flag.
   *
   * @param value The protected value.
   * @param context The cookie name and purpose expected.
   * @returns The result.
   */
  inspect(value: string, context: TransformContext): Promise<TransformResult>;
};

const MAX_CONTEXT_FIELD = 1024;
const VERSION_LIKE = /^t[0-9]{1,3}$/;

/** Every `CookieErrorCode`, so that a custom transformer cannot report an unknown one. */
const COOKIE_CODES: Readonly<Record<CookieErrorCode, true>> = {
  cookie_malformed: true,
  cookie_tampered: true,
  cookie_unknown_key: true,
  cookie_expired: true,
  cookie_issued_in_future: true,
  cookie_revoked: true,
  cookie_unknown_session: true,
  cookie_too_large: true,
  cookie_chunk_missing: true,
  cookie_unsupported_version: true,
  session_conflict: true,
  session_storage_failed: true,
};

/**
 * Calls `transformer.inspect` when it exists, or falls back to `read`, so that
 * every transformer (built-in or custom) yields a {@linkcode TransformResult}.
 * A custom transformer that returns `null` is reported as `cookie_tampered`
 * (it failed verification for a reason it does not say); one that throws, or
 * whose `inspect` returns something that is not a valid result (an unknown
 * code, say), is reported the same way and the error is swallowed.
 *
 * @param transformer Any session transformer.
 * @param value The protected value.
 * @param context The cookie name and purpose expected.
 * @returns The result: the inner value and a staleness flag, or the reason of the refusal.
 *
 * @example
 * ```ts
 * import { inspectWith } from "./compose.ts";
 * import assert from "node:assert/strict";
 *
 * const upper = {
 *   write: (v: string) => Promise.resolve(v.toUpperCase()),
 *   read: (v: string) => Promise.resolve(v === v.toUpperCase() ? v.toLowerCase() : null),
 * };
 * const context = { name: "sid", purpose: "session" };
 * assert.deepEqual(await inspectWith(upper, "ABC", context), { ok: true, value: "abc", stale: false });
 * assert.deepEqual(await inspectWith(upper, "abc", context), { ok: false, code: "cookie_tampered" });
 * ```
 */
export async function inspectWith(
  transformer: SessionTransformer,
  value: string,
  context: TransformContext,
): Promise<TransformResult> {
  try {
    if (typeof transformer.inspect === "function") {
      const result = await transformer.inspect(value, context);
      if (result.ok === true && typeof result.value === "string") {
        return { ok: true, value: result.value, stale: result.stale === true };
      }
      if (result.ok === false && Object.hasOwn(COOKIE_CODES, result.code)) {
        return failure(result.code);
      }
      return failure("cookie_tampered");
    }
    const read = await transformer.read(value, context);
    return typeof read === "string"
      ? { ok: true, value: read, stale: false }
      : failure("cookie_tampered");
  } catch {
    return failure("cookie_tampered");
  }
}

/**
 * Chains transformers into one. `write` applies them left to right (the last
 * one produces the outer value); `read` and `inspect` undo them right to left.
 * A refusal by any layer refuses the whole value with that layer's code, and
 * the value is stale when any layer says it is (so that a key rotated in any
 * layer leads to a re-seal). Every layer receives the same context.
 *
 * Like the built-in transformers, the composed `read` and `inspect` throw for
 * a context that is not valid (caller misuse); a layer that throws on a bad
 * value is treated as a refusal (`cookie_tampered`).
 *
 * @param transformers The layers, innermost first (at least one).
 * @returns One transformer that applies them all.
 * @throws {TypeError} When no transformer is given or one lacks `write` or `read`.
 *
 * @example
 * ```ts
 * import { compose, encrypt, hmac } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const sealer = compose(
 *   hmac({ key: crypto.getRandomValues(new Uint8Array(32)) }),
 *   encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) }),
 * );
 * const context = { name: "__Host-session", purpose: "session" };
 * const sealed = await sealer.write('{"user":42}', context);
 * assert.equal(await sealer.read(sealed, context), '{"user":42}');
 * assert.equal(await sealer.read(sealed, { name: "other", purpose: "session" }), null);
 * ```
 */
export function compose(...transformers: SessionTransformer[]): InspectingTransformer {
  if (transformers.length === 0) throw new TypeError("compose() needs at least one transformer");
  for (const t of transformers) {
    if (
      t === null || typeof t !== "object" || typeof t.write !== "function" ||
      typeof t.read !== "function"
    ) {
      throw new TypeError("compose() takes transformers with write() and read()");
    }
  }
  const layers = [...transformers];

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    contextBinding("compose", context);
    let current = value;
    let stale = false;
    for (let i = layers.length - 1; i >= 0; i--) {
      const result = await inspectWith(layers[i]!, current, context);
      if (!result.ok) return result;
      current = result.value;
      stale ||= result.stale;
    }
    return { ok: true, value: current, stale };
  };

  return {
    async write(value: string, context: TransformContext): Promise<string> {
      let current = value;
      for (const layer of layers) current = await layer.write(current, context);
      return current;
    },
    async read(value: string, context: TransformContext): Promise<string | null> {
      const result = await inspect(value, context);
      return result.ok ? result.value : null;
    },
    inspect,
  };
}

// ---------------------------------------------------------------------------
// Format rules shared by digest(), hmac() and encrypt(). Not re-exported by the
// cookie module's public surface.

/**
 * Builds a refusal result.
 *
 * @internal
 * @param code Why the value was refused.
 * @returns `{ ok: false, code }`.
 */
export function failure(code: CookieErrorCode): TransformResult {
  return { ok: false, code };
}

/**
 * Checks a context given by the caller and returns its canonical binding bytes
 * for one transformer kind:
 * `"tessera-cookie" 0x00 version 0x00 kind 0x00 u16(name) name u16(purpose) purpose`.
 * Keyed transformers append {@linkcode keyIdBinding} after it.
 *
 * @internal
 * @param kind The transformer kind label (`"digest-sha256"`, `"hmac-sha256"`, `"aes-256-gcm"`).
 * @param context The cookie name and purpose.
 * @returns The bytes to put in front of the MAC input, or to use as AAD.
 * @throws {TypeError} When `name` or `purpose` is not a well-formed string.
 * @throws {RangeError} When `name` is empty or either field exceeds 1024 UTF-8 bytes.
 */
export function contextBinding(kind: string, context: TransformContext): Uint8Array {
  return memoBinding(kind, context, "", () => {
    const name = fieldBytes(context.name, "name");
    const purpose = fieldBytes(context.purpose, "purpose");
    if (name.length === 0) throw new RangeError("context.name must not be empty");
    return concat(
      utf8(`tessera-cookie\0${FORMAT_VERSION}\0${kind}\0`),
      u16(name.length),
      name,
      u16(purpose.length),
      purpose,
    );
  });
}

/**
 * The context binding followed by the key id's binding: the AAD of
 * `encrypt()` and the MAC prefix of `hmac()`.
 *
 * @internal
 * @param kind The transformer kind label.
 * @param context The cookie name and purpose.
 * @param keyId A key id (at most 16 ASCII characters).
 * @returns The bytes (shared: never modify them).
 * @throws {TypeError} When `name` or `purpose` is not a well-formed string.
 * @throws {RangeError} When `name` is empty or either field exceeds 1024 UTF-8 bytes.
 */
export function keyedBinding(kind: string, context: TransformContext, keyId: string): Uint8Array {
  return memoBinding(
    kind,
    context,
    keyId,
    () => concat(contextBinding(kind, context), keyIdBinding(keyId)),
  );
}

/** Bindings already built, by kind, name, purpose and key id: a handful per app. */
const bindings = new Map<string, Uint8Array>();
const MAX_BINDINGS = 256;

/**
 * Builds a binding once per (kind, context, key id): every request of an app
 * uses the same few, and building one costs more than the cipher call.
 */
function memoBinding(
  kind: string,
  context: TransformContext,
  keyId: string,
  build: () => Uint8Array,
): Uint8Array {
  if (context === null || typeof context !== "object") {
    throw new TypeError("context must be an object with name and purpose");
  }
  const { name, purpose } = context;
  if (typeof name !== "string" || typeof purpose !== "string") return build(); // throws
  const memo = `${kind}\0${keyId}\0${name.length}\0${name}\0${purpose}`;
  const known = bindings.get(memo);
  if (known !== undefined) return known;
  const binding = build();
  if (bindings.size >= MAX_BINDINGS) bindings.clear();
  bindings.set(memo, binding);
  return binding;
}

/**
 * The binding of a key id: its length in one byte, then its ASCII bytes.
 *
 * @internal
 * @param keyId A key id (at most 16 ASCII characters).
 * @returns The bytes to append to the context binding.
 */
export function keyIdBinding(keyId: string): Uint8Array {
  const id = utf8(keyId);
  return concat(new Uint8Array([id.length]), id);
}

function fieldBytes(value: unknown, field: string): Uint8Array {
  if (typeof value !== "string" || !value.isWellFormed()) {
    throw new TypeError(`context.${field} must be a well-formed string`);
  }
  const bytes = utf8(value);
  if (bytes.length > MAX_CONTEXT_FIELD) {
    throw new RangeError(`context.${field} must be at most ${MAX_CONTEXT_FIELD} bytes`);
  }
  return bytes;
}

function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

/**
 * Checks a value about to be written and returns its UTF-8 bytes.
 *
 * @internal
 * @param value The value given to `write`.
 * @param maxLength The output bound of the transformer.
 * @param expansion A lower bound of output characters per input byte.
 * @returns The UTF-8 bytes.
 * @throws {TypeError} When `value` is not a well-formed string (a lone
 *   surrogate would not survive the UTF-8 round trip).
 * @throws {CookieError} `cookie_too_large` when the output cannot fit `maxLength`.
 */
export function writableBytes(value: unknown, maxLength: number, expansion: number): Uint8Array {
  if (typeof value !== "string" || !value.isWellFormed()) {
    throw new TypeError("value must be a well-formed string");
  }
  const bytes = utf8(value);
  if (Math.ceil(bytes.length * expansion) > maxLength) {
    throw new CookieError("cookie_too_large", "the protected value would exceed the size bound");
  }
  return bytes;
}

/**
 * Throws when a finished output exceeds the bound.
 *
 * @internal
 * @param output The protected value.
 * @param maxLength The bound.
 * @returns `output`.
 * @throws {CookieError} `cookie_too_large` when `output` is longer than `maxLength`.
 */
export function bounded(output: string, maxLength: number): string {
  if (output.length > maxLength) {
    throw new CookieError("cookie_too_large", "the protected value exceeds the size bound");
  }
  return output;
}

/**
 * First checks on an untrusted value, before any split or decode: a string,
 * not empty, not longer than `maxLength`. Then splits it at `.` and checks the
 * version prefix, the kind and the number of pieces.
 *
 * @internal
 * @param value The untrusted value.
 * @param maxLength The input bound.
 * @param kind The one-letter kind the transformer writes after the version.
 * @param pieces The exact number of `.`-separated pieces.
 * @returns The pieces, or the refusal code.
 */
export function splitSealed(
  value: unknown,
  maxLength: number,
  kind: string,
  pieces: number,
): string[] | CookieErrorCode {
  if (typeof value !== "string" || value.length === 0) return "cookie_malformed";
  if (value.length > maxLength) return "cookie_too_large";
  const dot = value.indexOf(".");
  const version = dot < 0 ? value : value.slice(0, dot);
  if (version !== FORMAT_VERSION) {
    return VERSION_LIKE.test(version) ? "cookie_unsupported_version" : "cookie_malformed";
  }
  const parts = value.split(".");
  if (parts.length !== pieces || parts[1] !== kind) return "cookie_malformed";
  return parts;
}

/**
 * Checks a maximum length option.
 *
 * @internal
 * @param maxLength The option value, or `undefined` for the default.
 * @returns The bound to use.
 * @throws {RangeError} When it is not an integer between 64 and 1 MiB.
 */
export function maxLengthOption(maxLength: number | undefined): number {
  if (maxLength === undefined) return MAX_SEALED_LENGTH;
  if (!Number.isSafeInteger(maxLength) || maxLength < 64 || maxLength > 1 << 20) {
    throw new RangeError("maxLength must be an integer between 64 and 1048576");
  }
  return maxLength;
}
