// Bun smoke test of cookie sessions: npx -y bun@1.4.4 tests/bun/cookie_smoke.ts
// Exits non-zero on any failure; the last line is "N passed, M failed".

import assert from "node:assert/strict";
import { run, test } from "./_harness.ts";
import { Jar } from "./_jar.ts";
import {
  cookieTransport,
  encrypt,
  headerTransport,
  hmac,
  MemoryRevocationStore,
  MemorySessionStorage,
  type SessionMiddleware,
  sessions,
} from "../../lib/cookie/mod.ts";

interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: BunServer) => Promise<Response>;
  }): BunServer;
};

type Data = { user: string; count: number; blob: string };

function app(mw: SessionMiddleware<Data>): (req: Request, server: BunServer) => Promise<Response> {
  return mw<BunServer>(async (req, _server, session) => {
    const url = new URL(req.url);
    if (url.pathname === "/login") {
      session.regenerate();
      session.setUser("ann");
      session.set("user", "ann");
    } else if (url.pathname === "/count") {
      session.update("count", (n = 0) => n + 1);
    } else if (url.pathname === "/big") {
      session.set("blob", "session data compresses well. ".repeat(300));
    } else if (url.pathname === "/logout") {
      session.destroy();
    } else if (url.pathname === "/everywhere") {
      await mw.revokeUser("ann");
    }
    return new Response(`${session.get("user") ?? "anonymous"} ${session.get("count") ?? 0}`, {
      headers: { "x-reason": session.reason ?? "" },
    });
  });
}

/** Runs `fn` against Bun.serve on an ephemeral 127.0.0.1 port, then stops the server. */
async function withBun(
  handler: (req: Request, server: BunServer) => Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  try {
    await fn(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.stop(true);
  }
}

const key = () => crypto.getRandomValues(new Uint8Array(32));

test("client-side sessions log in, count and log out under Bun.serve", async () => {
  await withBun(app(sessions<Data>({ transformer: encrypt({ key: key() }) })), async (base) => {
    const jar = new Jar();
    assert.equal(await jar.text(`${base}/`), "anonymous 0");
    assert.equal(jar.cookies.size, 0);
    assert.equal(await jar.text(`${base}/login`), "ann 0");
    assert.equal(await jar.text(`${base}/count`), "ann 1");
    assert.equal(await jar.text(`${base}/count`), "ann 2");
    const unchanged = await jar.get(`${base}/`);
    assert.equal(await unchanged.text(), "ann 2");
    assert.deepEqual(unchanged.headers.getSetCookie(), []);
    assert.equal(await jar.text(`${base}/logout`), "anonymous 0");
    assert.equal(jar.cookies.size, 0);
  });
});

test("a tampered cookie gives an empty session and a reason under Bun", async () => {
  await withBun(app(sessions<Data>({ transformer: hmac({ key: key() }) })), async (base) => {
    const jar = new Jar();
    await jar.text(`${base}/login`);
    jar.tamper("__Host-session");
    const res = await jar.get(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "anonymous 0");
    assert.equal(res.headers.get("x-reason"), "cookie_tampered");
  });
});

test("a large value is deflate-compressed and read back under Bun", async () => {
  const mw = sessions<Data>({
    transformer: hmac({ key: key() }),
    transport: cookieTransport({ name: "__Host-big" }),
  });
  await withBun(app(mw), async (base) => {
    const jar = new Jar();
    await jar.text(`${base}/login`);
    await jar.text(`${base}/big`);
    assert.match(jar.cookies.get("__Host-big")!, /^~z1\./);
    assert.equal(await jar.text(`${base}/count`), "ann 1");
  });
});

test("log out everywhere revokes client-side sessions under Bun", async () => {
  const mw = sessions<Data>({
    transformer: encrypt({ key: key() }),
    revocation: new MemoryRevocationStore(),
  });
  await withBun(app(mw), async (base) => {
    const a = new Jar();
    const b = new Jar();
    await a.text(`${base}/login`);
    await b.text(`${base}/login`);
    await a.text(`${base}/everywhere`);
    const res = await b.get(`${base}/`);
    assert.equal(await res.text(), "anonymous 0");
    assert.equal(res.headers.get("x-reason"), "cookie_revoked");
  });
});

test("server-side memory sessions and the header transport work under Bun", async () => {
  const mw = sessions<Data>({
    storage: new MemorySessionStorage(),
    transport: headerTransport({ name: "X-Session" }),
  });
  await withBun(app(mw), async (base) => {
    const login = await fetch(`${base}/login`);
    await login.text();
    const token = login.headers.get("x-session")!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const count = await fetch(`${base}/count`, { headers: { "x-session": token } });
    assert.equal(await count.text(), "ann 1");
    assert.equal(count.headers.get("x-session"), null);
  });
});

await run();
