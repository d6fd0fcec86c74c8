// With server-side storage and anonymous: "cookie" (the default), a session not bound to a user
// costs no storage: its data travels sealed in the cookie. A logged-in session unbound with
// setUser(null) is such a session, yet it stays stored as an anonymous record under the very
// token that was logged in: the store keeps it (and every later anonymous write to it) until its
// idle expiry, and the token the user logged in with keeps naming a live session after the
// user is gone. Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { sessions } from "../../lib/cookie/sessions.ts";
import { CookieJar, withServer } from "./_helpers.ts";

Deno.test("setUser(null) moves the session out of storage, as anonymous sessions live", async () => {
  const storage = new MemorySessionStorage();
  const handler = sessions<{ cart: string[] }>({
    storage,
    transport: cookieTransport({ name: "sid", secure: false }),
  })((req, _info, session) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") session.setUser("ann");
    if (path === "/unbind") session.setUser(null);
    if (path === "/add") session.update("cart", (cart = []) => [...cart, "tea"]);
    const cart = (session.get("cart") ?? []).join(",") || "-";
    return new Response(`${session.userId ?? "anonymous"} ${cart} ${session.reason ?? "-"}`);
  });
  await withServer(handler, async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/login`), "ann - -");
    const loggedIn = jar.header()!;
    assert.equal(storage.size, 1);

    assert.equal(await jar.text(`${base}/unbind`), "anonymous - -");
    assert.equal(await jar.text(`${base}/add`), "anonymous tea -", "the visitor carries on");
    assert.equal(await jar.text(`${base}/`), "anonymous tea -");
    assert.equal(storage.size, 0, "nothing stored for a visitor who is not logged in");

    const old = await fetch(`${base}/`, { headers: { cookie: loggedIn } });
    assert.equal(await old.text(), "anonymous - cookie_revoked", "the logged-in token is over");
  });
});
