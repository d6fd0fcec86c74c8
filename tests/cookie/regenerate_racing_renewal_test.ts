// A page load sends many requests on one session at once. When the idle expiry is due for
// renewal, the read-only ones renew it: a write that changes no data. A regenerate() (a privilege
// change, a second login step) in the same burst must not fail for that: the data it moves to the
// new token is still the data it read. Only another request's *change* to the session, or its
// end, is a session_conflict. Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { KvSessionStorage } from "../../lib/cookie/kv_storage.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import type { SessionStorage } from "../../lib/cookie/session_storage.ts";
import { sessions } from "../../lib/cookie/sessions.ts";
import { CookieError } from "../../lib/errors.ts";
import { withKv } from "../_kv.ts";
import { CookieJar, ManualClock, MINUTE, withServer } from "./_helpers.ts";

async function check(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  let entered!: () => void;
  const inSudo = new Promise<void>((resolve) => entered = resolve);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const handler = sessions<{ role: string }>({
    storage,
    now: clock.now,
    idleTimeout: 30 * 60,
    transport: cookieTransport({ name: "sid", secure: false }),
  })(async (req, _info, session) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") {
      session.setUser("ann");
      session.set("role", "user");
    }
    if (path === "/sudo") {
      entered();
      await gate; // the rest of the page loads meanwhile
      session.regenerate();
      session.set("role", "admin");
    }
    return new Response(`${session.userId ?? "-"} ${session.get("role") ?? "-"}`);
  });
  const onError = (error: unknown) =>
    new Response(error instanceof CookieError ? error.code : "internal", { status: 409 });
  await withServer(handler, async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/login`), "ann user");
    clock.advance(20 * MINUTE); // 10 of 30 minutes left: a read renews the idle expiry

    const sudo = jar.fetch(`${base}/sudo`);
    await inSudo;
    const view = await fetch(`${base}/`, { headers: { cookie: jar.header()! } });
    assert.equal(await view.text(), "ann user", "the read-only request (a renewal) succeeds");
    release();
    const res = await sudo;
    assert.equal(`${res.status} ${await res.text()}`, "200 ann admin", "the regenerate succeeds");
    assert.equal(await jar.text(`${base}/`), "ann admin");
  }, onError);
}

Deno.test("MemorySessionStorage: regenerate() racing a renewal by a read-only request succeeds", async () => {
  await check(new MemorySessionStorage());
});

Deno.test("KvSessionStorage: regenerate() racing a renewal by a read-only request succeeds", async () => {
  await withKv((kv) => check(new KvSessionStorage(kv)));
});
