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
/** How long a tombstone lasts when the session's own deadline is not known (written before traces). */
const FALLBACK_TRACE_LIFETIME = 7 * 24 * 60 * 60 * 1000;

interface IndexEntry {
  readonly iat: number;
  readonly exp: number;
  /** When the session's trace may go (real time, ms): its absolute expiry plus the grace. */
  readonly until?: number;
}

/**
 * What KV remembers of an issued id until the session's absolute expiry (plus
 * the grace): that it was issued, and whether it was deleted.
 */
interface Trace {
  /** When KV may drop this trace (real time, ms since the epoch, as KV's `expireIn`). */
  readonly until: number;
  /** Set once the session was deleted (logout, regenerate, log out everywhere). */
  readonly revoked?: true;
}

/**
 * Keeps sessions in a `Deno.Kv` the caller opens (and closes).
 *
 * Layout: `[...prefix, "s", id]` holds the envelope, `[...prefix, "u",
 * userId, id]` indexes it by user, and `[...prefix, "t", id]` is the id's
 * trace: a small entry that outlives the record until the session's absolute
 * expiry (plus a minute), marked once the session is deleted. All are written
 * in one atomic operation guarded by the record's versionstamp, so of two
 * concurrent writers to one session exactly one wins and the other learns it
 * (and `sessions()` replays its changes on the winner's version). Expiry is
 * checked on every read, since KV's `expireIn` is only a lazy clean-up.
 * Transient "database is locked" errors (several processes on one local file)
 * are retried with bounded backoff.
 *
 * The trace lets `read` tell why a record is missing: `cookie_revoked` for a
 * deleted session, `cookie_expired` for one dropped after its expiry, and
 * `cookie_unknown_session` for an id with no trace: never issued here (a
 * forged or guessed token), or ended longer ago than its absolute lifetime.
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
   * Reads a session, checking its expiry (an expired record is deleted; its
   * trace stays).
   *
   * @param id The session's public id.
   * @param now The current time (ms since the epoch).
   * @returns The session and its versionstamp, or why there is none:
   *   `cookie_revoked` (deleted), `cookie_expired`, or
   *   `cookie_unknown_session` (no trace: never issued here, or ended longer
   *   ago than its absolute lifetime).
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  async read(id: string, now: number): Promise<StorageReadResult> {
    const entry = await withRetry(this.#retry, "read", () => this.#kv.get(this.#record(id)));
    if (entry.value === null || entry.versionstamp === null) {
      // Rare path (a stale or forged token): one more read tells why the record is missing.
      const trace = await withRetry(this.#retry, "read", () => this.#kv.get(this.#trace(id)));
      if (!isTrace(trace.value)) return { ok: false, code: "cookie_unknown_session" };
      return { ok: false, code: trace.value.revoked ? "cookie_revoked" : "cookie_expired" };
    }
    // Issued-at is checked by sessions(), which knows its configured clock skew.
    const checked = checkPayload(entry.value, now, { clockSkew: Infinity });
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
   * @returns The new versionstamp, or `null` on a conflict (including a create
   *   under an id that still has a trace).
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
    const traceExpireIn = Math.max(1, payload.expiresAt - now) + EXPIRE_GRACE;
    const oldUser = previous?.payload.userId;
    return withRetry(this.#retry, "write", async () => {
      const until = Date.now() + traceExpireIn;
      const op = this.#kv.atomic()
        .check({ key: this.#record(id), versionstamp: previous?.version ?? null });
      // An id that was ever issued (its trace is there) is never created again.
      if (previous === null) op.check({ key: this.#trace(id), versionstamp: null });
      op.set(this.#record(id), wire, { expireIn })
        .set(this.#trace(id), { until } satisfies Trace, { expireIn: traceExpireIn });
      if (oldUser !== undefined && oldUser !== payload.userId) op.delete(this.#index(oldUser, id));
      if (payload.userId !== undefined) {
        const entry: IndexEntry = { iat: payload.issuedAt, exp: payload.idleExpiresAt, until };
        op.set(this.#index(payload.userId, id), entry, { expireIn });
      }
      const result = await op.commit();
      return result.ok ? result.versionstamp : null;
    });
  }

  /**
   * Deletes a session and its index entry, and marks its trace, so that
   * later reads of the id give `cookie_revoked`.
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
        const trace = await this.#kv.get(this.#trace(id));
        const uid = (entry.value as { uid?: unknown } | null)?.uid;
        const op = this.#kv.atomic().check(entry).delete(this.#record(id));
        if (typeof uid === "string") op.delete(this.#index(uid, id));
        this.#revoke(op, id, isTrace(trace.value) ? trace.value.until : undefined);
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
   * Deletes every session of a user ("log out everywhere") and marks their
   * traces, so that later reads of their ids give `cookie_revoked`. Requests
   * in flight on those sessions then fail their versionstamp check and do not
   * bring them back.
   *
   * @param userId The user id.
   * @returns How many sessions were deleted.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  deleteByUser(userId: string): Promise<number> {
    return withRetry(this.#retry, "delete by user", async () => {
      let deleted = 0;
      let batch: { id: string; until: number | undefined }[] = [];
      const flush = async (): Promise<void> => {
        const op = this.#kv.atomic();
        for (const { id, until } of batch) {
          op.delete(this.#record(id)).delete(this.#index(userId, id));
          this.#revoke(op, id, until);
        }
        await op.commit();
        deleted += batch.length;
        batch = [];
      };
      const index = this.#kv.list<IndexEntry>({ prefix: [...this.#prefix, "u", userId] });
      for await (const entry of index) {
        const id = entry.key[entry.key.length - 1];
        const until = entry.value?.until;
        if (typeof id === "string") {
          batch.push({ id, until: Number.isFinite(until) ? until : undefined });
        }
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
      return deleted;
    });
  }

  #record(id: string): Deno.KvKey {
    return [...this.#prefix, "s", id];
  }

  #trace(id: string): Deno.KvKey {
    return [...this.#prefix, "t", id];
  }

  /** Adds to `op` the mark that the session `id` was deleted, kept until `until` (real time). */
  #revoke(op: Deno.AtomicOperation, id: string, until: number | undefined): void {
    const deadline = until ?? Date.now() + FALLBACK_TRACE_LIFETIME;
    const trace: Trace = { until: deadline, revoked: true };
    op.set(this.#trace(id), trace, { expireIn: Math.max(1, deadline - Date.now()) });
  }

  #index(userId: string, id: string): Deno.KvKey {
    return [...this.#prefix, "u", userId, id];
  }
}

function isTrace(value: unknown): value is Trace {
  return typeof value === "object" && value !== null &&
    Number.isFinite((value as { until?: unknown }).until);
}
