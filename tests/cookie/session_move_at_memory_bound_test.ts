// A session that moves to a new token (regenerate(), a login of a stored anonymous session, a
// change of user) while MemorySessionStorage is at one of its bounds (maxSessionsPerUser, or a
// full store) must not pick itself as the session to end: the move would then find its own
// predecessor gone, answer session_conflict and leave the visitor logged out (or the cart lost).
// "A login is never refused" holds only if the session being moved is not the victim.
// Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { sessions, type SessionsOptions } from "../../lib/cookie/sessions.ts";
import { CookieError } from "../../lib/errors.ts";
import { CookieJar, withServer } from "./_helpers.ts";

type Data = { cart: string[]; role: string };

function app(options: SessionsOptions) {
  return sessions<Data>({
    ...options,
    transport: cookieTransport({ name: "sid", secure: false }),
  })((req, _info, session) => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/login": // the README's login: regenerate, then bind
        session.regenerate();
        session.setUser(url.searchParams.get("user") ?? "ann");
        break;
      case "/sudo": // a privilege change: same user, new token
        session.regenerate();
        session.set("role", "admin");
        break;
      case "/switch":
        session.setUser(url.searchParams.get("user")!);
        break;
      case "/add":
        session.update("cart", (cart = []) => [...cart, "tea"]);
        break;
    }
    const cart = (session.get("cart") ?? []).join(",") || "-";
    return new Response(`${session.userId ?? "anonymous"} ${cart} ${session.reason ?? "-"}`);
  });
}

function onError(error: unknown): Response {
  const code = error instanceof CookieError ? error.code : "internal";
  return new Response(code, { status: code === "session_conflict" ? 409 : 500 });
}

async function step(jar: CookieJar, url: string): Promise<string> {
  const res = await jar.fetch(url);
  return `${res.status} ${await res.text()}`;
}

Deno.test("maxSessionsPerUser 1: regenerate() keeps the user logged in", async () => {
  const storage = new MemorySessionStorage({ maxSessionsPerUser: 1 });
  await withServer(app({ storage }), async (base) => {
    const jar = new CookieJar();
    assert.equal(await step(jar, `${base}/login?user=ann`), "200 ann - -");
    assert.equal(await step(jar, `${base}/sudo`), "200 ann - -", "the privilege change succeeds");
    assert.equal(await step(jar, `${base}/`), "200 ann - -", "and ann is still logged in");
    assert.equal(storage.size, 1);
  }, onError);
});

Deno.test("maxSessionsPerUser 1: logging in again while logged in succeeds", async () => {
  const storage = new MemorySessionStorage({ maxSessionsPerUser: 1 });
  await withServer(app({ storage }), async (base) => {
    const jar = new CookieJar();
    assert.equal(await step(jar, `${base}/login?user=ann`), "200 ann - -");
    assert.equal(await step(jar, `${base}/login?user=ann`), "200 ann - -", "a second login");
    assert.equal(await step(jar, `${base}/`), "200 ann - -");
  }, onError);
});

Deno.test("full store: regenerate() of a user's only session keeps it", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 2 });
  await withServer(app({ storage }), async (base) => {
    const ann = new CookieJar();
    const bob = new CookieJar();
    assert.equal(await step(ann, `${base}/login?user=ann`), "200 ann - -");
    assert.equal(await step(bob, `${base}/login?user=bob`), "200 bob - -");
    assert.equal(storage.size, 2, "the store is full");
    assert.equal(await step(ann, `${base}/sudo`), "200 ann - -", "the privilege change succeeds");
    assert.equal(await step(ann, `${base}/`), "200 ann - -", "ann is still logged in");
    assert.equal(await step(bob, `${base}/`), "200 bob - -", "and so is bob");
  }, onError);
});

Deno.test('full store, anonymous: "store": the oldest anonymous visitor can log in, cart and all', async () => {
  const storage = new MemorySessionStorage({ maxSessions: 2 });
  await withServer(app({ storage, anonymous: "store" }), async (base) => {
    const first = new CookieJar();
    const second = new CookieJar();
    assert.equal(await step(first, `${base}/add`), "200 anonymous tea -");
    assert.equal(await step(second, `${base}/add`), "200 anonymous tea -");
    assert.equal(storage.size, 2, "the store is full");
    // The least recently written anonymous session is the one logging in.
    assert.equal(await step(first, `${base}/login?user=ann`), "200 ann tea -", "not refused");
    assert.equal(await step(first, `${base}/`), "200 ann tea -", "the cart moved in");
  }, onError);
});

Deno.test("full store: switching the oldest session to another user succeeds", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 2 });
  await withServer(app({ storage }), async (base) => {
    const shared = new CookieJar();
    const other = new CookieJar();
    assert.equal(await step(shared, `${base}/login?user=ann`), "200 ann - -");
    assert.equal(await step(other, `${base}/login?user=bob`), "200 bob - -");
    assert.equal(await step(shared, `${base}/switch?user=carol`), "200 carol - -");
    assert.equal(await step(shared, `${base}/`), "200 carol - -", "carol is logged in");
  }, onError);
});
