// honoSessions(): a Hono app served by Deno.serve over real HTTP. `c.get("session")`, cookies
// committed onto c.res after next(), commit errors through app.onError, and the rules of
// sessions() (bad cookies give an empty session with a reason; a failed handler writes nothing).

import assert from "node:assert/strict";
import { Hono } from "npm:hono@4.13.19";
import { setCookie } from "npm:hono@4.13.19/cookie";
import { HTTPException } from "npm:hono@4.13.19/http-exception";
import { CookieError } from "../../lib/errors.ts";
import {
  cookieTransport,
  encrypt,
  headerTransport,
  hmac,
  type HonoSessionEnv,
  type HonoSessionMiddleware,
  honoSessions,
  KvSessionStorage,
  MemorySessionStorage,
  Session,
  sessions,
  type SessionsOptions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { CookieJar, randomKey } from "./_helpers.ts";

type Data = { user: string; count: number; blob: string };
type Env = HonoSessionEnv<Data> & { Variables: { seen: Session<Data> } };

const STATUS: Record<string, number> = {
  session_conflict: 409,
  cookie_too_large: 413,
  session_storage_failed: 503,
};

interface App {
  readonly app: Hono<Env>;
  readonly mw: HonoSessionMiddleware<Data>;
  /** Every error that reached app.onError. */
  readonly errors: unknown[];
}

/** The test app: login / count / big / logout / whoami / throw routes, onError mapping codes. */
function makeApp(options: SessionsOptions): App {
  const errors: unknown[] = [];
  const mw = honoSessions<Data>(options);
  const app = new Hono<Env>();
  app.use(async (c, next) => {
    c.header("x-outer", "before"); // set before the session middleware runs
    await next();
  });
  app.use(mw);
  app.use(async (c, next) => {
    c.set("seen", c.get("session")); // a later middleware sees the same object
    await next();
  });
  const body = (session: Session<Data>) =>
    `${session.get("user") ?? "anonymous"} ${session.get("count") ?? 0}`;
  app.post("/login", (c) => {
    const session = c.get("session");
    session.regenerate();
    session.setUser("ann");
    session.set("user", "ann");
    return c.text(body(session));
  });
  app.post("/count", (c) => {
    const session = c.get("session");
    session.update("count", (n = 0) => n + 1);
    return c.text(body(session));
  });
  app.post("/big", (c) => {
    c.get("session").set("blob", "x".repeat(Number(c.req.query("n"))));
    return c.text("stored");
  });
  app.post("/logout", (c) => {
    c.get("session").destroy();
    return c.text("bye");
  });
  app.post("/throw", (c) => {
    c.get("session").set("user", "mallory");
    throw new HTTPException(418, { message: "teapot" });
  });
  app.get("/", (c) => {
    const session = c.get("session");
    c.header("x-reason", session.reason ?? "-");
    c.header("x-same", String(c.get("seen") === session && session instanceof Session));
    return c.text(body(session));
  });
  app.onError((err, c) => {
    errors.push(err);
    if (err instanceof HTTPException) return err.getResponse();
    const status = err instanceof CookieError ? STATUS[err.code] ?? 500 : 500;
    return c.text(err instanceof CookieError ? err.code : "internal", status as 500);
  });
  return { app, mw, errors };
}

/** Serves `app.fetch` with Deno.serve on an ephemeral 127.0.0.1 port, then shuts down. */
async function serve(
  app: { fetch: Deno.ServeHandler },
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

const POST: RequestInit = { method: "POST" };

Deno.test("login, counter and logout round trip through a Hono app (client-side)", async () => {
  const { app, errors } = makeApp({ transformer: encrypt({ key: randomKey() }) });
  await serve(app, async (base) => {
    const jar = new CookieJar();
    const first = await jar.fetch(`${base}/`);
    assert.equal(await first.text(), "anonymous 0");
    assert.equal(first.headers.get("x-same"), "true");
    assert.equal(first.headers.get("x-reason"), "-");
    assert.deepEqual(first.headers.getSetCookie(), [], "an untouched new session sends nothing");

    const login = await jar.fetch(`${base}/login`, POST);
    assert.equal(await login.text(), "ann 0");
    const [line] = login.headers.getSetCookie();
    assert.match(line!, /^__Host-session=[^;]+; .*HttpOnly/i);
    assert.equal(login.headers.get("x-outer"), "before", "earlier headers are kept");

    assert.equal(await jar.text(`${base}/count`, POST), "ann 1");
    assert.equal(await jar.text(`${base}/count`, POST), "ann 2");
    const unchanged = await jar.fetch(`${base}/`);
    assert.equal(await unchanged.text(), "ann 2");
    assert.deepEqual(unchanged.headers.getSetCookie(), []);

    const logout = await jar.fetch(`${base}/logout`, POST);
    assert.equal(await logout.text(), "bye");
    assert.match(logout.headers.getSetCookie()[0]!, /Max-Age=0/);
    assert.equal(jar.cookies.size, 0);
    assert.equal(await jar.text(`${base}/`), "anonymous 0");
  });
  assert.deepEqual(errors, []);
});

Deno.test("server-side sessions in Deno KV: round trip, revokeUser and listSessions", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { app, mw, errors } = makeApp({ storage: new KvSessionStorage(kv) });
    assert.equal(mw.mode, "server");
    await serve(app, async (base) => {
      const laptop = new CookieJar();
      const phone = new CookieJar();
      await laptop.text(`${base}/login`, POST);
      await phone.text(`${base}/login`, POST);
      assert.match(laptop.cookies.get("__Host-session")!, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(await laptop.text(`${base}/count`, POST), "ann 1");
      assert.equal(await laptop.text(`${base}/count`, POST), "ann 2");
      assert.equal((await mw.listSessions("ann")).length, 2);

      await mw.revokeUser("ann");
      const res = await phone.fetch(`${base}/`);
      assert.equal(await res.text(), "anonymous 0");
      assert.equal(res.headers.get("x-reason"), "cookie_revoked");
      assert.equal(phone.cookies.size, 0, "the dead cookie is cleared");
    });
    assert.deepEqual(errors, []);
  } finally {
    kv.close();
  }
});

Deno.test("a tampered cookie gives an empty session with a reason and is cleared", async () => {
  const { app, errors } = makeApp({ transformer: hmac({ key: randomKey() }) });
  await serve(app, async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`, POST);
    const value = jar.cookies.get("__Host-session")!;
    const at = value.length - 10;
    jar.cookies.set(
      "__Host-session",
      value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1),
    );
    const res = await jar.fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "anonymous 0");
    assert.equal(res.headers.get("x-reason"), "cookie_tampered");
    assert.match(res.headers.getSetCookie()[0]!, /^__Host-session=; .*Max-Age=0/);
  });
  assert.deepEqual(errors, [], "bad input never reaches onError");
});

Deno.test("a commit error (cookie_too_large) reaches app.onError and maps to 413", async () => {
  const { app, errors } = makeApp({
    transformer: encrypt({ key: randomKey() }),
    transport: cookieTransport({ maxChunks: 1 }),
  });
  await serve(app, async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`, POST);
    const before = jar.cookies.get("__Host-session");
    assert.equal(await jar.text(`${base}/big?n=10`, POST), "stored");
    const res = await jar.fetch(`${base}/big?n=9000`, POST);
    assert.equal(res.status, 413);
    assert.equal(await res.text(), "cookie_too_large");
    assert.deepEqual(res.headers.getSetCookie(), [], "the failed session is not sent");
    assert.equal(res.headers.get("x-outer"), "before", "onError's answer keeps earlier headers");
    assert.notEqual(jar.cookies.get("__Host-session"), before);
    assert.equal(await jar.text(`${base}/`), "ann 0", "the last good cookie still works");
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof CookieError);
  assert.equal(errors[0].code, "cookie_too_large");
});

Deno.test("a store failing before or after the handler reaches app.onError as 503", async () => {
  const inner = new MemorySessionStorage();
  let failing: "read" | "write" | null = null;
  const storage: SessionStorage = {
    read: (id, now) =>
      failing === "read" ? Promise.reject(new Error("connection refused")) : inner.read(id, now),
    write: (...args) =>
      failing === "write" ? Promise.reject(new Error("connection refused")) : inner.write(...args),
    delete: (id) => inner.delete(id),
    listByUser: (userId, now) => inner.listByUser(userId, now),
    deleteByUser: (userId) => inner.deleteByUser(userId),
  };
  const { app, errors } = makeApp({ storage });
  await serve(app, async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`, POST);
    for (const mode of ["write", "read"] as const) {
      failing = mode;
      const res = await jar.fetch(`${base}/count`, POST);
      assert.equal(res.status, 503, mode);
      assert.equal(await res.text(), "session_storage_failed");
    }
    failing = null;
    assert.equal(
      await jar.text(`${base}/count`, POST),
      "ann 1",
      "the failed write changed nothing",
    );
  });
  assert.equal(errors.length, 2);
  for (const error of errors) {
    assert.ok(error instanceof CookieError);
    assert.equal(error.code, "session_storage_failed");
    assert.equal((error.cause as Error).message, "connection refused");
  }
});

Deno.test("an error of a later handler goes to onError once and writes no session", async () => {
  const { app, errors } = makeApp({ transformer: encrypt({ key: randomKey() }) });
  await serve(app, async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`, POST);
    const res = await jar.fetch(`${base}/throw`, POST);
    assert.equal(res.status, 418);
    assert.equal(await res.text(), "teapot");
    assert.deepEqual(res.headers.getSetCookie(), [], "as with sessions(): no commit");
    assert.equal(await jar.text(`${base}/`), "ann 0");
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof HTTPException);
});

Deno.test("the session cookie sits beside Hono's setCookie and on immutable (redirected, proxied) responses", async () => {
  const app = new Hono<HonoSessionEnv<{ n: number }>>();
  app.use(async (c, next) => {
    await next();
    c.header("x-after", "yes"); // a middleware outside still sees and edits the final response
  });
  app.use(honoSessions<{ n: number }>({ transformer: encrypt({ key: randomKey() }) }));
  app.get("/theme", (c) => {
    c.get("session").set("n", 1);
    setCookie(c, "theme", "dark", { path: "/" });
    return c.text("ok");
  });
  app.get("/redirect", (c) => {
    c.get("session").set("n", 2);
    return Response.redirect("https://example.com/next", 303); // immutable headers
  });
  app.get("/upstream", (c) => {
    setCookie(c, "up", "1", { path: "/" });
    return c.text("from upstream");
  });
  app.get("/proxy", (c) => {
    c.get("session").set("n", 3);
    return fetch(new URL("/upstream", c.req.url)); // immutable headers with a cookie of its own
  });
  await serve(app, async (base) => {
    const theme = await fetch(`${base}/theme`);
    await theme.body?.cancel();
    const names = theme.headers.getSetCookie().map((line) => line.split("=")[0]).sort();
    assert.deepEqual(names, ["__Host-session", "theme"]);
    assert.equal(theme.headers.get("x-after"), "yes");

    const redirect = await fetch(`${base}/redirect`, { redirect: "manual" });
    await redirect.body?.cancel();
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.get("location"), "https://example.com/next");
    assert.match(redirect.headers.getSetCookie()[0]!, /^__Host-session=/);
    assert.equal(redirect.headers.get("x-after"), "yes");

    const proxied = await fetch(`${base}/proxy`);
    assert.equal(await proxied.text(), "from upstream");
    const cookies = proxied.headers.getSetCookie().map((line) => line.split("=")[0]).sort();
    assert.deepEqual(cookies, ["__Host-session", "up"]);
  });
});

Deno.test("the header transport works under Hono, scoped to a route", async () => {
  const app = new Hono<HonoSessionEnv<{ n: number }>>();
  const mw = honoSessions<{ n: number }>({
    storage: new MemorySessionStorage(),
    anonymous: "store",
    transport: headerTransport({ name: "X-Session" }),
  });
  app.post("/api/n", mw, (c) => c.text(String(c.get("session").update("n", (n = 0) => n + 1))));
  await serve(app, async (base) => {
    const first = await fetch(`${base}/api/n`, POST);
    assert.equal(await first.text(), "1");
    const token = first.headers.get("x-session")!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const second = await fetch(`${base}/api/n`, { ...POST, headers: { "x-session": token } });
    assert.equal(await second.text(), "2");
    assert.equal(second.headers.get("x-session"), null);
  });
});

Deno.test("honoSessions and sessions() read each other's cookies under the same options", async () => {
  const options = { transformer: encrypt({ key: randomKey() }) };
  const plain = sessions<{ n: number }>(options)((_req, _info, session) => {
    session.set("n", 41);
    return new Response("ok");
  });
  const app = new Hono<HonoSessionEnv<{ n: number }>>();
  app.use(honoSessions<{ n: number }>(options));
  app.get("/", (c) => c.text(String((c.get("session").get("n") ?? 0) + 1)));
  const cookie = (await plain(new Request("https://example.com/"), {})).headers
    .getSetCookie()[0]!.split(";")[0]!;
  const res = await app.request("https://example.com/", { headers: { cookie } });
  assert.equal(await res.text(), "42");
});

Deno.test("options are checked at once, as for sessions()", async () => {
  assert.throws(() => honoSessions(), TypeError);
  assert.throws(
    () => honoSessions({ transformer: encrypt({ key: randomKey() }), maxAge: 0 }),
    RangeError,
  );
  const mw = honoSessions({ transformer: encrypt({ key: randomKey() }) });
  assert.equal(mw.mode, "client");
  await assert.rejects(() => mw.listSessions("ann"), TypeError);
});
