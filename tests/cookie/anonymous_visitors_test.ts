// Anonymous visitors cannot fill server-side storage: before setUser() a session travels sealed
// in the cookie; on login its data and flash move into a new record; MemorySessionStorage's bound
// never refuses a login. All over real HTTP against Deno.serve on 127.0.0.1.
import assert from "node:assert/strict";
import { KvSessionStorage } from "../../lib/cookie/kv_storage.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import type { SessionStorage } from "../../lib/cookie/session_storage.ts";
import { sessions, type SessionsOptions } from "../../lib/cookie/sessions.ts";
import { CookieError } from "../../lib/errors.ts";
import { startCookieLogin } from "../../examples/cookie_login.ts";
import { CookieJar, withServer } from "./_helpers.ts";

const FLOOD = 150;
const PREFIX = ["tessera", "session"];

interface Data {
  cart: string[];
  user: string;
}

/** A shop: `/add` puts an item in the cart and flashes, `/login` binds a user, `/` shows it all. */
function shop(options: SessionsOptions) {
  const mw = sessions<Data>(options);
  const handler = mw((req, _info, session) => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/add": {
        const item = url.searchParams.get("item") ?? "x";
        session.update("cart", (cart = []) => [...cart, item]);
        session.flash("notice", `added ${item}`);
        return new Response("added");
      }
      case "/flash":
        session.flash("notice", "bad password");
        return new Response("flashed");
      case "/login": {
        const user = url.searchParams.get("user") ?? "ann";
        session.regenerate();
        session.setUser(user);
        session.set("user", user);
        return new Response("welcome");
      }
      case "/logout":
        session.destroy();
        session.flash("notice", "logged out");
        return new Response("bye");
      default: {
        const notice = session.takeFlash("notice") ?? "-";
        const cart = (session.get("cart") ?? []).join(",") || "-";
        return new Response(`${session.userId ?? "anonymous"} ${cart} ${notice}`);
      }
    }
  });
  return { mw, handler };
}

/** 500 for anything unexpected, as Deno.serve would; CookieError codes mapped. */
function onError(error: unknown): Response {
  if (error instanceof CookieError && error.code === "session_storage_failed") {
    return new Response("storage failed", { status: 503 });
  }
  return new Response("internal error", { status: 500 });
}

async function kvRecords(kv: Deno.Kv, ...sub: string[]): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: [...PREFIX, ...sub] })) n++;
  return n;
}

interface Counters {
  /** Every entry the store keeps (KV: envelopes, user index entries, traces). */
  all(): Promise<number>;
  /** Session envelopes only. */
  live(): Promise<number>;
}

/** Each storage under test, with ways to count what it holds. */
async function eachStorage(
  fn: (storage: SessionStorage, count: Counters, label: string) => Promise<void>,
): Promise<void> {
  const memory = new MemorySessionStorage({ maxSessions: 10 });
  const size = () => Promise.resolve(memory.size);
  await fn(memory, { all: size, live: size }, "MemorySessionStorage");
  const kv = await Deno.openKv(":memory:");
  try {
    const counters = { all: () => kvRecords(kv), live: () => kvRecords(kv, "s") };
    await fn(new KvSessionStorage(kv), counters, "KvSessionStorage");
  } finally {
    kv.close();
  }
}

/** Sends FLOOD cookie-less requests, in batches of 25, each writing data or a flash. */
async function flood(base: string): Promise<string[]> {
  const statuses: string[] = [];
  for (let i = 0; i < FLOOD; i += 25) {
    const batch = Array.from({ length: 25 }, async (_, j) => {
      const path = (i + j) % 2 === 0 ? `/add?item=i${i + j}` : "/flash";
      const res = await fetch(`${base}${path}`);
      await res.body?.cancel();
      return `${res.status}`;
    });
    statuses.push(...await Promise.all(batch));
  }
  return statuses;
}

Deno.test("a flood of anonymous requests that write data or flash stores nothing", async () => {
  await eachStorage(async (storage, count, label) => {
    const { handler } = shop({ storage });
    await withServer(handler, async (base) => {
      const statuses = await flood(base);
      assert.deepEqual(new Set(statuses), new Set(["200"]), `${label}: every request answered`);
      assert.equal(await count.all(), 0, `${label}: no record for anonymous visitors`);

      // The anonymous data and flash still work: they travel in the cookie.
      const jar = new CookieJar();
      await (await jar.fetch(`${base}/add?item=tea`)).body?.cancel();
      assert.equal(await jar.text(`${base}/`), "anonymous tea added tea");
      assert.equal(await jar.text(`${base}/`), "anonymous tea -", "the flash is shown once");
      assert.equal(await count.all(), 0, `${label}: still nothing stored`);
    }, onError);
  });
});

Deno.test("after an anonymous flood against a small maxSessions, a login still succeeds", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 5 });
  const { mw, handler } = shop({ storage });
  await withServer(handler, async (base) => {
    await flood(base);
    const jar = new CookieJar();
    const login = await jar.fetch(`${base}/login?user=ann`);
    assert.equal(login.status, 200, "the login is not refused");
    await login.body?.cancel();
    assert.equal(await jar.text(`${base}/`), "ann - -");
    assert.equal((await mw.listSessions("ann")).length, 1);
  }, onError);
});

Deno.test('with anonymous: "store", a full MemorySessionStorage refuses anonymous sessions, never logins', async () => {
  const storage = new MemorySessionStorage({ maxSessions: 5 });
  const { mw, handler } = shop({ storage, anonymous: "store" });
  await withServer(handler, async (base) => {
    const statuses = await flood(base);
    assert.equal(storage.size, 5, "the anonymous flood filled the store");
    assert.ok(statuses.includes("503"), "anonymous writes beyond the bound are refused");
    assert.ok(!statuses.includes("500"));

    // Logins evict anonymous records first, then the least recently written session.
    for (const user of ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]) {
      const jar = new CookieJar();
      const login = await jar.fetch(`${base}/login?user=${user}`);
      assert.equal(login.status, 200, `the login of ${user} succeeds on a full store`);
      await login.body?.cancel();
      assert.equal(await jar.text(`${base}/`), `${user} - -`);
    }
    assert.equal(storage.size, 5);
    assert.deepEqual(await mw.listSessions("u1"), [], "the oldest login made room");
    assert.equal((await mw.listSessions("u7")).length, 1);
    // A further anonymous session does not push out a logged-in user.
    const anonymous = await fetch(`${base}/add`);
    await anonymous.body?.cancel();
    assert.equal(anonymous.status, 503);
    assert.equal((await mw.listSessions("u3")).length, 1);
  }, onError);
});

Deno.test("the anonymous cart and flash move into the logged-in session under a new token", async () => {
  await eachStorage(async (storage, count, label) => {
    const { mw, handler } = shop({ storage });
    await withServer(handler, async (base) => {
      const jar = new CookieJar();
      await (await jar.fetch(`${base}/add?item=tea`)).body?.cancel();
      await (await jar.fetch(`${base}/add?item=jam`)).body?.cancel();
      assert.equal(await count.all(), 0, `${label}: nothing stored before login`);
      const anonymousCookie = jar.header()!;

      await (await jar.fetch(`${base}/login?user=ann`)).body?.cancel();
      assert.notEqual(jar.header(), anonymousCookie, `${label}: a new cookie at login`);
      assert.equal(await jar.text(`${base}/`), "ann tea,jam added jam", label);
      assert.equal(await jar.text(`${base}/`), "ann tea,jam -", `${label}: flash once`);
      assert.equal((await mw.listSessions("ann")).length, 1, label);
      assert.equal(await count.live(), 1, `${label}: one record, the login`);

      // The pre-login cookie never becomes the user's session.
      const replay = await fetch(`${base}/`, { headers: { cookie: anonymousCookie } });
      assert.equal(await replay.text(), "anonymous tea,jam added jam", label);

      // Logout deletes the record; the "logged out" flash travels in the cookie.
      await (await jar.fetch(`${base}/logout`)).body?.cancel();
      assert.deepEqual(await mw.listSessions("ann"), [], label);
      assert.equal(await jar.text(`${base}/`), "anonymous - logged out", label);
      assert.equal(await count.live(), 0, `${label}: no record after logout`);
    }, onError);
  });
});

function form(fields: Record<string, string>, origin: string): RequestInit {
  return { method: "POST", body: new URLSearchParams(fields), headers: { origin } };
}

Deno.test("the login example stores nothing for a failed login nor after logout", async () => {
  const kv = await Deno.openKv(":memory:");
  const app = await startCookieLogin({ kv });
  try {
    const jar = new CookieJar();
    const failed = await jar.fetch(`${app.url}/login`, form({ user: " " }, app.url));
    assert.equal(failed.status, 303);
    await failed.body?.cancel();
    assert.equal(await kvRecords(kv), 0, "a failed login writes nothing to KV");
    assert.match(await jar.text(`${app.url}/`), /Pick a name of 1 to 64 printable characters\./);

    const login = await jar.fetch(`${app.url}/login`, form({ user: "ann" }, app.url));
    await login.body?.cancel();
    assert.equal(await kvRecords(kv, "s"), 1, "the login is stored");
    assert.match(await jar.text(`${app.url}/`), /Welcome, ann\./);

    const logout = await jar.fetch(`${app.url}/logout`, form({}, app.url));
    await logout.body?.cancel();
    assert.equal(await kvRecords(kv, "s"), 0, "logout leaves no session record");
    assert.equal(await kvRecords(kv, "u"), 0, "nor a user index entry");
    assert.match(await jar.text(`${app.url}/`), /Logged out\./);
    assert.equal(await kvRecords(kv, "s"), 0);

    // Many failed logins from cookie-less clients: still nothing stored.
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${app.url}/login`, form({ user: "" }, app.url));
      await res.body?.cancel();
    }
    assert.equal(await kvRecords(kv, "s"), 0);
  } finally {
    await app.stop();
    kv.close();
  }
});
