/**
 * The `hmac()` transformer: HMAC-SHA256 authentication of a session value.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { concat, fromBase64Url, fromUtf8, toBase64Url } from "../crypto/_bytes.ts";
import { hmacSign, hmacVerify } from "../crypto/hmac.ts";
import type { TransformContext, TransformResult } from "./transformer.ts";
import {
  bounded,
  contextBinding,
  failure,
  FORMAT_VERSION,
  type InspectingTransformer,
  keyedBinding,
  maxLengthOption,
  splitSealed,
  writableBytes,
} from "./compose.ts";
import { isKeyId, type KeyInput, type Keyring, resolveKeys } from "./keyring.ts";

/**
 * What {@linkcode hmac} takes.
 *
 * @example
 * ```ts
 * import { hmac, type HmacOptions, keyring } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const keys = { k1: crypto.getRandomValues(new Uint8Array(32)) };
 * const options: HmacOptions = { key: keyring({ current: "k1", keys }), maxLength: 1024 };
 * const signer = hmac(options);
 * const context = { name: "sid", purpose: "session" };
 * const signed = await signer.write("hi", context);
 * assert.ok(signed.startsWith("t1.m.k1."));
 * assert.equal(await signer.read(signed, context), "hi");
 * ```
 */
export interface HmacOptions {
  /**
   * The key: 32 raw bytes, an HMAC-SHA256 `CryptoKey` (at least 256 bits; `sign`
   * and `verify` usages), a password string of at least 32 characters (turned
   * into the key with HKDF-SHA256 under `PASSWORD_KEY_LABELS.hmac`), or a
   * {@linkcode Keyring} of these.
   */
  readonly key: KeyInput | Keyring;
  /** The longest value read or written, in characters (default 16384). */
  readonly maxLength?: number;
}

const KIND = "m";
const LABEL = "hmac-sha256";
const MAC_LENGTH = 32;

/**
 * Creates a transformer that authenticates values with HMAC-SHA256. The value
 * stays readable by the client (it is only base64url encoded); use
 * `encrypt()` to hide it.
 *
 * Output: `t1.m.<key id>.<base64url value>.<base64url MAC>`. The MAC covers
 * the format version, the cookie name, the purpose, the key id and the value,
 * so a value cannot be moved to another cookie or purpose, and its key id
 * cannot be swapped. MACs are checked in constant time by `crypto.subtle`.
 * Keys are checked here and imported once, on first use.
 *
 * `read` returns `null` and `inspect` returns `{ ok: false, code }` for any bad
 * value: `cookie_malformed`, `cookie_too_large`, `cookie_unsupported_version`,
 * `cookie_unknown_key` or `cookie_tampered`.
 *
 * A password string of at least 32 characters may stand for the key: it is
 * turned into the key with one HKDF-SHA256 step under the fixed label
 * `PASSWORD_KEY_LABELS.hmac` (`"tessera/session cookie hmac-sha256 key v1"`), so the
 * same password gives every process the same key, and a different key than
 * `encrypt()` derives from it. The step is fast: use only high-entropy
 * passwords (for a passphrase, see `deriveKeyFromPassphrase()`).
 *
 * @param options The key, password or keyring, and an optional size bound.
 * @returns The transformer.
 * @throws {TypeError} When the key is not a 32-byte array, a fitting HMAC-SHA256
 *   `CryptoKey`, a well-formed password string or a keyring of them.
 * @throws {RangeError} When a raw key is not 32 bytes, a password has fewer than 32
 *   characters, or `maxLength` is out of range.
 *
 * @example
 * ```ts
 * import { hmac } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const signer = hmac({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const context = { name: "sid", purpose: "session" };
 * const signed = await signer.write('{"user":42}', context);
 * assert.ok(signed.startsWith("t1.m.0."));
 * assert.equal(await signer.read(signed, context), '{"user":42}');
 * assert.deepEqual(await signer.inspect(signed, { name: "other", purpose: "session" }), {
 *   ok: false,
 *   code: "cookie_tampered",
 * });
 * ```
 *
 * @example A password string as the key
 * ```ts
 * import { hmac } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const password = "a random password of at least 32 characters"; // e.g. from an env variable
 * const context = { name: "sid", purpose: "session" };
 * const sealed = await hmac({ key: password }).write("hi", context);
 * assert.equal(await hmac({ key: password }).read(sealed, context), "hi"); // another instance
 * assert.throws(() => hmac({ key: "too short" }), RangeError);
 * ```
 */
export function hmac(options: HmacOptions): InspectingTransformer {
  if (options === null || typeof options !== "object") {
    throw new TypeError("hmac() takes { key }");
  }
  checkKnownKeys(options, ["key", "maxLength"], "hmac()", { password: "key", secret: "key" });
  const keys = resolveKeys(options.key, "HMAC", "hmac() key");
  const maxLength = maxLengthOption(options.maxLength);

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    contextBinding(LABEL, context); // a bad context is the caller's mistake: thrown first
    const parts = splitSealed(value, maxLength, KIND, 5);
    if (typeof parts === "string") return failure(parts);
    const [, , id, bodyText, macText] = parts as [string, string, string, string, string];
    if (!isKeyId(id)) return failure("cookie_malformed");
    if (!keys.has(id)) return failure("cookie_unknown_key");
    const body = fromBase64Url(bodyText);
    const mac = fromBase64Url(macText);
    if (body === null || mac === null || mac.length !== MAC_LENGTH) {
      return failure("cookie_malformed");
    }
    const key = await keys.opening(id);
    if (key === undefined) return failure("cookie_unknown_key");
    const valid = await hmacVerify(key, mac, concat(keyedBinding(LABEL, context, id), body));
    if (!valid) return failure("cookie_tampered");
    let text: string;
    try {
      text = fromUtf8(body);
    } catch {
      return failure("cookie_malformed");
    }
    return { ok: true, value: text, stale: id !== keys.current };
  };

  return {
    async write(value: string, context: TransformContext): Promise<string> {
      const body = writableBytes(value, maxLength, 4 / 3);
      const id = keys.current;
      const binding = keyedBinding(LABEL, context, id);
      const key = await keys.sealing();
      const mac = await hmacSign(key, concat(binding, body));
      return bounded(
        `${FORMAT_VERSION}.${KIND}.${id}.${toBase64Url(body)}.${toBase64Url(mac)}`,
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
