/**
 * Cookie and header sessions for `Deno.serve` (and Bun.serve): composable
 * transformers that protect the value, a cookie or header transport, and
 * client-side or server-side (Deno KV, memory) storage.
 *
 * Wrap a handler with {@linkcode sessions}; it receives the request's typed
 * {@linkcode Session} as third argument. Bad input (malformed, tampered,
 * expired, revoked, …) gives an empty session whose `reason` says why; it
 * never fails the request.
 *
 * @example Server-side sessions in Deno KV
 * ```ts
 * import { KvSessionStorage, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * const withSession = sessions<{ user: string }>({ storage: new KvSessionStorage(kv) });
 * const handler = withSession((req, _info, session) => {
 *   if (new URL(req.url).pathname === "/login") {
 *     session.regenerate();
 *     session.setUser("ann");
 *     session.set("user", "ann");
 *   }
 *   return new Response(session.get("user") ?? "anonymous");
 * });
 *
 * const login = await handler(new Request("https://example.com/login"), {});
 * const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
 * assert.match(cookie, /^__Host-session=[A-Za-z0-9_-]{43}$/);
 * const next = await handler(new Request("https://example.com/", { headers: { cookie } }), {});
 * assert.equal(await next.text(), "ann");
 * assert.equal(next.headers.get("set-cookie"), null); // unchanged: nothing to send
 * kv.close();
 * ```
 *
 * @module
 */

export type { CookieErrorCode } from "../errors.ts";
export type { SessionTransformer, TransformContext, TransformResult } from "./transformer.ts";
export { compose, type InspectingTransformer } from "./compose.ts";
export { digest, type DigestOptions } from "./digest.ts";
export { hmac, type HmacOptions } from "./hmac.ts";
export { encrypt, type EncryptOptions } from "./encrypt.ts";
export {
  type KeyInput,
  Keyring,
  keyring,
  type KeyringOptions,
  PASSWORD_KEY_LABELS,
} from "./keyring.ts";
export { deriveKeyFromPassphrase, type PassphraseOptions } from "./passphrase.ts";
export { fallback, type FallbackOptions, iron, type IronOptions } from "./iron.ts";
export type {
  HttpSessionTransport,
  TransportReadResult,
  TransportWriteOptions,
} from "./http_session_transport.ts";
export type {
  SessionStorage,
  SessionSummary,
  StorageReadResult,
  StorageWriteOptions,
  StoredSession,
} from "./session_storage.ts";
export type { SessionPayload } from "./payload.ts";
export type { JsonSafe, JsonValue, SessionData } from "./json_value.ts";
export { cookieTransport, type CookieTransportOptions } from "./cookie_transport.ts";
export { headerTransport, type HeaderTransportOptions } from "./header_transport.ts";
export { Session, type SessionInit } from "./session.ts";
export { MemorySessionStorage, type MemorySessionStorageOptions } from "./memory_storage.ts";
export {
  KvSessionStorage,
  type KvSessionStorageOptions,
  type SessionKv,
  type SessionKvAtomicOperation,
  type SessionKvKey,
} from "./kv_storage.ts";
export {
  KvRevocationStore,
  type KvRevocationStoreOptions,
  MemoryRevocationStore,
  type RevocationStore,
} from "./revocation.ts";
export {
  type SessionHandler,
  type SessionMiddleware,
  sessions,
  type SessionsOptions,
} from "./sessions.ts";
export { fromIronSession, type FromIronSessionOptions } from "./iron_session_migration.ts";
export {
  type HonoSessionContext,
  type HonoSessionEnv,
  type HonoSessionMiddleware,
  honoSessions,
} from "./hono.ts";
