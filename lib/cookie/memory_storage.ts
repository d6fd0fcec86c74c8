/**
 * In-memory server-side session storage, for tests, single-process apps and
 * runtimes without Deno KV (Bun).
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
 * await assert.rejects(storage.write("b", payload, { previous: null, now: 10 }), {
 *   code: "session_storage_failed",
 * });
 * assert.ok(await storage.write("b", payload, { previous: null, now: 60 })); // "a" expired at 50
 * ```
 */
export interface MemorySessionStorageOptions {
  /**
   * The most sessions kept. When full, expired sessions are dropped; if it is
   * still full, new sessions are refused with `session_storage_failed`.
   * Default 100 000.
   */
  readonly maxSessions?: number;
}

interface MemoryRecord {
  readonly json: string;
  readonly version: string;
  readonly userId: string | undefined;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/**
 * Keeps sessions in a `Map` of this process. Records are stored as JSON, so
 * nothing the caller holds aliases stored state. Writes are compare-and-set
 * on a version counter, exactly like {@linkcode KvSessionStorage}.
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
  readonly #byUser = new Map<string, Set<string>>();
  readonly #maxSessions: number;
  #counter = 0;

  /**
   * Creates an empty store.
   *
   * @param options The size bound.
   * @throws {RangeError} When `maxSessions` is not a positive integer.
   */
  constructor(options: MemorySessionStorageOptions = {}) {
    const max = options.maxSessions ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError("maxSessions must be a positive integer");
    }
    this.#maxSessions = max;
  }

  /**
   * Reads a session, checking its expiry.
   *
   * @param id The session's public id.
   * @param now The current time (ms since the epoch).
   * @returns The session and its version, or why there is none.
   * @throws Nothing.
   */
  read(id: string, now: number): Promise<StorageReadResult> {
    const record = this.#records.get(id);
    if (record === undefined) return Promise.resolve({ ok: false, code: "cookie_revoked" });
    const checked = checkPayload(JSON.parse(record.json), now);
    if (!checked.ok) {
      if (checked.code === "cookie_expired") this.#remove(id);
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
   * @returns The new version, or `null` on a conflict.
   * @throws {CookieError} `cookie_too_large` for an envelope over 64 KiB of JSON;
   *   `session_storage_failed` when the store is full.
   */
  write(id: string, payload: SessionPayload, options: StorageWriteOptions): Promise<string | null> {
    const { previous, now } = options;
    const json = JSON.stringify(toWire(payload));
    if (json.length > MAX_PAYLOAD_LENGTH) {
      return Promise.reject(new CookieError("cookie_too_large", "session data exceeds 64 KiB"));
    }
    const current = this.#records.get(id);
    if ((current?.version ?? null) !== (previous?.version ?? null)) return Promise.resolve(null);
    if (current === undefined && this.#records.size >= this.#maxSessions) {
      this.#purge(now);
      if (this.#records.size >= this.#maxSessions) {
        return Promise.reject(new CookieError("session_storage_failed", "session store is full"));
      }
    }
    this.#remove(id);
    const version = String(++this.#counter);
    this.#records.set(id, {
      json,
      version,
      userId: payload.userId,
      issuedAt: payload.issuedAt,
      expiresAt: payload.idleExpiresAt,
    });
    if (payload.userId !== undefined) {
      let ids = this.#byUser.get(payload.userId);
      if (ids === undefined) this.#byUser.set(payload.userId, ids = new Set());
      ids.add(id);
    }
    return Promise.resolve(version);
  }

  /**
   * Deletes a session.
   *
   * @param id The session's public id.
   * @returns Nothing.
   * @throws Nothing.
   */
  delete(id: string): Promise<void> {
    this.#remove(id);
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
   * Deletes every session of a user.
   *
   * @param userId The user id.
   * @returns How many sessions were deleted.
   * @throws Nothing.
   */
  deleteByUser(userId: string): Promise<number> {
    const ids = [...(this.#byUser.get(userId) ?? [])];
    for (const id of ids) this.#remove(id);
    return Promise.resolve(ids.length);
  }

  #remove(id: string): void {
    const record = this.#records.get(id);
    if (record === undefined) return;
    this.#records.delete(id);
    if (record.userId === undefined) return;
    const ids = this.#byUser.get(record.userId);
    ids?.delete(id);
    if (ids?.size === 0) this.#byUser.delete(record.userId);
  }

  #purge(now: number): void {
    for (const [id, record] of this.#records) if (record.expiresAt <= now) this.#remove(id);
  }
}
