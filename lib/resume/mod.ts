/**
 * Session resumption adapters: server-side ticket stores (Deno KV, memory) and
 * the client-side session cache. The resumption handshake itself is part of
 * tessera/1; these keep its tickets between connections.
 *
 * @example
 * ```ts
 * import { ClientSessionCache, MemoryTicketStore } from "@tessera/session/resume";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryTicketStore();
 * const cache = new ClientSessionCache({ maxSize: 10 });
 * assert.equal((await store.find(new Uint8Array(16), Date.now())).status, "unknown");
 * assert.equal(await cache.take("api.example:443", Date.now()), null);
 * ```
 *
 * @module
 */

export * from "./client_session_cache.ts";
export * from "./kv_ticket_store.ts";
export * from "./memory_ticket_store.ts";
export {
  type ClientTicket,
  type ClientTicketCache,
  DEFAULT_TICKET_LIFETIME,
  type JsonValue,
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketAttributes,
  type TicketLookup,
  type TicketStore,
} from "../session/resumption.ts";
