/**
 * `sessions()`: cookie or header sessions around a plain `Deno.serve` handler
 * (or a Bun.serve `fetch` handler).
 *
 * @module
 */

import type { JsonValue, SessionData } from "./json_value.ts";
import { CookieError, type CookieErrorCode } from "../errors.ts";
import { toBase64Url, utf8 } from "../crypto/_bytes.ts";
import { randomBytes } from "../crypto/random.ts";
import { sha256 } from "../crypto/sha256.ts";
import { checkKnownKeys } from "../_options.ts";
import { conflictBackoff } from "./_kv_retry.ts";
import { MAX_COOKIE_AGE_SECONDS, secondsOption } from "./_seconds.ts";
import { inspectWith } from "./compose.ts";
import { cookieTransport } from "./cookie_transport.ts";
import { encrypt } from "./encrypt.ts";
import {
  decodePayload,
  DEFAULT_CLOCK_SKEW,
  encodePayload,
  type SessionPayload,
  userIdProblem,
} from "./payload.ts";
import type { RevocationStore } from "./revocation.ts";
import {
  rebaseSession,
  Session,
  sessionContents,
  sessionIdentity,
  sessionStatus,
  setSessionId,
} from "./session.ts";
import type { SessionStorage, SessionSummary, StoredSession } from "./session_storage.ts";
import type { HttpSessionTransport, TransportReadResult } from "./http_session_transport.ts";
import type { SessionTransformer, TransformContext } from "./transformer.ts";

/** A day in seconds. */
const DAY = 24 * 60 * 60;
/** Every option `sessions()` reads: any other key is a mistake. */
const SESSIONS_OPTIONS = [
  "transformer",
  "storage",
  "transport",
  "purpose",
  "maxAge",
  "idleTimeout",
  "rolling",
  "renewThreshold",
  "revocation",
  "now",
  "clockSkew",
  "maxConflictRetries",
  "anonymous",
] as const satisfies readonly (keyof SessionsOptions)[];
/** What other session libraries call some of these options. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  ttl: "maxAge",
  expires: "maxAge",
  lifetime: "maxAge",
  password: "transformer",
  secret: "transformer",
  key: "transformer",
  cookieName: "transport",
  cookieOptions: "transport",
  cookie: "transport",
  name: "transport",
  store: "storage",
};
/** Retries of a lost compare-and-set write (with backoff): 50 parallel updates all land. */
const DEFAULT_CONFLICT_RETRIES = 16;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Options of {@linkcode sessions}.
 *
 * @example
 * ```ts
 * import { headerTransport, hmac, sessions, type SessionsOptions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const options: SessionsOptions = {
 *   transformer: hmac({ key: crypto.getRandomValues(new Uint8Array(32)) }),
 *   transport: headerTransport(),
 *   idleTimeout: 60, // seconds, like Max-Age
 * };
 * const handler = sessions(options)((_req, _info, session) => {
 *   session.set("n", 1);
 *   return new Response("ok");
 * });
 * const response = await handler(new Request("https://example.com/"), {});
 * assert.ok(response.headers.get("x-session")!.startsWith("t1.m.0."));
 * // An idle timeout longer than the absolute lifetime is refused.
 * assert.throws(() => sessions({ ...options, maxAge: 30 }), RangeError);
 * // Milliseconds where seconds are meant, and unknown option names, are caught at the call.
 * assert.throws(() => sessions({ ...options, maxAge: 7 * 24 * 3600 * 1000 }), /milliseconds\?/);
 * assert.throws(() => sessions({ ...options, ttl: 3600 } as SessionsOptions), /did you mean "maxAge"/);
 * ```
 */
export interface SessionsOptions {
  /**
   * Protects the value on the wire. Required for client-side sessions (the
   * data is the cookie): use an `encrypt` or `hmac` transformer. Optional
   * with `storage`, where the cookie holds a 256-bit random token; a
   * transformer then MACs the token too.
   */
  readonly transformer?: SessionTransformer;
  /**
   * Server-side storage ({@linkcode KvSessionStorage}, {@linkcode MemorySessionStorage}).
   * Without it, sessions are client-side.
   */
  readonly storage?: SessionStorage;
  /** Where the value travels. Default `cookieTransport()` (`__Host-session`, secure defaults). */
  readonly transport?: HttpSessionTransport;
  /** The purpose bound into the transformer's protection. Default `"session"`. */
  readonly purpose?: string;
  /**
   * Absolute lifetime in **seconds** (as the `Max-Age` attribute counts) from
   * login (or `regenerate()`): an integer from 1 to 34 560 000 (400 days,
   * the most browsers keep a cookie). Default 604 800 (7 days).
   */
  readonly maxAge?: number;
  /**
   * Idle lifetime in **seconds**: a session unused for this long dies. Default
   * 86 400 (24 hours) or `maxAge` if shorter; at most `maxAge` (equal to
   * `maxAge` turns idle expiry off).
   */
  readonly idleTimeout?: number;
  /**
   * Rolling renewal: extend the idle expiry of a session that is in use, even
   * when it did not change. Default `true`. With `false` the idle expiry moves
   * only when the session is written.
   */
  readonly rolling?: boolean;
  /**
   * Renew when less than this fraction of `idleTimeout` remains, so an active
   * user stays logged in without a write on every request. Default `0.5`.
   */
  readonly renewThreshold?: number;
  /** Per-user revocation epochs, for "log out everywhere" with client-side sessions. */
  readonly revocation?: RevocationStore;
  /** The clock, in ms since the Unix epoch. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * How far, in **seconds**, a session's issued-at may lie ahead of `now`
   * (another server's clock running fast), from 0 to 3600. A value issued
   * further in the future is refused with `cookie_issued_in_future`: else a
   * server with a clock ahead would mint sessions that outlive `maxAge` on
   * every other server. Default 60; `0` allows no skew.
   */
  readonly clockSkew?: number;
  /**
   * How often a server-side write that lost its compare-and-set to a
   * concurrent request is retried on the newer version, from 0 to 100.
   * Retries wait a random time up to 2 ms, doubling per retry, at most
   * 100 ms. Default 16 (at most about 1.1 s of waiting in all). A request
   * that changed nothing and only renews the idle expiry never fails for
   * lack of retries: a renewal it cannot write is skipped.
   */
  readonly maxConflictRetries?: number;
  /**
   * With `storage`: where the session of a visitor who is not logged in
   * lives.
   *
   * - `"cookie"` (default): no stored record until the session is bound to a
   *   user with `setUser()`. Until then its data and flash values travel in
   *   the cookie, sealed like a client-side session (by `transformer`; without
   *   one, by AES-256-GCM under a key made per `sessions()` call, so that
   *   anonymous data does not survive a restart and is not shared between
   *   processes: pass a transformer with a key from a secret for that). On
   *   login it moves into the new stored record. Anonymous requests can never
   *   fill the store, but anonymous data counts against the cookie's size
   *   (`cookie_too_large`), a flash value can be read again by replaying an
   *   old cookie, and with `hmac` the client can read it.
   * - `"store"`: every session that gets written is stored, logged in or not
   *   (a cart too large for a cookie, or data the client must not even see
   *   sealed). Each anonymous visitor who triggers a write then costs a record
   *   for `idleTimeout`: bound the store, and rate-limit such writes.
   *
   * Ignored for client-side sessions.
   */
  readonly anonymous?: "cookie" | "store";
}

/**
 * A request handler that also receives the request's session. `info` is
 * whatever the server passes second: `Deno.ServeHandlerInfo` for
 * `Deno.serve`, the `Server` for Bun.serve.
 *
 * @example
 * ```ts
 * import {
 *   MemorySessionStorage,
 *   Session,
 *   type SessionHandler,
 *   sessions,
 * } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * type Data = { visits: number };
 * const handler: SessionHandler<Data, unknown> = (_req, _info, session) =>
 *   new Response(String(session.update("visits", (n = 0) => n + 1)));
 * const request = new Request("https://example.com/");
 * assert.equal(await (await handler(request, {}, new Session<Data>())).text(), "1"); // unit test
 * const served = sessions<Data>({ storage: new MemorySessionStorage() })(handler);
 * assert.equal(await (await served(request, {})).text(), "1");
 * ```
 */
export type SessionHandler<T extends SessionData<T>, I> = (
  request: Request,
  info: I,
  session: Session<T>,
) => Response | Promise<Response>;

/**
 * What {@linkcode sessions} returns: call it on a handler to get a plain
 * `(request, info) => Promise<Response>` handler; it also revokes and lists
 * sessions.
 *
 * @example
 * ```ts
 * import { MemorySessionStorage, type SessionMiddleware, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const withSession: SessionMiddleware<{ cart: string[] }> = sessions({
 *   storage: new MemorySessionStorage(),
 * });
 * assert.equal(withSession.mode, "server");
 * const handler = withSession((_req, _info, session) => {
 *   session.setUser("ann");
 *   return new Response("ok");
 * });
 * await handler(new Request("https://example.com/"), {});
 * assert.equal((await withSession.listSessions("ann")).length, 1);
 * await withSession.revokeUser("ann");
 * assert.deepEqual(await withSession.listSessions("ann"), []);
 * ```
 */
export interface SessionMiddleware<T extends SessionData<T>> {
  /**
   * Wraps a handler.
   *
   * @param handler The handler, called with the session as third argument.
   * @returns A handler for `Deno.serve` or Bun.serve's `fetch`.
   */
  <I>(handler: SessionHandler<T, I>): (request: Request, info: I) => Promise<Response>;
  /** `"server"` with storage, `"client"` without. */
  readonly mode: "client" | "server";
  /**
   * Logs a user out everywhere: deletes all their stored sessions, or moves
   * their revocation epoch on (client-side). The current request's session is
   * included.
   *
   * @param userId The user id.
   * @returns Nothing.
   * @throws {TypeError} For client-side sessions without a `revocation` store,
   *   and for a `userId` that `setUser()` would refuse (rejects at once).
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  revokeUser(userId: string): Promise<void>;
  /**
   * Lists a user's live server-side sessions.
   *
   * @param userId The user id.
   * @returns The sessions, with their public ids.
   * @throws {TypeError} For client-side sessions, which the server cannot list,
   *   and for a `userId` that `setUser()` would refuse (rejects at once).
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  listSessions(userId: string): Promise<SessionSummary[]>;
}

interface Loaded<T extends SessionData<T>> {
  readonly session: Session<T>;
  readonly read: TransportReadResult;
  /** The request, passed on to the transport's writes (e.g. for `secure: "auto"`). */
  readonly request: Request;
  readonly reason: CookieErrorCode | null;
  /** The transformer said the value was sealed under an old key. */
  readonly stale: boolean;
  /** Server-side: the session came from an anonymous envelope sealed in the cookie. */
  readonly anonymous: boolean;
  /** Server-side: the token from the cookie, its id and what storage returned. */
  readonly token: string | null;
  readonly id: string | null;
  readonly stored: StoredSession | null;
}

interface Settings {
  readonly transformer: SessionTransformer | undefined;
  readonly storage: SessionStorage | undefined;
  readonly transport: HttpSessionTransport;
  readonly context: TransformContext;
  readonly maxAge: number;
  readonly idleTimeout: number;
  readonly rolling: boolean;
  readonly renewThreshold: number;
  readonly revocation: RevocationStore | undefined;
  readonly now: () => number;
  readonly clockSkew: number;
  readonly maxConflictRetries: number;
  readonly anonymous: "cookie" | "store";
  /** Server-side: seals anonymous envelopes (the transformer, else a per-call random key). */
  readonly anonymousSealer: SessionTransformer | undefined;
  /** Server-side: the storage ids of tokens seen lately (see {@linkcode KnownIds}). */
  readonly ids: KnownIds;
}

/** How many token-to-id results a `sessions()` keeps. */
const KNOWN_IDS = 4096;

/**
 * The storage ids of tokens that storage recently confirmed, so that a
 * returning client costs no SHA-256 call: on a busy server that hash is a
 * large part of a read-only request. Only tokens of live sessions enter (a
 * flood of forged tokens cannot push them out), at most {@linkcode KNOWN_IDS},
 * oldest first out. The map lives in this process's memory, where the tokens
 * pass anyway; storage still never holds one.
 */
class KnownIds {
  readonly #ids = new Map<string, string>();

  get(token: string): string | undefined {
    return this.#ids.get(token);
  }

  remember(token: string, id: string): void {
    if (this.#ids.has(token)) return;
    if (this.#ids.size >= KNOWN_IDS) this.#ids.delete(this.#ids.keys().next().value!);
    this.#ids.set(token, id);
  }

  forget(token: string): void {
    this.#ids.delete(token);
  }
}

/**
 * Creates session handling for `Deno.serve` (and Bun.serve). Options are
 * checked once, here.
 *
 * Two modes:
 * - **client-side** (no `storage`): the envelope (data, issued-at, expiries,
 *   user, flash values) is sealed by the `transformer` into the cookie;
 * - **server-side** (`storage`): the envelope lives in storage and the cookie
 *   holds only a 256-bit random token (optionally MAC'ed by the transformer);
 *   storage is keyed by the token's SHA-256, so a storage dump holds no usable
 *   token.
 *
 * Every request gets a {@linkcode Session}. A missing, malformed, truncated,
 * tampered, moved, unknown-key, expired, future-dated, oversized,
 * chunk-missing, revoked or unknown (server-side) value gives an empty new
 * session whose `reason` says why (for logs) and the bad cookie is cleared; it
 * never causes an error response and never yields another session's data.
 * A value issued more than `clockSkew` (default 60 s) ahead of the clock is
 * `cookie_issued_in_future`. Server-side, a token of a deleted session is
 * `cookie_revoked`, while a token the store never issued (forged, guessed) is
 * `cookie_unknown_session`.
 *
 * A response carries Set-Cookie (or the header) only when needed: the session
 * changed, was regenerated or destroyed, its idle expiry is due for renewal
 * (less than `renewThreshold` of `idleTimeout` left), or the transformer read
 * it under an old key (it is then re-sealed under the current key).
 *
 * Server-side, a visitor who is not logged in costs no record (option
 * `anonymous`, default `"cookie"`): until `setUser()` binds the session to a
 * user, its data and flash values travel sealed in the cookie, and an
 * emptied one clears the cookie. Binding it to a user stores it, anonymous
 * data and flash values included, under a new token; `destroy()` (logout)
 * deletes the record, and whatever is set afterwards (a "logged out" flash)
 * travels in the cookie again. So a flood of anonymous requests, even ones
 * that write, never grows the store nor keeps anyone from logging in.
 *
 * A server-side session that gets bound to a user (`setUser`) is moved to a
 * new token even when the handler did not call `regenerate()`, so a token
 * planted before login never becomes the user's session. The configured
 * `maxAge` also bounds sessions issued under an older, longer setting.
 *
 * Server-side writes are compare-and-set: when a concurrent request wrote the
 * same session first, this request re-reads it and replays only its own
 * changes on the newer version, key by key (`set`/`delete` win for their key,
 * `update()` functions run again on the newer value, so counters add up),
 * retrying with jittered exponential backoff (`maxConflictRetries`). A
 * request that changed nothing and only renews the idle expiry never fails
 * this way: a renewal another request already did (the expiry is fresh
 * again) counts as done, and one that cannot be written is skipped (the
 * session is still live). Replaying is refused with
 * `CookieError("session_conflict")` when it could lose an update: this request
 * had *read* a key that the other request changed, took a flash value that is
 * gone, the session was bound to another user meanwhile, or the session was
 * deleted (logout, login on another request, log out everywhere) while this
 * request changed it. Client-side sessions cannot detect concurrent writes:
 * the browser keeps the last cookie.
 *
 * Errors: the wrapped handler rejects instead of returning a response when
 * the session cannot be read from storage before the handler runs, or
 * written (to storage, a revocation store or the transport) after it
 * returns; the handler's response is then discarded (its body cancelled).
 * It rejects with a {@linkcode CookieError} whose code is one of:
 * - `session_conflict`: a concurrent request changed data this one read,
 *   or ended the session this one changed (answer 409 Conflict; the client
 *   may retry);
 * - `cookie_too_large`: the handler stored more than the transport's or the
 *   store's budget (answer 413 Content Too Large);
 * - `session_storage_failed`: the storage or revocation store failed after
 *   retries; anything a custom store throws that is not a `CookieError` is
 *   wrapped in this code, the original as `cause` (answer 503).
 *
 * Map them where the server reports handler errors: `Deno.serve`'s
 * `onError`, Bun.serve's `error`, or a try/catch around the wrapped handler.
 * Errors of the handler itself (such as the `TypeError` of a refused
 * `setUser()` id) pass through untouched. A `101 Switching Protocols`
 * response is returned as is (its headers are already sent), though storage
 * is still written.
 *
 * @typeParam T The shape of the session data.
 * @param options Transformer, storage, transport, lifetimes and clock.
 * @returns The middleware: wrap a handler with it.
 * @throws {TypeError} When client-side sessions have no transformer, an
 *   option has an unknown name (the message names the nearest known one) or
 *   the wrong type, or `revocation` is combined with `storage`.
 * @throws {RangeError} When a lifetime (in seconds), threshold or `clockSkew`
 *   is out of range; the message gives the range and the value.
 *
 * @example Client-side sessions around Deno.serve
 * ```ts
 * import { encrypt, sessions } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const key = crypto.getRandomValues(new Uint8Array(32)); // load it from a secret store
 * const withSession = sessions<{ count: number }>({ transformer: encrypt({ key }) });
 * const handler = withSession((_req, _info, session) => {
 *   const count = session.update("count", (n = 0) => n + 1);
 *   return new Response(`count ${count}`);
 * });
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
 * try {
 *   const url = `http://127.0.0.1:${server.addr.port}/`;
 *   const first = await fetch(url);
 *   assert.equal(await first.text(), "count 1");
 *   const cookie = first.headers.getSetCookie()[0]!.split(";")[0]!;
 *   const second = await fetch(url, { headers: { cookie } });
 *   assert.equal(await second.text(), "count 2");
 * } finally {
 *   await server.shutdown();
 * }
 * ```
 *
 * @example Mapping errors at commit to 409, 413 and 503
 * ```ts
 * import { cookieTransport, encrypt, sessions } from "@tessera/session/cookie";
 * import { CookieError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const STATUS: Record<string, number> = {
 *   session_conflict: 409,
 *   cookie_too_large: 413,
 *   session_storage_failed: 503,
 * };
 * function onError(err: unknown): Response {
 *   const status = err instanceof CookieError ? STATUS[err.code] ?? 500 : 500;
 *   return new Response(null, { status, headers: status === 503 ? { "retry-after": "1" } : {} });
 * }
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const transport = cookieTransport({ maxChunks: 1 }); // one 4 KiB cookie at most
 * const handler = sessions({ transformer: encrypt({ key }), transport })((req, _info, session) => {
 *   session.set("blob", "x".repeat(Number(new URL(req.url).searchParams.get("n"))));
 *   return new Response("stored");
 * });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {}, onError }, handler);
 * try {
 *   const url = `http://127.0.0.1:${server.addr.port}/`;
 *   assert.equal((await (await fetch(`${url}?n=10`)).text()), "stored");
 *   const tooBig = await fetch(`${url}?n=9000`);
 *   await tooBig.body?.cancel();
 *   assert.equal(tooBig.status, 413);
 * } finally {
 *   await server.shutdown();
 * }
 * ```
 */
export function sessions<T extends SessionData<T> = Record<string, JsonValue>>(
  options: SessionsOptions = {},
): SessionMiddleware<T> {
  const settings = validate(options);
  const { storage, revocation } = settings;

  const middleware = <I>(
    handler: SessionHandler<T, I>,
  ): (request: Request, info: I) => Promise<Response> => {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    return async (request: Request, info: I): Promise<Response> => {
      const loaded = await load<T>(settings, request);
      const response = await handler(request, info, loaded.session);
      const headers = new Headers();
      try {
        if (storage === undefined) await commitClient(settings, loaded, headers);
        else await commitServer(settings, storage, loaded, headers);
      } catch (error) {
        // The response will never be sent: release its body.
        if (response instanceof Response) response.body?.cancel().catch(() => {});
        throw error;
      }
      return withHeaders(response, headers);
    };
  };

  return Object.assign(middleware, {
    mode: storage === undefined ? "client" as const : "server" as const,
    async revokeUser(userId: string): Promise<void> {
      checkUserId(userId);
      if (storage !== undefined) await storage.deleteByUser(userId);
      else if (revocation !== undefined) await revocation.revoke(userId);
      else throw new TypeError("client-side sessions need a revocation store to revoke a user");
    },
    async listSessions(userId: string): Promise<SessionSummary[]> {
      if (storage === undefined) throw new TypeError("client-side sessions cannot be listed");
      checkUserId(userId);
      const now = settings.now();
      // Sessions issued under a longer maxAge end sooner than their records say.
      return (await storage.listByUser(userId, now))
        .map((summary) => ({
          ...summary,
          expiresAt: Math.min(summary.expiresAt, summary.issuedAt + settings.maxAge),
        }))
        .filter((summary) => summary.expiresAt > now);
    },
  });
}

function checkUserId(userId: string): void {
  const problem = userIdProblem(userId);
  if (problem !== null) throw new TypeError(problem);
}

function validate(options: SessionsOptions): Settings {
  if (options === null || typeof options !== "object") {
    throw new TypeError("options must be an object");
  }
  checkKnownKeys(options, SESSIONS_OPTIONS, "sessions()", OPTION_HINTS);
  const { transformer, storage, revocation } = options;
  if (
    transformer !== undefined &&
    (typeof transformer?.write !== "function" || typeof transformer?.read !== "function")
  ) {
    throw new TypeError("transformer must have write() and read()");
  }
  if (storage !== undefined) {
    for (const m of ["read", "write", "delete", "listByUser", "deleteByUser"] as const) {
      if (typeof storage?.[m] !== "function") throw new TypeError(`storage must have ${m}()`);
    }
  } else if (transformer === undefined) {
    throw new TypeError(
      "client-side sessions need a transformer (encrypt or hmac); or pass storage",
    );
  }
  if (revocation !== undefined) {
    if (storage !== undefined) {
      throw new TypeError("revocation is for client-side sessions; storage revokes by deleting");
    }
    if (typeof revocation?.epoch !== "function" || typeof revocation?.revoke !== "function") {
      throw new TypeError("revocation must have epoch() and revoke()");
    }
  }
  const transport = options.transport ?? cookieTransport();
  if (typeof transport?.read !== "function" || typeof transport?.write !== "function") {
    throw new TypeError("transport must have read() and write()");
  }
  const purpose = options.purpose ?? "session";
  if (typeof purpose !== "string" || purpose.length === 0 || purpose.length > 64) {
    throw new TypeError("purpose must be a string of 1 to 64 characters");
  }
  const maxAge = secondsOption("maxAge", options.maxAge, 7 * DAY, 1, MAX_COOKIE_AGE_SECONDS);
  const idleTimeout = secondsOption(
    "idleTimeout",
    options.idleTimeout,
    Math.min(DAY, maxAge / 1000),
    1,
    maxAge / 1000,
  );
  const renewThreshold = options.renewThreshold ?? 0.5;
  if (typeof renewThreshold !== "number" || !(renewThreshold >= 0 && renewThreshold <= 1)) {
    throw new RangeError(`renewThreshold must be a number from 0 to 1, not ${renewThreshold}`);
  }
  const clock = options.now ?? Date.now;
  if (typeof clock !== "function") throw new TypeError("now must be a function");
  // Whole milliseconds, as envelopes store them (performance.now()-based clocks have fractions).
  const now = (): number => {
    const time = clock();
    if (typeof time !== "number" || !Number.isFinite(time) || time < 0) {
      throw new TypeError(`now() must return ms since the Unix epoch, not ${time}`);
    }
    return Math.floor(time);
  };
  const clockSkew = secondsOption(
    "clockSkew",
    options.clockSkew,
    DEFAULT_CLOCK_SKEW / 1000,
    0,
    3600,
  );
  if (options.rolling !== undefined && typeof options.rolling !== "boolean") {
    throw new TypeError("rolling must be a boolean");
  }
  const maxConflictRetries = options.maxConflictRetries ?? DEFAULT_CONFLICT_RETRIES;
  if (
    !Number.isSafeInteger(maxConflictRetries) || maxConflictRetries < 0 ||
    maxConflictRetries > 100
  ) {
    throw new RangeError("maxConflictRetries must be an integer from 0 to 100");
  }
  const anonymous = options.anonymous ?? "cookie";
  if (anonymous !== "cookie" && anonymous !== "store") {
    throw new TypeError('anonymous must be "cookie" or "store"');
  }
  // Read in either mode, so that switching from "cookie" to "store" keeps anonymous visitors.
  const anonymousSealer = storage === undefined
    ? undefined
    : transformer ?? encrypt({ key: randomBytes(32) });
  return {
    transformer,
    storage: storage === undefined ? undefined : guardStorage(storage),
    transport,
    context: Object.freeze({ name: transport.name, purpose }),
    maxAge,
    idleTimeout,
    rolling: options.rolling ?? true,
    renewThreshold,
    revocation: revocation === undefined ? undefined : guardRevocation(revocation),
    now,
    clockSkew,
    maxConflictRetries,
    anonymous,
    anonymousSealer,
    ids: new KnownIds(),
  };
}

/**
 * Turns anything a store throws that is not a `CookieError` into
 * `session_storage_failed` (the original as `cause`), so that the app sees
 * one documented set of codes.
 */
function storageFailure(error: unknown, what: string): unknown {
  if (error instanceof CookieError) return error;
  return new CookieError("session_storage_failed", `session storage failed to ${what}`, {
    cause: error,
  });
}

function guarded<A extends unknown[], R>(
  what: string,
  call: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await call(...args);
    } catch (error) {
      throw storageFailure(error, what);
    }
  };
}

function guardStorage(storage: SessionStorage): SessionStorage {
  return {
    read: guarded("read", (id, now) => storage.read(id, now)),
    write: guarded("write", (id, payload, options) => storage.write(id, payload, options)),
    delete: guarded("delete", (id, reason) => storage.delete(id, reason)),
    listByUser: guarded("list", (userId, now) => storage.listByUser(userId, now)),
    deleteByUser: guarded("delete by user", (userId) => storage.deleteByUser(userId)),
  };
}

function guardRevocation(revocation: RevocationStore): RevocationStore {
  return {
    epoch: guarded("read an epoch", (userId) => revocation.epoch(userId)),
    revoke: guarded("revoke", (userId) => revocation.revoke(userId)),
  };
}

async function load<T extends SessionData<T>>(s: Settings, request: Request): Promise<Loaded<T>> {
  const read = await s.transport.read(request);
  const fresh = (reason: CookieErrorCode | null): Loaded<T> => ({
    session: new Session<T>({ reason }),
    read,
    request,
    reason,
    stale: false,
    anonymous: false,
    token: null,
    id: null,
    stored: null,
  });
  if (read.value === null) return fresh(read.reason);

  let inner = read.value;
  let stale = false;
  // Without a transformer a server-side cookie holds a bare token, or an anonymous envelope
  // sealed under the per-call key.
  const sealer = s.transformer ??
    (TOKEN.test(read.value) ? undefined : s.anonymousSealer);
  if (sealer !== undefined) {
    const opened = await inspectWith(sealer, read.value, s.context);
    if (!opened.ok) return fresh(opened.code);
    inner = opened.value;
    stale = opened.stale;
  }
  const now = s.now();

  if (s.storage === undefined || !TOKEN.test(inner)) {
    const decoded = decodePayload(inner, now, { clockSkew: s.clockSkew });
    if (!decoded.ok) return fresh(decoded.code);
    // The configured maxAge bounds sessions sealed under an older, longer setting too.
    if (now >= decoded.payload.issuedAt + s.maxAge) return fresh("cookie_expired");
    const { userId, epoch } = decoded.payload;
    // Server-side, a sealed envelope is only ever anonymous: a logged-in session is a record.
    if (s.storage !== undefined && userId !== undefined) return fresh("cookie_malformed");
    if (s.revocation !== undefined && userId !== undefined) {
      if ((epoch ?? 0) < await s.revocation.epoch(userId)) return fresh("cookie_revoked");
    }
    const session = new Session<T>({ payload: decoded.payload });
    const anonymous = s.storage !== undefined;
    return {
      session,
      read,
      request,
      reason: null,
      stale,
      anonymous,
      token: null,
      id: null,
      stored: null,
    };
  }

  const id = s.ids.get(inner) ?? await publicId(inner, s.context);
  const stored = await s.storage.read(id, now);
  if (!stored.ok) {
    s.ids.forget(inner);
    return fresh(stored.code);
  }
  s.ids.remember(inner, id);
  // Written by an instance whose clock runs ahead (stores leave this check to us). The record
  // is left alone: it ends at its own expiry, and this response clears the cookie.
  if (stored.payload.issuedAt > now + s.clockSkew) return fresh("cookie_issued_in_future");
  if (now >= stored.payload.issuedAt + s.maxAge) {
    await s.storage.delete(id, "expired");
    return fresh("cookie_expired");
  }
  const session = new Session<T>({ id, payload: stored.payload });
  return {
    session,
    read,
    request,
    reason: null,
    stale,
    anonymous: false,
    token: inner,
    id,
    stored,
  };
}

/**
 * When a session ends: its absolute expiry, or sooner when `maxAge` was
 * shortened since it was issued.
 */
function endOf(s: Settings, payload: SessionPayload): number {
  return Math.min(payload.expiresAt, payload.issuedAt + s.maxAge);
}

/** Whether a session in use should have its idle expiry pushed out now. */
function renewalDue(s: Settings, base: SessionPayload, now: number): boolean {
  return s.rolling && base.idleExpiresAt < base.expiresAt &&
    base.idleExpiresAt - now < s.idleTimeout * s.renewThreshold;
}

/** The envelope to write now; `startNew` restarts issued-at and the absolute expiry. */
async function envelope<T extends SessionData<T>>(
  s: Settings,
  session: Session<T>,
  startNew: boolean,
  now: number,
): Promise<SessionPayload> {
  const status = sessionStatus(session);
  const contents = sessionContents(session);
  const base = startNew ? null : status.base;
  const issuedAt = base?.issuedAt ?? now;
  const expiresAt = base === null ? now + s.maxAge : endOf(s, base);
  let epoch: number | undefined;
  if (contents.userId !== undefined && s.revocation !== undefined) {
    const kept = !status.userChanged && status.base?.userId === contents.userId;
    epoch = kept && status.base?.epoch !== undefined
      ? status.base.epoch
      : await s.revocation.epoch(contents.userId);
  }
  return {
    issuedAt,
    expiresAt,
    idleExpiresAt: Math.min(now + s.idleTimeout, expiresAt),
    userId: contents.userId,
    epoch,
    data: contents.data,
    flash: contents.flash,
    persistent: contents.persistent,
  };
}

/** How long the browser keeps the cookie: until the absolute expiry, unless not remembered. */
function lifetime(
  payload: SessionPayload,
  now: number,
): { maxAge: number; persistent: boolean | undefined } {
  return {
    maxAge: Math.max(1, Math.ceil((payload.expiresAt - now) / 1000)),
    persistent: payload.persistent,
  };
}

async function clear(s: Settings, loaded: Loaded<object>, headers: Headers): Promise<void> {
  if (loaded.read.present.length > 0) {
    await s.transport.write(headers, null, {
      maxAge: 0,
      present: loaded.read.present,
      request: loaded.request,
    });
  }
}

async function commitClient<T extends SessionData<T>>(
  s: Settings,
  loaded: Loaded<T>,
  headers: Headers,
): Promise<void> {
  const { session, read } = loaded;
  const status = sessionStatus(session);
  const now = s.now();
  const startNew = status.base === null || status.destroyed || status.regenerated;
  const write = status.changed || (status.regenerated && status.base !== null) || loaded.stale ||
    (status.base !== null && !status.destroyed && renewalDue(s, status.base, now));
  if (!write) {
    if (status.destroyed || loaded.reason !== null) await clear(s, loaded, headers);
    return;
  }
  const payload = await envelope(s, session, startNew, now);
  const value = await s.transformer!.write(encodePayload(payload), s.context);
  await s.transport.write(headers, value, {
    ...lifetime(payload, now),
    present: read.present,
    request: loaded.request,
  });
}

/**
 * Throws `session_conflict` unless the stored record is still the one this
 * request read: the same version, or a newer one that differs only by a
 * renewal of the idle expiry (a concurrent read-only request).
 */
async function assertUnchanged(
  storage: SessionStorage,
  record: { id: string; stored: StoredSession },
  now: number,
): Promise<void> {
  const current = await storage.read(record.id, now);
  if (current.ok && current.version === record.stored.version) return;
  if (current.ok && sameButRenewed(current.payload, record.stored.payload)) return;
  throw new CookieError(
    "session_conflict",
    "the session ended or changed while this request moved it to a new token",
  );
}

/** Whether two envelopes differ at most in their idle expiry. */
function sameButRenewed(a: SessionPayload, b: SessionPayload): boolean {
  const canonical = (p: SessionPayload) =>
    JSON.stringify([p.issuedAt, p.expiresAt, p.userId, p.epoch, p.persistent, p.data, p.flash]);
  return canonical(a) === canonical(b);
}

async function commitServer<T extends SessionData<T>>(
  s: Settings,
  storage: SessionStorage,
  loaded: Loaded<T>,
  headers: Headers,
): Promise<void> {
  const { session } = loaded;
  const status = sessionStatus(session);
  const now = s.now();

  // A session newly bound to a user gets a new token even without regenerate():
  // a token planted before login must not become the user's session (fixation).
  const userId = sessionIdentity(session).userId;
  // Unbinding (`setUser(null)`) moves it too: out of storage when anonymous sessions live in
  // the cookie, else to a new token; the logged-in token ends either way.
  const rebind = status.base !== null && !status.destroyed && userId !== status.base.userId;
  // Logout, or a new session (first write, login) under a new token.
  if (
    status.base === null || status.destroyed || status.regenerated || rebind || loaded.anonymous
  ) {
    // Anonymous visitors get no record unless the app asks for one (`anonymous: "store"`).
    if (userId === undefined && (s.anonymous === "cookie" || loaded.anonymous && !status.changed)) {
      await commitAnonymous(s, loaded, headers, now);
    } else if (status.changed || (status.regenerated && status.base !== null)) {
      // A stored session moving to a new token (login, regenerate) must still be the one this
      // request loaded: not ended meanwhile (logout, log out everywhere), not changed by another
      // request. Checked before the successor is written and again after, so a deletion
      // racing the move takes the successor with it.
      const predecessor = !status.destroyed && loaded.id !== null && loaded.stored !== null
        ? { id: loaded.id, stored: loaded.stored }
        : null;
      if (predecessor) await assertUnchanged(storage, predecessor, now);
      const token = toBase64Url(randomBytes(32));
      const id = await publicId(token, s.context);
      const payload = await envelope(s, session, true, now);
      const written = await storage.write(id, payload, {
        previous: null,
        now,
        replaces: predecessor?.id,
      });
      if (written === null) {
        throw new CookieError("session_conflict", "a fresh session id was already taken");
      }
      if (predecessor) {
        try {
          await assertUnchanged(storage, predecessor, now);
        } catch (err) {
          await storage.delete(id);
          throw err;
        }
      }
      setSessionId(session, id);
      await sendToken(s, token, payload, now, loaded, headers);
    } else if (status.destroyed || loaded.reason !== null) {
      await clear(s, loaded, headers);
    }
    // The old record goes only once its successor (if any) is stored.
    if (loaded.id !== null && (status.destroyed || status.regenerated || rebind)) {
      await storage.delete(loaded.id);
    }
    return;
  }

  // An existing session: write if it changed or its idle expiry is due.
  if (status.changed) {
    await writeChanges(s, storage, session, loaded.id!, loaded.stored!, now);
  } else if (renewalDue(s, status.base, now)) {
    if (!await renew(s, storage, loaded.id!, loaded.stored!, now)) {
      // Deleted meanwhile: leave the cookie alone, it may already name a successor.
      setSessionId(session, null);
      return;
    }
  }
  // The cookie itself changes for an old key, or for a new remember-me choice (Max-Age or none).
  const rechosen = sessionIdentity(session).persistent !== status.base.persistent;
  if (loaded.stale || rechosen) {
    const base = sessionStatus(session).base ?? status.base; // the version written last
    await sendToken(
      s,
      loaded.token!,
      { ...base, expiresAt: endOf(s, base), persistent: sessionIdentity(session).persistent },
      now,
      loaded,
      headers,
    );
  }
}

/**
 * Server-side, a session not bound to a user: its envelope travels sealed in
 * the cookie, never in storage. An empty one clears the cookie; an unchanged
 * one is re-sealed only for renewal or an old key.
 */
async function commitAnonymous<T extends SessionData<T>>(
  s: Settings,
  loaded: Loaded<T>,
  headers: Headers,
  now: number,
): Promise<void> {
  const { session, read } = loaded;
  const status = sessionStatus(session);
  const contents = sessionContents(session);
  if (Object.keys(contents.data).length === 0 && Object.keys(contents.flash).length === 0) {
    await clear(s, loaded, headers);
    return;
  }
  // The envelope read from the cookie, if this session continues it (not a stored record).
  const base = loaded.anonymous && !status.destroyed ? status.base : null;
  const write = base === null || status.changed || status.regenerated || loaded.stale ||
    renewalDue(s, base, now);
  if (!write) return;
  const payload = await envelope(s, session, base === null || status.regenerated, now);
  const value = await s.anonymousSealer!.write(encodePayload(payload), s.context);
  await s.transport.write(headers, value, {
    ...lifetime(payload, now),
    present: read.present,
    request: loaded.request,
  });
}

/**
 * Writes this request's changes to an existing session. On a lost
 * compare-and-set it waits (jittered backoff), re-reads the record and
 * replays the request's own changes on it, key by key; it refuses with
 * `session_conflict` where replaying could lose an update.
 */
async function writeChanges<T extends SessionData<T>>(
  s: Settings,
  storage: SessionStorage,
  session: Session<T>,
  id: string,
  stored: StoredSession,
  now: number,
): Promise<void> {
  let previous = stored;
  for (let retry = 1;; retry++) {
    const payload = await envelope(s, session, false, now);
    if (await storage.write(id, payload, { previous, now }) !== null) return;
    if (retry > s.maxConflictRetries) {
      throw new CookieError("session_conflict", "the session kept changing under this request");
    }
    await conflictBackoff(retry);
    const latest = await storage.read(id, now);
    if (!latest.ok) {
      // Deleted meanwhile (logout, log out everywhere, or a login that moved it to a new token):
      // never bring it back, and do not report changes that were not stored as done.
      setSessionId(session, null);
      throw new CookieError("session_conflict", "the session ended while this request changed it");
    }
    if (!rebaseSession(session, latest.payload)) {
      throw new CookieError(
        "session_conflict",
        "a concurrent request changed session data this request had read",
      );
    }
    previous = latest;
  }
}

/**
 * Pushes out the idle expiry of a session this request did not change. The
 * write carries the stored record as it is, so it can never lose another
 * request's update. On a lost compare-and-set it re-reads: a renewal that
 * someone else already did is done; otherwise it retries with backoff, and
 * after `maxConflictRetries` it gives up quietly (the session is still live).
 *
 * @returns `false` when the session was deleted meanwhile.
 */
async function renew(
  s: Settings,
  storage: SessionStorage,
  id: string,
  stored: StoredSession,
  now: number,
): Promise<boolean> {
  let previous = stored;
  for (let retry = 1;; retry++) {
    const expiresAt = endOf(s, previous.payload);
    const payload: SessionPayload = {
      ...previous.payload,
      expiresAt,
      idleExpiresAt: Math.min(now + s.idleTimeout, expiresAt),
    };
    if (await storage.write(id, payload, { previous, now }) !== null) return true;
    // The winner usually renewed it already: look at once, and back off only to write again.
    if (retry > 1) await conflictBackoff(retry - 1);
    const latest = await storage.read(id, now);
    if (!latest.ok) return false;
    if (!renewalDue(s, latest.payload, now) || retry > s.maxConflictRetries) return true;
    previous = latest;
  }
}

async function sendToken(
  s: Settings,
  token: string,
  payload: SessionPayload,
  now: number,
  loaded: Loaded<object>,
  headers: Headers,
): Promise<void> {
  const value = s.transformer === undefined ? token : await s.transformer.write(token, s.context);
  await s.transport.write(headers, value, {
    ...lifetime(payload, now),
    present: loaded.read.present,
    request: loaded.request,
  });
}

/**
 * The storage id of a token: SHA-256 over the purpose, the cookie name and the token, so
 * storage never holds a usable token and a token cannot be moved to another cookie or purpose.
 */
async function publicId(token: string, context: TransformContext): Promise<string> {
  return toBase64Url(await sha256(utf8(`${context.purpose}\0${context.name}\0${token}`)));
}

/** Adds the collected headers to the response, copying it when its headers are immutable. */
function withHeaders(response: Response, extra: Headers): Response {
  // forEach, not iteration: Headers is iterable only with the DOM.Iterable typings.
  const entries: [string, string][] = [];
  extra.forEach((value, name) => entries.push([name, value]));
  if (entries.length === 0 || !(response instanceof Response) || response.status === 101) {
    return response;
  }
  const apply = (target: Headers): void => {
    for (const [name, value] of entries) {
      if (name === "set-cookie") target.append(name, value);
      else target.set(name, value);
    }
  };
  try {
    apply(response.headers);
    return response;
  } catch {
    const copy = new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    apply(copy.headers);
    return copy;
  }
}
