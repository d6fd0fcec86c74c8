/**
 * Deriving a transformer key from a passphrase, explicitly and once.
 *
 * `hmac()` and `encrypt()` take keys, never passphrases: a passphrase is
 * stretched here with PBKDF2-SHA256, once at start-up, and the 32 bytes that
 * come out are the key.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { utf8 } from "../crypto/_bytes.ts";

/**
 * The shortest passphrase accepted, in Unicode code points.
 *
 * @example
 * ```ts
 * import { deriveKeyFromPassphrase, MIN_PASSPHRASE_LENGTH } from "./passphrase.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MIN_PASSPHRASE_LENGTH, 16);
 * const short = "x".repeat(MIN_PASSPHRASE_LENGTH - 1);
 * await assert.rejects(deriveKeyFromPassphrase(short, "my-app/cookie-key"), RangeError);
 * ```
 */
export const MIN_PASSPHRASE_LENGTH = 16;
/**
 * The fewest PBKDF2-SHA256 iterations accepted.
 *
 * @example
 * ```ts
 * import { deriveKeyFromPassphrase, MIN_PBKDF2_ITERATIONS } from "./passphrase.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MIN_PBKDF2_ITERATIONS, 100_000);
 * const [passphrase, salt] = ["correct horse battery staple", "my-app/cookie-key"];
 * const iterations = MIN_PBKDF2_ITERATIONS - 1;
 * await assert.rejects(deriveKeyFromPassphrase(passphrase, salt, { iterations }), RangeError);
 * ```
 */
export const MIN_PBKDF2_ITERATIONS = 100_000;
/**
 * The default number of PBKDF2-SHA256 iterations (OWASP's 2023 advice).
 *
 * @example
 * ```ts
 * import { DEFAULT_PBKDF2_ITERATIONS, deriveKeyFromPassphrase } from "./passphrase.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_PBKDF2_ITERATIONS, 600_000);
 * const [passphrase, salt] = ["correct horse battery staple", "my-app/cookie-key"];
 * const byDefault = await deriveKeyFromPassphrase(passphrase, salt);
 * const explicit = await deriveKeyFromPassphrase(passphrase, salt, {
 *   iterations: DEFAULT_PBKDF2_ITERATIONS,
 * });
 * assert.deepEqual(byDefault, explicit);
 * ```
 */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;
/**
 * The shortest salt accepted, in bytes.
 *
 * @example
 * ```ts
 * import { deriveKeyFromPassphrase, MIN_SALT_LENGTH } from "./passphrase.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MIN_SALT_LENGTH, 16);
 * const salt = new Uint8Array(MIN_SALT_LENGTH - 1);
 * await assert.rejects(deriveKeyFromPassphrase("correct horse battery staple", salt), RangeError);
 * ```
 */
export const MIN_SALT_LENGTH = 16;

const MAX_PBKDF2_ITERATIONS = 10_000_000;
const MAX_PASSPHRASE_BYTES = 1024;
const MAX_SALT_LENGTH = 1024;

/**
 * What {@linkcode deriveKeyFromPassphrase} takes besides the passphrase and salt.
 *
 * @example
 * ```ts
 * import { deriveKeyFromPassphrase, type PassphraseOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const [passphrase, salt] = ["correct horse battery staple", "my-app/cookie-key"];
 * const options: PassphraseOptions = { iterations: 100_000 };
 * const key = await deriveKeyFromPassphrase(passphrase, salt, options);
 * assert.equal(key.length, 32);
 * assert.deepEqual(await deriveKeyFromPassphrase(passphrase, salt, options), key); // deterministic
 * ```
 */
export interface PassphraseOptions {
  /**
   * PBKDF2-SHA256 iterations: at least {@linkcode MIN_PBKDF2_ITERATIONS}
   * (100 000); default {@linkcode DEFAULT_PBKDF2_ITERATIONS} (600 000).
   */
  readonly iterations?: number;
}

/**
 * Derives a 32-byte key from a passphrase with PBKDF2-HMAC-SHA256, for
 * `hmac()`, `encrypt()` or a keyring. Call it once at start-up, not per
 * request: it is slow on purpose.
 *
 * The passphrase must have at least {@linkcode MIN_PASSPHRASE_LENGTH} (16) code
 * points; prefer 32 random bytes from `crypto.getRandomValues` when you can
 * store them. The salt must have at least {@linkcode MIN_SALT_LENGTH} (16)
 * bytes; it need not be secret but must stay the same for as long as the key
 * is used. Derive the `hmac()` key and the `encrypt()` key with different
 * salts, never one key for both.
 *
 * @param passphrase The passphrase (16 code points to 1024 UTF-8 bytes, well formed).
 * @param salt The salt, as bytes or a string (16 to 1024 bytes).
 * @param options The iteration count.
 * @returns 32 key bytes.
 * @throws {TypeError} When the passphrase is not a well-formed string or the salt is
 *   neither a string nor a `Uint8Array`.
 * @throws {RangeError} When the passphrase, the salt or the iteration count is out of range.
 *
 * @example
 * ```ts
 * import { deriveKeyFromPassphrase, encrypt } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const key = await deriveKeyFromPassphrase("correct horse battery staple", "my-app/cookie-enc", {
 *   iterations: 100_000,
 * });
 * assert.equal(key.length, 32);
 * const sealer = encrypt({ key });
 * const context = { name: "sid", purpose: "session" };
 * assert.equal(await sealer.read(await sealer.write("hi", context), context), "hi");
 * ```
 */
export async function deriveKeyFromPassphrase(
  passphrase: string,
  salt: string | Uint8Array,
  options: PassphraseOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  checkKnownKeys(options, ["iterations"], "deriveKeyFromPassphrase()");
  if (typeof passphrase !== "string" || !passphrase.isWellFormed()) {
    throw new TypeError("passphrase must be a well-formed string");
  }
  let codePoints = 0;
  for (const _ of passphrase) codePoints++;
  const secret = utf8(passphrase);
  if (codePoints < MIN_PASSPHRASE_LENGTH || secret.length > MAX_PASSPHRASE_BYTES) {
    throw new RangeError(
      `passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters and at most ${MAX_PASSPHRASE_BYTES} bytes`,
    );
  }
  let saltBytes: Uint8Array;
  if (typeof salt === "string") saltBytes = utf8(salt);
  else if (salt instanceof Uint8Array) saltBytes = salt.slice();
  else throw new TypeError("salt must be a string or a Uint8Array");
  if (saltBytes.length < MIN_SALT_LENGTH || saltBytes.length > MAX_SALT_LENGTH) {
    throw new RangeError(`salt must have ${MIN_SALT_LENGTH} to ${MAX_SALT_LENGTH} bytes`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError("options must be an object");
  }
  const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  if (
    !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new RangeError(
      `iterations must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`,
    );
  }
  const base = await crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  secret.fill(0);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: saltBytes as Uint8Array<ArrayBuffer>, iterations },
    base,
    256,
  );
  return new Uint8Array(bits);
}
