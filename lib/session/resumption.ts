/**
 * What tessera/1 resumption needs from the outside: a server-side
 * {@linkcode TicketStore} and a client-side {@linkcode ClientTicketCache}.
 * The resumption handshake itself is part of tessera/1 (docs/protocol.md §4);
 * stores and caches are adapters (`@tessera/session/resume` has
 * `KvTicketStore`, `MemoryTicketStore` and `ClientSessionCache`).
 *
 * @module
 */

/**
 * A JSON value: what ticket attributes may hold.
 *
 * @example
 * ```ts
 * import type { JsonValue } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const value: JsonValue = { level: 2, roles: ["admin"], note: null };
 * assert.deepEqual(JSON.parse(JSON.stringify(value)), value);
 * ```
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * Application attributes kept with a ticket on the server and restored
 * exactly on resume (auth level, permissions, anything JSON). The client never
 * sees them.
 *
 * @example
 * ```ts
 * import type { TicketAttributes } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const attributes: TicketAttributes = { authLevel: 2, permissions: ["read", "write"] };
 * assert.equal(attributes.authLevel, 2);
 * ```
 */
export type TicketAttributes = { readonly [key: string]: JsonValue };

/**
 * A ticket as the server issues it and asks its {@linkcode TicketStore} to keep.
 *
 * @example
 * ```ts
 * import type { ServerTicket } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const now = Date.now();
 * const ticket: ServerTicket = {
 *   id: crypto.getRandomValues(new Uint8Array(16)),
 *   secret: crypto.getRandomValues(new Uint8Array(32)),
 *   peerId: new TextEncoder().encode("alice"),
 *   peerKeyFingerprint: new Uint8Array(32),
 *   attributes: { authLevel: 1 },
 *   issuedAt: now,
 *   expiresAt: now + 3_600_000,
 *   family: crypto.getRandomValues(new Uint8Array(16)),
 *   authenticatedAt: now,
 * };
 * assert.ok(ticket.expiresAt > ticket.issuedAt);
 * ```
 */
export interface ServerTicket {
  /**
   * The opaque ticket id the client presents (16 bytes). Stores key their
   * records by SHA-256 of it and never store the id itself.
   */
  readonly id: Uint8Array;
  /** The 32-byte resumption secret. Stores seal it at rest. */
  readonly secret: Uint8Array;
  /** The client's id, authenticated by the full handshake that began the family. */
  readonly peerId: Uint8Array;
  /** SHA-256 of the client's public key (SPKI) at that handshake: `publicKeyFingerprint`. */
  readonly peerKeyFingerprint: Uint8Array;
  /** Application attributes, restored exactly on resume. */
  readonly attributes: TicketAttributes;
  /** When the ticket was issued (milliseconds since the epoch). */
  readonly issuedAt: number;
  /** When the ticket stops being valid (milliseconds since the epoch). */
  readonly expiresAt: number;
  /** 16 bytes naming the chain of tickets that one full handshake began. */
  readonly family: Uint8Array;
  /** When the full handshake that began the family authenticated the peer. */
  readonly authenticatedAt: number;
}

/**
 * A ticket as a store found it: the issued fields (the id aside), whether it
 * was already redeemed, and an opaque version for {@linkcode TicketStore.redeem}.
 *
 * @example
 * ```ts
 * import { MemoryTicketStore } from "@tessera/session/resume";
 * import type { StoredTicket } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryTicketStore();
 * const now = Date.now();
 * const id = crypto.getRandomValues(new Uint8Array(16));
 * await store.issue([{
 *   id,
 *   secret: new Uint8Array(32),
 *   peerId: new Uint8Array([1]),
 *   peerKeyFingerprint: new Uint8Array(32),
 *   attributes: {},
 *   issuedAt: now,
 *   expiresAt: now + 60_000,
 *   family: new Uint8Array(16),
 *   authenticatedAt: now,
 * }], now);
 * const found = await store.find(id, now);
 * assert.equal(found.status, "live");
 * if (found.status === "live") {
 *   const stored: StoredTicket = found.ticket;
 *   assert.equal(stored.redeemedWith, null);
 * }
 * ```
 */
export interface StoredTicket extends Omit<ServerTicket, "id"> {
  /** SHA-256 of the binder that redeemed it, or `null` while it is unused. */
  readonly redeemedWith: Uint8Array | null;
  /** Opaque: changes whenever the record changes. */
  readonly version: string;
}

/**
 * What {@linkcode TicketStore.find} found.
 *
 * - `unknown`: no such ticket (never issued, or cleaned up).
 * - `expired`: past its `expiresAt` (the store checks; it does not rely on
 *   lazy clean-up such as Deno KV's `expireIn`).
 * - `revoked`: its family or its peer was revoked.
 * - `live`: usable, not redeemed yet.
 * - `redeemed`: already used once; `ticket.redeemedWith` says with which binder.
 *
 * @example
 * ```ts
 * import { MemoryTicketStore } from "@tessera/session/resume";
 * import type { TicketLookup } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryTicketStore();
 * const found: TicketLookup = await store.find(new Uint8Array(16), Date.now());
 * assert.equal(found.status, "unknown");
 * ```
 */
export type TicketLookup =
  | { readonly status: "unknown" | "expired" | "revoked" }
  | { readonly status: "live" | "redeemed"; readonly ticket: StoredTicket };

/**
 * Where a server keeps the tickets it issued. Implementations: `KvTicketStore`
 * (Deno KV, atomic across processes) and `MemoryTicketStore` (one process).
 *
 * The session calls {@linkcode TicketStore.find} and verifies the client's
 * binder with the secret before it calls {@linkcode TicketStore.redeem}, so
 * nobody without the secret can use up a ticket.
 *
 * @example
 * ```ts
 * import { MemoryTicketStore } from "@tessera/session/resume";
 * import type { TicketStore } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const store: TicketStore = new MemoryTicketStore();
 * assert.equal((await store.find(new Uint8Array(16), Date.now())).status, "unknown");
 * ```
 */
export interface TicketStore {
  /**
   * Keeps newly issued tickets.
   *
   * @param tickets The tickets.
   * @param now The current time in milliseconds.
   */
  issue(tickets: readonly ServerTicket[], now: number): Promise<void>;
  /**
   * Looks a ticket up by the id the client presented.
   *
   * @param id The ticket id.
   * @param now The current time in milliseconds.
   */
  find(id: Uint8Array, now: number): Promise<TicketLookup>;
  /**
   * Atomically marks a found ticket redeemed with `binderHash` and keeps its
   * successor: only if the ticket is unchanged since `find` (same version, not
   * redeemed), its family and peer are not revoked. Of any number of
   * concurrent calls for one ticket, across processes sharing the store, at
   * most one returns `true`.
   *
   * @param id The ticket id.
   * @param found The ticket as `find` returned it (status `live`).
   * @param binderHash SHA-256 of the binder that redeems it.
   * @param successor The ticket that replaces it, or `null`.
   * @param now The current time in milliseconds.
   * @returns `true` when this call redeemed the ticket.
   */
  redeem(
    id: Uint8Array,
    found: StoredTicket,
    binderHash: Uint8Array,
    successor: ServerTicket | null,
    now: number,
  ): Promise<boolean>;
  /**
   * Revokes every ticket of a family (a copied ticket secret was detected).
   *
   * @param family The family.
   * @param now The current time in milliseconds.
   */
  revokeFamily(family: Uint8Array, now: number): Promise<void>;
  /**
   * Revokes every ticket of a peer issued so far (logout, key compromise).
   *
   * @param peerId The peer id.
   * @param now The current time in milliseconds.
   */
  revokePeer(peerId: Uint8Array, now: number): Promise<void>;
}

/**
 * A ticket as the client keeps it.
 *
 * @example
 * ```ts
 * import type { ClientTicket } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const now = Date.now();
 * const ticket: ClientTicket = {
 *   id: crypto.getRandomValues(new Uint8Array(16)),
 *   secret: crypto.getRandomValues(new Uint8Array(32)),
 *   serverId: new TextEncoder().encode("api"),
 *   serverKeyFingerprint: new Uint8Array(32),
 *   issuedAt: now,
 *   expiresAt: now + 3_600_000,
 * };
 * assert.equal(ticket.secret.length, 32);
 * ```
 */
export interface ClientTicket {
  /** The opaque ticket id. */
  readonly id: Uint8Array;
  /** The 32-byte resumption secret. */
  readonly secret: Uint8Array;
  /** The server's id, authenticated by the handshake that delivered the ticket. */
  readonly serverId: Uint8Array;
  /** SHA-256 of the server's public key (SPKI) at that handshake. */
  readonly serverKeyFingerprint: Uint8Array;
  /** When the client received it (milliseconds since the epoch). */
  readonly issuedAt: number;
  /** When it stops being valid (milliseconds since the epoch). */
  readonly expiresAt: number;
}

/**
 * Where a client keeps tickets between connections, by namespace (an
 * endpoint, such as `host:port`, plus the server id it expects). Each ticket
 * is handed out once. Implementation: `ClientSessionCache`.
 *
 * @example
 * ```ts
 * import { ClientSessionCache } from "@tessera/session/resume";
 * import type { ClientTicketCache } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const cache: ClientTicketCache = new ClientSessionCache();
 * assert.equal(await cache.take("api.example:443", Date.now()), null);
 * ```
 */
export interface ClientTicketCache {
  /**
   * Removes and returns the most recently received live ticket of a namespace.
   *
   * @param namespace The namespace.
   * @param now The current time in milliseconds.
   */
  take(namespace: string, now: number): ClientTicket | null | Promise<ClientTicket | null>;
  /**
   * Keeps tickets for later connections.
   *
   * @param namespace The namespace.
   * @param tickets The tickets.
   * @param now The current time in milliseconds.
   */
  add(namespace: string, tickets: readonly ClientTicket[], now: number): void | Promise<void>;
}

/**
 * The default ticket lifetime: 24 hours.
 *
 * @example
 * ```ts
 * import { DEFAULT_TICKET_LIFETIME, MAX_TICKET_LIFETIME } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_TICKET_LIFETIME, 24 * 3600 * 1000);
 * assert.ok(DEFAULT_TICKET_LIFETIME <= MAX_TICKET_LIFETIME);
 * ```
 */
export const DEFAULT_TICKET_LIFETIME: number = 24 * 3600 * 1000;

/**
 * The hard maximum lifetime of a ticket, and of a family of tickets since the
 * full handshake that began it: 7 days (RFC 8446 §4.6.1).
 *
 * @example
 * ```ts
 * import { MAX_TICKET_LIFETIME } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MAX_TICKET_LIFETIME, 7 * 24 * 3600 * 1000);
 * ```
 */
export const MAX_TICKET_LIFETIME: number = 7 * 24 * 3600 * 1000;
