// A server-side token the store never issued (forged, guessed) is reported as
// cookie_unknown_session, apart from cookie_revoked (logout, regenerate, log out everywhere) and
// cookie_expired, so that token guessing does not look like ordinary logouts in logs.

import assert from "node:assert/strict";
import {
  hmac,
  KvSessionStorage,
  MemorySessionStorage,
  type Session,
  type SessionMiddleware,
  sessions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { toBase64Url } from "../../lib/crypto/_bytes.ts";
import { CookieJar, HOUR, ManualClock, MINUTE, randomKey, withServer } from "./_helpers.ts";

type Data = { user: string };
const NAME = "__Host-session";
const T0 = 1_700_000_000_000;

/** Login, whoami, logout and log out everywhere; every answer carries the refusal reason. */
function app(mw: SessionMiddleware<Data>): (req: Request, info: unknown) => Promise<Response> {
  return mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") {
      session.setUser("ann");
      session.set("user", "ann");
    } else if (path === "/logout") {
      session.destroy();
    } else if (path === "/everywhere") {
      await mw.revokeUser("ann");
    }
    return new Response(session.get("user") ?? "anonymous", {
      headers: { "x-reason": session.reason ?? "" },
    });
  });
}

/** Runs `fn` once per built-in store, each fresh. */
async function eachStorage(
  fn: (label: string, storage: SessionStorage, kv: Deno.Kv | null) => Promise<void>,
): Promise<void> {
  await fn("MemorySessionStorage", new MemorySessionStorage(), null);
  const kv = await Deno.openKv(":memory:");
  try {
    await fn("KvSessionStorage", new KvSessionStorage(kv), kv);
  } finally {
    kv.close();
  }
}

/** The reason a server gives for a request carrying `token` as the session cookie. */
async function reasonFor(base: string, token: string): Promise<string | null> {
  const res = await fetch(`${base}/whoami`, { headers: { cookie: `${NAME}=${token}` } });
  assert.equal(await res.text(), "anonymous");
  return res.headers.get("x-reason");
}

function randomToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

Deno.test("a forged server-side token is reported as cookie_unknown_session, not cookie_revoked", async () => {
  await eachStorage(async (label, storage) => {
    await withServer(app(sessions<Data>({ storage })), async (base) => {
      for (const token of ["A".repeat(43), randomToken(), randomToken()]) {
        assert.equal(await reasonFor(base, token), "cookie_unknown_session", label);
      }
    });
  });
});

Deno.test("tokens of sessions that existed and were deleted stay cookie_revoked", async () => {
  await eachStorage(async (label, storage) => {
    await withServer(app(sessions<Data>({ storage })), async (base) => {
      // Logout.
      const out = new CookieJar();
      await out.text(`${base}/login`);
      const loggedOut = out.cookies.get(NAME)!;
      await out.text(`${base}/logout`);
      assert.equal(await reasonFor(base, loggedOut), "cookie_revoked", `${label}: logout`);

      // A token planted before login is replaced when the session is bound to a user.
      const planted = new CookieJar();
      const anonymous = sessions<Data>({ storage, anonymous: "store" })((_req, _info, session) => {
        session.set("user", "guest");
        return new Response("ok");
      });
      await withServer(anonymous, async (other) => void await planted.text(other));
      const before = planted.cookies.get(NAME)!;
      assert.equal(await planted.text(`${base}/login`), "ann");
      assert.notEqual(planted.cookies.get(NAME), before);
      assert.equal(await reasonFor(base, before), "cookie_revoked", `${label}: regenerated`);

      // Log out everywhere.
      const laptop = new CookieJar();
      const phone = new CookieJar();
      await laptop.text(`${base}/login`);
      await phone.text(`${base}/login`);
      const phoneToken = phone.cookies.get(NAME)!;
      await laptop.text(`${base}/everywhere`);
      assert.equal(await reasonFor(base, phoneToken), "cookie_revoked", `${label}: everywhere`);

      // And a guess is still told apart from all of them.
      assert.equal(await reasonFor(base, randomToken()), "cookie_unknown_session", label);
    });
  });
});

Deno.test("an expired server-side session stays cookie_expired after its record is gone", async () => {
  await eachStorage(async (label, storage) => {
    const clock = new ManualClock();
    const mw = sessions<Data>({ storage, now: clock.now, idleTimeout: 3600 });
    await withServer(app(mw), async (base) => {
      const jar = new CookieJar();
      await jar.text(`${base}/login`);
      const token = jar.cookies.get(NAME)!;
      clock.advance(HOUR + 1);
      assert.equal(await reasonFor(base, token), "cookie_expired", `${label}: first read`);
      assert.equal(await reasonFor(base, token), "cookie_expired", `${label}: record dropped`);
    });
  });
});

Deno.test("with a transformer, a forged token is refused by its MAC before storage is asked", async () => {
  const storage = new MemorySessionStorage();
  const mw = sessions<Data>({ storage, transformer: hmac({ key: randomKey() }) });
  await withServer(app(mw), async (base) => {
    assert.equal(await reasonFor(base, randomToken()), "cookie_malformed");
    const other = sessions<Data>({ storage, transformer: hmac({ key: randomKey() }) });
    const jar = new CookieJar();
    await withServer(app(other), async (url) => void await jar.text(`${url}/login`));
    assert.equal(await reasonFor(base, jar.cookies.get(NAME)!), "cookie_tampered");
  });
});

// ------------------------------------------------------------------------- storage level

const payload = (extra: Record<string, unknown> = {}) => ({
  issuedAt: T0,
  expiresAt: T0 + 10 * MINUTE,
  idleExpiresAt: T0 + MINUTE,
  data: { n: 1 },
  ...extra,
});

Deno.test("storages tell never issued, deleted, revoked by user and expired ids apart", async () => {
  await eachStorage(async (label, storage) => {
    const opts = { previous: null, now: T0 };
    await storage.write("deleted", payload(), opts);
    await storage.write("byUser", payload({ userId: "ann" }), opts);
    await storage.write("expired", payload(), opts);
    await storage.delete("deleted");
    await storage.deleteByUser("ann");
    const expect = async (id: string, code: string, now = T0 + 1) =>
      assert.deepEqual(await storage.read(id, now), { ok: false, code }, `${label}: ${id}`);
    await expect("never", "cookie_unknown_session");
    await expect("deleted", "cookie_revoked");
    await expect("byUser", "cookie_revoked");
    await expect("expired", "cookie_expired", T0 + MINUTE);
    await expect("expired", "cookie_expired", T0 + MINUTE + 1);
    await storage.delete("never"); // deleting a missing session is still fine
    await expect("never", "cookie_unknown_session");
  });
});

Deno.test("storages never create a session again under the id of one that ended", async () => {
  await eachStorage(async (label, storage) => {
    await storage.write("a", payload(), { previous: null, now: T0 });
    await storage.delete("a");
    assert.equal(await storage.write("a", payload(), { previous: null, now: T0 }), null, label);
    assert.deepEqual(await storage.read("a", T0), { ok: false, code: "cookie_revoked" }, label);
  });
});

Deno.test("KvSessionStorage reports a record KV dropped after its expiry as cookie_expired", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new KvSessionStorage(kv);
    await storage.write("a", payload(), { previous: null, now: T0 });
    await kv.delete(["tessera", "session", "s", "a"]); // what KV's lazy expireIn does
    assert.deepEqual(await storage.read("a", T0 + 2 * MINUTE), {
      ok: false,
      code: "cookie_expired",
    });
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage keeps a trace until the absolute expiry and marks it on delete", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const storage = new KvSessionStorage(kv);
    const before = Date.now();
    await storage.write("a", payload({ userId: "ann" }), { previous: null, now: T0 });
    // Stored values are UTF-8 JSON bytes (portable to npm:@deno/kv).
    const traceOf = async (): Promise<{ until: number; revoked?: true }> =>
      JSON.parse(
        new TextDecoder().decode(
          (await kv.get<Uint8Array>(["tessera", "session", "t", "a"])).value!,
        ),
      );
    const trace = await traceOf();
    const lifetime = 10 * MINUTE + MINUTE; // absolute expiry plus the grace
    assert.ok(trace.until >= before + lifetime && trace.until <= Date.now() + lifetime);
    assert.equal(trace.revoked, undefined);
    await storage.deleteByUser("ann");
    assert.deepEqual(await traceOf(), { until: trace.until, revoked: true });
  } finally {
    kv.close();
  }
});

Deno.test("KvSessionStorage marks a record written before traces existed as revoked on delete", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["tessera", "session", "s", "old"], {
      v: 1,
      iat: T0,
      exp: T0 + 10,
      idl: T0 + 5,
      d: {},
    });
    const storage = new KvSessionStorage(kv);
    await storage.delete("old");
    assert.deepEqual(await storage.read("old", T0), { ok: false, code: "cookie_revoked" });
  } finally {
    kv.close();
  }
});

Deno.test("MemorySessionStorage forgets a tombstone a minute after the session's absolute expiry", async () => {
  const storage = new MemorySessionStorage();
  await storage.write("a", payload(), { previous: null, now: T0 });
  await storage.delete("a");
  const end = T0 + 10 * MINUTE + MINUTE;
  assert.deepEqual(await storage.read("a", end - 1), { ok: false, code: "cookie_revoked" });
  assert.deepEqual(await storage.read("a", end), { ok: false, code: "cookie_unknown_session" });
});

Deno.test("MemorySessionStorage keeps at most maxSessions tombstones, forgetting the oldest", async () => {
  const storage = new MemorySessionStorage({ maxSessions: 2 });
  for (const id of ["a", "b", "c"]) {
    await storage.write(id, payload(), { previous: null, now: T0 });
    await storage.delete(id);
  }
  assert.deepEqual(await storage.read("a", T0), { ok: false, code: "cookie_unknown_session" });
  assert.deepEqual(await storage.read("b", T0), { ok: false, code: "cookie_revoked" });
  assert.deepEqual(await storage.read("c", T0), { ok: false, code: "cookie_revoked" });
});
