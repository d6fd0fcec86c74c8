// Bun smoke test of honoSessions(): a Hono app under Bun.serve. npx -y bun@1.4.4 tests/bun/hono_smoke.ts
// Bun installs `hono` from npm on first import (auto-install, pinned in the specifier).
// Exits non-zero on any failure; the last line is "N passed, M failed".

import assert from "node:assert/strict";
import { run, test } from "./_harness.ts";
import { Jar } from "./_jar.ts";
import { Hono } from "hono@4.13.19"; // Bun installs this exact version on first import
import { CookieError } from "../../lib/errors.ts";
import {
  cookieTransport,
  encrypt,
  hmac,
  type HonoSessionEnv,
  honoSessions,
  MemorySessionStorage,
  type SessionsOptions,
} from "../../lib/cookie/mod.ts";

interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (req: Request) => Response | Promise<Response>;
  }): BunServer;
};

type Data = { user: string; count: number; blob: string };

function makeApp(options: SessionsOptions): { app: Hono<HonoSessionEnv<Data>>; errors: unknown[] } {
  const errors: unknown[] = [];
  const app = new Hono<HonoSessionEnv<Data>>();
  app.use(honoSessions<Data>(options));
  app.get("/login", (c) => {
    const session = c.get("session");
    session.regenerate();
    session.setUser("ann");
    session.set("user", "ann");
    return c.text("ok");
  });
  app.get("/count", (c) => {
    c.get("session").update("count", (n = 0) => n + 1);
    return c.text("ok");
  });
  app.get("/big", (c) => {
    c.get("session").set("blob", "x".repeat(Number(c.req.query("n"))));
    return c.text("stored");
  });
  app.get("/logout", (c) => {
    c.get("session").destroy();
    return c.text("bye");
  });
  app.get("/", (c) => {
    const session = c.get("session");
    c.header("x-reason", session.reason ?? "");
    return c.text(`${session.get("user") ?? "anonymous"} ${session.get("count") ?? 0}`);
  });
  app.onError((err, c) => {
    errors.push(err);
    if (err instanceof CookieError && err.code === "cookie_too_large") return c.text(err.code, 413);
    return c.text("internal", 500);
  });
  return { app, errors };
}

/** Runs `fn` against Bun.serve on an ephemeral 127.0.0.1 port, then stops the server. */
async function withBun(app: Hono<HonoSessionEnv<Data>>, fn: (base: string) => Promise<void>) {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => app.fetch(req) });
  try {
    await fn(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.stop(true);
  }
}

const key = () => crypto.getRandomValues(new Uint8Array(32));

test("a Hono app logs in, counts and logs out under Bun.serve", async () => {
  const { app, errors } = makeApp({ transformer: encrypt({ key: key() }) });
  await withBun(app, async (base) => {
    const jar = new Jar();
    assert.equal(await jar.text(`${base}/`), "anonymous 0");
    assert.equal(jar.cookies.size, 0);
    await jar.text(`${base}/login`);
    assert.equal(await jar.text(`${base}/`), "ann 0");
    await jar.text(`${base}/count`);
    await jar.text(`${base}/count`);
    const unchanged = await jar.get(`${base}/`);
    assert.equal(await unchanged.text(), "ann 2");
    assert.deepEqual(unchanged.headers.getSetCookie(), []);
    await jar.text(`${base}/logout`);
    assert.equal(jar.cookies.size, 0);
    assert.equal(await jar.text(`${base}/`), "anonymous 0");
  });
  assert.deepEqual(errors, []);
});

test("server-side memory sessions round trip in a Hono app under Bun", async () => {
  const { app } = makeApp({ storage: new MemorySessionStorage() });
  await withBun(app, async (base) => {
    const jar = new Jar();
    await jar.text(`${base}/login`);
    assert.match(jar.cookies.get("__Host-session")!, /^[A-Za-z0-9_-]{43}$/);
    await jar.text(`${base}/count`);
    assert.equal(await jar.text(`${base}/`), "ann 1");
  });
});

test("a tampered cookie gives an empty session and a reason under Bun", async () => {
  const { app, errors } = makeApp({ transformer: hmac({ key: key() }) });
  await withBun(app, async (base) => {
    const jar = new Jar();
    await jar.text(`${base}/login`);
    jar.tamper("__Host-session");
    const res = await jar.get(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "anonymous 0");
    assert.equal(res.headers.get("x-reason"), "cookie_tampered");
  });
  assert.deepEqual(errors, []);
});

test("a commit error reaches app.onError and maps to 413 under Bun", async () => {
  const { app, errors } = makeApp({
    transformer: encrypt({ key: key() }),
    transport: cookieTransport({ maxChunks: 1 }),
  });
  await withBun(app, async (base) => {
    const jar = new Jar();
    assert.equal(await jar.text(`${base}/big?n=10`), "stored");
    const res = await jar.get(`${base}/big?n=9000`);
    assert.equal(res.status, 413);
    assert.equal(await res.text(), "cookie_too_large");
    assert.deepEqual(res.headers.getSetCookie(), []);
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof CookieError);
});

await run();
