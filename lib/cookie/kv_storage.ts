/**
 * Server-side session storage in Deno KV: a local SQLite file for one
 * process, or a remote KV (Deno Deploy, self-hosted denokv) shared by many
 * instances, with no code change. Bun and Node reach the same databases
 * through `npm:@deno/kv`.
 *
 * @module
 */

import { checkKnownKeys } from "../_options.ts";
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
 * A key in the KV database: the parts the session stores write.
 *
 * @example
 * ```ts
 * import { KvSessionStorage } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * type Key = NonNullable<ConstructorParameters<typeof KvSessionStorage>[1]>["prefix"];
 * const prefix: Key = ["myapp", "sessions"];
 * assert.equal(prefix?.length, 2);
 * ```
 */
export type SessionKvKey = readonly (string | number | bigint | boolean | Uint8Array)[];

/**
 * The part of `Deno.AtomicOperation` that {@linkcode KvSessionStorage} and
 * `KvRevocationStore` use. `@deno/kv`'s atomic operations fit it too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const result = await kv.atomic()
 *     .check({ key: ["a"], versionstamp: null })
 *     .set(["a"], new Uint8Array([1])) // the stores write only bytes...
 *     .sum(["n"], 1n) // ...and 64-bit counters
 *     .commit();
 *   assert.equal(result.ok, true);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface SessionKvAtomicOperation {
  /**
   * Adds checks: the commit fails unless each key is still at its versionstamp
   * (`null`: absent).
   *
   * @param checks The keys and versionstamps.
   * @returns The operation.
   */
  check(
    ...checks: { readonly key: SessionKvKey; readonly versionstamp: string | null }[]
  ): SessionKvAtomicOperation;
  /**
   * Sets a key to a value, optionally expiring after `expireIn` milliseconds.
   *
   * @param key The key.
   * @param value The value: always a `Uint8Array` here.
   * @param options `expireIn`.
   * @returns The operation.
   */
  set(
    key: SessionKvKey,
    value: Uint8Array,
    options?: { readonly expireIn?: number },
  ): SessionKvAtomicOperation;
  /**
   * Adds `n` to the 64-bit unsigned counter at `key` (absent counts as 0).
   *
   * @param key The key.
   * @param n The amount.
   * @returns The operation.
   */
  sum(key: SessionKvKey, n: bigint): SessionKvAtomicOperation;
  /**
   * Deletes a key.
   *
   * @param key The key.
   * @returns The operation.
   */
  delete(key: SessionKvKey): SessionKvAtomicOperation;
  /**
   * Commits: all mutations or none, and none when a check fails.
   *
   * @returns `ok: true` with the new versionstamp, or `ok: false` when a check failed.
   */
  commit(): Promise<{ readonly ok: true; readonly versionstamp: string } | { readonly ok: false }>;
}

/**
 * The part of `Deno.Kv` that {@linkcode KvSessionStorage} and
 * `KvRevocationStore` use: `get`, `list` and `atomic`. A `Deno.Kv`
 * from `Deno.openKv()` fits it, and so does the handle that `openKv(path,
 * makeLimitedV8Serializer())` of `npm:@deno/kv` returns under Bun and Node.
 *
 * @example
 * ```ts
 * import { KvSessionStorage } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const handle: ConstructorParameters<typeof KvSessionStorage>[0] = kv;
 *   assert.equal((await handle.get(["missing"])).versionstamp, null);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface SessionKv {
  /**
   * Reads one key (strongly consistent).
   *
   * @param key The key.
   * @returns Its value and versionstamp (`null` for both when absent).
   */
  get(
    key: SessionKvKey,
  ): Promise<{ readonly value: unknown; readonly versionstamp: string | null }>;
  /**
   * Lists the entries under a prefix.
   *
   * @param selector The prefix.
   * @param options `limit`: the most entries to return.
   * @returns The entries, in key order.
   */
  list(
    selector: { readonly prefix: SessionKvKey },
    options?: { readonly limit?: number },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }>;
  /**
   * Starts an atomic operation.
   *
   * @returns The operation.
   */
  atomic(): SessionKvAtomicOperation;
}

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
 *   const record = await kv.get(["myapp", "sessions", "s", "id1"]);
 *   assert.ok(record.value instanceof Uint8Array); // UTF-8 JSON
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvSessionStorageOptions {
  /** The key prefix of every record. Default `["tessera", "session"]`. */
  readonly prefix?: readonly (string | number | bigint | boolean | Uint8Array)[];
  /** Attempts for transient "database is locked" errors. Default 6. */
  readonly retryAttempts?: number;
  /** The first backoff in milliseconds, doubling per retry. Default 5. */
  readonly retryBaseDelay?: number;
}

/** How long a record outlives its expiry in KV before KV may drop it (expiry is checked on read). */
const EXPIRE_GRACE = 60_000;
/** Listings `deleteByUser` makes at most, until one comes back empty. */
const DELETE_PASSES = 8;
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
 * Keeps sessions in a KV database the caller opens (and closes): a
 * `Deno.Kv`, or under Bun and Node the handle of `npm:@deno/kv`.
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
 * **Values.** Every value is a `Uint8Array` of UTF-8 JSON: the envelope
 * (`toWire`), the trace `{"until":…,"revoked":true}` and the index entry
 * `{"iat":…,"exp":…,"until":…}`. Bytes are the one value type that Deno KV and
 * `npm:@deno/kv` (`makeLimitedV8Serializer`) both read: Deno 2.9 writes
 * strings and objects in V8 serialization version 16, which `@deno/kv` 0.14
 * refuses, and `@deno/kv` writes strings of 128 characters or more in a form
 * Deno cannot read. A value of any other type (such as a record of an earlier
 * build, stored as a structured object) is not read: the session is
 * `cookie_malformed`, and `delete` still removes it.
 *
 * Under Bun or Node: `new KvSessionStorage(await openKv(path,
 * makeLimitedV8Serializer()))` with `openKv` and `makeLimitedV8Serializer`
 * from `npm:@deno/kv`.
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
  constructor(kv: SessionKv, options: KvSessionStorageOptions = {}) {
    if (!isKv(kv)) throw new TypeError("KvSessionStorage needs an open Deno.Kv");
    checkKnownKeys(options, ["prefix", "retryAttempts", "retryBaseDelay"], "KvSessionStorage");
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
   *   `cookie_revoked` (deleted), `cookie_expired`, `cookie_unknown_session`
   *   (no trace: never issued here, or ended longer ago than its absolute
   *   lifetime), or `cookie_malformed` (a stored value that is not this
   *   build's UTF-8 JSON bytes, such as one of an earlier format).
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  async read(id: string, now: number): Promise<StorageReadResult> {
    const key = this.#record(id);
    const entry = await withRetry(this.#retry, "read", () => this.#kv.get(key));
    if (entry.value === null || entry.versionstamp === null) {
      // Rare path (a stale or forged token): one more read tells why the record is missing.
      const trace = await withRetry(this.#retry, "read", () => this.#kv.get(this.#trace(id)));
      if (trace.versionstamp === null) return { ok: false, code: "cookie_unknown_session" };
      const value = decodeTrace(trace.value);
      if (value === undefined) return { ok: false, code: "cookie_malformed" };
      return { ok: false, code: value.revoked ? "cookie_revoked" : "cookie_expired" };
    }
    const wire = decodeJson(entry.value);
    if (wire === undefined) return { ok: false, code: "cookie_malformed" };
    // Issued-at is checked by sessions(), which knows its configured clock skew.
    const checked = checkPayload(wire, now, { clockSkew: Infinity });
    if (checked.ok) return { ok: true, payload: checked.payload, version: entry.versionstamp };
    if (checked.code !== "cookie_expired") return { ok: false, code: "cookie_malformed" };
    const op = this.#kv.atomic().check({ key, versionstamp: entry.versionstamp }).delete(key);
    const uid = userOf(wire);
    if (uid !== undefined) op.delete(this.#index(uid, id));
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
   * @throws {CookieError} `cookie_too_large` for an envelope over 62 KiB of
   *   JSON (KV's value limit is 64 KiB); `session_storage_failed` when KV fails.
   */
  write(id: string, payload: SessionPayload, options: StorageWriteOptions): Promise<string | null> {
    const { previous, now } = options;
    const record = encodeJson(toWire(payload));
    if (record.length > MAX_PAYLOAD_LENGTH - 2048) {
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
      op.set(this.#record(id), record, { expireIn });
      // The trace lives until the absolute expiry: written with the session, and again only
      // when that expiry moves (a shortened maxAge), not on every update.
      if (previous === null || previous.payload.expiresAt !== payload.expiresAt) {
        op.set(this.#trace(id), encodeJson({ until } satisfies Trace), { expireIn: traceExpireIn });
      }
      if (oldUser !== undefined && oldUser !== payload.userId) op.delete(this.#index(oldUser, id));
      if (payload.userId !== undefined) {
        const entry: IndexEntry = { iat: payload.issuedAt, exp: payload.idleExpiresAt, until };
        op.set(this.#index(payload.userId, id), encodeJson(entry), { expireIn });
      }
      const result = await op.commit();
      return result.ok ? result.versionstamp : null;
    });
  }

  /**
   * Deletes a session and its index entry, and marks its trace, so that
   * later reads of the id give `cookie_revoked` (or `cookie_expired` for
   * `reason` `"expired"`). A record of an earlier format is deleted too (its
   * index entry, which cannot be found from it, is left to KV's expiry).
   *
   * @param id The session's public id.
   * @param reason Why it ends: `"revoked"` (default) or `"expired"`.
   * @returns Nothing.
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  async delete(id: string, reason: "revoked" | "expired" = "revoked"): Promise<void> {
    const key = this.#record(id);
    await withRetry(this.#retry, "delete", async () => {
      for (;;) {
        const entry = await this.#kv.get(key);
        if (entry.versionstamp === null) return;
        const trace = await this.#kv.get(this.#trace(id));
        const op = this.#kv.atomic().check({ key, versionstamp: entry.versionstamp }).delete(key);
        const uid = userOf(decodeJson(entry.value));
        if (uid !== undefined) op.delete(this.#index(uid, id));
        this.#revoke(op, id, decodeTrace(trace.value)?.until, reason === "revoked");
        if ((await op.commit()).ok) return;
      }
    });
  }

  /**
   * Lists a user's live sessions (at most 1000).
   *
   * @param userId The user id.
   * @param now The current time (ms since the epoch).
   * @returns The live sessions (index entries that do not decode are skipped).
   * @throws {CookieError} `session_storage_failed` when KV fails.
   */
  listByUser(userId: string, now: number): Promise<SessionSummary[]> {
    return withRetry(this.#retry, "list", async () => {
      const out: SessionSummary[] = [];
      const iter = this.#kv.list({ prefix: [...this.#prefix, "u", userId] }, {
        limit: LIST_LIMIT,
      });
      for await (const entry of iter) {
        const id = entry.key[entry.key.length - 1];
        const { iat, exp } = decodeIndex(entry.value) ?? {};
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
      // A session moved to a new token while the list was being read (a regenerate or a login
      // racing the logout) is indexed after the listing: list again until nothing is left.
      for (let pass = 0; pass < DELETE_PASSES; pass++) {
        const before = deleted;
        const index = this.#kv.list({ prefix: [...this.#prefix, "u", userId] });
        for await (const entry of index) {
          const id = entry.key[entry.key.length - 1];
          // An entry that does not decode (an earlier format) still names a session to delete.
          if (typeof id === "string") batch.push({ id, until: decodeIndex(entry.value)?.until });
          if (batch.length >= DELETE_BATCH) await flush();
        }
        if (batch.length > 0) await flush();
        if (deleted === before) break;
      }
      return deleted;
    });
  }

  #record(id: string): SessionKvKey {
    return [...this.#prefix, "s", id];
  }

  #trace(id: string): SessionKvKey {
    return [...this.#prefix, "t", id];
  }

  /**
   * Adds to `op` the mark that the session `id` was deleted (`revoked`) or
   * ended as expired, kept until `until` (real time).
   */
  #revoke(
    op: SessionKvAtomicOperation,
    id: string,
    until: number | undefined,
    revoked = true,
  ): void {
    const deadline = until ?? Date.now() + FALLBACK_TRACE_LIFETIME;
    const trace: Trace = revoked ? { until: deadline, revoked: true } : { until: deadline };
    op.set(this.#trace(id), encodeJson(trace), { expireIn: Math.max(1, deadline - Date.now()) });
  }

  #index(userId: string, id: string): SessionKvKey {
    return [...this.#prefix, "u", userId, id];
  }
}

/** Whether `kv` has the methods of {@linkcode SessionKv}. */
export function isKv(kv: unknown): kv is SessionKv {
  if (kv === null || typeof kv !== "object") return false;
  const { get, list, atomic } = kv as Record<string, unknown>;
  return typeof get === "function" && typeof list === "function" &&
    typeof atomic === "function";
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A value as stored: UTF-8 JSON bytes. */
function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/**
 * Reads a stored value: `undefined` for anything but UTF-8 JSON bytes (a
 * structured value of an earlier format, a string, corrupt bytes).
 */
function decodeJson(value: unknown): unknown {
  if (!(value instanceof Uint8Array)) return undefined;
  try {
    return JSON.parse(STRICT_UTF8.decode(value));
  } catch {
    return undefined;
  }
}

function decodeTrace(value: unknown): Trace | undefined {
  const trace = decodeJson(value);
  if (typeof trace !== "object" || trace === null) return undefined;
  const { until, revoked } = trace as { until?: unknown; revoked?: unknown };
  if (typeof until !== "number" || !Number.isFinite(until)) return undefined;
  return revoked === true ? { until, revoked } : { until };
}

function decodeIndex(value: unknown): IndexEntry | undefined {
  const entry = decodeJson(value);
  if (typeof entry !== "object" || entry === null) return undefined;
  const { iat, exp, until } = entry as { iat?: unknown; exp?: unknown; until?: unknown };
  if (!Number.isFinite(iat) || !Number.isFinite(exp)) return undefined;
  return {
    iat: iat as number,
    exp: exp as number,
    ...(Number.isFinite(until) ? { until: until as number } : {}),
  };
}

/** The user id of a decoded envelope, if it names one. */
function userOf(wire: unknown): string | undefined {
  const uid = typeof wire === "object" && wire !== null
    ? (wire as { uid?: unknown }).uid
    : undefined;
  return typeof uid === "string" ? uid : undefined;
}
