/**
 * Server-side session storage in Deno KV: a local SQLite file for one
 * process, or a remote KV (Deno Deploy, self-hosted denokv) shared by many
 * instances, with no code change.
 *
 * @module
 */

import { CookieError } from "../errors.ts";
import { checkPayload, MAX_PAYLOAD_LENGTH, type SessionPayload, toWire } from "./payload.ts";
import type {
  SessionStorage,
  SessionSummary,
  StorageReadResult,
  StorageWriteOptions,
} from "./session_storage.ts";
import { type RetryPolicy, retryPolicy, withRetry } from "./_kv_retry.ts";

/**
 * Options of {@linkcode KvSessionStorage}.
 *
 * @example
 * ```ts
 * import { KvSessionStorage, type KvSessionStorageOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const options: KvSessionStorageOptions = { prefix: ["myapp", "sessions"], retryAttempts: 3 };
 *   const storage = new KvSessionStorage(kv, options);
 *   const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: {} };
 *   await storage.write("id1", payload, { previous: null, now: 0 });
 *   assert.notEqual((await kv.get(["myapp", "sessions", "s", "id1"])).value, null);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvSessionStorageOptions {
  /** The key prefix of every record. Default `["tessera", "session"]`. */
  readonly prefix?: Deno.KvKey;
  /** Attempts for transient "database is locked" errors. Default 6. */
  readonly retryAttempts?: number;
  /** The first backoff in milliseconds, doubling per retry. Default 5. */
  readonly retryBaseDelay?: number;
}

/** How long a record outlives its expiry in KV before KV may drop it (expiry is checked on read). */
const EXPIRE_GRACE = 60_000;
/** Sessions deleted per atomic operation in `deleteByUser`. */
const DELETE_BATCH = 20;
/** The most sessions `listByUser` returns. */
const LIST_LIMIT = 1000;

interface IndexEntry {
  readonly iat: number;
  readonly exp: number;
}

/**
 * Keeps sessions in a `Deno.Kv` the caller opens (and closes).
 *
 * Layout: `[...prefix, "s", id]` holds the envelope and `[...prefix, "u",
 * userId, id]` indexes it by user. Both are written in one atomic operation
 * guarded by the record's versionstamp, so of two concurrent writers to one
 * session exactly one wins and the other learns it (and `sessions()` replays
 * its changes on the winner's version). Expiry is checked on every read, since
 * KV's `expireIn` is only a lazy clean-up. Transient "database is locked"
 * errors (several processes on one local file) are retried with bounded
 * backoff.
 *
 * @example
 * ```ts
 * import { KvSessionStorage } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const storage = new KvSessionStorage(kv);
 *   const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: { n: 1 } };
 *   assert.ok(await storage.write("id1",payload, { previous: null, now: 0 }));
 *   const read = await storage.read("id1", 10);
 *   assert.ok(read.ok && read.payload.data.n === 1);
 *   assert.deepEqual(await storage.read("id1", 60), { ok: false, code: "cookie_expired" });
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvSessionStorage implements SessionStorage {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #retry: RetryPolicy;

  /**
   * Creates a store over an open KV database.
   *
   * @param kv The database, e.g. `await Deno.openKv()`.
   * @param options Key prefix and retry policy.
   * @throws {TypeError} When `kv` is missing.
   * @throws {RangeError} When the retry options are out of range.
   */
  constructor(kv: Deno.Kv, options: KvSessionStorageOptions = {}) {
    if (kv === null || typeof kv !== "object" || typeof kv.atomic !== "function") {
      throw new TypeError("KvSessionStorage needs an open Deno.Kv");
    }
    this.#kv = kv;
    this.#prefix = [...(options.prefix ?? ["tessera", "session"])];
    this.#retry = retryPolicy(options.retryAttempts, options.retryBaseDelay);
  }

  /**
   * Reads a session, checking its expiry (an expired record is deleted).
   *
   * @param id The session's public id.
   * @param now The current time (ms since the epoch).
   * @returns The session and its versionstamp, or why there is none.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  async read(id: string, now: number): Promise<StorageReadResult> {
    const entry = await withRetry(this.#retry, "read", () => this.#kv.get(this.#record(id)));
    if (entry.value === null || entry.versionstamp === null) {
      return { ok: false, code: "cookie_revoked" };
    }
    const checked = checkPayload(entry.value, now);
    if (checked.ok) return { ok: true, payload: checked.payload, version: entry.versionstamp };
    if (checked.code !== "cookie_expired") return { ok: false, code: "cookie_malformed" };
    const uid = (entry.value as { uid?: unknown }).uid;
    const op = this.#kv.atomic().check(entry).delete(this.#record(id));
    if (typeof uid === "string") op.delete(this.#index(uid, id));
    await op.commit().catch(() => {}); // best effort: KV's expireIn cleans up otherwise
    return { ok: false, code: "cookie_expired" };
  }

  /**
   * Writes a session if its versionstamp is still the one `previous` was read
   * at (or it is still absent), and keeps the by-user index in step.
   *
   * @param id The session's public id.
   * @param payload The new envelope.
   * @param options What the caller read (or `null` to create) and the current time.
   * @returns The new versionstamp, or `null` on a conflict.
   * @throws {CookieError} `cookie_too_large` for an envelope over 64 KiB of JSON
   *   (KV's value limit); `session_storage_failed` when KV fails.
   */
  write(id: string, payload: SessionPayload, options: StorageWriteOptions): Promise<string | null> {
    const { previous, now } = options;
    const wire = toWire(payload);
    if (new TextEncoder().encode(JSON.stringify(wire)).length > MAX_PAYLOAD_LENGTH - 2048) {
      return Promise.reject(new CookieError("cookie_too_large", "session data exceeds KV's limit"));
    }
    const expireIn = Math.max(1, payload.idleExpiresAt - now) + EXPIRE_GRACE;
    const oldUser = previous?.payload.userId;
    return withRetry(this.#retry, "write", async () => {
      const op = this.#kv.atomic()
        .check({ key: this.#record(id), versionstamp: previous?.version ?? null })
        .set(this.#record(id), wire, { expireIn });
      if (oldUser !== undefined && oldUser !== payload.userId) op.delete(this.#index(oldUser, id));
      if (payload.userId !== undefined) {
        const entry: IndexEntry = { iat: payload.issuedAt, exp: payload.idleExpiresAt };
        op.set(this.#index(payload.userId, id), entry, { expireIn });
      }
      const result = await op.commit();
      return result.ok ? result.versionstamp : null;
    });
  }

  /**
   * Deletes a session and its index entry.
   *
   * @param id The session's public id.
   * @returns Nothing.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  async delete(id: string): Promise<void> {
    await withRetry(this.#retry, "delete", async () => {
      for (;;) {
        const entry = await this.#kv.get(this.#record(id));
        if (entry.versionstamp === null) return;
        const uid = (entry.value as { uid?: unknown } | null)?.uid;
        const op = this.#kv.atomic().check(entry).delete(this.#record(id));
        if (typeof uid === "string") op.delete(this.#index(uid, id));
        if ((await op.commit()).ok) return;
      }
    });
  }

  /**
   * Lists a user's live sessions (at most 1000).
   *
   * @param userId The user id.
   * @param now The current time (ms since the epoch).
   * @returns The live sessions.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  listByUser(userId: string, now: number): Promise<SessionSummary[]> {
    return withRetry(this.#retry, "list", async () => {
      const out: SessionSummary[] = [];
      const iter = this.#kv.list<IndexEntry>({ prefix: [...this.#prefix, "u", userId] }, {
        limit: LIST_LIMIT,
      });
      for await (const entry of iter) {
        const id = entry.key[entry.key.length - 1];
        const { iat, exp } = entry.value ?? {};
        if (
          typeof id === "string" && typeof exp === "number" && typeof iat === "number" && exp > now
        ) {
          out.push({ id, issuedAt: iat, expiresAt: exp });
        }
      }
      return out;
    });
  }

  /**
   * Deletes every session of a user ("log out everywhere"). Requests in
   * flight on those sessions then fail their versionstamp check and do not
   * bring them back.
   *
   * @param userId The user id.
   * @returns How many sessions were deleted.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  deleteByUser(userId: string): Promise<number> {
    return withRetry(this.#retry, "delete by user", async () => {
      let deleted = 0;
      let batch: string[] = [];
      const flush = async (): Promise<void> => {
        const op = this.#kv.atomic();
        for (const id of batch) op.delete(this.#record(id)).delete(this.#index(userId, id));
        await op.commit();
        deleted += batch.length;
        batch = [];
      };
      for await (const entry of this.#kv.list({ prefix: [...this.#prefix, "u", userId] })) {
        const id = entry.key[entry.key.length - 1];
        if (typeof id === "string") batch.push(id);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
      return deleted;
    });
  }

  #record(id: string): Deno.KvKey {
    return [...this.#prefix, "s", id];
  }

  #index(userId: string, id: string): Deno.KvKey {
    return [...this.#prefix, "u", userId, id];
  }
}
