/**
 * The client side of resumption: a bounded cache of tickets by namespace, in
 * most-recently-used order, with a time-to-live and a sealed export.
 *
 * @module
 */

import { concat, copy, equalPublic, fromUtf8, u16, u32, u64, utf8 } from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { randomBytes } from "../crypto/random.ts";
import { SavedStateError } from "../errors.ts";
import { toWrappingKey } from "../session/_saved_state.ts";
import {
  type ClientTicket,
  type ClientTicketCache,
  DEFAULT_TICKET_LIFETIME,
  MAX_TICKET_LIFETIME,
} from "../session/resumption.ts";
import { Reader } from "../wire/reader.ts";

/** Default and largest `maxSize`. */
const DEFAULT_MAX_SIZE = 10;
const MAX_MAX_SIZE = 10_000;

/** Ticket field bounds, checked by `add` and by `import`. */
const MIN_ID_LENGTH = 16;
const MAX_ID_LENGTH = 64;
const SECRET_LENGTH = 32;
const FINGERPRINT_LENGTH = 32;
const MAX_SERVER_ID_LENGTH = 1024;
/** Namespaces are 1..4096 bytes of UTF-8. */
const MAX_NAMESPACE_LENGTH = 4096;

// Export format, version 1:
//   "TSC" ‖ 01 ‖ u32 total length ‖ nonce (12) ‖ AES-256-GCM(inner) with the first 8 bytes as AAD
// inner:
//   u32 namespace count, then per namespace from least to most recently used:
//     u16 length ‖ namespace (UTF-8) ‖ u32 ticket count, then per ticket from oldest to newest:
//       u8 length ‖ id ‖ secret (32) ‖ u16 length ‖ server id ‖ server key fingerprint (32) ‖
//       u64 issuedAt ‖ u64 expiresAt ‖ u64 addedAt (milliseconds since the epoch)
const MAGIC = [0x54, 0x53, 0x43]; // "TSC"
const FORMAT_VERSION = 1;
const HEADER_LENGTH = 8;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const MAX_TICKET_RECORD = 1 + MAX_ID_LENGTH + SECRET_LENGTH + 2 + MAX_SERVER_ID_LENGTH +
  FINGERPRINT_LENGTH + 3 * 8;
const MAX_NAMESPACE_RECORD = 2 + MAX_NAMESPACE_LENGTH + 4;
/** The largest export: 10,000 tickets, each in its own namespace, every field at its maximum. */
const MAX_EXPORT_LENGTH = HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH + 4 +
  MAX_MAX_SIZE * (MAX_NAMESPACE_RECORD + MAX_TICKET_RECORD);
const MIN_EXPORT_LENGTH = HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH + 4;

/**
 * Options of a {@linkcode ClientSessionCache}.
 *
 * @example
 * ```ts
 * import { ClientSessionCache, type ClientSessionCacheOptions } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const options: ClientSessionCacheOptions = { maxSize: 50, ttl: 3_600_000 };
 * const cache = new ClientSessionCache(options);
 * assert.equal(cache.maxSize, 50);
 * assert.equal(cache.ttl, 3_600_000);
 * ```
 */
export interface ClientSessionCacheOptions {
  /**
   * The most tickets the whole cache holds, over all namespaces: an integer
   * from 1 to 10,000. Default 10.
   */
  maxSize?: number;
  /**
   * How long a ticket stays usable after it was added, in milliseconds: an
   * integer from 1 to `MAX_TICKET_LIFETIME` (7 days). Default 24 hours. A
   * ticket's own `expiresAt` ends it earlier.
   */
  ttl?: number;
}

/** A ticket as the cache holds it: its own copies of the bytes. */
interface Entry {
  readonly ticket: ClientTicket;
  /** When it was added (`now` of `add`). */
  readonly addedAt: number;
}

/**
 * The client's ticket cache: tickets by namespace (an opaque string such as
 * `host:port` plus the server id the client expects), each handed out once.
 *
 * **Order.** Recency is kept per namespace: {@linkcode ClientSessionCache.add}
 * (when it keeps at least one ticket) and a {@linkcode ClientSessionCache.take}
 * that returns a ticket make the namespace the most recently used. The tickets
 * of the cache are thus in one total order, from least to most recently used:
 * namespaces from least to most recently used, and inside a namespace tickets
 * from the first added to the last added. `take` hands out the last added live
 * ticket of its namespace. When an `add` leaves more than `maxSize` tickets,
 * the cache first drops every expired ticket, then evicts from the front of
 * that order (the oldest ticket of the least recently used namespace) until
 * `maxSize` remain; a namespace left empty is forgotten.
 *
 * **Expiry.** A ticket is live while `now < min(expiresAt, addedAt + ttl)`.
 * Expired tickets are never returned; `take`, `add` (when full) and `export`
 * drop them, and {@linkcode ClientSessionCache.size} counts those not dropped
 * yet.
 *
 * Adding a ticket whose id the namespace already holds replaces the older
 * copy, so a ticket added twice is still handed out once. Every method but
 * `export` and `import` is synchronous, so concurrent connections of one
 * process never receive the same ticket. The cache copies the bytes it is
 * given and overwrites the secrets of the tickets it drops.
 *
 * @example
 * ```ts
 * import { ClientSessionCache } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const cache = new ClientSessionCache({ maxSize: 10 });
 * const now = Date.now();
 * const ticket = (n: number) => ({
 *   id: new Uint8Array(16).fill(n),
 *   secret: crypto.getRandomValues(new Uint8Array(32)),
 *   serverId: new TextEncoder().encode("api"),
 *   serverKeyFingerprint: new Uint8Array(32),
 *   issuedAt: now,
 *   expiresAt: now + 3_600_000,
 * });
 * cache.add("api.example:443 api", [ticket(1), ticket(2)], now);
 * assert.equal(cache.take("api.example:443 api", now)?.id[0], 2); // the newest first
 * assert.equal(cache.take("api.example:443 api", now)?.id[0], 1);
 * assert.equal(cache.take("api.example:443 api", now), null); // each ticket once
 * ```
 */
export class ClientSessionCache implements ClientTicketCache {
  /** Namespaces from least to most recently used; tickets from oldest to newest. */
  #namespaces = new Map<string, Entry[]>();
  #size = 0;
  #maxSize: number;
  #ttl: number;

  /**
   * Creates an empty cache.
   *
   * @param options `maxSize` (default 10) and `ttl` (default 24 hours).
   * @throws {TypeError} When `options` or one of its fields has the wrong type.
   * @throws {RangeError} When `maxSize` is not an integer from 1 to 10,000, or
   * `ttl` not an integer from 1 to `MAX_TICKET_LIFETIME`.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new ClientSessionCache().maxSize, 10);
   * assert.throws(() => new ClientSessionCache({ maxSize: 0 }), RangeError);
   * assert.throws(() => new ClientSessionCache({ ttl: 8 * 24 * 3_600_000 }), RangeError);
   * ```
   */
  constructor(options: ClientSessionCacheOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("options must be an object");
    }
    this.#maxSize = checkInteger(options.maxSize ?? DEFAULT_MAX_SIZE, 1, MAX_MAX_SIZE, "maxSize");
    this.#ttl = checkInteger(options.ttl ?? DEFAULT_TICKET_LIFETIME, 1, MAX_TICKET_LIFETIME, "ttl");
  }

  /**
   * The most tickets the cache holds.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new ClientSessionCache({ maxSize: 3 }).maxSize, 3);
   * ```
   */
  get maxSize(): number {
    return this.#maxSize;
  }

  /**
   * How long a ticket stays usable after it was added, in milliseconds.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new ClientSessionCache().ttl, 24 * 3_600_000);
   * ```
   */
  get ttl(): number {
    return this.#ttl;
  }

  /**
   * How many tickets the cache holds, over all namespaces, counting expired
   * tickets that were not dropped yet.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const cache = new ClientSessionCache();
   * const now = Date.now();
   * cache.add("a", [{
   *   id: new Uint8Array(16),
   *   secret: new Uint8Array(32),
   *   serverId: new Uint8Array([1]),
   *   serverKeyFingerprint: new Uint8Array(32),
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   * }], now);
   * assert.equal(cache.size, 1);
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * Removes and returns the most recently added live ticket of a namespace,
   * and drops the namespace's expired tickets. A returned ticket makes the
   * namespace the most recently used. The ticket is the caller's now: the
   * cache keeps no reference to it.
   *
   * @param namespace The namespace.
   * @param now The current time (integer milliseconds since the epoch).
   * @returns The ticket, or `null` when the namespace holds no live ticket.
   * @throws {TypeError} When `namespace` is not a string or `now` not a number.
   * @throws {RangeError} When `now` is not a non-negative safe integer.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const cache = new ClientSessionCache();
   * const now = Date.now();
   * cache.add("db:5432 db", [{
   *   id: new Uint8Array(16).fill(7),
   *   secret: new Uint8Array(32),
   *   serverId: new TextEncoder().encode("db"),
   *   serverKeyFingerprint: new Uint8Array(32),
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   * }], now);
   * assert.equal(cache.take("other:1 x", now), null); // namespaces are kept apart
   * assert.equal(cache.take("db:5432 db", now + 60_000), null); // expired, and dropped
   * assert.equal(cache.size, 0);
   * ```
   */
  take(namespace: string, now: number): ClientTicket | null {
    checkNamespace(namespace);
    checkTime(now, "now");
    const entries = this.#namespaces.get(namespace);
    if (entries === undefined) return null;
    this.#dropExpired(namespace, entries, now);
    const entry = entries.pop();
    if (entry === undefined) return null;
    this.#size--;
    this.#namespaces.delete(namespace);
    if (entries.length > 0) this.#namespaces.set(namespace, entries);
    return entry.ticket;
  }

  /**
   * Keeps tickets for later connections, in the order given (the last one is
   * handed out first). The cache copies every byte array. Tickets already
   * expired at `now` are not kept; a ticket whose id the namespace already
   * holds replaces the older copy. Then the namespace is the most recently
   * used, and when more than `maxSize` tickets remain, expired tickets are
   * dropped and the least recently used evicted (see the class).
   *
   * @param namespace The namespace: 1 to 4096 bytes of UTF-8.
   * @param tickets The tickets: ids of 16 to 64 bytes, 32-byte secrets and
   * fingerprints, server ids of 1 to 1024 bytes, and `expiresAt > issuedAt`
   * (non-negative safe integers).
   * @param now The current time (integer milliseconds since the epoch).
   * @throws {TypeError} When an argument or a ticket field has the wrong type,
   * or `namespace` is not well-formed Unicode. Nothing is added then.
   * @throws {RangeError} When a length or a time is out of bounds. Nothing is
   * added then.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const cache = new ClientSessionCache({ maxSize: 2 });
   * const now = Date.now();
   * const ticket = (n: number) => ({
   *   id: new Uint8Array(16).fill(n),
   *   secret: new Uint8Array(32),
   *   serverId: new Uint8Array([1]),
   *   serverKeyFingerprint: new Uint8Array(32),
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   * });
   * cache.add("a", [ticket(1)], now);
   * cache.add("b", [ticket(2)], now);
   * cache.add("c", [ticket(3)], now); // evicts "a", the least recently used
   * assert.equal(cache.take("a", now), null);
   * assert.equal(cache.size, 2);
   * const short = { ...ticket(4), secret: new Uint8Array(16) };
   * assert.throws(() => cache.add("a", [short], now), RangeError);
   * ```
   */
  add(namespace: string, tickets: readonly ClientTicket[], now: number): void {
    checkNamespace(namespace);
    if (!Array.isArray(tickets)) throw new TypeError("tickets must be an array");
    checkTime(now, "now");
    for (const ticket of tickets) checkTicket(ticket);
    const entries = this.#namespaces.get(namespace) ?? [];
    let kept = 0;
    for (const ticket of tickets) {
      const entry: Entry = { ticket: copyTicket(ticket), addedAt: now };
      if (!this.#isLive(entry, now)) {
        wipe(entry);
        continue;
      }
      const same = entries.findIndex((e) => equalPublic(e.ticket.id, entry.ticket.id));
      if (same !== -1) {
        wipe(entries[same]!);
        entries.splice(same, 1);
        this.#size--;
      }
      entries.push(entry);
      this.#size++;
      kept++;
    }
    if (kept === 0) return;
    this.#namespaces.delete(namespace);
    this.#namespaces.set(namespace, entries);
    if (this.#size > this.#maxSize) {
      this.#dropAllExpired(now);
      this.#evict();
    }
  }

  /**
   * Drops the tickets of one namespace, or of every namespace.
   *
   * @param namespace The namespace to forget; omit it to empty the cache.
   * @throws {TypeError} When `namespace` is given and is not a string.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const cache = new ClientSessionCache();
   * const now = Date.now();
   * const ticket = {
   *   id: new Uint8Array(16),
   *   secret: new Uint8Array(32),
   *   serverId: new Uint8Array([1]),
   *   serverKeyFingerprint: new Uint8Array(32),
   *   issuedAt: now,
   *   expiresAt: now + 60_000,
   * };
   * cache.add("a", [ticket], now);
   * cache.add("b", [ticket], now);
   * cache.clear("a"); // the server at "a" logged us out: forget its tickets
   * assert.equal(cache.size, 1);
   * cache.clear();
   * assert.equal(cache.size, 0);
   * ```
   */
  clear(namespace?: string): void {
    if (namespace === undefined) {
      for (const entries of this.#namespaces.values()) entries.forEach(wipe);
      this.#namespaces.clear();
      this.#size = 0;
      return;
    }
    if (typeof namespace !== "string") throw new TypeError("namespace must be a string");
    const entries = this.#namespaces.get(namespace);
    if (entries === undefined) return;
    entries.forEach(wipe);
    this.#size -= entries.length;
    this.#namespaces.delete(namespace);
  }

  /**
   * Seals every live ticket, in the cache's order, under `key` (AES-256-GCM
   * with a fresh random nonce): `"TSC"` ‖ version 01 ‖ u32 length ‖ nonce ‖
   * ciphertext, the 8-byte header authenticated. Drops expired tickets first.
   * The cache is unchanged otherwise.
   *
   * **Risk: the export holds resumption secrets.** Whoever holds the export
   * and the key can resume sessions as this client, without its private key,
   * until the tickets expire (at most `ttl` after they were added). Keep the
   * key out of the storage that holds the export (for example in the OS
   * keychain, with the export on disk), and delete exports you no longer need.
   *
   * @param key 32 raw bytes or an AES-256-GCM `CryptoKey` with `encrypt` and
   * `decrypt` usages (a `WrappingKey`).
   * @param now The current time (integer milliseconds since the epoch).
   * @returns The sealed bytes, for {@linkcode ClientSessionCache.import}.
   * @throws {TypeError} When `key` is neither bytes nor a `CryptoKey`, or `now`
   * is not a number.
   * @throws {RangeError} When raw key bytes are not 32 bytes, or `now` is not
   * a non-negative safe integer.
   * @throws {KeyError} `key_unsupported` for a `CryptoKey` that is not
   * AES-256-GCM with `encrypt` and `decrypt` usages.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const key = crypto.getRandomValues(new Uint8Array(32)); // keep it apart from the export
   * const cache = new ClientSessionCache();
   * const now = Date.now();
   * cache.add("api.example:443 api", [{
   *   id: new Uint8Array(16).fill(1),
   *   secret: crypto.getRandomValues(new Uint8Array(32)),
   *   serverId: new TextEncoder().encode("api"),
   *   serverKeyFingerprint: new Uint8Array(32),
   *   issuedAt: now,
   *   expiresAt: now + 3_600_000,
   * }], now);
   * const sealed = await cache.export(key, now);
   * const restored = await ClientSessionCache.import(sealed, key);
   * assert.deepEqual(restored.take("api.example:443 api", now)?.id, new Uint8Array(16).fill(1));
   * ```
   */
  async export(key: CryptoKey | Uint8Array, now: number): Promise<Uint8Array> {
    checkTime(now, "now");
    this.#dropAllExpired(now);
    // Serialize before the first await: the export is one consistent snapshot.
    const parts: Uint8Array[] = [u32(this.#namespaces.size)];
    for (const [namespace, entries] of this.#namespaces) {
      const name = utf8(namespace);
      parts.push(u16(name.length), name, u32(entries.length));
      for (const { ticket, addedAt } of entries) {
        parts.push(
          new Uint8Array([ticket.id.length]),
          ticket.id,
          ticket.secret,
          u16(ticket.serverId.length),
          ticket.serverId,
          ticket.serverKeyFingerprint,
          u64(BigInt(ticket.issuedAt)),
          u64(BigInt(ticket.expiresAt)),
          u64(BigInt(addedAt)),
        );
      }
    }
    const inner = concat(...parts);
    try {
      const cryptoKey = await toWrappingKey(key);
      const total = HEADER_LENGTH + NONCE_LENGTH + inner.length + TAG_LENGTH;
      const header = concat(new Uint8Array([...MAGIC, FORMAT_VERSION]), u32(total));
      const nonce = randomBytes(NONCE_LENGTH);
      return concat(header, nonce, await aesGcmEncrypt(cryptoKey, nonce, inner, header));
    } finally {
      inner.fill(0);
    }
  }

  /**
   * Restores a cache from {@linkcode ClientSessionCache.export}, in the same
   * order. The options apply to the restored cache: `ttl` counts from when
   * each ticket was first added, and when the export holds more than
   * `maxSize` tickets the least recently used are evicted. Input larger than
   * the largest possible export (about 53 MB) is refused unread.
   *
   * @param sealed The exported bytes.
   * @param key The key given to `export`: 32 raw bytes or an AES-256-GCM `CryptoKey`.
   * @param options `maxSize` and `ttl` of the restored cache.
   * @returns The restored cache.
   * @throws {SavedStateError} `state_malformed` when the bytes are not an
   * export (wrong magic, wrong length, truncated, invalid content);
   * `state_unsupported_version` for another format version;
   * `state_auth_failed` for a wrong key or modified bytes.
   * @throws {TypeError} When `sealed` is not a `Uint8Array` or `key` not a key.
   * @throws {RangeError} When raw key bytes are not 32 bytes or an option is
   * out of range.
   * @throws {KeyError} `key_unsupported` for a `CryptoKey` of another kind.
   *
   * @example
   * ```ts
   * import { ClientSessionCache } from "@tessera/session/resume";
   * import assert from "node:assert/strict";
   *
   * const key = crypto.getRandomValues(new Uint8Array(32));
   * const sealed = await new ClientSessionCache().export(key, Date.now());
   * assert.equal((await ClientSessionCache.import(sealed, key)).size, 0);
   * const wrongKey = crypto.getRandomValues(new Uint8Array(32));
   * await assert.rejects(ClientSessionCache.import(sealed, wrongKey), {
   *   code: "state_auth_failed",
   * });
   * await assert.rejects(ClientSessionCache.import(sealed.subarray(0, 20), key), {
   *   code: "state_malformed",
   * });
   * ```
   */
  static async import(
    sealed: Uint8Array,
    key: CryptoKey | Uint8Array,
    options?: ClientSessionCacheOptions,
  ): Promise<ClientSessionCache> {
    if (!(sealed instanceof Uint8Array)) throw new TypeError("sealed must be a Uint8Array");
    const cache = new ClientSessionCache(options);
    const cryptoKey = await toWrappingKey(key);
    if (
      sealed.length < HEADER_LENGTH || sealed.length > MAX_EXPORT_LENGTH ||
      sealed[0] !== MAGIC[0] || sealed[1] !== MAGIC[1] || sealed[2] !== MAGIC[2]
    ) {
      throw malformed("not a client session cache export");
    }
    if (sealed[3] !== FORMAT_VERSION) {
      throw new SavedStateError("state_unsupported_version", "unknown cache export format version");
    }
    const header = sealed.subarray(0, HEADER_LENGTH);
    const total = new Reader(header.subarray(4), malformed).u32();
    if (total !== sealed.length || total < MIN_EXPORT_LENGTH) {
      throw malformed("cache export length does not match its header");
    }
    const inner = await aesGcmDecrypt(
      cryptoKey,
      sealed.subarray(HEADER_LENGTH, HEADER_LENGTH + NONCE_LENGTH),
      sealed.subarray(HEADER_LENGTH + NONCE_LENGTH),
      header,
    );
    if (inner === null) {
      throw new SavedStateError("state_auth_failed", "wrong key or modified cache export");
    }
    try {
      cache.#restore(inner);
    } catch (err) {
      cache.clear();
      throw err;
    } finally {
      inner.fill(0);
    }
    return cache;
  }

  /** Reads the inner bytes of an export into this empty cache. */
  #restore(inner: Uint8Array): void {
    const reader = new Reader(inner, malformed);
    const namespaceCount = reader.u32();
    let ticketCount = 0;
    for (let n = 0; n < namespaceCount; n++) {
      let namespace: string;
      try {
        namespace = fromUtf8(reader.vector16(MAX_NAMESPACE_LENGTH, 1));
      } catch (err) {
        if (err instanceof SavedStateError) throw err;
        throw malformed("namespace is not UTF-8");
      }
      const count = reader.u32();
      ticketCount += count;
      if (count === 0 || ticketCount > MAX_MAX_SIZE || this.#namespaces.has(namespace)) {
        throw malformed("invalid namespace record");
      }
      const entries: Entry[] = [];
      this.#namespaces.set(namespace, entries);
      for (let t = 0; t < count; t++) {
        const id = copy(reader.vector8(MAX_ID_LENGTH, MIN_ID_LENGTH));
        const secret = copy(reader.bytes(SECRET_LENGTH));
        const serverId = copy(reader.vector16(MAX_SERVER_ID_LENGTH, 1));
        const serverKeyFingerprint = copy(reader.bytes(FINGERPRINT_LENGTH));
        const issuedAt = readTime(reader);
        const expiresAt = readTime(reader);
        const addedAt = readTime(reader);
        if (expiresAt <= issuedAt) throw malformed("ticket expires before it was issued");
        const ticket = { id, secret, serverId, serverKeyFingerprint, issuedAt, expiresAt };
        entries.push({ ticket, addedAt });
        this.#size++;
      }
    }
    reader.end();
    this.#evict();
  }

  /** Whether an entry is live at `now`. */
  #isLive(entry: Entry, now: number): boolean {
    return now < Math.min(entry.ticket.expiresAt, entry.addedAt + this.#ttl);
  }

  /** Drops the expired entries of one namespace, forgetting it when it empties. */
  #dropExpired(namespace: string, entries: Entry[], now: number): void {
    let kept = 0;
    for (const entry of entries) {
      if (this.#isLive(entry, now)) entries[kept++] = entry;
      else wipe(entry);
    }
    this.#size -= entries.length - kept;
    entries.length = kept;
    if (kept === 0) this.#namespaces.delete(namespace);
  }

  /** Drops every expired entry. */
  #dropAllExpired(now: number): void {
    for (const [namespace, entries] of [...this.#namespaces]) {
      this.#dropExpired(namespace, entries, now);
    }
  }

  /** Evicts from the least recently used end until at most `maxSize` remain. */
  #evict(): void {
    while (this.#size > this.#maxSize) {
      const [namespace, entries] = this.#namespaces.entries().next().value!;
      wipe(entries.shift()!);
      this.#size--;
      if (entries.length === 0) this.#namespaces.delete(namespace);
    }
  }
}

function malformed(message: string): SavedStateError {
  return new SavedStateError("state_malformed", message);
}

function readTime(reader: Reader): number {
  const value = reader.u64();
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed("time out of range");
  return Number(value);
}

/** Overwrites the secret of a ticket the cache drops (best effort). */
function wipe(entry: Entry): void {
  entry.ticket.secret.fill(0);
}

function copyTicket(ticket: ClientTicket): ClientTicket {
  return {
    id: copy(ticket.id),
    secret: copy(ticket.secret),
    serverId: copy(ticket.serverId),
    serverKeyFingerprint: copy(ticket.serverKeyFingerprint),
    issuedAt: ticket.issuedAt,
    expiresAt: ticket.expiresAt,
  };
}

function checkInteger(value: unknown, min: number, max: number, name: string): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function checkTime(value: unknown, name: string): void {
  checkInteger(value, 0, Number.MAX_SAFE_INTEGER, name);
}

function checkNamespace(namespace: unknown): void {
  if (typeof namespace !== "string") throw new TypeError("namespace must be a string");
  if (!namespace.isWellFormed()) throw new TypeError("namespace must be well-formed Unicode");
  const length = utf8(namespace).length;
  if (length < 1 || length > MAX_NAMESPACE_LENGTH) {
    throw new RangeError(`namespace must be 1 to ${MAX_NAMESPACE_LENGTH} bytes of UTF-8`);
  }
}

function checkBytes(value: unknown, min: number, max: number, name: string): void {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length < min || value.length > max) {
    throw new RangeError(
      min === max ? `${name} must be ${min} bytes` : `${name} must be ${min} to ${max} bytes`,
    );
  }
}

function checkTicket(ticket: ClientTicket): void {
  if (typeof ticket !== "object" || ticket === null) {
    throw new TypeError("ticket must be an object");
  }
  checkBytes(ticket.id, MIN_ID_LENGTH, MAX_ID_LENGTH, "ticket id");
  checkBytes(ticket.secret, SECRET_LENGTH, SECRET_LENGTH, "ticket secret");
  checkBytes(ticket.serverId, 1, MAX_SERVER_ID_LENGTH, "ticket serverId");
  checkBytes(
    ticket.serverKeyFingerprint,
    FINGERPRINT_LENGTH,
    FINGERPRINT_LENGTH,
    "ticket serverKeyFingerprint",
  );
  checkTime(ticket.issuedAt, "ticket issuedAt");
  checkTime(ticket.expiresAt, "ticket expiresAt");
  if (ticket.expiresAt <= ticket.issuedAt) {
    throw new RangeError("ticket expiresAt must be after issuedAt");
  }
}
