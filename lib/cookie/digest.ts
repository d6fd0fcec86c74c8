/**
 * The `digest()` transformer: a salted SHA-256 checksum of a session value.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import {
  concat,
  equalPublic,
  fromBase64Url,
  fromUtf8,
  toBase64Url,
  utf8,
} from "../crypto/_bytes.ts";
import { sha256 } from "../crypto/sha256.ts";
import type { TransformContext, TransformResult } from "./transformer.ts";
import {
  bounded,
  contextBinding,
  failure,
  FORMAT_VERSION,
  type InspectingTransformer,
  maxLengthOption,
  splitSealed,
  writableBytes,
} from "./compose.ts";

/**
 * What {@linkcode digest} takes.
 *
 * @example
 * ```ts
 * import { digest, type DigestOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: DigestOptions = { salt: "my-app", maxLength: 1024 };
 * const checksum = digest(options);
 * const context = { name: "prefs", purpose: "ui" };
 * const value = await checksum.write("dark", context);
 * assert.equal(await checksum.read(value, context), "dark");
 * assert.equal(await digest({ salt: "other-app" }).read(value, context), null);
 * ```
 */
export interface DigestOptions {
  /**
   * A salt hashed in front of every value, as a string or bytes (at most 1024
   * bytes; default `"tessera"`). It separates applications; it is not a key.
   */
  readonly salt?: string | Uint8Array;
  /** The longest value read or written, in characters (default 16384). */
  readonly maxLength?: number;
}

const KIND = "d";
const LABEL = "digest-sha256";
const DIGEST_LENGTH = 32;
const MAX_SALT = 1024;

/**
 * Creates a transformer that appends a salted SHA-256 digest of the value.
 *
 * **It only detects accidental change** (a truncated or mangled cookie, a value
 * written by another application or for another cookie name or purpose). It
 * does **not** stop forgery: the digest has no secret, so anybody who knows
 * the salt can compute it for a value of their choosing. Use `hmac()` or
 * `encrypt()` when the client must not be able to change the value.
 *
 * Output: `t1.d.<base64url value>.<base64url digest>`. The digest covers the
 * salt, the format version, the cookie name, the purpose and the value.
 *
 * `read` returns `null` and `inspect` returns `{ ok: false, code }` for any bad
 * value: `cookie_malformed`, `cookie_too_large`, `cookie_unsupported_version`
 * or `cookie_tampered`.
 *
 * @param options An optional salt and size bound.
 * @returns The transformer.
 * @throws {TypeError} When `salt` is neither a string nor a `Uint8Array`.
 * @throws {RangeError} When `salt` is longer than 1024 bytes, or `maxLength` is out of range.
 *
 * @example
 * ```ts
 * import { digest } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const checksum = digest({ salt: "my-app" });
 * const context = { name: "prefs", purpose: "ui" };
 * const value = await checksum.write('{"theme":"dark"}', context);
 * assert.ok(value.startsWith("t1.d."));
 * assert.equal(await checksum.read(value, context), '{"theme":"dark"}');
 * assert.equal(await checksum.read(value.slice(0, -1), context), null);
 * ```
 */
export function digest(options: DigestOptions = {}): InspectingTransformer {
  if (options === null || typeof options !== "object") {
    throw new TypeError("digest() takes an options object");
  }
  checkKnownKeys(options, ["salt", "maxLength"], "digest()");
  const saltInput = options.salt ?? "tessera";
  let salt: Uint8Array;
  if (typeof saltInput === "string") salt = utf8(saltInput);
  else if (saltInput instanceof Uint8Array) salt = saltInput.slice();
  else throw new TypeError("digest() salt must be a string or a Uint8Array");
  if (salt.length > MAX_SALT) throw new RangeError("digest() salt must be at most 1024 bytes");
  const saltPrefix = concat(new Uint8Array([salt.length >>> 8, salt.length & 0xff]), salt);
  const maxLength = maxLengthOption(options.maxLength);

  const sum = (binding: Uint8Array, body: Uint8Array): Promise<Uint8Array> =>
    sha256(concat(saltPrefix, binding, body));

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    const binding = contextBinding(LABEL, context);
    const parts = splitSealed(value, maxLength, KIND, 4);
    if (typeof parts === "string") return failure(parts);
    const [, , bodyText, sumText] = parts as [string, string, string, string];
    const body = fromBase64Url(bodyText);
    const received = fromBase64Url(sumText);
    if (body === null || received === null || received.length !== DIGEST_LENGTH) {
      return failure("cookie_malformed");
    }
    // The digest is not a secret (see above), so a plain comparison leaks nothing.
    if (!equalPublic(await sum(binding, body), received)) return failure("cookie_tampered");
    let text: string;
    try {
      text = fromUtf8(body);
    } catch {
      return failure("cookie_malformed");
    }
    return { ok: true, value: text, stale: false };
  };

  return {
    async write(value: string, context: TransformContext): Promise<string> {
      const body = writableBytes(value, maxLength, 4 / 3);
      const binding = contextBinding(LABEL, context);
      const checksum = await sum(binding, body);
      return bounded(
        `${FORMAT_VERSION}.${KIND}.${toBase64Url(body)}.${toBase64Url(checksum)}`,
        maxLength,
      );
    },
    async read(value: string, context: TransformContext): Promise<string | null> {
      const result = await inspect(value, context);
      return result.ok ? result.value : null;
    },
    inspect,
  };
}
