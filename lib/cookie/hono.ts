/**
 * `honoSessions()`: the sessions of {@linkcode sessions} as a Hono middleware,
 * without depending on Hono (the context is typed structurally).
 *
 * @module
 */

import type { JsonValue, SessionData } from "./json_value.ts";
import type { SessionSummary } from "./session_storage.ts";
import type { Session } from "./session.ts";
import { sessions, type SessionsOptions } from "./sessions.ts";

/**
 * The Hono environment that {@linkcode honoSessions} fills: pass it (or
 * intersect it with your own) as `new Hono<HonoSessionEnv<Data>>()` so that
 * `c.get("session")` is typed.
 *
 * @typeParam T The shape of the session data.
 *
 * @example
 * ```ts
 * import { type HonoSessionEnv, honoSessions, MemorySessionStorage } from "@tessera/session/cookie";
 * import { Hono } from "npm:hono@4.13.19";
 * import assert from "node:assert/strict";
 *
 * type Env = HonoSessionEnv<{ theme: string }> & { Variables: { requestId: string } };
 * const app = new Hono<Env>();
 * app.use(honoSessions({ storage: new MemorySessionStorage() }));
 * app.get("/", (c) => c.text(c.get("session").get("theme") ?? "light"));
 * assert.equal(await (await app.request("https://example.com/")).text(), "light");
 * ```
 */
export type HonoSessionEnv<T extends SessionData<T> = Record<string, JsonValue>> = {
  Variables: { session: Session<T> };
};

/**
 * The parts of a Hono `Context` that {@linkcode honoSessions} uses. Hono's
 * own `Context` fits it; the library never imports Hono.
 *
 * @typeParam T The shape of the session data.
 *
 * @example A fake context, for a unit test without Hono
 * ```ts
 * import {
 *   type HonoSessionContext,
 *   honoSessions,
 *   MemorySessionStorage,
 *   type Session,
 * } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const vars = new Map<string, Session<{ n: number }>>();
 * let res = new Response("ok");
 * const c: HonoSessionContext<{ n: number }> = {
 *   req: { raw: new Request("https://example.com/") },
 *   get res() {
 *     return res;
 *   },
 *   set res(value) {
 *     res = value ?? new Response(null);
 *   },
 *   set: (key, value) => void vars.set(key, value),
 * };
 * await honoSessions<{ n: number }>({ storage: new MemorySessionStorage() })(c, async () => {
 *   vars.get("session")!.set("n", 1);
 * });
 * assert.match(res.headers.get("set-cookie")!, /^__Host-session=/);
 * ```
 */
export interface HonoSessionContext<T extends SessionData<T> = Record<string, JsonValue>> {
  /** The request; only `raw`, the standard `Request`, is read. */
  readonly req: { readonly raw: Request };
  /**
   * The response, which the session's cookies are added to after `next()`.
   * Hono's getter always returns one (an empty 200 before any handler set
   * it); its setter takes `undefined` to drop the response.
   */
  res: Response | undefined;
  /** The error a later handler threw, which Hono's `onError` turned into `res`. */
  readonly error?: unknown;
  /**
   * Sets a context variable; the middleware sets `"session"`.
   *
   * @param key `"session"`.
   * @param value The request's session.
   */
  set(key: "session", value: Session<T>): void;
}

/**
 * What {@linkcode honoSessions} returns: a Hono middleware (`app.use(...)`)
 * that also revokes and lists sessions, like {@linkcode SessionMiddleware}.
 *
 * @typeParam T The shape of the session data.
 *
 * @example
 * ```ts
 * import {
 *   type HonoSessionEnv,
 *   type HonoSessionMiddleware,
 *   honoSessions,
 *   MemorySessionStorage,
 * } from "@tessera/session/cookie";
 * import { Hono } from "npm:hono@4.13.19";
 * import assert from "node:assert/strict";
 *
 * const withSession: HonoSessionMiddleware<{ user: string }> = honoSessions({
 *   storage: new MemorySessionStorage(),
 * });
 * const app = new Hono<HonoSessionEnv<{ user: string }>>();
 * app.use(withSession);
 * app.post("/login", (c) => {
 *   c.get("session").setUser("ann");
 *   return c.text("ok");
 * });
 * await app.request("https://example.com/login", { method: "POST" });
 * assert.equal(withSession.mode, "server");
 * assert.equal((await withSession.listSessions("ann")).length, 1);
 * await withSession.revokeUser("ann");
 * assert.deepEqual(await withSession.listSessions("ann"), []);
 * ```
 */
export interface HonoSessionMiddleware<T extends SessionData<T> = Record<string, JsonValue>> {
  /**
   * The middleware: sets `c.get("session")`, awaits `next()`, then writes the
   * session onto `c.res`.
   *
   * @param c The Hono context.
   * @param next Runs the rest of the chain.
   * @returns Nothing; the response is `c.res`.
   * @throws {CookieError} When the session cannot be read or written; Hono
   *   hands the error to `app.onError`.
   */
  (c: HonoSessionContext<T>, next: () => Promise<void>): Promise<void>;
  /** `"server"` with storage, `"client"` without. */
  readonly mode: "client" | "server";
  /**
   * Logs a user out everywhere, as {@linkcode SessionMiddleware.revokeUser}.
   *
   * @param userId The user id.
   * @returns Nothing.
   * @throws {TypeError} For client-side sessions without a `revocation` store,
   *   and for a `userId` that `setUser()` would refuse.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  revokeUser(userId: string): Promise<void>;
  /**
   * Lists a user's live server-side sessions, as
   * {@linkcode SessionMiddleware.listSessions}.
   *
   * @param userId The user id.
   * @returns The sessions, with their public ids.
   * @throws {TypeError} For client-side sessions, and for a `userId` that
   *   `setUser()` would refuse.
   * @throws {CookieError} `session_storage_failed` when the store fails.
   */
  listSessions(userId: string): Promise<SessionSummary[]>;
}

/** What the wrapped handler of {@linkcode sessions} receives as `info`. */
interface Dispatch<T extends SessionData<T>> {
  readonly c: HonoSessionContext<T>;
  readonly next: () => Promise<void>;
}

/** Thrown through the wrapper (which then writes nothing) when a later handler failed. */
const HANDLER_FAILED: unique symbol = Symbol("handler failed");

/**
 * Creates session handling for a [Hono](https://hono.dev) app on Deno, Bun or
 * any runtime with `crypto.subtle`. It is {@linkcode sessions} (same options,
 * same checks, same commit) in Hono's middleware shape; Hono is not a
 * dependency of this library.
 *
 * The middleware reads the session from `c.req.raw`, makes it
 * `c.get("session")`, awaits `next()`, then writes the session: Set-Cookie (or
 * the header) is added to `c.res`, alongside headers and cookies that other
 * middleware or the handler set. Type the app with
 * {@linkcode HonoSessionEnv} (`new Hono<HonoSessionEnv<Data>>()`) for a typed
 * `c.get("session")`.
 *
 * Errors: when the session cannot be read before the chain runs or written
 * after it (`session_conflict`, `cookie_too_large`, `session_storage_failed`;
 * see {@linkcode sessions}), the middleware throws the {@linkcode CookieError},
 * so Hono passes it to `app.onError`: map it to 409, 413 or 503 there. When a
 * later handler threw (Hono has already answered through `app.onError`), the
 * session is not written, as with {@linkcode sessions}: a failed request's
 * changes are dropped. Return an error response (`c.json(..., 401)`) rather
 * than throwing `HTTPException` when session changes must be kept.
 *
 * @typeParam T The shape of the session data.
 * @param options Transformer, storage, transport, lifetimes and clock, as for
 *   {@linkcode sessions}.
 * @returns The middleware, for `app.use()`.
 * @throws {TypeError} When client-side sessions have no transformer, an
 *   option has an unknown name (the message names the nearest known one) or
 *   the wrong type, or `revocation` is combined with `storage`.
 * @throws {RangeError} When a lifetime (in seconds), threshold or `clockSkew`
 *   is out of range; the message gives the range and the value.
 *
 * @example Login, counter and a 413 mapped in app.onError
 * ```ts
 * import { cookieTransport, encrypt, type HonoSessionEnv, honoSessions } from "@tessera/session/cookie";
 * import { CookieError } from "@tessera/session/errors";
 * import { Hono } from "npm:hono@4.13.19";
 * import assert from "node:assert/strict";
 *
 * type Data = { user: string; count: number; notes: string };
 * const key = crypto.getRandomValues(new Uint8Array(32)); // load it from a secret store
 * const app = new Hono<HonoSessionEnv<Data>>();
 * app.use(honoSessions<Data>({
 *   transformer: encrypt({ key }),
 *   transport: cookieTransport({ maxChunks: 1 }),
 * }));
 * app.post("/login", (c) => {
 *   const session = c.get("session");
 *   session.regenerate();
 *   session.setUser("ann");
 *   session.set("user", "ann");
 *   return c.text("welcome");
 * });
 * app.post("/count", (c) => c.text(String(c.get("session").update("count", (n = 0) => n + 1))));
 * app.post("/notes", (c) => {
 *   c.get("session").set("notes", "x".repeat(10_000)); // too much for one 4 KiB cookie
 *   return c.text("saved");
 * });
 * app.onError((err, c) => {
 *   if (err instanceof CookieError && err.code === "cookie_too_large") return c.text(err.code, 413);
 *   return c.text("internal", 500);
 * });
 *
 * const login = await app.request("https://example.com/login", { method: "POST" });
 * const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
 * const count = await app.request("https://example.com/count", {
 *   method: "POST",
 *   headers: { cookie },
 * });
 * assert.equal(await count.text(), "1");
 * const notes = await app.request("https://example.com/notes", {
 *   method: "POST",
 *   headers: { cookie },
 * });
 * assert.equal(notes.status, 413);
 * assert.deepEqual(notes.headers.getSetCookie(), []);
 * ```
 */
export function honoSessions<T extends SessionData<T> = Record<string, JsonValue>>(
  options: SessionsOptions = {},
): HonoSessionMiddleware<T> {
  const withSession = sessions<T>(options);
  const handle = withSession<Dispatch<T>>(async (_request, { c, next }, session) => {
    const before = c.error;
    c.set("session", session);
    await next();
    if (c.error !== undefined && c.error !== before) throw HANDLER_FAILED;
    const response = c.res;
    if (!(response instanceof Response)) {
      throw new TypeError("c.res is not a Response after next()");
    }
    return response;
  });

  const middleware = async (c: HonoSessionContext<T>, next: () => Promise<void>): Promise<void> => {
    let response: Response;
    try {
      response = await handle(c.req.raw, { c, next });
    } catch (error) {
      if (error === HANDLER_FAILED) return;
      throw error;
    }
    // The wrapper added the headers to `c.res` itself, or to a copy when its headers were
    // immutable. Install the copy without Hono's merge, which would put back the old cookies.
    if (response !== c.res) {
      c.res = undefined;
      c.res = response;
    }
  };

  return Object.assign(middleware, {
    mode: withSession.mode,
    revokeUser: (userId: string): Promise<void> => withSession.revokeUser(userId),
    listSessions: (userId: string): Promise<SessionSummary[]> => withSession.listSessions(userId),
  });
}
