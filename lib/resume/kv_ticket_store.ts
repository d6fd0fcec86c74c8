/**
 * A server-side ticket store in Deno KV: a local SQLite file for one machine,
 * or a remote KV (Deno Deploy, self-hosted denokv) shared by many instances.
 * Bun and Node reach the same databases through `npm:@deno/kv`.
 *
 * @module
 */

import { settleAll } from "../_settle.ts";
import { copy, toBase64Url, toHex } from "../crypto/_bytes.ts";
import { importAesGcmKey } from "../crypto/aes_gcm.ts";
import { randomBytes } from "../crypto/random.ts";
import { sha256 } from "../crypto/sha256.ts";
import { KeyError } from "../errors.ts";
import {
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketLookup,
  type TicketStore,
} from "../session/resumption.ts";
import {
  backoff,
  isTransient,
  type RetryPolicy,
  retryPolicy,
  unavailable,
  withRetry,
} from "./_kv_retry.ts";
import {
  checkNow,
  checkRedeem,
  checkTicket,
  decodeIndex,
  decodeRecord,
  decodeTime,
  encodeIndex,
  encodeRecord,
  encodeTime,
  type IndexEntry,
  isExpired,
  isRevokedByPeer,
  isTicketId,
  openBody,
  RECORD_GRACE,
  sealBody,
  storedTicket,
  type TicketBody,
  ticketEnd,
  ticketIdHash,
} from "./_ticket_record.ts";

/**
 * A key in the KV database: the parts {@linkcode KvTicketStore} writes.
 *
 * @example
 * ```ts
 * import type { TicketKvKey } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const prefix: TicketKvKey = ["myapp", "tickets"];
 * assert.equal(prefix.length, 2);
 * ```
 */
export type TicketKvKey = readonly (string | number | bigint | boolean | Uint8Array)[];

/**
 * The part of `Deno.AtomicOperation` that {@linkcode KvTicketStore} uses.
 * `@deno/kv`'s atomic operations fit it too.
 *
 * @example
 * ```ts
 * import type { TicketKvAtomicOperation } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const op: TicketKvAtomicOperation = kv.atomic();
 *   const result = await op.check({ key: ["a"], versionstamp: null })
 *     .set(["a"], new Uint8Array([1]))
 *     .commit();
 *   assert.equal(result.ok, true);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface TicketKvAtomicOperation {
  /**
   * Adds checks: the commit fails unless each key is still at its versionstamp
   * (`null`: absent).
   *
   * @param checks The keys and versionstamps.
   * @returns The operation.
   */
  check(
    ...checks: { readonly key: TicketKvKey; readonly versionstamp: string | null }[]
  ): TicketKvAtomicOperation;
  /**
   * Sets a key to a value, optionally expiring after `expireIn` milliseconds.
   *
   * @param key The key.
   * @param value The value: always a `Uint8Array` here.
   * @param options `expireIn`.
   * @returns The operation.
   */
  set(
    key: TicketKvKey,
    value: Uint8Array,
    options?: { readonly expireIn?: number },
  ): TicketKvAtomicOperation;
  /**
   * Deletes a key.
   *
   * @param key The key.
   * @returns The operation.
   */
  delete(key: TicketKvKey): TicketKvAtomicOperation;
  /**
   * Commits: all mutations or none, and none when a check fails.
   *
   * @returns `ok: true` with the new versionstamp, or `ok: false` when a check failed.
   */
  commit(): Promise<{ readonly ok: true; readonly versionstamp: string } | { readonly ok: false }>;
}

/**
 * The part of `Deno.Kv` that {@linkcode KvTicketStore} uses: `get`, `list`
 * and `atomic`. A `Deno.Kv` from `Deno.openKv()` fits it, and so does the
 * handle that `openKv(path, makeLimitedV8Serializer())` of `npm:@deno/kv`
 * returns under Bun and Node.
 *
 * @example
 * ```ts
 * import type { TicketKv } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const handle: TicketKv = kv;
 *   assert.equal((await handle.get(["missing"])).versionstamp, null);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface TicketKv {
  /**
   * Reads one key (strongly consistent).
   *
   * @param key The key.
   * @returns Its value and versionstamp (`null` for both when absent).
   */
  get(key: TicketKvKey): Promise<{ readonly value: unknown; readonly versionstamp: string | null }>;
  /**
   * Lists the entries under a prefix.
   *
   * @param selector The prefix.
   * @returns The entries, in key order.
   */
  list(
    selector: { readonly prefix: TicketKvKey },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }>;
  /**
   * Starts an atomic operation.
   *
   * @returns The operation.
   */
  atomic(): TicketKvAtomicOperation;
}

/**
 * Options of {@linkcode KvTicketStore}.
 *
 * @example
 * ```ts
 * import { KvTicketStore, type KvTicketStoreOptions } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const options: KvTicketStoreOptions = {
 *     key: crypto.getRandomValues(new Uint8Array(32)), // keep it in a secret store
 *     prefix: ["myapp", "tickets"],
 *     retry: { attempts: 8, baseDelay: 10 },
 *   };
 *   const store = new KvTicketStore(kv, options);
 *   assert.equal((await store.find(new Uint8Array(16), Date.now())).status, "unknown");
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvTicketStoreOptions {
  /**
   * Required: the key that seals ticket records at rest (AES-256-GCM), as 32
   * raw bytes or an AES-GCM `CryptoKey` of 256 bits usable to encrypt and
   * decrypt. Every instance that shares the database needs the same key; a
   * record sealed under another key is `unknown`.
   */
  readonly key: Uint8Array | CryptoKey;
  /** The key prefix of everything the store writes. Default `["tessera", "tickets"]`. */
  readonly prefix?: TicketKvKey;
  /**
   * Retries of transient "database is locked" errors (several processes on one
   * local file): `attempts` in all, from 1 to 20 (default 6), the first backoff
   * `baseDelay` milliseconds, doubling, plus jitter (default 5).
   */
  readonly retry?: { readonly attempts?: number; readonly baseDelay?: number };
}

/** Tickets written per atomic operation by `issue` (3 mutations each; KV allows 1000). */
const ISSUE_BATCH = 64;
/** Bytes written per atomic operation by `issue` (KV allows 800 KiB). */
const ISSUE_BATCH_BYTES = 400 * 1024;
/** Tickets deleted per atomic operation by revocation (3 mutations each). */
const DELETE_BATCH = 100;
/** How many times `revokePeer` re-reads a marker that changes under it. */
const MARKER_ROUNDS = 50;
const DEFAULT_PREFIX: TicketKvKey = ["tessera", "tickets"];

/** A ticket ready to write: sealed record, index entry, keys' parts. */
/** What find() saw of a ticket. */
interface Seen {
  idHash: string;
  sealed: string;
  body: TicketBody;
  family: string;
  peer: string;
  familyVersion: string | null;
  peerVersion: string | null;
}

interface Prepared {
  readonly idHash: string;
  readonly body: TicketBody;
  readonly record: Uint8Array;
  readonly index: Uint8Array;
  readonly family: string;
  readonly peer: string;
  readonly expireIn: number;
}

/**
 * Keeps issued tickets in a KV database the caller opens (and closes), so
 * that every process and instance sharing it redeems each ticket at most
 * once.
 *
 * **Layout** (under `prefix`, default `["tessera", "tickets"]`):
 * `["t", idHash]` the ticket record; `["family", familyHex, idHash]` and
 * `["peer", peerHash, idHash]` its indexes for revocation;
 * `["revoked-family", familyHex]` and `["revoked-peer", peerHash]` revocation
 * markers whose value is the revocation time. `idHash` is the hex SHA-256 of
 * the ticket id and `peerHash` of the peer id (peer ids may be up to 1024
 * bytes, too long for a KV key in hex). The ticket id itself is stored
 * nowhere.
 *
 * **At rest.** A record holds the ticket (secret, peer, attributes, times,
 * family) sealed with AES-256-GCM under `options.key`, a random 12-byte
 * nonce, and the record's id hash and a format label as additional data: a
 * dump of the database resumes nothing and reveals no attributes, and a record
 * moved to another id or changed in any field does not open (it is then
 * `unknown`). Every value is a `Uint8Array` of UTF-8 JSON, the one value type
 * that Deno KV and `npm:@deno/kv` (`makeLimitedV8Serializer`) both read: Deno
 * 2.9 writes strings in V8 serialization version 16, which `@deno/kv` 0.14
 * refuses, and `@deno/kv` writes strings of 128 characters or more in a form
 * Deno cannot read.
 *
 * **Expiry.** `find` checks `expiresAt` and the 7-day family cap against its
 * `now`; KV's `expireIn` only cleans up, a minute after a record ends (at
 * least `MAX_TICKET_LIFETIME` for revocation markers). A redeemed record is
 * kept until it ends, so that reuse is seen.
 *
 * **Redemption** is one atomic commit that checks the record's versionstamp
 * against the version `find` returned and the versionstamps of the family
 * and peer revocation markers read just before (absent ones included), marks
 * the record redeemed with the binder hash and writes the successor with its
 * indexes. A redeem racing a revocation thus either lands before the marker,
 * and the revocation then deletes its successor, or fails.
 *
 * **Failures.** Transient "database is locked" and busy errors are retried
 * with bounded, jittered backoff. A commit that reported such an error may
 * still have landed: before retrying, `redeem` reads the record again and
 * recognises its own commit by a random tag it wrote, so it never redeems
 * twice. Other KV errors, and transient ones that outlast the attempts, are
 * `TicketError("ticket_store_unavailable")` with the KV error as `cause`;
 * messages never contain key material.
 *
 * Under Bun or Node: `new KvTicketStore(await openKv(path,
 * makeLimitedV8Serializer()), { key })` with `openKv` and
 * `makeLimitedV8Serializer` from `npm:@deno/kv`.
 *
 * @example
 * ```ts
 * import { KvTicketStore } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:"); // or a file, or a remote KV URL
 * try {
 *   const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
 *   const now = Date.now();
 *   const family = crypto.getRandomValues(new Uint8Array(16));
 *   const ticket = () => ({
 *     id: crypto.getRandomValues(new Uint8Array(16)),
 *     secret: crypto.getRandomValues(new Uint8Array(32)),
 *     peerId: new TextEncoder().encode("alice"),
 *     peerKeyFingerprint: new Uint8Array(32),
 *     attributes: { authLevel: 2 },
 *     issuedAt: now,
 *     expiresAt: now + 3_600_000,
 *     family,
 *     authenticatedAt: now,
 *   });
 *   const first = ticket();
 *   await store.issue([first], now);
 *
 *   const found = await store.find(first.id, now);
 *   if (found.status !== "live") throw new Error("expected a live ticket");
 *   const next = ticket();
 *   const binderHash = new Uint8Array(32).fill(1);
 *   assert.equal(await store.redeem(first.id, found.ticket, binderHash, next, now), true);
 *   assert.equal(await store.redeem(first.id, found.ticket, binderHash, next, now), false);
 *   assert.equal((await store.find(next.id, now)).status, "live");
 *   assert.equal((await store.find(first.id, now)).status, "redeemed");
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvTicketStore implements TicketStore {
  readonly #kv: TicketKv;
  readonly #prefix: TicketKvKey;
  readonly #retry: RetryPolicy;
  /** The sealing key as given (checked), and its import, made on first use. */
  readonly #rawKey: Uint8Array | CryptoKey;
  #imported: Promise<CryptoKey> | null = null;
  /** What find() read, by the ticket it returned: lets redeem() commit without reading again. */
  readonly #seen = new WeakMap<StoredTicket, Seen>();

  /**
   * Creates a store over an open KV database.
   *
   * @param kv The database: `await Deno.openKv(...)`, or `@deno/kv`'s `openKv`.
   * @param options `key` (required), `prefix`, `retry`.
   * @throws {TypeError} When `kv` is not a KV handle, `options.key` is neither
   *   bytes nor a `CryptoKey`, or `prefix` is not an array of key parts.
   * @throws {RangeError} When a raw key is not 32 bytes or the retry options
   *   are out of range.
   * @throws {KeyError} `key_unsupported` when the `CryptoKey` is not
   *   AES-256-GCM with encrypt and decrypt.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
   *     "encrypt",
   *     "decrypt",
   *   ]);
   *   new KvTicketStore(kv, { key });
   *   assert.throws(() => new KvTicketStore(kv, { key: new Uint8Array(16) }), RangeError);
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  constructor(kv: TicketKv, options: KvTicketStoreOptions) {
    if (
      kv === null || typeof kv !== "object" || typeof kv.atomic !== "function" ||
      typeof kv.get !== "function" || typeof kv.list !== "function"
    ) {
      throw new TypeError("KvTicketStore needs an open Deno.Kv");
    }
    if (typeof options !== "object" || options === null) {
      throw new TypeError("KvTicketStore needs options with a key");
    }
    this.#kv = kv;
    this.#rawKey = checkStoreKey(options.key);
    this.#prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.#retry = retryPolicy(options.retry);
  }

  /** The sealing key, imported by the first call that needs it (and awaited there). */
  get #key(): Promise<CryptoKey> {
    if (this.#imported) return this.#imported;
    const key = this.#rawKey;
    if (!(key instanceof Uint8Array)) return this.#imported = Promise.resolve(key);
    this.#imported = importAesGcmKey(key);
    key.fill(0); // Web Crypto copied it: the store's copy of the raw key is not kept
    return this.#imported;
  }

  /**
   * Keeps newly issued tickets, each with its indexes in one atomic write
   * (batches of up to 64 tickets). An id issued again replaces its ticket: ids
   * must be fresh random bytes.
   *
   * @param tickets The tickets, each with a 16 to 64 byte id, a 32-byte
   *   secret, a 32-byte key fingerprint and a 16-byte family.
   * @param now The current time in milliseconds.
   * @returns Nothing.
   * @throws {TypeError} When a ticket lacks a field or has one of the wrong
   *   type, or its attributes are not plain JSON; nothing is written then.
   * @throws {RangeError} When a field has the wrong length, `expiresAt` is not
   *   after `issuedAt`, the lifetime exceeds `MAX_TICKET_LIFETIME`, or the
   *   attributes exceed 32 KiB of JSON; nothing is written then.
   * @throws {TicketError} `ticket_store_unavailable` when KV fails.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvTicketStore(kv, { key: new Uint8Array(32) });
   *   const now = Date.now();
   *   const ticket = {
   *     id: crypto.getRandomValues(new Uint8Array(16)),
   *     secret: crypto.getRandomValues(new Uint8Array(32)),
   *     peerId: new Uint8Array([1]),
   *     peerKeyFingerprint: new Uint8Array(32),
   *     attributes: {},
   *     issuedAt: now,
   *     expiresAt: now + 60_000,
   *     family: new Uint8Array(16),
   *     authenticatedAt: now,
   *   };
   *   await store.issue([ticket], now);
   *   assert.equal((await store.find(ticket.id, now)).status, "live");
   *   await assert.rejects(store.issue([{ ...ticket, expiresAt: now }], now), RangeError);
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  async issue(tickets: readonly ServerTicket[], now: number): Promise<void> {
    checkNow(now);
    if (!Array.isArray(tickets)) throw new TypeError("tickets must be an array");
    const bodies = tickets.map((ticket, i) => checkTicket(ticket, `tickets[${i}]`));
    if (bodies.length === 0) return;
    const key = await this.#key;
    const prepared = await settleAll(
      bodies.map((body, i) => this.#prepare(key, tickets[i]!.id, body, now)),
    );
    let batch: Prepared[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      const chunk = batch;
      batch = [];
      bytes = 0;
      await withRetry(this.#retry, "issue tickets", async () => {
        const op = this.#kv.atomic();
        for (const p of chunk) this.#write(op, p);
        if (!(await op.commit()).ok) throw new Error("KV refused a write without checks");
      });
    };
    for (const p of prepared) {
      const size = p.record.length + 2 * p.index.length + 512;
      if (batch.length >= ISSUE_BATCH || (batch.length > 0 && bytes + size > ISSUE_BATCH_BYTES)) {
        await flush();
      }
      batch.push(p);
      bytes += size;
    }
    await flush();
  }

  /**
   * Looks a ticket up by the id the client presented, checking expiry and
   * revocation against `now`.
   *
   * @param id The ticket id (any length: ids outside 16 to 64 bytes are `unknown`).
   * @param now The current time in milliseconds.
   * @returns `unknown` (also for a record that does not open under this
   *   store's key), `expired`, `revoked`, or the ticket as `live` or `redeemed`.
   * @throws {TypeError} When `id` is not a `Uint8Array` or `now` not a finite number.
   * @throws {TicketError} `ticket_store_unavailable` when KV fails.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvTicketStore(kv, { key: new Uint8Array(32).fill(1) });
   *   const now = Date.now();
   *   const id = crypto.getRandomValues(new Uint8Array(16));
   *   await store.issue([{
   *     id,
   *     secret: crypto.getRandomValues(new Uint8Array(32)),
   *     peerId: new Uint8Array([1]),
   *     peerKeyFingerprint: new Uint8Array(32),
   *     attributes: { authLevel: 1 },
   *     issuedAt: now,
   *     expiresAt: now + 60_000,
   *     family: new Uint8Array(16),
   *     authenticatedAt: now,
   *   }], now);
   *   const found = await store.find(id, now);
   *   assert.equal(found.status === "live" && found.ticket.attributes.authLevel, 1);
   *   assert.equal((await store.find(id, now + 60_000)).status, "expired");
   *   const otherKey = new KvTicketStore(kv, { key: new Uint8Array(32).fill(2) });
   *   assert.equal((await otherKey.find(id, now)).status, "unknown");
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  async find(id: Uint8Array, now: number): Promise<TicketLookup> {
    checkNow(now);
    if (!isTicketId(id)) return { status: "unknown" };
    const [key, idHash] = await settleAll([this.#key, ticketIdHash(id)]);
    const entry = await withRetry(
      this.#retry,
      "find a ticket",
      () => this.#kv.get(this.#recordKey(idHash)),
    );
    const record = entry.versionstamp === null ? null : decodeRecord(entry.value);
    if (record === null || entry.versionstamp === null) return { status: "unknown" };
    const body = await openBody(key, idHash, record.sealed);
    if (body === null) return { status: "unknown" };
    if (isExpired(body, now)) return { status: "expired" };
    const family = toHex(body.family);
    const peer = await peerHash(body.peerId);
    const [familyMarker, peerMarker] = await withRetry(
      this.#retry,
      "find a ticket",
      () =>
        settleAll([
          this.#kv.get(this.#familyMarker(family)),
          this.#kv.get(this.#peerMarker(peer)),
        ]),
    );
    if (
      familyMarker.versionstamp !== null ||
      isRevokedByPeer(body, markerTime(peerMarker))
    ) {
      return { status: "revoked" };
    }
    const ticket = storedTicket(body, record.redeemedWith, entry.versionstamp);
    this.#seen.set(ticket, {
      idHash,
      sealed: record.sealed,
      body,
      family,
      peer,
      familyVersion: familyMarker.versionstamp,
      peerVersion: peerMarker.versionstamp,
    });
    return { status: record.redeemedWith === null ? "live" : "redeemed", ticket };
  }

  /**
   * Marks a found ticket redeemed with `binderHash` and writes its successor,
   * in one atomic commit: only if the record's versionstamp is still the
   * version `find` returned (so it is not redeemed), it has not ended at
   * `now`, and the revocation markers of its family and peer (and the
   * successor's) are unchanged since read just before, and revoke neither.
   * Of any number of concurrent calls for one ticket, across every process
   * sharing the database, at most one returns `true`.
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
   *   invalid (see {@linkcode KvTicketStore.issue}) or has the ticket's own id.
   * @throws {TicketError} `ticket_store_unavailable` when KV fails, or stays
   *   locked through every retry. The ticket may then be used up, but never
   *   redeemed twice.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
   *   const now = Date.now();
   *   const id = crypto.getRandomValues(new Uint8Array(16));
   *   await store.issue([{
   *     id,
   *     secret: crypto.getRandomValues(new Uint8Array(32)),
   *     peerId: new Uint8Array([1]),
   *     peerKeyFingerprint: new Uint8Array(32),
   *     attributes: {},
   *     issuedAt: now,
   *     expiresAt: now + 60_000,
   *     family: new Uint8Array(16),
   *     authenticatedAt: now,
   *   }], now);
   *   const found = await store.find(id, now);
   *   if (found.status !== "live") throw new Error("expected a live ticket");
   *   const attempts = Array.from(
   *     { length: 10 },
   *     (_, i) => store.redeem(id, found.ticket, new Uint8Array(32).fill(i), null, now),
   *   );
   *   assert.equal((await Promise.all(attempts)).filter(Boolean).length, 1);
   * } finally {
   *   kv.close();
   * }
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
    const [key, idHash] = await settleAll([this.#key, ticketIdHash(id)]);
    const prepared = next === null || successor === null
      ? null
      : await this.#prepare(key, successor.id, next, now);
    if (prepared?.idHash === idHash) throw new RangeError("successor must have an id of its own");
    // Written into the redeemed record: how a retry recognises a commit of its own that
    // reported an error but landed.
    const tag = toBase64Url(randomBytes(16));
    // The common case: commit against exactly what find() read (the record and the markers
    // are checked at commit), with no further reads. Anything else takes the careful path.
    const seen = this.#seen.get(found);
    if (seen && seen.idHash === idHash && !isExpired(seen.body, now)) {
      try {
        const op = this.#kv.atomic()
          .check({ key: this.#recordKey(idHash), versionstamp: version })
          .check({ key: this.#familyMarker(seen.family), versionstamp: seen.familyVersion })
          .check({ key: this.#peerMarker(seen.peer), versionstamp: seen.peerVersion });
        const redeemed = encodeRecord({
          sealed: seen.sealed,
          redeemedWith: binder,
          redeemTag: tag,
        });
        op.set(this.#recordKey(idHash), redeemed, { expireIn: expireInFor(seen.body, now) });
        if (prepared !== null) {
          if (prepared.family !== seen.family || prepared.peer !== seen.peer) {
            throw new Error("a successor of another family: take the careful path");
          }
          this.#write(op, prepared);
        }
        if ((await op.commit()).ok) return true;
      } catch {
        // A transient error (the commit may have landed) or a successor of another family.
      }
    }
    for (let attempt = 1;; attempt++) {
      let outcome: boolean | "again";
      try {
        outcome = await this.#tryRedeem(key, idHash, version, binder, prepared, tag, now);
      } catch (error) {
        if (!isTransient(error) || attempt >= this.#retry.attempts) {
          throw unavailable("redeem a ticket", error);
        }
        await backoff(this.#retry, attempt);
        continue;
      }
      if (outcome !== "again") return outcome;
      // A marker changed without revoking this ticket: try again, a bounded number of times.
      if (attempt >= this.#retry.attempts) return false;
    }
  }

  /**
   * Revokes every ticket of a family: writes the family's revocation marker,
   * then deletes the family's tickets. A successor that a concurrent `redeem`
   * writes is either deleted too or never written, and `find` reports any
   * ticket of the family as `revoked` while the marker lasts (7 days).
   *
   * @param family The 16-byte family.
   * @param now The current time in milliseconds.
   * @returns Nothing.
   * @throws {TypeError} When `family` is not a `Uint8Array` or `now` not a finite number.
   * @throws {RangeError} When `family` is not 16 bytes.
   * @throws {TicketError} `ticket_store_unavailable` when KV fails.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
   *   const now = Date.now();
   *   const id = crypto.getRandomValues(new Uint8Array(16));
   *   const family = crypto.getRandomValues(new Uint8Array(16));
   *   await store.issue([{
   *     id,
   *     secret: crypto.getRandomValues(new Uint8Array(32)),
   *     peerId: new Uint8Array([1]),
   *     peerKeyFingerprint: new Uint8Array(32),
   *     attributes: {},
   *     issuedAt: now,
   *     expiresAt: now + 60_000,
   *     family,
   *     authenticatedAt: now,
   *   }], now);
   *   await store.revokeFamily(family, now);
   *   assert.notEqual((await store.find(id, now)).status, "live");
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  async revokeFamily(family: Uint8Array, now: number): Promise<void> {
    checkNow(now);
    if (!(family instanceof Uint8Array)) throw new TypeError("family must be a Uint8Array");
    if (family.length !== 16) throw new RangeError("family must be 16 bytes");
    const familyHex = toHex(family);
    await withRetry(this.#retry, "revoke a family", async () => {
      const result = await this.#kv.atomic()
        .set(this.#familyMarker(familyHex), encodeTime(now), { expireIn: markerExpireIn(now, now) })
        .commit();
      if (!result.ok) throw new Error("KV refused a write without checks");
    });
    await this.#deleteListed(
      "revoke a family",
      [...this.#prefix, "family", familyHex],
      (idHash, index) => index === null ? [] : [this.#peerIndex(index.peer, idHash)],
      () => true,
    );
  }

  /**
   * Revokes every ticket of a peer whose family began (`authenticatedAt`) at
   * or before `now`: logout, or a compromised key. Writes the peer's
   * revocation marker (the latest time wins), then deletes those tickets.
   * Tickets from a later full handshake are not affected.
   *
   * @param peerId The peer id (1 to 1024 bytes).
   * @param now The current time in milliseconds: the revocation time.
   * @returns Nothing.
   * @throws {TypeError} When `peerId` is not a `Uint8Array` or `now` not a finite number.
   * @throws {RangeError} When `peerId` is empty or longer than 1024 bytes.
   * @throws {TicketError} `ticket_store_unavailable` when KV fails.
   *
   * @example
   * ```ts
   * import { KvTicketStore } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
   *   const now = Date.now();
   *   const peerId = new TextEncoder().encode("alice");
   *   const ticket = {
   *     id: crypto.getRandomValues(new Uint8Array(16)),
   *     secret: crypto.getRandomValues(new Uint8Array(32)),
   *     peerId,
   *     peerKeyFingerprint: new Uint8Array(32),
   *     attributes: {},
   *     issuedAt: now,
   *     expiresAt: now + 60_000,
   *     family: crypto.getRandomValues(new Uint8Array(16)),
   *     authenticatedAt: now - 1000,
   *   };
   *   await store.issue([ticket], now);
   *   await store.revokePeer(peerId, now); // logout everywhere
   *   assert.notEqual((await store.find(ticket.id, now)).status, "live");
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  async revokePeer(peerId: Uint8Array, now: number): Promise<void> {
    checkNow(now);
    if (!(peerId instanceof Uint8Array)) throw new TypeError("peerId must be a Uint8Array");
    if (peerId.length < 1 || peerId.length > 1024) {
      throw new RangeError("peerId must be 1 to 1024 bytes");
    }
    const peer = await peerHash(peerId);
    const marker = this.#peerMarker(peer);
    const revokedAt = await withRetry(this.#retry, "revoke a peer", async () => {
      for (let round = 0; round < MARKER_ROUNDS; round++) {
        const entry = await this.#kv.get(marker);
        const existing = markerTime(entry);
        const at = existing === null ? now : Math.max(existing, now);
        const result = await this.#kv.atomic()
          .check({ key: marker, versionstamp: entry.versionstamp })
          .set(marker, encodeTime(at), { expireIn: markerExpireIn(at, now) })
          .commit();
        if (result.ok) return at;
      }
      throw unavailable("revoke a peer", new Error("the revocation marker kept changing"));
    });
    await this.#deleteListed(
      "revoke a peer",
      [...this.#prefix, "peer", peer],
      (idHash, index) => index === null ? [] : [this.#familyIndex(index.family, idHash)],
      (index) => index === null || isRevokedByPeer(index, revokedAt),
    );
  }

  /** One read-check-commit round of `redeem`. */
  async #tryRedeem(
    key: CryptoKey,
    idHash: string,
    version: string,
    binder: Uint8Array,
    successor: Prepared | null,
    tag: string,
    now: number,
  ): Promise<boolean | "again"> {
    const recordKey = this.#recordKey(idHash);
    const entry = await this.#kv.get(recordKey);
    const record = entry.versionstamp === null ? null : decodeRecord(entry.value);
    if (record === null) return false;
    // Redeemed already: by this very call when an earlier commit reported an error but landed.
    if (record.redeemedWith !== null) return record.redeemTag === tag;
    if (entry.versionstamp !== version) return false;
    const body = await openBody(key, idHash, record.sealed);
    if (body === null || isExpired(body, now)) return false;

    // The revocation markers that could stop this redemption, read now and checked at commit.
    const owners: { body: TicketBody; family: string; peer: string }[] = [
      { body, family: toHex(body.family), peer: await peerHash(body.peerId) },
    ];
    if (successor !== null) owners.push(successor);
    const markerKeys = new Map<string, TicketKvKey>();
    for (const owner of owners) {
      markerKeys.set(`family:${owner.family}`, this.#familyMarker(owner.family));
      markerKeys.set(`peer:${owner.peer}`, this.#peerMarker(owner.peer));
    }
    const names = [...markerKeys.keys()];
    const markers = await settleAll(names.map((name) => this.#kv.get(markerKeys.get(name)!)));
    const marker = (name: string) => markers[names.indexOf(name)]!;
    for (const owner of owners) {
      if (marker(`family:${owner.family}`).versionstamp !== null) return false;
      if (isRevokedByPeer(owner.body, markerTime(marker(`peer:${owner.peer}`)))) return false;
    }

    const op = this.#kv.atomic().check({ key: recordKey, versionstamp: version });
    names.forEach((name, i) =>
      op.check({ key: markerKeys.get(name)!, versionstamp: markers[i]!.versionstamp })
    );
    const redeemed = encodeRecord({ sealed: record.sealed, redeemedWith: binder, redeemTag: tag });
    op.set(recordKey, redeemed, { expireIn: expireInFor(body, now) });
    if (successor !== null) this.#write(op, successor);
    return (await op.commit()).ok ? true : "again";
  }

  async #prepare(
    key: CryptoKey,
    id: Uint8Array,
    body: TicketBody,
    now: number,
  ): Promise<Prepared> {
    const [idHash, peer] = await settleAll([ticketIdHash(id), peerHash(body.peerId)]);
    const family = toHex(body.family);
    const sealed = await sealBody(key, idHash, body);
    return {
      idHash,
      body,
      record: encodeRecord({ sealed, redeemedWith: null, redeemTag: null }),
      index: encodeIndex({ peer, family, authenticatedAt: body.authenticatedAt }),
      family,
      peer,
      expireIn: expireInFor(body, now),
    };
  }

  #write(op: TicketKvAtomicOperation, p: Prepared): void {
    const options = { expireIn: p.expireIn };
    op.set(this.#recordKey(p.idHash), p.record, options)
      .set(this.#familyIndex(p.family, p.idHash), p.index, options)
      .set(this.#peerIndex(p.peer, p.idHash), p.index, options);
  }

  /**
   * Deletes the tickets listed under an index prefix that `select` picks,
   * with both their index entries, in batches. Safe to repeat.
   */
  async #deleteListed(
    what: string,
    prefix: TicketKvKey,
    otherIndex: (idHash: string, index: IndexEntry | null) => TicketKvKey[],
    select: (index: IndexEntry | null) => boolean,
  ): Promise<void> {
    await withRetry(this.#retry, what, async () => {
      let batch: TicketKvKey[][] = [];
      const flush = async (): Promise<void> => {
        const op = this.#kv.atomic();
        for (const keys of batch) for (const key of keys) op.delete(key);
        batch = [];
        await op.commit();
      };
      for await (const entry of this.#kv.list({ prefix })) {
        const idHash = entry.key[entry.key.length - 1];
        if (typeof idHash !== "string") continue;
        const index = decodeIndex(entry.value);
        if (!select(index)) continue;
        batch.push([
          this.#recordKey(idHash),
          entry.key as TicketKvKey,
          ...otherIndex(idHash, index),
        ]);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
    });
  }

  #recordKey(idHash: string): TicketKvKey {
    return [...this.#prefix, "t", idHash];
  }

  #familyIndex(family: string, idHash: string): TicketKvKey {
    return [...this.#prefix, "family", family, idHash];
  }

  #peerIndex(peer: string, idHash: string): TicketKvKey {
    return [...this.#prefix, "peer", peer, idHash];
  }

  #familyMarker(family: string): TicketKvKey {
    return [...this.#prefix, "revoked-family", family];
  }

  #peerMarker(peer: string): TicketKvKey {
    return [...this.#prefix, "revoked-peer", peer];
  }
}

/** Checks the store key and imports raw bytes (non-extractable). */
/** Checks the sealing key: 32 bytes (copied) or an AES-256-GCM `CryptoKey`. */
function checkStoreKey(key: unknown): Uint8Array | CryptoKey {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new RangeError("options.key must be 32 bytes");
    return copy(key);
  }
  if (typeof CryptoKey === "undefined" || !(key instanceof CryptoKey)) {
    throw new TypeError("options.key must be 32 bytes or an AES-256-GCM CryptoKey");
  }
  const algorithm = key.algorithm as AesKeyAlgorithm;
  if (
    key.type !== "secret" || algorithm.name !== "AES-GCM" || algorithm.length !== 256 ||
    !key.usages.includes("encrypt") || !key.usages.includes("decrypt")
  ) {
    throw new KeyError("key_unsupported", "options.key must be AES-256-GCM with encrypt+decrypt");
  }
  return key;
}

function checkPrefix(prefix: unknown): TicketKvKey {
  if (!Array.isArray(prefix)) throw new TypeError("prefix must be an array of key parts");
  for (const part of prefix) {
    const type = typeof part;
    if (
      type !== "string" && type !== "number" && type !== "bigint" && type !== "boolean" &&
      !(part instanceof Uint8Array)
    ) {
      throw new TypeError("prefix parts must be strings, numbers, bigints, booleans or bytes");
    }
  }
  return [...prefix];
}

/** The peer part of index and marker keys: hex SHA-256 of the peer id. */
async function peerHash(peerId: Uint8Array): Promise<string> {
  return toHex(await sha256(peerId));
}

/** The time of a peer revocation marker, or `null` when there is none. */
function markerTime(entry: { readonly value: unknown; readonly versionstamp: string | null }) {
  return entry.versionstamp === null ? null : decodeTime(entry.value);
}

/** How long KV keeps a ticket's entries: until it ends, plus a minute. */
function expireInFor(body: TicketBody, now: number): number {
  return Math.ceil(Math.max(0, ticketEnd(body) - now)) + RECORD_GRACE;
}

/** How long KV keeps a revocation marker: until every ticket it covers has ended. */
function markerExpireIn(revokedAt: number, now: number): number {
  const covered = Number.isFinite(revokedAt) ? revokedAt - now : 0;
  return Math.ceil(Math.max(0, covered) + MAX_TICKET_LIFETIME) + RECORD_GRACE;
}
