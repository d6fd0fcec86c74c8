import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import {
  cookieTransport,
  encrypt,
  headerTransport,
  hmac,
  keyring,
  KvSessionStorage,
  MemoryRevocationStore,
  MemorySessionStorage,
  type Session,
  type SessionMiddleware,
  sessions,
  type SessionsOptions,
} from "../../lib/cookie/mod.ts";
import { CookieJar, DAY, HOUR, ManualClock, MINUTE, randomKey, withServer } from "./_helpers.ts";
import { withKv } from "../_kv.ts";

type Data = { user: string; count: number; blob: string; note: string };
const NAME = "__Host-session";

/** A small app: login, counter, whoami, logout, log out everywhere, flash, big data. */
function app(mw: SessionMiddleware<Data>): (req: Request, info: unknown) => Promise<Response> {
  return mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const url = new URL(req.url);
    const reply = (body: string): Response =>
      new Response(body, {
        headers: { "x-reason": session.reason ?? "", "x-new": String(session.isNew) },
      });
    switch (url.pathname) {
      case "/login": {
        const user = url.searchParams.get("user") ?? "ann";
        session.regenerate();
        session.setUser(user);
        session.set("user", user);
        return reply(`hello ${user}`);
      }
      case "/count":
        return reply(String(session.update("count", (n = 0) => n + 1)));
      case "/logout":
        session.destroy();
        return reply("bye");
      case "/everywhere":
        await mw.revokeUser(session.userId!);
        return reply("revoked");
      case "/flash":
        session.flash("note", url.searchParams.get("text"));
        return reply("flashed");
      case "/take":
        return reply(String(session.takeFlash("note") ?? "none"));
      case "/big":
        session.set("blob", url.searchParams.get("text") ?? "");
        return reply("stored");
      case "/redirect":
        session.set("note", "redirected");
        return Response.redirect(new URL("/whoami", url), 303);
      default:
        return reply(session.get("user") ?? "anonymous");
    }
  });
}

function randomText(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return [...bytes].map((b) => String.fromCharCode(97 + (b % 26))).join("");
}

Deno.test("client-side sessions log in, count and log out over a real server", async () => {
  const mw = sessions<Data>({ transformer: encrypt({ key: randomKey() }) });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/whoami`), "anonymous");
    assert.equal(jar.cookies.size, 0, "an untouched session sets no cookie");
    assert.equal(await jar.text(`${base}/login?user=ann`), "hello ann");
    assert.ok(jar.cookies.get(NAME)!.startsWith("t1.e.0."));
    assert.equal(await jar.text(`${base}/count`), "1");
    assert.equal(await jar.text(`${base}/count`), "2");
    assert.equal(await jar.text(`${base}/whoami`), "ann");
    assert.equal(await jar.text(`${base}/logout`), "bye");
    assert.equal(jar.cookies.size, 0);
    assert.equal(await jar.text(`${base}/whoami`), "anonymous");
  });
});

Deno.test("server-side KV sessions keep only a random token in the cookie", async () => {
  await withKv(async (kv) => {
    const mw = sessions<Data>({ storage: new KvSessionStorage(kv), anonymous: "store" });
    assert.equal(mw.mode, "server");
    await withServer(app(mw), async (base) => {
      const jar = new CookieJar();
      await jar.text(`${base}/count`);
      const before = jar.cookies.get(NAME)!;
      assert.match(before, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(await jar.text(`${base}/login?user=bob`), "hello bob");
      const after = jar.cookies.get(NAME)!;
      assert.notEqual(after, before, "login regenerates the session id");
      assert.equal(await jar.text(`${base}/count`), "2", "regenerate keeps the data");

      const stale = new CookieJar();
      stale.cookies.set(NAME, before);
      const refused = await stale.fetch(`${base}/whoami`);
      assert.equal(await refused.text(), "anonymous");
      assert.equal(refused.headers.get("x-reason"), "cookie_revoked");

      const listed = await mw.listSessions("bob");
      assert.equal(listed.length, 1);
      assert.equal(await jar.text(`${base}/logout`), "bye");
      assert.deepEqual(await mw.listSessions("bob"), []);
      const replay = new CookieJar();
      replay.cookies.set(NAME, after);
      const res = await replay.fetch(`${base}/whoami`);
      assert.equal(await res.text(), "anonymous");
      assert.equal(res.headers.get("x-reason"), "cookie_revoked");
    });
  });
});

Deno.test("an unchanged session sends no Set-Cookie and a changed one does", async () => {
  const clock = new ManualClock();
  const mw = sessions<Data>({ transformer: hmac({ key: randomKey() }), now: clock.now });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`);
    const read = await jar.fetch(`${base}/whoami`);
    await read.body?.cancel();
    assert.deepEqual(read.headers.getSetCookie(), []);
    const write = await jar.fetch(`${base}/count`);
    await write.body?.cancel();
    assert.equal(write.headers.getSetCookie().length, 1);
  });
});

Deno.test("a value sealed under an old key still reads and is re-sealed under the current key", async () => {
  const oldKey = randomKey();
  const newKey = randomKey();
  const before = sessions<Data>({ transformer: encrypt({ key: oldKey }) });
  const after = sessions<Data>({
    transformer: encrypt({ key: keyring({ current: "1", keys: { "0": oldKey, "1": newKey } }) }),
  });
  const jar = new CookieJar();
  await withServer(app(before), async (base) => {
    await jar.text(`${base}/login?user=cy`);
  });
  assert.ok(jar.cookies.get(NAME)!.startsWith("t1.e.0."));
  await withServer(app(after), async (base) => {
    const res = await jar.fetch(`${base}/whoami`);
    assert.equal(await res.text(), "cy");
    assert.equal(res.headers.getSetCookie().length, 1, "re-sealed on this response");
    assert.ok(jar.cookies.get(NAME)!.startsWith("t1.e.1."));
    const again = await jar.fetch(`${base}/whoami`);
    assert.equal(await again.text(), "cy");
    assert.deepEqual(again.headers.getSetCookie(), [], "no rewrite once current");
  });
});

Deno.test("a server-side token MAC'ed under an old key is re-sealed without a storage write", async () => {
  const oldKey = randomKey();
  const storage = new MemorySessionStorage();
  const before = sessions<Data>({ storage, transformer: hmac({ key: oldKey }) });
  const after = sessions<Data>({
    storage,
    transformer: hmac({ key: keyring({ current: "k2", keys: { "0": oldKey, k2: randomKey() } }) }),
  });
  const jar = new CookieJar();
  await withServer(app(before), async (base) => {
    await jar.text(`${base}/login?user=dee`);
  });
  await withServer(app(after), async (base) => {
    const res = await jar.fetch(`${base}/whoami`);
    assert.equal(await res.text(), "dee");
    assert.ok(jar.cookies.get(NAME)!.startsWith("t1.m.k2."));
    assert.equal(await jar.text(`${base}/whoami`), "dee");
  });
});

Deno.test("sessions expire at the absolute and idle limits of an injected clock", async () => {
  const clock = new ManualClock();
  const mw = sessions<Data>({
    transformer: encrypt({ key: randomKey() }),
    now: clock.now,
    maxAge: 7 * 86_400,
    idleTimeout: 86_400,
  });
  await withServer(app(mw), async (base) => {
    const idle = new CookieJar();
    await idle.text(`${base}/login`);
    clock.advance(DAY + 1);
    const res = await idle.fetch(`${base}/whoami`);
    assert.equal(await res.text(), "anonymous");
    assert.equal(res.headers.get("x-reason"), "cookie_expired");
    assert.equal(idle.cookies.size, 0, "the expired cookie is cleared");

    const active = new CookieJar();
    await active.text(`${base}/login`);
    for (let step = 0; step < 8; step++) {
      clock.advance(20 * HOUR);
      assert.equal(
        await active.text(`${base}/whoami`),
        "ann",
        "rolling renewal keeps an active user in",
      );
    }
    clock.advance(8 * HOUR); // 7 days after login: the absolute limit
    const dead = await active.fetch(`${base}/whoami`);
    assert.equal(await dead.text(), "anonymous");
    assert.equal(dead.headers.get("x-reason"), "cookie_expired");
  });
});

Deno.test("rolling renewal writes only when less than half of the idle window remains", async () => {
  const clock = new ManualClock();
  const mw = sessions<Data>({
    transformer: hmac({ key: randomKey() }),
    now: clock.now,
    idleTimeout: 10 * 3600,
  });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`);
    clock.advance(4 * HOUR);
    const early = await jar.fetch(`${base}/whoami`);
    await early.body?.cancel();
    assert.deepEqual(early.headers.getSetCookie(), [], "6 h of 10 left: no write");
    clock.advance(2 * HOUR);
    const late = await jar.fetch(`${base}/whoami`);
    await late.body?.cancel();
    assert.equal(late.headers.getSetCookie().length, 1, "4 h of 10 left: renewed");
    clock.advance(9 * HOUR);
    assert.equal(await jar.text(`${base}/whoami`), "ann", "renewal moved the idle expiry");
  });
});

Deno.test("rolling: false lets an unchanged session die at its idle expiry", async () => {
  const clock = new ManualClock();
  const mw = sessions<Data>({
    transformer: hmac({ key: randomKey() }),
    now: clock.now,
    idleTimeout: 10 * 3600,
    rolling: false,
  });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`);
    clock.advance(8 * HOUR);
    assert.equal(await jar.text(`${base}/whoami`), "ann");
    clock.advance(2 * HOUR);
    assert.equal(await jar.text(`${base}/whoami`), "anonymous");
  });
});

Deno.test("log out everywhere revokes client-side sessions through the revocation epoch", async () => {
  const mw = sessions<Data>({
    transformer: encrypt({ key: randomKey() }),
    revocation: new MemoryRevocationStore(),
  });
  await withServer(app(mw), async (base) => {
    const laptop = new CookieJar();
    const phone = new CookieJar();
    const other = new CookieJar();
    await laptop.text(`${base}/login?user=eve`);
    await phone.text(`${base}/login?user=eve`);
    await other.text(`${base}/login?user=fay`);
    assert.equal(await laptop.text(`${base}/everywhere`), "revoked");
    for (const jar of [laptop, phone]) {
      const res = await jar.fetch(`${base}/whoami`);
      assert.equal(await res.text(), "anonymous");
      assert.equal(res.headers.get("x-reason"), "cookie_revoked");
    }
    assert.equal(await other.text(`${base}/whoami`), "fay", "other users stay logged in");
    assert.equal(await phone.text(`${base}/login?user=eve`), "hello eve");
    assert.equal(await phone.text(`${base}/whoami`), "eve", "a new login works after revocation");
  });
});

Deno.test("log out everywhere deletes every server-side session of the user", async () => {
  await withKv(async (kv) => {
    const mw = sessions<Data>({ storage: new KvSessionStorage(kv) });
    await withServer(app(mw), async (base) => {
      const jars = [new CookieJar(), new CookieJar(), new CookieJar()];
      for (const jar of jars) await jar.text(`${base}/login?user=gus`);
      const other = new CookieJar();
      await other.text(`${base}/login?user=hal`);
      assert.equal((await mw.listSessions("gus")).length, 3);
      assert.equal(await jars[0]!.text(`${base}/everywhere`), "revoked");
      assert.deepEqual(await mw.listSessions("gus"), []);
      for (const jar of jars) {
        const res = await jar.fetch(`${base}/whoami`);
        assert.equal(await res.text(), "anonymous");
        assert.equal(res.headers.get("x-reason"), "cookie_revoked");
      }
      assert.equal(await other.text(`${base}/whoami`), "hal");
    });
  });
});

Deno.test("concurrent updates on one server-side session lose no increment", async () => {
  await withKv(async (kv) => {
    // Two instances sharing one KV, as two processes behind a load balancer.
    const a = sessions<Data>({ storage: new KvSessionStorage(kv), maxConflictRetries: 50 });
    const b = sessions<Data>({ storage: new KvSessionStorage(kv), maxConflictRetries: 50 });
    await withServer(app(a), async (baseA) => {
      await withServer(app(b), async (baseB) => {
        const jar = new CookieJar();
        await jar.text(`${baseA}/login`);
        const cookie = jar.header()!;
        const requests = Array.from(
          { length: 24 },
          (_, i) =>
            fetch(`${i % 2 ? baseA : baseB}/count`, { headers: { cookie } }).then((r) => r.text()),
        );
        const seen = (await Promise.all(requests)).map(Number);
        assert.equal(Math.max(...seen) <= 24, true);
        assert.equal(await jar.text(`${baseA}/count`), "25");
      });
    });
  });
});

Deno.test("a concurrent write to a key this request read is reported as session_conflict", async () => {
  const storage = new MemorySessionStorage();
  const mw = sessions<Data>({ storage, anonymous: "store" });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let entered!: () => void;
  const slowLoaded = new Promise<void>((resolve) => entered = resolve);
  const handler = mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") session.set("count", 0);
    if (path === "/slow") {
      const n = session.get("count") ?? 0; // read, then write from the stale read
      entered();
      await gate;
      session.set("count", n + 1);
    }
    if (path === "/fast") session.update("count", (n = 0) => n + 10);
    if (path === "/note") session.set("note", "kept");
    return new Response(String(session.get("count")));
  });
  const login = await handler(new Request("https://x/login"), {});
  const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
  const req = (path: string): Request => new Request(`https://x${path}`, { headers: { cookie } });

  const slow = handler(req("/slow"), {});
  await slowLoaded; // /slow has loaded the session before /fast writes it
  assert.equal(await (await handler(req("/fast"), {})).text(), "10");
  release();
  await assert.rejects(
    slow,
    (err) => err instanceof CookieError && err.code === "session_conflict",
  );
  assert.equal(await (await handler(req("/fast"), {})).text(), "20", "the fast update survived");

  // Writes to keys the request did not read are merged, not refused.
  let release2!: () => void;
  const gate2 = new Promise<void>((resolve) => release2 = resolve);
  const merging = mw(async (_req: Request, _info: unknown, session: Session<Data>) => {
    await gate2;
    session.set("note", "kept");
    return new Response("ok");
  });
  const pending = merging(req("/"), {});
  await handler(req("/fast"), {});
  release2();
  await (await pending).body?.cancel();
  const check = mw((_req: Request, _info: unknown, session: Session<Data>) =>
    new Response(`${session.get("count")} ${session.get("note")}`)
  );
  assert.equal(await (await check(req("/"), {})).text(), "30 kept");
});

Deno.test("a large session is split into chunked cookies and stale chunks are deleted", async () => {
  const mw = sessions<Data>({ transformer: encrypt({ key: randomKey() }) });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login`);
    await jar.text(`${base}/big?text=${randomText(6000)}`);
    assert.deepEqual([...jar.cookies.keys()].sort(), [NAME, `${NAME}.1`, `${NAME}.2`]);
    for (const [name, value] of jar.cookies) assert.ok(name.length + 1 + value.length <= 4096);
    assert.equal(await jar.text(`${base}/whoami`), "ann");
    await jar.text(`${base}/big?text=small`);
    assert.deepEqual([...jar.cookies.keys()], [NAME], "extra chunks deleted");
    assert.equal(await jar.text(`${base}/whoami`), "ann");
  });
});

Deno.test("storing more than the chunk budget fails with cookie_too_large", async () => {
  const mw = sessions<Data>({
    transformer: encrypt({ key: randomKey(), maxLength: 65536 }),
    transport: cookieTransport({ maxChunks: 2 }),
  });
  const handler = app(mw);
  await assert.rejects(
    handler(new Request(`https://x/big?text=${randomText(12000)}`), {}),
    (err) => err instanceof CookieError && err.code === "cookie_too_large",
  );
});

Deno.test("the header transport carries a session for API clients", async () => {
  await withKv(async (kv) => {
    const mw = sessions<Data>({
      storage: new KvSessionStorage(kv),
      transformer: hmac({ key: randomKey() }),
      transport: headerTransport({ name: "X-Session" }),
    });
    await withServer(app(mw), async (base) => {
      const login = await fetch(`${base}/login?user=ida`);
      await login.body?.cancel();
      assert.deepEqual(login.headers.getSetCookie(), []);
      const token = login.headers.get("x-session")!;
      assert.ok(token.startsWith("t1.m.0."));
      const count = await fetch(`${base}/count`, { headers: { "x-session": token } });
      assert.equal(await count.text(), "1");
      assert.equal(count.headers.get("x-session"), null, "unchanged value: no header");
      const at = token.length - 10;
      const forged = token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
      const bad = await fetch(`${base}/whoami`, { headers: { "x-session": forged } });
      assert.equal(await bad.text(), "anonymous");
      assert.equal(bad.headers.get("x-reason"), "cookie_tampered");
      assert.equal(bad.headers.get("x-session"), "", "the client is told to forget it");
      const out = await fetch(`${base}/logout`, { headers: { "x-session": token } });
      await out.body?.cancel();
      assert.equal(out.headers.get("x-session"), "");
    });
  });
});

Deno.test("flash values set on one request are read once on a later one", async () => {
  const mw = sessions<Data>({ transformer: encrypt({ key: randomKey() }) });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/flash?text=saved`);
    assert.equal(await jar.text(`${base}/take`), "saved");
    assert.equal(await jar.text(`${base}/take`), "none");
  });
});

Deno.test("cookies are added to a redirect whose headers are immutable", async () => {
  const mw = sessions<Data>({ transformer: encrypt({ key: randomKey() }) });
  const res = await app(mw)(new Request("https://x/redirect"), {});
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "https://x/whoami");
  assert.equal(res.headers.getSetCookie().length, 1);
});

Deno.test("every kind of bad input gives an empty session with its reason, never an error", async () => {
  const clock = new ManualClock();
  const key = randomKey();
  const revocation = new MemoryRevocationStore();
  const ring = keyring({ current: "k1", keys: { k1: key } });
  const base: SessionsOptions = { transformer: encrypt({ key: ring }), now: clock.now, revocation };
  const mw = sessions<Data>(base);
  const otherName = sessions<Data>({
    ...base,
    transport: cookieTransport({ name: "__Host-other" }),
  });
  const otherKey = sessions<Data>({
    ...base,
    transformer: encrypt({ key: keyring({ current: "k9", keys: { k9: randomKey() } }) }),
  });
  const victim = new CookieJar();
  const moved = new CookieJar();
  const foreign = new CookieJar();
  const chunked = new CookieJar();
  const revoked = new CookieJar();
  const expired = new CookieJar();
  await withServer(app(otherName), async (url) => void await moved.text(`${url}/login?user=zed`));
  await withServer(app(otherKey), async (url) => void await foreign.text(`${url}/login?user=zed`));
  await withServer(app(mw), async (url) => {
    await victim.text(`${url}/login?user=zed`);
    await chunked.text(`${url}/big?text=${randomText(6000)}`);
    await revoked.text(`${url}/login?user=yul`);
    await expired.text(`${url}/login?user=xia`);
  });
  await revocation.revoke("yul");
  const good = victim.cookies.get(NAME)!;
  const flip = (s: string, at: number): string =>
    s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);

  const cases: [string, string, string | null][] = [
    ["junk pairs", 'a b=c; ;=; x="unterminated; y=a\\b; __Host-session', null],
    ["malformed", `${NAME}=garbage`, "cookie_malformed"],
    ["truncated", `${NAME}=${good.slice(0, good.lastIndexOf("."))}`, "cookie_malformed"],
    ["tampered", `${NAME}=${flip(good, good.length - 10)}`, "cookie_tampered"],
    [
      "moved from another cookie name",
      `${NAME}=${moved.cookies.get("__Host-other")}`,
      "cookie_tampered",
    ],
    [
      "sealed under an unknown key id",
      `${NAME}=${foreign.cookies.get(NAME)}`,
      "cookie_unknown_key",
    ],
    ["of an unsupported version", `${NAME}=t9${good.slice(2)}`, "cookie_unsupported_version"],
    ["oversized", `${NAME}=${"a".repeat(4100)}`, "cookie_too_large"],
    ["missing a chunk", `${NAME}=${chunked.cookies.get(NAME)}`, "cookie_chunk_missing"],
    ["a lone chunk", `${NAME}.1=${chunked.cookies.get(`${NAME}.1`)}`, "cookie_chunk_missing"],
    [
      "with mixed-up chunks",
      `${NAME}=${chunked.cookies.get(NAME)}; ${NAME}.1=${
        flip(chunked.cookies.get(`${NAME}.1`)!, 5)
      }`,
      "cookie_chunk_missing",
    ],
    ["revoked", `${NAME}=${revoked.cookies.get(NAME)}`, "cookie_revoked"],
  ];
  cases.push(["expired", `${NAME}=${expired.cookies.get(NAME)}`, "cookie_expired"]);

  await withServer(app(mw), async (url) => {
    for (const [what, cookie, code] of cases) {
      if (what === "expired") clock.advance(25 * HOUR);
      const res = await fetch(`${url}/whoami`, { headers: { cookie } });
      assert.equal(res.status, 200, what);
      assert.equal(await res.text(), "anonymous", what);
      assert.equal(res.headers.get("x-reason"), code ?? "", what);
      if (code !== null) {
        assert.ok(res.headers.getSetCookie().every((c) => c.includes("Max-Age=0")), what);
      }
    }
  });
  clock.advance(-25 * HOUR);
});

Deno.test("server-side bad tokens give an empty session with their reason", async () => {
  const storage = new MemorySessionStorage();
  const handler = app(sessions<Data>({ storage }));
  const cases: [string, string][] = [
    ["not-a-token", "cookie_malformed"],
    ["A".repeat(43), "cookie_unknown_session"],
  ];
  for (const [value, code] of cases) {
    const res = await handler(
      new Request("https://x/", { headers: { cookie: `${NAME}=${value}` } }),
      {},
    );
    assert.equal(await res.text(), "anonymous");
    assert.equal(res.headers.get("x-reason"), code);
  }
});

Deno.test("a transformer that throws is treated as a refused value", async () => {
  const mw = sessions<Data>({
    transformer: {
      write: (v) => Promise.resolve(v),
      read: () => Promise.reject(new Error("boom")),
    },
  });
  const res = await app(mw)(new Request("https://x/", { headers: { cookie: `${NAME}=abc` } }), {});
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-reason"), "cookie_tampered");
});

Deno.test("sessions() refuses unsafe or invalid options at creation", () => {
  const transformer = hmac({ key: randomKey() });
  assert.throws(() => sessions({}), TypeError);
  assert.throws(
    () =>
      sessions({ storage: new MemorySessionStorage(), revocation: new MemoryRevocationStore() }),
    TypeError,
  );
  assert.throws(() => sessions({ transformer, maxAge: 0 }), RangeError);
  assert.throws(
    () => sessions({ transformer, maxAge: 86_400, idleTimeout: 2 * 86_400 }),
    RangeError,
  );
  assert.throws(() => sessions({ transformer, renewThreshold: 2 }), RangeError);
  assert.throws(() => sessions({ transformer, purpose: "" }), TypeError);
  assert.throws(() => sessions({ transformer, now: 5 as unknown as () => number }), TypeError);
  assert.throws(() => sessions({ transformer })(5 as never), TypeError);
  assert.equal(sessions({ transformer }).mode, "client");
});

Deno.test("client-side sessions cannot be listed, nor revoked without a revocation store", async () => {
  const mw = sessions({ transformer: hmac({ key: randomKey() }) });
  await assert.rejects(mw.listSessions("ann"), TypeError);
  await assert.rejects(mw.revokeUser("ann"), TypeError);
});

Deno.test("a session id appears once a new server-side session is stored", async () => {
  const storage = new MemorySessionStorage();
  let seen: string | null = "unset";
  const handler = sessions<Data>({ storage, anonymous: "store" })(
    (req: Request, _i: unknown, session) => {
      if (new URL(req.url).pathname === "/login") session.set("user", "jo");
      else seen = session.id;
      return new Response("ok");
    },
  );
  const login = await handler(new Request("https://x/login"), {});
  const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
  await handler(new Request("https://x/", { headers: { cookie } }), {});
  assert.match(seen!, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!cookie.includes(seen!), "the public id is not the cookie token");
});

Deno.test("maxAge in Set-Cookie counts down to the absolute expiry", async () => {
  const clock = new ManualClock();
  const handler = app(sessions<Data>({
    transformer: hmac({ key: randomKey() }),
    now: clock.now,
    maxAge: 2 * 86_400,
    idleTimeout: 86_400,
  }));
  const login = await handler(new Request("https://x/login"), {});
  assert.match(login.headers.getSetCookie()[0]!, /Max-Age=172800;/);
  const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
  clock.advance(MINUTE);
  const count = await handler(new Request("https://x/count", { headers: { cookie } }), {});
  assert.match(count.headers.getSetCookie()[0]!, /Max-Age=172740;/);
});
