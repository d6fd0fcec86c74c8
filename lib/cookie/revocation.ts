/**
 * Per-user revocation epochs: "log out everywhere" for client-side sessions.
 *
 * A client-side session cannot be deleted on the server: the data is the
 * cookie. Instead each user has an epoch number. A session bound to a user
 * records the user's epoch when it is sealed; `revoke(userId)` moves the
 * epoch on, and every session sealed under an older epoch is refused with
 * `cookie_revoked` on its next request.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
import { CookieError } from "../errors.ts";
import { userIdProblem } from "./payload.ts";
import { type RetryPolicy, retryPolicy, withRetry } from "./_kv_retry.ts";
import { isKv, type SessionKv, type SessionKvKey } from "./kv_storage.ts";

/**
 * Keeps one revocation epoch per user.
 *
 * @example
 * ```ts
 * import {
 *   encrypt,
 *   MemoryRevocationStore,
 *   type RevocationStore,
 *   sessions,
 * } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const revocation: RevocationStore = new MemoryRevocationStore();
 * const transformer = encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) });
 * const withSession = sessions({ transformer, revocation });
 * const handler = withSession((req, _info, session) => {
 *   if (req.url.endsWith("/login")) session.setUser("ann");
 *   return new Response(session.reason ?? "ok");
 * });
 * const login = await handler(new Request("https://example.com/login"), {});
 * const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
 * await withSession.revokeUser("ann"); // moves ann's epoch on
 * const next = await handler(new Request("https://example.com/", { headers: { cookie } }), {});
 * assert.equal(await next.text(), "cookie_revoked");
 * ```
 */
export interface RevocationStore {
  /**
   * Returns the user's current epoch (0 for a user never revoked).
   *
   * @param userId The user id.
   * @returns The epoch.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  epoch(userId: string): Promise<number>;
  /**
   * Moves the user's epoch on, revoking every session sealed before.
   *
   * @param userId The user id.
   * @returns The new epoch.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  revoke(userId: string): Promise<number>;
}

/**
 * Revocation epochs in a `Map` of this process, for tests, single-process
 * apps and Bun.
 *
 * @example
 * ```ts
 * import { MemoryRevocationStore } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryRevocationStore();
 * assert.equal(await store.epoch("ann"), 0);
 * assert.equal(await store.revoke("ann"), 1);
 * assert.equal(await store.epoch("ann"), 1);
 * ```
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #epochs = new Map<string, number>();

  /**
   * Returns the user's current epoch.
   *
   * @param userId The user id.
   * @returns The epoch (0 when never revoked).
   * @throws Nothing.
   */
  epoch(userId: string): Promise<number> {
    return Promise.resolve(this.#epochs.get(userId) ?? 0);
  }

  /**
   * Moves the user's epoch on.
   *
   * @param userId The user id.
   * @returns The new epoch.
   * @throws {TypeError} When `userId` is not a valid user id.
   */
  // deno-lint-ignore require-await
  async revoke(userId: string): Promise<number> {
    checkUserId(userId);
    const next = (this.#epochs.get(userId) ?? 0) + 1;
    this.#epochs.set(userId, next);
    return next;
  }
}

/**
 * Options of {@linkcode KvRevocationStore}.
 *
 * @example
 * ```ts
 * import { KvRevocationStore, type KvRevocationStoreOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const options: KvRevocationStoreOptions = { prefix: ["myapp", "revocation"] };
 *   const store = new KvRevocationStore(kv, options);
 *   assert.equal(await store.revoke("ann"), 1);
 *   const entries = await Array.fromAsync(kv.list({ prefix: ["myapp", "revocation"] }));
 *   assert.equal(entries.length, 1);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvRevocationStoreOptions {
  /** The key prefix. Default `["tessera", "revocation"]`. */
  readonly prefix?: readonly (string | number | bigint | boolean | Uint8Array)[];
  /** Attempts for transient "database is locked" errors. Default 6. */
  readonly retryAttempts?: number;
  /** The first backoff in milliseconds, doubling per retry. Default 5. */
  readonly retryBaseDelay?: number;
}

/**
 * Revocation epochs in Deno KV, shared by every instance that opens the same
 * database. `revoke` is an atomic 64-bit sum, so concurrent revocations never
 * collapse into one.
 *
 * Each epoch is a KV 64-bit counter (`Deno.KvU64`) at `[...prefix, userId]`,
 * written only through `sum`: a value type that Deno KV and `npm:@deno/kv`
 * both read and add to, so Deno, Bun and Node instances can share the
 * database (under Bun or Node: `new KvRevocationStore(await openKv(path,
 * makeLimitedV8Serializer()))` with both from `npm:@deno/kv`). A value of
 * any other type at that key is refused with `session_storage_failed`, never
 * read as epoch 0: that would bring revoked sessions back.
 *
 * @example
 * ```ts
 * import { KvRevocationStore } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const store = new KvRevocationStore(kv);
 *   assert.equal(await store.epoch("ann"), 0);
 *   await Promise.all([store.revoke("ann"), store.revoke("ann")]);
 *   assert.equal(await store.epoch("ann"), 2);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvRevocationStore implements RevocationStore {
  readonly #kv: SessionKv;
  readonly #prefix: SessionKvKey;
  readonly #retry: RetryPolicy;

  /**
   * Creates a store over an open KV database.
   *
   * @param kv The database: `await Deno.openKv(...)`, or `@deno/kv`'s `openKv`.
   * @param options Key prefix and retry policy.
   * @throws {TypeError} When `kv` is not a KV handle.
   * @throws {RangeError} When the retry options are out of range.
   */
  constructor(kv: SessionKv, options: KvRevocationStoreOptions = {}) {
    if (!isKv(kv)) throw new TypeError("KvRevocationStore needs an open Deno.Kv");
    checkKnownKeys(options, ["prefix", "retryAttempts", "retryBaseDelay"], "KvRevocationStore");
    this.#kv = kv;
    this.#prefix = [...(options.prefix ?? ["tessera", "revocation"])];
    this.#retry = retryPolicy(options.retryAttempts, options.retryBaseDelay);
  }

  /**
   * Returns the user's current epoch.
   *
   * @param userId The user id.
   * @returns The epoch (0 when never revoked).
   * @throws {CookieError} `session_storage_failed` when KV fails, or when the
   *   stored epoch is not a 64-bit counter (another format, or another
   *   writer's value under this prefix).
   */
  async epoch(userId: string): Promise<number> {
    const entry = await withRetry(
      this.#retry,
      "read an epoch",
      () => this.#kv.get([...this.#prefix, userId]),
    );
    if (entry.versionstamp === null) return 0;
    const epoch = counterValue(entry.value);
    if (epoch === undefined) {
      throw new CookieError(
        "session_storage_failed",
        "session storage failed to read an epoch: the stored value is not a 64-bit counter",
      );
    }
    return epoch;
  }

  /**
   * Moves the user's epoch on.
   *
   * @param userId The user id.
   * @returns The new epoch.
   * @throws {TypeError} When `userId` is not a valid user id.
   * @throws {CookieError} `session_storage_failed` when KV fails or the stored
   *   epoch is not a 64-bit counter.
   */
  async revoke(userId: string): Promise<number> {
    checkUserId(userId);
    await withRetry(this.#retry, "revoke", async () => {
      const result = await this.#kv.atomic()
        .sum([...this.#prefix, userId], 1n)
        .commit();
      if (!result.ok) throw new Error("database is busy");
    });
    return this.epoch(userId);
  }
}

/**
 * The number in a KV 64-bit counter: `Deno.KvU64`, or `@deno/kv`'s own
 * `KvU64` class (so no `instanceof`). `undefined` for any other value.
 */
function counterValue(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return undefined;
  const n = (value as { value?: unknown }).value;
  return typeof n === "bigint" && n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : undefined;
}

function checkUserId(userId: string): void {
  const problem = userIdProblem(userId);
  if (problem !== null) throw new TypeError(problem);
}
