import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import {
  cookieTransport,
  encrypt,
  KvSessionStorage,
  MemorySessionStorage,
  type Session,
  sessions,
} from "../../lib/cookie/mod.ts";
import { startCookieLogin } from "../../examples/cookie_login.ts";
import { CookieJar, ManualClock, randomKey } from "./_helpers.ts";

type Data = { user: string; count: number; note: string; text: string };
const NAME = "__Host-session";

/** The `name=value` pair of the first Set-Cookie of a response for `name`. */
function pairOf(response: Response, name = NAME): string | undefined {
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0]!;
    if (pair.startsWith(`${name}=`)) return pair;
  }
  return undefined;
}

function request(path: string, cookie?: string): Request {
  return new Request(`https://x${path}`, cookie === undefined ? {} : { headers: { cookie } });
}

/** A latch: `wait()` resolves once `open()` was called. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => open = resolve);
  return { wait, open };
}

Deno.test("a flash value taken by two concurrent requests is delivered only once", async () => {
  const storage = new MemorySessionStorage();
  const mw = sessions<Data>({ storage, anonymous: "store" });
  const gate = latch();
  const entered = latch();
  const handler = mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const path = new URL(req.url).pathname;
    if (path === "/flash") session.flash("note", "saved!");
    if (path === "/slow") {
      const note = session.takeFlash("note");
      entered.open();
      await gate.wait;
      return new Response(String(note ?? "none"));
    }
    if (path === "/fast") return new Response(String(session.takeFlash("note") ?? "none"));
    return new Response("ok");
  });
  const first = await handler(request("/flash"), {});
  const cookie = pairOf(first)!;

  const slow = handler(request("/slow", cookie), {});
  await entered.wait;
  const fast = await handler(request("/fast", cookie), {});
  assert.equal(await fast.text(), "saved!");
  gate.open();
  let shown: string;
  try {
    shown = await (await slow).text();
  } catch (error) {
    assert.ok(error instanceof CookieError && error.code === "session_conflict");
    shown = "none";
  }
  assert.equal(shown, "none", "the one-time value was shown by both requests");
});

Deno.test("a client-side session older than the configured maxAge is refused", async () => {
  const clock = new ManualClock();
  const key = randomKey();
  const handler = (maxAge: number) =>
    // seconds
    sessions<Data>({
      transformer: encrypt({ key }),
      now: clock.now,
      maxAge,
      idleTimeout: 3600,
    })((_req: Request, _info: unknown, session: Session<Data>) => {
      if (new URL(_req.url).pathname === "/login") session.set("user", "ann");
      return new Response(session.get("user") ?? "anonymous");
    });
  const login = await handler(30 * 86_400)(request("/login"), {});
  let cookie = pairOf(login)!;
  // The operator shortens the absolute lifetime to 2 hours; the user stays active.
  const short = handler(2 * 3600);
  for (let i = 0; i < 4; i++) {
    clock.advance(55 * 60_000);
    const res = await short(request("/", cookie), {});
    if ((await res.text()) === "anonymous") return;
    cookie = pairOf(res) ?? cookie;
  }
  assert.fail("a session issued 3h40 ago outlived maxAge = 2 hours");
});

Deno.test("a server-side session older than the configured maxAge is refused", async () => {
  const clock = new ManualClock();
  const storage = new MemorySessionStorage();
  const handler = (maxAge: number) =>
    sessions<Data>({ storage, now: clock.now, maxAge, idleTimeout: 3600 })(
      (_req: Request, _info: unknown, session: Session<Data>) => {
        if (new URL(_req.url).pathname === "/login") session.set("user", "ann");
        return new Response(session.get("user") ?? "anonymous");
      },
    );
  const cookie = pairOf(await handler(30 * 86_400)(request("/login"), {}))!;
  const short = handler(2 * 3600);
  for (let i = 0; i < 4; i++) {
    clock.advance(55 * 60_000);
    const res = await short(request("/", cookie), {});
    if ((await res.text()) === "anonymous") return;
  }
  assert.fail("a session issued 3h40 ago outlived maxAge = 2 hours");
});

Deno.test("binding a server-side session to a user issues a new session id", async () => {
  const storage = new MemorySessionStorage();
  const handler = sessions<Data>({ storage })(
    (req: Request, _info: unknown, session: Session<Data>) => {
      const path = new URL(req.url).pathname;
      if (path === "/visit") session.set("note", "anonymous visitor");
      if (path === "/login") {
        // Login that binds the user but forgets regenerate().
        session.setUser("ann");
        session.set("user", "ann");
      }
      return new Response(session.get("user") ?? "anonymous");
    },
  );
  // The attacker gets a token and plants it in the victim's browser.
  const planted = pairOf(await handler(request("/visit"), {}))!;
  const login = await handler(request("/login", planted), {});
  assert.equal(await login.text(), "ann");
  const attacker = await handler(request("/", planted), {});
  assert.equal(
    await attacker.text(),
    "anonymous",
    "the planted token is now logged in as ann",
  );
});

Deno.test("a request that loses a race to a login does not delete the new login cookie", async () => {
  const storage = new MemorySessionStorage();
  const gate = latch();
  const entered = latch();
  const handler = sessions<Data>({ storage, anonymous: "store" })(
    async (req: Request, _info: unknown, session: Session<Data>) => {
      const path = new URL(req.url).pathname;
      if (path === "/visit") session.set("count", 0);
      if (path === "/login") {
        session.regenerate();
        session.setUser("ann");
        session.set("user", "ann");
      }
      if (path === "/poll") {
        entered.open();
        await gate.wait;
        session.update("count", (n = 0) => n + 1);
      }
      return new Response(session.get("user") ?? "anonymous");
    },
  );
  const jar = new CookieJar();
  jar.update(await handler(request("/visit"), {}));
  const old = jar.header()!;
  // A background poll leaves with the old cookie, then the login completes first.
  const poll = handler(request("/poll", old), {});
  await entered.wait;
  jar.update(await handler(request("/login", old), {}));
  gate.open();
  // The poll's update cannot be stored (its session is gone): it is refused, not dropped
  // silently, and its failure touches no cookie.
  await assert.rejects(
    poll,
    (error) => error instanceof CookieError && error.code === "session_conflict",
  );
  const whoami = await handler(request("/", jar.header()), {});
  assert.equal(await whoami.text(), "ann", "the user was logged out right after logging in");
});

Deno.test("cookie prefixes are matched case-insensitively, as browsers do", () => {
  assert.throws(() => cookieTransport({ name: "__host-session", secure: false }), TypeError);
  assert.throws(
    () => cookieTransport({ name: "__HOST-session", domain: "example.com" }),
    TypeError,
  );
  assert.throws(() => cookieTransport({ name: "__secure-session", secure: false }), TypeError);
});

Deno.test("a server-side token cannot be moved to another cookie name and purpose", async () => {
  const storage = new MemorySessionStorage();
  const shop = sessions<Data>({
    storage,
    purpose: "shop",
    transport: cookieTransport({ name: "__Host-shop" }),
  })((_req: Request, _info: unknown, session: Session<Data>) => {
    session.set("user", "guest-cart");
    return new Response("ok");
  });
  const admin = sessions<Data>({
    storage,
    purpose: "admin",
    transport: cookieTransport({ name: "__Host-admin" }),
  })((_req: Request, _info: unknown, session: Session<Data>) =>
    new Response(session.isNew ? "new" : `existing ${session.get("user")}`)
  );
  const token = pairOf(await shop(request("/"), {}), "__Host-shop")!.split("=")[1]!;
  const res = await admin(request("/", `__Host-admin=${token}`), {});
  assert.equal(await res.text(), "new");
});

Deno.test("a Bun.serve handler that upgrades and returns nothing does not throw", async () => {
  const handler = sessions<Data>({ transformer: encrypt({ key: randomKey() }) })(
    (_req: Request, _info: unknown, session: Session<Data>) => {
      session.set("note", "socket opened");
      // Bun: `if (server.upgrade(req)) return;`
      return undefined as unknown as Response;
    },
  );
  const result = await handler(request("/socket"), {});
  assert.equal(result, undefined);
});

Deno.test("KV storage reports data over its value limit as cookie_too_large", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const handler = sessions<Data>({ storage: new KvSessionStorage(kv) })(
      (_req: Request, _info: unknown, session: Session<Data>) => {
        session.set("text", "\u4e2d".repeat(33_000));
        return new Response("ok");
      },
    );
    await assert.rejects(
      handler(request("/"), {}),
      (error) => error instanceof CookieError && error.code === "cookie_too_large",
    );
  } finally {
    kv.close();
  }
});

Deno.test("the login example answers a name with a control character without a 500", async () => {
  const app = await startCookieLogin();
  try {
    const res = await fetch(`${app.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ user: "ann\tbob" }),
      redirect: "manual",
    });
    await res.body?.cancel();
    assert.notEqual(res.status, 500);
  } finally {
    await app.stop();
  }
});
