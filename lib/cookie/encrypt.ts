/**
 * The `encrypt()` transformer: AES-256-GCM encryption and authentication of a
 * session value.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { fromBase64Url, fromUtf8, toBase64Url } from "../crypto/_bytes.ts";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTH,
} from "../crypto/aes_gcm.ts";
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
import { OpenedMemo } from "./_opened_memo.ts";

/** Sealed values remembered per transformer (the last 512 to 1024): the sessions in use now. */
const MEMO_SIZE = 1024;

/**
 * What {@linkcode encrypt} takes.
 *
 * @example
 * ```ts
 * import { encrypt, type EncryptOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const options: EncryptOptions = { key, maxLength: 1024 };
 * const sealer = encrypt(options);
 * const context = { name: "sid", purpose: "session" };
 * assert.equal(await sealer.read(await sealer.write("hi", context), context), "hi");
 * await assert.rejects(sealer.write("x".repeat(1024), context), { code: "cookie_too_large" });
 * ```
 */
export interface EncryptOptions {
  /**
   * The key: 32 raw bytes, a 256-bit AES-GCM `CryptoKey` (`encrypt` and
   * `decrypt` usages), a password string of at least 32 characters (turned
   * into the key with HKDF-SHA256 under `PASSWORD_KEY_LABELS.encrypt`), or a
   * {@linkcode Keyring} of these.
   */
  readonly key: KeyInput | Keyring;
  /** The longest value read or written, in characters (default 16384). */
  readonly maxLength?: number;
}

const KIND = "e";
const LABEL = "aes-256-gcm";

/**
 * Creates a transformer that encrypts and authenticates values with
 * AES-256-GCM. Every write draws a fresh random 96-bit nonce, so sealing the
 * same value twice gives two different outputs.
 *
 * Output: `t1.e.<key id>.<base64url nonce>.<base64url ciphertext and tag>`.
 * The additional authenticated data holds the format version, the cookie
 * name, the purpose and the key id, so a value cannot be moved to another
 * cookie or purpose and its key id cannot be swapped. Keys are checked here
 * and imported once, on first use.
 *
 * With random nonces, one key should seal at most 2^32 values; rotate with a
 * keyring well before that.
 *
 * `read` returns `null` and `inspect` returns `{ ok: false, code }` for any bad
 * value: `cookie_malformed`, `cookie_too_large`, `cookie_unsupported_version`,
 * `cookie_unknown_key` or `cookie_tampered`.
 *
 * A password string of at least 32 characters may stand for the key: it is
 * turned into the key with one HKDF-SHA256 step under the fixed label
 * `PASSWORD_KEY_LABELS.encrypt` (`"tessera/session cookie aes-256-gcm key v1"`), so the
 * same password gives every process the same key, and a different key than
 * `hmac()` derives from it. The step is fast: use only high-entropy
 * passwords (for a passphrase, see `deriveKeyFromPassphrase()`).
 *
 * @param options The key, password or keyring, and an optional size bound.
 * @returns The transformer.
 * @throws {TypeError} When the key is not a 32-byte array, a fitting AES-GCM
 *   `CryptoKey`, a well-formed password string or a keyring of them.
 * @throws {RangeError} When a raw key is not 32 bytes, a password has fewer than 32
 *   characters, or `maxLength` is out of range.
 *
 * @example
 * ```ts
 * import { encrypt } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const sealer = encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const context = { name: "__Host-session", purpose: "session" };
 * const sealed = await sealer.write('{"user":42}', context);
 * assert.ok(sealed.startsWith("t1.e.0."));
 * assert.ok(!sealed.includes("user"));
 * assert.equal(await sealer.read(sealed, context), '{"user":42}');
 * assert.deepEqual(await sealer.inspect(sealed, { name: "__Host-session", purpose: "csrf" }), {
 *   ok: false,
 *   code: "cookie_tampered",
 * });
 * ```
 *
 * @example A password string as the key
 * ```ts
 * import { encrypt } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const password = "a random password of at least 32 characters"; // e.g. from an env variable
 * const context = { name: "sid", purpose: "session" };
 * const sealed = await encrypt({ key: password }).write("hi", context);
 * assert.equal(await encrypt({ key: password }).read(sealed, context), "hi"); // another instance
 * assert.throws(() => encrypt({ key: "too short" }), RangeError);
 * ```
 */
export function encrypt(options: EncryptOptions): InspectingTransformer {
  if (options === null || typeof options !== "object") {
    throw new TypeError("encrypt() takes { key }");
  }
  checkKnownKeys(options, ["key", "maxLength"], "encrypt()", { password: "key", secret: "key" });
  const keys = resolveKeys(options.key, "AES-GCM", "encrypt() key");
  const maxLength = maxLengthOption(options.maxLength);
  const memo = new OpenedMemo(MEMO_SIZE);

  const inspect = async (value: string, context: TransformContext): Promise<TransformResult> => {
    contextBinding(LABEL, context); // a bad context is the caller's mistake: thrown first
    const parts = splitSealed(value, maxLength, KIND, 5);
    if (typeof parts === "string") return failure(parts);
    const [, , id, nonceText, sealedText] = parts as [string, string, string, string, string];
    if (!isKeyId(id)) return failure("cookie_malformed");
    if (!keys.has(id)) return failure("cookie_unknown_key");
    const aad = keyedBinding(LABEL, context, id);
    const known = memo.get(value, aad);
    if (known !== undefined) return { ok: true, value: known, stale: id !== keys.current };
    const nonce = fromBase64Url(nonceText);
    const sealed = fromBase64Url(sealedText);
    if (
      nonce === null || sealed === null || nonce.length !== GCM_NONCE_LENGTH ||
      sealed.length < GCM_TAG_LENGTH
    ) {
      return failure("cookie_malformed");
    }
    const key = await keys.opening(id);
    if (key === undefined) return failure("cookie_unknown_key");
    const plain = await aesGcmDecrypt(key, nonce, sealed, aad);
    if (plain === null) return failure("cookie_tampered");
    let text: string;
    try {
      text = fromUtf8(plain);
    } catch {
      return failure("cookie_malformed");
    }
    memo.remember(value, aad, text);
    return { ok: true, value: text, stale: id !== keys.current };
  };

  return {
    async write(value: string, context: TransformContext): Promise<string> {
      const plain = writableBytes(value, maxLength, 4 / 3);
      const id = keys.current;
      const aad = keyedBinding(LABEL, context, id);
      const key = await keys.sealing();
      const nonce = crypto.getRandomValues(new Uint8Array(GCM_NONCE_LENGTH));
      const sealed = await aesGcmEncrypt(key, nonce, plain, aad);
      const out = bounded(
        `${FORMAT_VERSION}.${KIND}.${id}.${toBase64Url(nonce)}.${toBase64Url(sealed)}`,
        maxLength,
      );
      memo.remember(out, aad, value);
      return out;
    },
    async read(value: string, context: TransformContext): Promise<string | null> {
      const result = await inspect(value, context);
      return result.ok ? result.value : null;
    },
    inspect,
  };
}
