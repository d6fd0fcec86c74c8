/**
 * The server-side storage interface: where sessions live when the cookie
 * carries only an opaque id.
 *
 * @module
 */

import type { SessionPayload } from "./payload.ts";

/**
 * A session as read from storage, with the version its next write must match.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type StoredSession } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemorySessionStorage();
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: { n: 1 } };
 * await storage.write("id1", payload, { previous: null, now: 0 });
 * const read = await storage.read("id1", 10);
 * assert.ok(read.ok);
 * const stored: StoredSession = read;
 * const next = { ...payload, data: { n: 2 } };
 * assert.ok(await storage.write("id1", next, { previous: stored, now: 10 }));
 * // `stored` is now an old version: a second write from it loses.
 * assert.equal(await storage.write("id1", next, { previous: stored, now: 10 }), null);
 * ```
 */
export interface StoredSession {
  /** Always `true`. */
  readonly ok: true;
  /** The envelope, already checked for shape and expiry. */
  readonly payload: SessionPayload;
  /** An opaque version (a KV versionstamp); a write succeeds only while it is current. */
  readonly version: string;
}

/**
 * The outcome of {@linkcode SessionStorage.read}.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type StorageReadResult } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemorySessionStorage();
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: {} };
 * await storage.write("id1", payload, { previous: null, now: 0 });
 * await storage.delete("id1"); // logout
 * const gone: StorageReadResult = await storage.read("id1", 10);
 * assert.deepEqual(gone, { ok: false, code: "cookie_revoked" });
 * const forged: StorageReadResult = await storage.read("no-such-session", 10);
 * assert.deepEqual(forged, { ok: false, code: "cookie_unknown_session" });
 * ```
 */
export type StorageReadResult =
  | StoredSession
  | {
    readonly ok: false;
    /**
     * - `cookie_revoked`: the session existed and was deleted (logout,
     *   regenerate, log out everywhere);
     * - `cookie_expired`: it is past its absolute or idle expiry, or its
     *   record was dropped for being past it;
     * - `cookie_unknown_session`: the store has no trace of the id: never
     *   issued here (forged or guessed), or ended longer ago than its
     *   absolute lifetime;
     * - `cookie_malformed`: the stored record does not parse.
     *
     * To tell the first three apart, a store remembers every id it issued
     * until the session's absolute expiry, with a tombstone once the record
     * is gone. A store that keeps no such trace cannot tell a deleted session
     * from a forged token; it should report `cookie_unknown_session` only for
     * ids it knows it never issued.
     */
    readonly code:
      | "cookie_revoked"
      | "cookie_expired"
      | "cookie_unknown_session"
      | "cookie_malformed";
  };

/**
 * One live session of a user, as listed by {@linkcode SessionStorage.listByUser}.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type SessionSummary } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemorySessionStorage();
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, userId: "ann", data: {} };
 * await storage.write("id1", payload, { previous: null, now: 0 });
 * const sessions: SessionSummary[] = await storage.listByUser("ann", 10);
 * assert.deepEqual(sessions, [{ id: "id1", issuedAt: 0, expiresAt: 50 }]); // idle expiry
 * ```
 */
export interface SessionSummary {
  /** The session's public id (not the secret in the cookie). */
  readonly id: string;
  /** When the session was created or last regenerated (ms since the epoch). */
  readonly issuedAt: number;
  /** When it dies unless renewed (ms since the epoch). */
  readonly expiresAt: number;
}

/**
 * Options of {@linkcode SessionStorage.write}.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type StorageWriteOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemorySessionStorage();
 * const payload = { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data: {} };
 * const create: StorageWriteOptions = { previous: null, now: 0 };
 * assert.equal(typeof await storage.write("id1", payload, create), "string");
 * assert.equal(await storage.write("id1", payload, create), null); // no longer absent
 * ```
 */
export interface StorageWriteOptions {
  /** What the caller read before (its version must still be current), or `null` to create. */
  readonly previous: StoredSession | null;
  /** The current time (ms since the epoch), for the store's own time-to-live. */
  readonly now: number;
  /**
   * When a session moves to a new id (login, `regenerate()`, a change of
   * user), the id it moves from: `sessions()` deletes that one right after
   * this write. A bounded store must not end it to make room for its own
   * successor, and may count the two as one meanwhile.
   */
  readonly replaces?: string | undefined;
}

/**
 * Keeps session envelopes by id. `sessions()` stores a session once it is
 * bound to a user (or, with `anonymous: "store"`, once it is first written).
 * Implementations check expiry themselves on
 * every read (a store's own time-to-live may be lazy), keep an index by user
 * id, make `write` an atomic compare-and-set on the version, and remember
 * which ids they issued until the session's absolute expiry, so that `read`
 * tells a deleted (`cookie_revoked`) or expired (`cookie_expired`) session
 * from a token never issued (`cookie_unknown_session`).
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type SessionStorage, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const storage: SessionStorage = new MemorySessionStorage();
 * const handler = sessions({ storage })((_req, _info, session) => {
 *   session.setUser("ann");
 *   return new Response("ok");
 * });
 * await handler(new Request("https://example.com/"), {});
 * assert.equal((await storage.listByUser("ann", Date.now())).length, 1);
 * assert.equal(await storage.deleteByUser("ann"), 1);
 * ```
 */
export interface SessionStorage {
  /**
   * Reads a session.
   *
   * @param id The session's public id.
   * @param now The current time (ms since the epoch).
   * @returns The session and its version, or why there is none: see
   *   {@linkcode StorageReadResult}.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  read(id: string, now: number): Promise<StorageReadResult>;
  /**
   * Writes a session if it is still at the version `previous` was read at
   * (or, when `previous` is `null`, if the id was never used: a deleted
   * session's id is never brought back).
   *
   * @param id The session's public id.
   * @param payload The new envelope.
   * @param options What the caller read before (or `null` to create) and the time.
   * @returns The new version, or `null` when another write came first.
   * @throws {CookieError} `cookie_too_large` when the envelope exceeds the store's
   *   value limit; `session_storage_failed` when the store fails.
   */
  write(id: string, payload: SessionPayload, options: StorageWriteOptions): Promise<string | null>;
  /**
   * Deletes a session (logout); later reads of its id give `cookie_revoked`,
   * or `cookie_expired` when `reason` is `"expired"` (`sessions()` passes it
   * for a session older than the configured `maxAge`, after an operator
   * shortened it). Deleting a missing session is not an error.
   *
   * @param id The session's public id.
   * @param reason Why it ends: `"revoked"` (default) or `"expired"`.
   * @returns Nothing.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  delete(id: string, reason?: "revoked" | "expired"): Promise<void>;
  /**
   * Lists a user's live sessions ("where am I logged in").
   *
   * @param userId The user id.
   * @param now The current time (ms since the epoch).
   * @returns The sessions, oldest first or in store order.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  listByUser(userId: string, now: number): Promise<SessionSummary[]>;
  /**
   * Deletes every session of a user ("log out everywhere"); later reads of
   * their ids give `cookie_revoked`.
   *
   * @param userId The user id.
   * @returns How many sessions were deleted.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  deleteByUser(userId: string): Promise<number>;
}
