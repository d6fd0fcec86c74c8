/**
 * A server-side ticket store in the memory of one process: for tests, for a
 * single instance, and for runtimes without Deno KV.
 *
 * @module
 */

import { settleAll } from "../_settle.ts";
import { toHex } from "../crypto/_bytes.ts";
import {
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketLookup,
  type TicketStore,
} from "../session/resumption.ts";
import {
  checkNow,
  checkRedeem,
  checkTicket,
  isExpired,
  isRevokedByPeer,
  isTicketId,
  RECORD_GRACE,
  storedTicket,
  type TicketBody,
  ticketEnd,
  ticketIdHash,
} from "./_ticket_record.ts";

/** A ticket as the store holds it. */
interface Entry {
  readonly body: TicketBody;
  /** Hex of the family. */
  readonly family: string;
  /** Hex of the peer id. */
  readonly peer: string;
  redeemedWith: Uint8Array | null;
  version: string;
}

/** The store sweeps out ended tickets when it holds at least this many (and twice as many as after its last sweep). */
const SWEEP_MIN = 1024;

/**
 * Keeps issued tickets in a `Map` of one process, keyed by the hex SHA-256 of
 * the ticket id (never the id itself), with indexes by family and by peer for
 * revocation.
 *
 * It behaves like `KvTicketStore` in every respect but sharing: `find`
 * checks expiry (`expiresAt`, and 7 days after the family's full handshake)
 * and revocation itself; each `redeem` checks and changes the record in one
 * synchronous step after its only `await`, so of any number of concurrent
 * calls for one ticket exactly one succeeds; a redeemed ticket is kept, with
 * its binder hash, until it ends, so that reuse is seen. Records change
 * version on every change. Ended tickets and old revocation markers are swept
 * out as the store grows.
 *
 * Several processes or instances need a shared store: use `KvTicketStore`.
 *
 * @example
 * ```ts
 * import { MemoryTicketStore } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryTicketStore();
 * const now = Date.now();
 * const id = crypto.getRandomValues(new Uint8Array(16));
 * const family = crypto.getRandomValues(new Uint8Array(16));
 * const ticket = (id: Uint8Array) => ({
 *   id,
 *   secret: crypto.getRandomValues(new Uint8Array(32)),
 *   peerId: new TextEncoder().encode("alice"),
 *   peerKeyFingerprint: new Uint8Array(32),
 *   attributes: { authLevel: 2 },
 *   issuedAt: now,
 *   expiresAt: now + 3_600_000,
 *   family,
 *   authenticatedAt: now,
 * });
 * await store.issue([ticket(id)], now);
 *
 * const found = await store.find(id, now);
 * assert.equal(found.status, "live");
 * if (found.status !== "live") throw new Error("unreachable");
 * const binderHash = new Uint8Array(32).fill(7);
 * const next = ticket(crypto.getRandomValues(new Uint8Array(16)));
 * assert.equal(await store.redeem(id, found.ticket, binderHash, next, now), true);
 * assert.equal(await store.redeem(id, found.ticket, binderHash, next, now), false); // once
 * assert.equal((await store.find(id, now)).status, "redeemed");
 * assert.equal((await store.find(next.id, now)).status, "live");
 * ```
 */
export class MemoryTicketStore implements TicketStore {
  #records = new Map<string, Entry>();
  #byFamily = new Map<string, Set<string>>();
  #byPeer = new Map<string, Set<string>>();
  /** Family hex → when it was revoked. */
  #revokedFamilies = new Map<string, number>();
  /** Peer hex → the latest revocation time: tickets authenticated at or before it are revoked. */
  #revokedPeers = new Map<string, number>();
  #versions = 0;
  #sweepAt = SWEEP_MIN;

  /**
   * Keeps newly issued tickets: all of them, or none when one is invalid. An
   * id issued again replaces its ticket: ids must be fresh random bytes.
   *
   * @param tickets The tickets, each with a 16 to 64 byte id, a 32-byte
   *   secret, a 32-byte key fingerprint and a 16-byte family.
   * @param now The current time in milliseconds.
   * @returns Nothing.
   * @throws {TypeError} When a ticket lacks a field or has one of the wrong
   *   type, or its attributes are not plain JSON.
   * @throws {RangeError} When a field has the wrong length, `expiresAt` is not
   *   after `issuedAt`, the lifetime exceeds `MAX_TICKET_LIFETIME`, or the
   *   attributes exceed 32 KiB of JSON.
   *
   * @example
   * ```ts
   * import { MemoryTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryTicketStore();
   * const now = Date.now();
   * const ticket = {
   *   id: crypto.getRandomValues(new Uint8Array(16)),
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   peerId: new Uint8Array([1]),
   *   peerKeyFingerprint: new Uint8Array(32),
   *   attributes: {},
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   *   family: new Uint8Array(16),
   *   authenticatedAt: now,
   * };
   * await store.issue([ticket], now);
   * await assert.rejects(store.issue([{ ...ticket, secret: new Uint8Array(31) }], now), RangeError);
   * ```
   */
  async issue(tickets: readonly ServerTicket[], now: number): Promise<void> {
    checkNow(now);
    if (!Array.isArray(tickets)) throw new TypeError("tickets must be an array");
    const bodies = tickets.map((ticket, i) => checkTicket(ticket, `tickets[${i}]`));
    const hashes = await settleAll(tickets.map((ticket) => ticketIdHash(ticket.id)));
    // One synchronous step from here on: all or nothing, never interleaved.
    this.#sweep(now);
    bodies.forEach((body, i) => this.#put(hashes[i]!, body));
  }

  /**
   * Looks a ticket up by the id the client presented, checking expiry and
   * revocation against `now`.
   *
   * @param id The ticket id (any length: ids outside 16 to 64 bytes are `unknown`).
   * @param now The current time in milliseconds.
   * @returns `unknown`, `expired`, `revoked`, or the ticket as `live` or `redeemed`.
   * @throws {TypeError} When `id` is not a `Uint8Array` or `now` not a finite number.
   *
   * @example
   * ```ts
   * import { MemoryTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryTicketStore();
   * const now = Date.now();
   * const id = crypto.getRandomValues(new Uint8Array(16));
   * await store.issue([{
   *   id,
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   peerId: new Uint8Array([1]),
   *   peerKeyFingerprint: new Uint8Array(32),
   *   attributes: { authLevel: 1 },
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   *   family: new Uint8Array(16),
   *   authenticatedAt: now,
   * }], now);
   * const found = await store.find(id, now);
   * assert.equal(found.status === "live" && found.ticket.attributes.authLevel, 1);
   * assert.equal((await store.find(id, now + 60_000)).status, "expired");
   * ```
   */
  async find(id: Uint8Array, now: number): Promise<TicketLookup> {
    checkNow(now);
    if (!isTicketId(id)) return { status: "unknown" };
    const entry = this.#records.get(await ticketIdHash(id));
    if (entry === undefined) return { status: "unknown" };
    if (isExpired(entry.body, now)) return { status: "expired" };
    if (this.#isRevoked(entry.body, entry.family, entry.peer)) return { status: "revoked" };
    const ticket = storedTicket(entry.body, entry.redeemedWith, entry.version);
    return { status: entry.redeemedWith === null ? "live" : "redeemed", ticket };
  }

  /**
   * Marks a found ticket redeemed with `binderHash` and keeps its successor,
   * in one step: only if the ticket is unchanged since `find` (same version,
   * not redeemed), has not ended at `now`, and neither its family nor its
   * peer (nor the successor's) is revoked.
   *
   * @param id The ticket id.
   * @param found The ticket as `find` returned it; only its `version` is used.
   * @param binderHash SHA-256 of the binder that redeems it (32 bytes).
   * @param successor The ticket that replaces it, or `null`.
   * @param now The current time in milliseconds.
   * @returns `true` when this call redeemed the ticket; `false` when another
   *   call did, or it changed, ended or was revoked since `find`.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When `binderHash` is not 32 bytes, or the successor is
   *   invalid (see {@linkcode MemoryTicketStore.issue}) or has the ticket's own id.
   *
   * @example
   * ```ts
   * import { MemoryTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryTicketStore();
   * const now = Date.now();
   * const id = crypto.getRandomValues(new Uint8Array(16));
   * await store.issue([{
   *   id,
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   peerId: new Uint8Array([1]),
   *   peerKeyFingerprint: new Uint8Array(32),
   *   attributes: {},
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   *   family: new Uint8Array(16),
   *   authenticatedAt: now,
   * }], now);
   * const found = await store.find(id, now);
   * if (found.status !== "live") throw new Error("expected a live ticket");
   * const attempts = Array.from(
   *   { length: 10 },
   *   () => store.redeem(id, found.ticket, new Uint8Array(32), null, now),
   * );
   * assert.equal((await Promise.all(attempts)).filter(Boolean).length, 1);
   * ```
   */
  async redeem(
    id: Uint8Array,
    found: StoredTicket,
    binderHash: Uint8Array,
    successor: ServerTicket | null,
    now: number,
  ): Promise<boolean> {
    const { version, binder, next, wellFormed } = checkRedeem(
      id,
      found,
      binderHash,
      successor,
      now,
    );
    if (!wellFormed) return false;
    const [hash, nextHash] = await settleAll([
      ticketIdHash(id),
      successor === null ? null : ticketIdHash(successor.id),
    ]);
    if (nextHash === hash) throw new RangeError("successor must have an id of its own");
    // One synchronous step from here on: the check and the change are atomic.
    const entry = this.#records.get(hash);
    if (entry === undefined || entry.version !== version || entry.redeemedWith !== null) {
      return false;
    }
    if (isExpired(entry.body, now) || this.#isRevoked(entry.body, entry.family, entry.peer)) {
      return false;
    }
    if (next !== null && this.#isRevoked(next, toHex(next.family), toHex(next.peerId))) {
      return false;
    }
    entry.redeemedWith = binder;
    entry.version = this.#nextVersion();
    if (next !== null && nextHash !== null) {
      this.#sweep(now);
      this.#put(nextHash, next);
    }
    return true;
  }

  /**
   * Revokes every ticket of a family, now and for its remaining lifetime:
   * forgets the tickets, and remembers the family so that a ticket of it that
   * appears later (a successor written by a concurrent `redeem`) is `revoked`.
   *
   * @param family The 16-byte family.
   * @param now The current time in milliseconds.
   * @returns Nothing.
   * @throws {TypeError} When `family` is not a `Uint8Array` or `now` not a finite number.
   * @throws {RangeError} When `family` is not 16 bytes.
   *
   * @example
   * ```ts
   * import { MemoryTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryTicketStore();
   * const now = Date.now();
   * const id = crypto.getRandomValues(new Uint8Array(16));
   * const family = crypto.getRandomValues(new Uint8Array(16));
   * await store.issue([{
   *   id,
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   peerId: new Uint8Array([1]),
   *   peerKeyFingerprint: new Uint8Array(32),
   *   attributes: {},
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   *   family,
   *   authenticatedAt: now,
   * }], now);
   * await store.revokeFamily(family, now);
   * assert.notEqual((await store.find(id, now)).status, "live");
   * ```
   */
  // deno-lint-ignore require-await
  async revokeFamily(family: Uint8Array, now: number): Promise<void> {
    checkNow(now);
    if (!(family instanceof Uint8Array)) throw new TypeError("family must be a Uint8Array");
    if (family.length !== 16) throw new RangeError("family must be 16 bytes");
    const key = toHex(family);
    this.#revokedFamilies.set(key, Math.max(this.#revokedFamilies.get(key) ?? now, now));
    for (const hash of [...(this.#byFamily.get(key) ?? [])]) this.#delete(hash);
  }

  /**
   * Revokes every ticket of a peer whose family began (`authenticatedAt`) at
   * or before `now`: logout, or a compromised key. Tickets from a later full
   * handshake are not affected.
   *
   * @param peerId The peer id (1 to 1024 bytes).
   * @param now The current time in milliseconds: the revocation time.
   * @returns Nothing.
   * @throws {TypeError} When `peerId` is not a `Uint8Array` or `now` not a finite number.
   * @throws {RangeError} When `peerId` is empty or longer than 1024 bytes.
   *
   * @example
   * ```ts
   * import { MemoryTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryTicketStore();
   * const now = Date.now();
   * const peerId = new TextEncoder().encode("alice");
   * const ticket = (authenticatedAt: number) => ({
   *   id: crypto.getRandomValues(new Uint8Array(16)),
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   peerId,
   *   peerKeyFingerprint: new Uint8Array(32),
   *   attributes: {},
   *   issuedAt: now + 10,
   *   expiresAt: now + 60_000,
   *   family: crypto.getRandomValues(new Uint8Array(16)),
   *   authenticatedAt,
   * });
   * const before = ticket(now - 1000);
   * const after = ticket(now + 5); // a new full handshake after the logout
   * await store.issue([before, after], now + 10);
   * await store.revokePeer(peerId, now);
   * assert.notEqual((await store.find(before.id, now + 10)).status, "live");
   * assert.equal((await store.find(after.id, now + 10)).status, "live");
   * ```
   */
  // deno-lint-ignore require-await
  async revokePeer(peerId: Uint8Array, now: number): Promise<void> {
    checkNow(now);
    if (!(peerId instanceof Uint8Array)) throw new TypeError("peerId must be a Uint8Array");
    if (peerId.length < 1 || peerId.length > 1024) {
      throw new RangeError("peerId must be 1 to 1024 bytes");
    }
    const key = toHex(peerId);
    const revokedAt = Math.max(this.#revokedPeers.get(key) ?? now, now);
    this.#revokedPeers.set(key, revokedAt);
    for (const hash of [...(this.#byPeer.get(key) ?? [])]) {
      const entry = this.#records.get(hash);
      if (entry !== undefined && isRevokedByPeer(entry.body, revokedAt)) this.#delete(hash);
    }
  }

  #nextVersion(): string {
    return String(++this.#versions);
  }

  #isRevoked(body: TicketBody, family: string, peer: string): boolean {
    return this.#revokedFamilies.has(family) ||
      isRevokedByPeer(body, this.#revokedPeers.get(peer) ?? null);
  }

  #put(hash: string, body: TicketBody): void {
    this.#delete(hash); // an id issued again replaces the old record and its index entries
    const entry: Entry = {
      body,
      family: toHex(body.family),
      peer: toHex(body.peerId),
      redeemedWith: null,
      version: this.#nextVersion(),
    };
    this.#records.set(hash, entry);
    addTo(this.#byFamily, entry.family, hash);
    addTo(this.#byPeer, entry.peer, hash);
  }

  #delete(hash: string): void {
    const entry = this.#records.get(hash);
    if (entry === undefined) return;
    this.#records.delete(hash);
    removeFrom(this.#byFamily, entry.family, hash);
    removeFrom(this.#byPeer, entry.peer, hash);
    entry.body.secret.fill(0);
  }

  /** Forgets ended tickets and markers that can no longer match a live ticket. */
  #sweep(now: number): void {
    if (this.#records.size < this.#sweepAt) return;
    for (const [hash, entry] of this.#records) {
      if (ticketEnd(entry.body) + RECORD_GRACE <= now) this.#delete(hash);
    }
    for (const markers of [this.#revokedFamilies, this.#revokedPeers]) {
      for (const [key, revokedAt] of markers) {
        if (revokedAt + MAX_TICKET_LIFETIME + RECORD_GRACE <= now) markers.delete(key);
      }
    }
    this.#sweepAt = Math.max(SWEEP_MIN, 2 * this.#records.size);
  }
}

function addTo(index: Map<string, Set<string>>, key: string, hash: string): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, set = new Set());
  set.add(hash);
}

function removeFrom(index: Map<string, Set<string>>, key: string, hash: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(hash);
  if (set.size === 0) index.delete(key);
}
