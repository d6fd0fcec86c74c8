/**
 * The typed session object handed to a request handler.
 *
 * @module
 */

import type { CookieErrorCode } from "../errors.ts";
import { toJson } from "./_json.ts";
import type { JsonValue, SessionData } from "./json_value.ts";
import { type SessionPayload, userIdProblem } from "./payload.ts";

/**
 * What a {@linkcode Session} starts from.
 *
 * @example
 * ```ts
 * import { Session, type SessionInit } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const init: SessionInit = {
 *   id: "public-id",
 *   payload: { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, userId: "ann", data: { n: 1 } },
 * };
 * const session = new Session<{ n: number }>(init);
 * assert.equal(session.isNew, false);
 * assert.equal(session.userId, "ann");
 * assert.equal(session.get("n"), 1);
 * const refused = new Session({ reason: "cookie_expired" });
 * assert.equal(refused.isNew, true);
 * assert.equal(refused.reason, "cookie_expired");
 * ```
 */
export interface SessionInit {
  /** The session's public id (server-side storage), or `null`. */
  readonly id?: string | null;
  /** The envelope read from the request, or `null` for a new session. */
  readonly payload?: SessionPayload | null;
  /** Why an incoming value was refused, or `null`. */
  readonly reason?: CookieErrorCode | null;
}

type Op =
  | { readonly kind: "set"; readonly key: string; readonly json: string }
  | { readonly kind: "delete"; readonly key: string }
  | { readonly kind: "update"; readonly key: string; readonly fn: (value: unknown) => unknown }
  | { readonly kind: "clear" }
  | { readonly kind: "user"; readonly userId: string | null }
  | { readonly kind: "flash"; readonly key: string; readonly json: string }
  | { readonly kind: "take"; readonly key: string }
  | { readonly kind: "persist"; readonly persistent: boolean | undefined };

/** What the session wants done with it at the end of the request (internal). */
export interface SessionStatus {
  /** `destroy()` was called; `changed` then tells whether a new session was started after it. */
  readonly destroyed: boolean;
  /** `regenerate()` was called (and not undone by `destroy()`). */
  readonly regenerated: boolean;
  /** Data, flash values or the user changed. */
  readonly changed: boolean;
  /** The user changed. */
  readonly userChanged: boolean;
  /** The envelope the session was read from. */
  readonly base: SessionPayload | null;
}

/** Whom a session belongs to and whether it persists: its contents without the data (internal). */
export interface SessionIdentity {
  readonly userId: string | undefined;
  readonly persistent: boolean | undefined;
}

/** The parts of an envelope the session owns (internal). */
export interface SessionContents {
  readonly data: Record<string, unknown>;
  readonly flash: Record<string, unknown>;
  readonly userId: string | undefined;
  readonly persistent: boolean | undefined;
}

let statusOf: (session: Session<object>) => SessionStatus;
let contentsOf: (session: Session<object>) => SessionContents;
let identityOf: (session: Session<object>) => SessionIdentity;
let rebaseOf: (session: Session<object>, latest: SessionPayload) => boolean;
let assignId: (session: Session<object>, id: string | null) => void;

/**
 * A request's session: typed data, flash values, the bound user, and the
 * lifecycle operations `regenerate()` and `destroy()`.
 *
 * Values are stored as JSON: `set` copies a value in, `get` returns a fresh
 * copy, so mutating a returned object changes nothing until it is `set`
 * again. `undefined` deletes a key.
 *
 * Nothing is written unless something changed: a visitor whose session stays
 * empty and unchanged gets no cookie.
 *
 * @typeParam T The shape of the data, e.g. `{ user: string; count: number }`.
 *
 * @example
 * ```ts
 * import { Session } from "@tessera/session/cookie";
 * import assert from "node:assert/strict";
 *
 * const session = new Session<{ count: number }>();
 * assert.equal(session.isNew, true);
 * session.set("count", 1);
 * session.update("count", (n = 0) => n + 1);
 * assert.equal(session.get("count"), 2);
 * assert.equal(session.changed, true);
 * ```
 */
export class Session<T extends SessionData<T> = Record<string, JsonValue>> {
  #id: string | null;
  readonly #reason: CookieErrorCode | null;
  #base: SessionPayload | null;
  #data = new Map<string, string>();
  #flashIn = new Map<string, string>();
  #flashOut = new Map<string, string>();
  #userId: string | undefined;
  #persistent: boolean | undefined;
  #ops: Op[] = [];
  #written = new Set<string>();
  #reads: Set<string> | "all" = new Set();
  #destroyed = false;
  #regenerated = false;
  #userChanged = false;

  static {
    statusOf = (s) => s.#status();
    contentsOf = (s) => s.#contents();
    identityOf = (s) => ({ userId: s.#userId, persistent: s.#persistent });
    rebaseOf = (s, latest) => s.#rebase(latest);
    assignId = (s, id) => {
      s.#id = id;
    };
  }

  /**
   * Creates a session. `sessions()` creates one per request; create one
   * yourself to unit-test a handler.
   *
   * @param init The envelope read from the request, its id and the refusal reason.
   * @throws Nothing.
   */
  constructor(init: SessionInit = {}) {
    this.#id = init.id ?? null;
    this.#reason = init.reason ?? null;
    this.#base = init.payload ?? null;
    this.#load(this.#base);
  }

  /**
   * The session's public id with server-side storage: a hash of the secret
   * in the cookie, safe to log and to show in "your sessions" lists. `null`
   * for client-side sessions, for anonymous ones that travel in the cookie
   * (`sessions()` option `anonymous`), and for a session created or
   * regenerated in this request until the response is sent.
   */
  get id(): string | null {
    return this.#id;
  }

  /** Why the incoming value was refused (tampered, expired, …), or `null`. Log it; do not show it. */
  get reason(): CookieErrorCode | null {
    return this.#reason;
  }

  /** `true` when the request carried no valid session. */
  get isNew(): boolean {
    return this.#base === null;
  }

  /** `true` when this request changed the session (data, flash, user, regenerate, destroy). */
  get changed(): boolean {
    return this.#ops.length > 0 || this.#destroyed || this.#regenerated;
  }

  /** The user the session is bound to by {@linkcode Session.setUser}, or `null`. */
  get userId(): string | null {
    return this.#userId ?? null;
  }

  /**
   * The remember-me choice made with {@linkcode Session.setPersistent}:
   * `true` (persistent cookie), `false` (browser-session cookie), or
   * `undefined` when the transport's default (`cookieTransport({ persistent })`,
   * default persistent) applies.
   */
  get persistent(): boolean | undefined {
    return this.#persistent;
  }

  /**
   * Remember-me: chooses, for this session, between a persistent cookie
   * (`true`: `Max-Age` counts down to the session's absolute expiry, so it
   * survives a browser restart) and a browser-session cookie (`false`: no
   * `Max-Age`, so the browser drops it when it closes). The choice is kept
   * with the session (in the sealed envelope or the stored record) and
   * applies to every later cookie of it; it moves along on login. It changes
   * only how long the browser keeps the cookie: the server still ends the
   * session at `maxAge` and `idleTimeout` either way. (Browsers that restore
   * the previous session on start may keep session cookies too.) Header
   * transports ignore it.
   *
   * @param persistent `true` for "remember me", `false` for this browser session only.
   * @returns Nothing.
   * @throws {TypeError} When `persistent` is not a boolean.
   *
   * @example
   * ```ts
   * import { encrypt, sessions } from "@tessera/session/cookie";
   * import assert from "node:assert/strict";
   *
   * const key = crypto.getRandomValues(new Uint8Array(32));
   * const handler = sessions({ transformer: encrypt({ key }) })(async (req, _info, session) => {
   *   const form = await req.formData();
   *   session.setUser(String(form.get("user")));
   *   session.setPersistent(form.get("remember") === "on");
   *   return new Response("welcome");
   * });
   * const login = (fields: Record<string, string>) =>
   *   handler(new Request("https://example.com/login", { method: "POST", body: new URLSearchParams(fields) }), {});
   * const remembered = (await login({ user: "ann", remember: "on" })).headers.getSetCookie()[0]!;
   * const browserOnly = (await login({ user: "bob" })).headers.getSetCookie()[0]!;
   * assert.match(remembered, /; Max-Age=604800;/);
   * assert.doesNotMatch(browserOnly, /Max-Age/);
   * ```
   */
  setPersistent(persistent: boolean): void {
    if (typeof persistent !== "boolean") throw new TypeError("persistent must be a boolean");
    if (this.#persistent === persistent) return;
    this.#do({ kind: "persist", persistent });
  }

  /**
   * Returns a copy of the value stored under `key`.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   * @throws Nothing.
   */
  get<K extends keyof T & string>(key: K): T[K] | undefined {
    this.#noteRead(key);
    const json = this.#data.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  /**
   * Stores a copy of `value` under `key`; `undefined` deletes the key.
   *
   * @param key The key.
   * @param value A JSON-serializable value.
   * @returns Nothing.
   * @throws {TypeError} When `value` cannot be serialized as JSON (a `BigInt`, a cycle).
   */
  set<K extends keyof T & string>(key: K, value: T[K] | undefined): void {
    const json = toJson(value, `session value "${key}"`);
    this.#do(json === undefined ? { kind: "delete", key } : { kind: "set", key, json });
  }

  /**
   * Replaces the value under `key` with `fn(current)`. With server-side
   * storage, when a concurrent request wrote the same session first, `fn` is
   * applied again to the newer value, so counters and lists never lose an
   * update. `fn` must be pure.
   *
   * @param key The key.
   * @param fn Computes the new value from the current one (`undefined` when absent).
   * @returns The new value.
   * @throws {TypeError} When the new value cannot be serialized as JSON.
   */
  update<K extends keyof T & string>(
    key: K,
    fn: (current: T[K] | undefined) => T[K] | undefined,
  ): T[K] | undefined {
    this.#do({ kind: "update", key, fn: fn as (value: unknown) => unknown });
    const json = this.#data.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  /**
   * Deletes `key`.
   *
   * @param key The key.
   * @returns `true` when the key was present.
   * @throws Nothing.
   */
  delete<K extends keyof T & string>(key: K): boolean {
    const had = this.#data.has(key);
    if (had) this.#do({ kind: "delete", key });
    return had;
  }

  /**
   * Tells whether `key` holds a value.
   *
   * @param key The key.
   * @returns `true` when present.
   * @throws Nothing.
   */
  has<K extends keyof T & string>(key: K): boolean {
    this.#noteRead(key);
    return this.#data.has(key);
  }

  /**
   * Returns a copy of all data.
   *
   * @returns A new object with every key and value.
   * @throws Nothing.
   */
  all(): Partial<T> {
    this.#reads = "all";
    return Object.fromEntries(
      [...this.#data].map(([k, json]) => [k, JSON.parse(json)]),
    ) as Partial<T>;
  }

  /**
   * Deletes all data. The user binding and flash values stay; use
   * {@linkcode Session.destroy} to end the session.
   *
   * @returns Nothing.
   * @throws Nothing.
   */
  clear(): void {
    if (this.#data.size > 0) this.#do({ kind: "clear" });
  }

  /**
   * Leaves a one-time value for a later request (a "saved!" notice after a
   * redirect). It is not visible in this request; a later request reads it
   * once with {@linkcode Session.takeFlash}.
   *
   * @param key The key.
   * @param value A JSON-serializable value.
   * @returns Nothing.
   * @throws {TypeError} When `value` cannot be serialized as JSON.
   */
  flash(key: string, value: JsonValue): void {
    const json = toJson(value, `flash value "${key}"`);
    if (json === undefined) throw new TypeError("a flash value must not be undefined");
    this.#do({ kind: "flash", key, json });
  }

  /**
   * Reads and removes a flash value left by an earlier request.
   *
   * @param key The key.
   * @returns The value, or `undefined` when there is none (or it was already taken).
   * @throws Nothing.
   */
  takeFlash(key: string): unknown {
    const json = this.#flashIn.get(key);
    if (json === undefined) return undefined;
    this.#do({ kind: "take", key });
    return JSON.parse(json);
  }

  /**
   * Binds the session to a user (or unbinds it with `null`). The user id is
   * what "log out everywhere" and "list my sessions" act on. On login, call
   * {@linkcode Session.regenerate} as well, so that an id planted before login
   * is worthless. With server-side storage, binding is what gives a session
   * its stored record (unless `sessions()` has `anonymous: "store"`): the
   * data and flash values it had while anonymous move into it.
   *
   * Switching from one user to another, or to `null`, drops the session's
   * data, flash values and remember-me choice first: one user's data never lands in another
   * user's session. (Data from before any user, an anonymous cart, is kept.)
   *
   * The id is checked here, at the call, so a bad id (say, one taken from a
   * request) fails in the handler that passed it, never later when the
   * response is sent.
   *
   * @param userId The user id, or `null`: 1 to 256 characters, well-formed
   *   (no lone surrogate), without control characters (U+0000 to U+001F,
   *   U+007F to U+009F: CR, LF, NUL, NEL, ...) or the line separators U+2028
   *   and U+2029.
   * @returns Nothing.
   * @throws {TypeError} When `userId` is not a string or `null`, is empty, is
   *   longer than 256 characters, has a lone surrogate, or has a control
   *   character or line separator; the message says which. The session is
   *   left unchanged.
   *
   * @example
   * ```ts
   * import { Session } from "@tessera/session/cookie";
   * import assert from "node:assert/strict";
   *
   * const session = new Session();
   * session.setUser("ann");
   * assert.equal(session.userId, "ann");
   * assert.throws(() => session.setUser("ann\r\nSet-Cookie: x=1"), {
   *   name: "TypeError",
   *   message: /control characters .*U\+000D at index 3/,
   * });
   * assert.equal(session.userId, "ann"); // unchanged
   * ```
   */
  setUser(userId: string | null): void {
    if (userId !== null) {
      const problem = userIdProblem(userId);
      if (problem !== null) throw new TypeError(problem);
    }
    const previous = this.#userId ?? null;
    if (previous === userId) return;
    // A user's data and flash values never outlive their binding: switching to another user,
    // or unbinding, starts from an empty session (an anonymous visitor's data does move in).
    if (previous !== null) {
      this.clear();
      for (const key of [...this.#flashIn.keys()]) this.#do({ kind: "take", key });
      this.#ops = this.#ops.filter((op) => op.kind !== "flash");
      this.#flashOut.clear();
      // Nor does their remember-me choice: the next user makes their own.
      if (this.#persistent !== undefined) this.#do({ kind: "persist", persistent: undefined });
    }
    this.#do({ kind: "user", userId });
  }

  /**
   * Keeps the data but issues a new session: with server-side storage, a new
   * random id (the old record is deleted); client-side, a fresh seal with
   * new issued-at and expiry. Call it on login and on privilege changes.
   *
   * @returns Nothing.
   * @throws Nothing.
   */
  regenerate(): void {
    this.#regenerated = true;
    this.#id = null;
  }

  /**
   * Ends the session (logout): the data, flash values and user are dropped,
   * the stored record is deleted and the cookie or header is cleared on this
   * response. Anything set afterwards in the same request (say, a "logged
   * out" flash) starts a new, separate session.
   *
   * @returns Nothing.
   * @throws Nothing.
   */
  destroy(): void {
    this.#destroyed = true;
    this.#regenerated = false;
    this.#userChanged = false;
    this.#ops = [];
    this.#reads = new Set();
    this.#written.clear();
    this.#id = null;
    this.#load(null);
  }

  #load(payload: SessionPayload | null): void {
    this.#data.clear();
    this.#flashIn.clear();
    this.#flashOut.clear();
    this.#userId = payload?.userId;
    this.#persistent = payload?.persistent;
    if (payload === null) return;
    for (const [k, v] of Object.entries(payload.data)) this.#data.set(k, JSON.stringify(v));
    for (const [k, v] of Object.entries(payload.flash ?? {})) {
      this.#flashIn.set(k, JSON.stringify(v));
    }
  }

  #noteRead(key: string): void {
    if (this.#reads !== "all" && !this.#written.has(key)) this.#reads.add(key);
  }

  #do(op: Op): void {
    this.#apply(op);
    this.#ops.push(op);
  }

  #apply(op: Op): void {
    switch (op.kind) {
      case "set":
        this.#written.add(op.key);
        this.#data.set(op.key, op.json);
        break;
      case "delete":
        this.#written.add(op.key);
        this.#data.delete(op.key);
        break;
      case "update": {
        this.#written.add(op.key);
        const current = this.#data.get(op.key);
        const next = op.fn(current === undefined ? undefined : JSON.parse(current));
        const json = toJson(next, `session value "${op.key}"`);
        if (json === undefined) this.#data.delete(op.key);
        else this.#data.set(op.key, json);
        break;
      }
      case "clear":
        for (const key of this.#data.keys()) this.#written.add(key);
        this.#data.clear();
        break;
      case "user":
        this.#userChanged = true;
        this.#userId = op.userId ?? undefined;
        break;
      case "flash":
        this.#flashOut.set(op.key, op.json);
        break;
      case "take":
        this.#flashIn.delete(op.key);
        break;
      case "persist":
        this.#persistent = op.persistent;
        break;
    }
  }

  #status(): SessionStatus {
    return {
      destroyed: this.#destroyed,
      regenerated: this.#regenerated && !this.#destroyed,
      changed: this.#ops.length > 0,
      userChanged: this.#userChanged,
      base: this.#base,
    };
  }

  #contents(): SessionContents {
    const parse = (m: Map<string, string>): Record<string, unknown> =>
      Object.fromEntries([...m].map(([k, json]) => [k, JSON.parse(json)]));
    return {
      data: parse(this.#data),
      flash: { ...parse(this.#flashIn), ...parse(this.#flashOut) },
      userId: this.#userId,
      persistent: this.#persistent,
    };
  }

  /**
   * Replays this request's operations on a newer envelope, key by key: a
   * `set` or `delete` wins for its key, an `update` runs again on the newer
   * value, keys this request did not touch keep the newer value. `false` when
   * that could lose an update: a key this request read (before writing it)
   * changed, a flash value it took is gone, or the session was bound to
   * another user or reissued meanwhile.
   */
  #rebase(latest: SessionPayload): boolean {
    // Data written for one user must never land in another user's session.
    if (latest.userId !== this.#base?.userId || latest.issuedAt !== this.#base?.issuedAt) {
      return false;
    }
    const before = new Map(Object.entries(this.#base?.data ?? {}));
    const after = new Map(Object.entries(latest.data));
    const same = (key: string): boolean =>
      JSON.stringify(before.get(key)) === JSON.stringify(after.get(key));
    if (this.#reads === "all") {
      const keys = new Set([...before.keys(), ...after.keys()]);
      for (const key of keys) if (!same(key)) return false;
    } else {
      for (const key of this.#reads) if (!same(key)) return false;
    }
    // A flash value this request took must still be there: else another request took it too.
    for (const op of this.#ops) {
      if (op.kind !== "take") continue;
      if (JSON.stringify(this.#base?.flash?.[op.key]) !== JSON.stringify(latest.flash?.[op.key])) {
        return false;
      }
    }
    this.#base = latest;
    this.#load(latest);
    try {
      for (const op of this.#ops) this.#apply(op);
    } catch {
      return false;
    }
    return true;
  }
}

/**
 * Internal: what `sessions()` must do with a session at the end of a request.
 *
 * @internal
 *
 * @param session The session.
 * @returns Its status.
 */
export function sessionStatus(session: Session<object>): SessionStatus {
  return statusOf(session);
}

/**
 * Internal: the data, flash values and user to seal or store.
 *
 * @internal
 *
 * @param session The session.
 * @returns A snapshot.
 */
export function sessionContents(session: Session<object>): SessionContents {
  return contentsOf(session);
}

/**
 * Internal: the user and remember-me choice, without copying the data (what
 * a request that may write nothing needs).
 *
 * @internal
 *
 * @param session The session.
 * @returns The user id and the persistence choice.
 */
export function sessionIdentity(session: Session<object>): SessionIdentity {
  return identityOf(session);
}

/**
 * Internal: replays the request's operations on a newer stored envelope after
 * a write conflict.
 *
 * @internal
 *
 * @param session The session.
 * @param latest The envelope now in storage.
 * @returns `false` when a key the request read has changed meanwhile.
 */
export function rebaseSession(session: Session<object>, latest: SessionPayload): boolean {
  return rebaseOf(session, latest);
}

/**
 * Internal: sets the public id once a new or regenerated session is stored.
 *
 * @internal
 *
 * @param session The session.
 * @param id The public id.
 */
export function setSessionId(session: Session<object>, id: string | null): void {
  assignId(session, id);
}
