/**
 * In-memory server-side session storage, for tests, single-process apps and
 * runtimes without Deno KV (Bun).
 *
 * @module
 */

import { CookieError } from "../errors.ts";
import { checkKnownKeys } from "../_options.ts";
import { checkPayload, MAX_PAYLOAD_LENGTH, type SessionPayload, toWire } from "./payload.ts";
import type {
  SessionStorage,
  SessionSummary,
  StorageReadResult,
  StorageWriteOptions,
} from "./session_storage.ts";

/**
 * Options of {@linkcode MemorySessionStorage}.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type MemorySessionStorageOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: MemorySessionStorageOptions = { maxSessions: 1 };
 * const storage = new MemorySessionStorage(options);
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: {} };
 * await storage.write("a", payload, { previous: null, now: 0 });
 * // Full: a new anonymous session is refused...
 * await assert.rejects(storage.write("b", payload, { previous: null, now: 10 }), {
 *   code: "session_storage_failed",
 * });
 * assert.ok(await storage.write("b", payload, { previous: null, now: 60 })); // "a" expired at 50
 * // ...but a login never is: it evicts the least recently written session.
 * assert.ok(await storage.write("c", { ...payload, userId: "ann" }, { previous: null, now: 60 }));
 * assert.deepEqual(await storage.read("b", 60), { ok: false, code: "cookie_expired" });
 * ```
 */
export interface MemorySessionStorageOptions {
  /**
   * The most sessions kept. Default 100 000. When full, expired sessions are
   * dropped first. If it is still full, a new session bound to a user (a
   * login) is never refused: it evicts the least recently written session
   * not bound to a user, or failing that the least recently written one
   * (whose user must log in again; reads of its id give `cookie_expired`).
   * A new session not bound to a user is refused with
   * `session_storage_failed` instead, so anonymous requests can neither
   * lock out logins nor push out logged-in users. As many tombstones of
   * ended sessions are kept besides (the oldest go first).
   */
  readonly maxSessions?: number;
  /**
   * The most sessions one user may hold. Default 100. A login beyond it ends
   * that user's least recently written session (reads of its id give
   * `cookie_expired`), so one account logging in again and again never holds
   * more than this share of the store, and, when the store is full, a login
   * ends the user's own oldest session before anyone else's.
   */
  readonly maxSessionsPerUser?: number;
}

interface MemoryRecord {
  readonly json: string;
  readonly version: string;
  readonly userId: string | undefined;
  readonly issuedAt: number;
  /** The idle expiry (what `listByUser` reports). */
  readonly expiresAt: number;
  /** The absolute expiry: how long a tombstone of this session is kept. */
  readonly absoluteExpiresAt: number;
}

/** What a read of an ended session reports, until its absolute expiry plus a grace period. */
interface Tombstone {
  readonly code: "cookie_revoked" | "cookie_expired";
  readonly until: number;
}

/** How long a tombstone outlives its session's absolute expiry (as KV's records do). */
const TOMBSTONE_GRACE = 60_000;

/**
 * Keeps sessions in a `Map` of this process. Records are stored as JSON, so
 * nothing the caller holds aliases stored state. Writes are compare-and-set
 * on a version counter, exactly like {@linkcode KvSessionStorage}.
 *
 * A session that ends (deleted, or dropped once expired) leaves a tombstone
 * until its absolute expiry plus a minute, so a read of its id reports
 * `cookie_revoked` or `cookie_expired`, while an id never issued here reports
 * `cookie_unknown_session`. At most `maxSessions` tombstones are kept; past
 * that the oldest are forgotten (their ids then read as unknown).
 *
 * @example
 * ```ts
 * import { MemorySessionStorage } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemorySessionStorage();
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, userId: "ann", data: { n: 1 } };
 * const version = await storage.write("id1",payload, { previous: null, now: 0 });
 * assert.ok(version);
 * const read = await storage.read("id1", 10);
 * assert.ok(read.ok);
 * assert.equal(await storage.write("id1",payload, { previous: null, now: 10 }), null); // lost the race: not absent any more
 * assert.deepEqual((await storage.listByUser("ann", 10)).map((s) => s.id), ["id1"]);
 * assert.equal(await storage.deleteByUser("ann"), 1);
 * ```
 */
export class MemorySessionStorage implements SessionStorage {
  readonly #records = new Map<string, MemoryRecord>();
  readonly #tombstones = new Map<string, Tombstone>();
  readonly #byUser = new Map<string, Set<string>>();
  /** Ids of records not bound to a user, least recently written first. */
  readonly #anonymous = new Set<string>();
  readonly #maxSessions: number;
  readonly #maxPerUser: number;
  #counter = 0;

  /**
   * Creates an empty store.
   *
   * @param options The size bounds.
   * @throws {RangeError} When `maxSessions` or `maxSessionsPerUser` is not a
   *   positive integer.
   * @throws {TypeError} For an unknown option name.
   */
  constructor(options: MemorySessionStorageOptions = {}) {
    checkKnownKeys(options, ["maxSessions", "maxSessionsPerUser"], "MemorySessionStorage");
    const max = options.maxSessions ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`maxSessions must be a positive integer, not ${max}`);
    }
    const perUser = options.maxSessionsPerUser ?? 100;
    if (!Number.isSafeInteger(perUser) || perUser < 1) {
      throw new RangeError(`maxSessionsPerUser must be a positive integer, not ${perUser}`);
    }
    this.#maxSessions = max;
    this.#maxPerUser = perUser;
  }

  /**
   * How many session records are kept (live, or expired and not yet
   * dropped); tombstones of ended sessions are not counted.
   *
   * @returns The number of records.
   */
  get size(): number {
    return this.#records.size;
  }

  /**
   * Reads a session, checking its expiry (an expired record is dropped,
   * leaving a tombstone).
   *
   * @param id The session's public id.
   * @param now The current time (ms since the epoch).
   * @returns The session and its version, or why there is none:
   *   `cookie_revoked` (deleted), `cookie_expired`, or
   *   `cookie_unknown_session` (never issued here, or ended longer ago than
   *   its absolute lifetime).
   * @throws Nothing.
   */
  read(id: string, now: number): Promise<StorageReadResult> {
    const record = this.#records.get(id);
    if (record === undefined) {
      const tombstone = this.#tombstones.get(id);
      if (tombstone !== undefined && tombstone.until > now) {
        return Promise.resolve({ ok: false, code: tombstone.code });
      }
      this.#tombstones.delete(id);
      return Promise.resolve({ ok: false, code: "cookie_unknown_session" });
    }
    // Issued-at is checked by sessions(), which knows its configured clock skew.
    const checked = checkPayload(JSON.parse(record.json), now, { clockSkew: Infinity });
    if (!checked.ok) {
      if (checked.code === "cookie_expired") this.#remove(id, "cookie_expired");
      const code = checked.code === "cookie_expired" ? "cookie_expired" : "cookie_malformed";
      return Promise.resolve({ ok: false, code });
    }
    return Promise.resolve({ ok: true, payload: checked.payload, version: record.version });
  }

  /**
   * Writes a session if it is unchanged since `previous` was read.
   *
   * @param id The session's public id.
   * @param payload The new envelope.
   * @param options What the caller read (or `null` to create) and the current time.
   * @returns The new version, or `null` on a conflict (including a create
   *   under the id of a session that ended).
   * @throws {CookieError} `cookie_too_large` for an envelope over 64 KiB of JSON;
   *   `session_storage_failed` for a new session not bound to a user when the
   *   store is full (a new session bound to a user evicts another instead).
   */
  write(id: string, payload: SessionPayload, options: StorageWriteOptions): Promise<string | null> {
    const { previous, now } = options;
    // A move to a new id: the old record goes right after, so it is neither counted nor evicted.
    const moving = options.replaces !== undefined && options.replaces !== id &&
        this.#records.has(options.replaces)
      ? options.replaces
      : undefined;
    const json = JSON.stringify(toWire(payload));
    if (json.length > MAX_PAYLOAD_LENGTH) {
      return Promise.reject(new CookieError("cookie_too_large", "session data exceeds 64 KiB"));
    }
    const current = this.#records.get(id);
    if ((current?.version ?? null) !== (previous?.version ?? null)) return Promise.resolve(null);
    // An ended session's id is never brought back to life.
    if (previous === null && this.#tombstones.has(id)) return Promise.resolve(null);
    const mine = payload.userId === undefined ? undefined : this.#byUser.get(payload.userId);
    const ownCount = (mine?.size ?? 0) - (moving !== undefined && mine?.has(moving) ? 1 : 0);
    if (current === undefined && mine !== undefined && ownCount >= this.#maxPerUser) {
      // One account holds at most its share: its least recently written session ends.
      const oldest = [...mine].find((other) => other !== moving);
      if (oldest !== undefined) this.#remove(oldest, "cookie_expired");
    }
    if (current === undefined && moving === undefined && this.#records.size >= this.#maxSessions) {
      this.#purge(now);
      if (this.#records.size >= this.#maxSessions) {
        if (payload.userId === undefined) {
          return Promise.reject(new CookieError("session_storage_failed", "session store is full"));
        }
        // A login is never refused: anonymous sessions go first, then the user's own oldest,
        // then the least recently written of all.
        const victim = this.#anonymous.values().next().value ??
          this.#byUser.get(payload.userId)?.values().next().value ??
          this.#records.keys().next().value;
        if (victim !== undefined) this.#remove(victim, "cookie_expired");
      }
    }
    this.#unlink(id);
    const version = String(++this.#counter);
    this.#records.set(id, {
      json,
      version,
      userId: payload.userId,
      issuedAt: payload.issuedAt,
      expiresAt: payload.idleExpiresAt,
      absoluteExpiresAt: payload.expiresAt,
    });
    if (payload.userId !== undefined) {
      let ids = this.#byUser.get(payload.userId);
      if (ids === undefined) this.#byUser.set(payload.userId, ids = new Set());
      ids.add(id);
    } else {
      this.#anonymous.add(id);
    }
    return Promise.resolve(version);
  }

  /**
   * Deletes a session; later reads of its id give `cookie_revoked`, or
   * `cookie_expired` for `reason` `"expired"`.
   *
   * @param id The session's public id.
   * @param reason Why it ends: `"revoked"` (default) or `"expired"`.
   * @returns Nothing.
   * @throws Nothing.
   */
  delete(id: string, reason: "revoked" | "expired" = "revoked"): Promise<void> {
    this.#remove(id, reason === "expired" ? "cookie_expired" : "cookie_revoked");
    return Promise.resolve();
  }

  /**
   * Lists a user's live sessions.
   *
   * @param userId The user id.
   * @param now The current time (ms since the epoch).
   * @returns The live sessions.
   * @throws Nothing.
   */
  listByUser(userId: string, now: number): Promise<SessionSummary[]> {
    const out: SessionSummary[] = [];
    for (const id of this.#byUser.get(userId) ?? []) {
      const record = this.#records.get(id);
      if (record !== undefined && record.expiresAt > now) {
        out.push({ id, issuedAt: record.issuedAt, expiresAt: record.expiresAt });
      }
    }
    return Promise.resolve(out);
  }

  /**
   * Deletes every session of a user; later reads of their ids give `cookie_revoked`.
   *
   * @param userId The user id.
   * @returns How many sessions were deleted.
   * @throws Nothing.
   */
  deleteByUser(userId: string): Promise<number> {
    const ids = [...(this.#byUser.get(userId) ?? [])];
    for (const id of ids) this.#remove(id, "cookie_revoked");
    return Promise.resolve(ids.length);
  }

  /** Ends a session: drops its record and leaves a tombstone saying why. */
  #remove(id: string, code: Tombstone["code"]): void {
    const record = this.#unlink(id);
    if (record === undefined) return;
    if (this.#tombstones.size >= this.#maxSessions) {
      const oldest = this.#tombstones.keys().next();
      if (!oldest.done) this.#tombstones.delete(oldest.value);
    }
    this.#tombstones.set(id, { code, until: record.absoluteExpiresAt + TOMBSTONE_GRACE });
  }

  /** Drops a record and its index entry; returns what was dropped. */
  #unlink(id: string): MemoryRecord | undefined {
    const record = this.#records.get(id);
    if (record === undefined) return undefined;
    this.#records.delete(id);
    this.#anonymous.delete(id);
    if (record.userId === undefined) return record;
    const ids = this.#byUser.get(record.userId);
    ids?.delete(id);
    if (ids?.size === 0) this.#byUser.delete(record.userId);
    return record;
  }

  #purge(now: number): void {
    for (const [id, tombstone] of this.#tombstones) {
      if (tombstone.until <= now) this.#tombstones.delete(id);
    }
    for (const [id, record] of this.#records) {
      if (record.expiresAt <= now) this.#remove(id, "cookie_expired");
    }
  }
}
