import assert from "node:assert/strict";
import { cookieDemo } from "../../examples/cookie_demo.ts";
import { startCookieLogin } from "../../examples/cookie_login.ts";
import { CookieJar } from "./_helpers.ts";

function form(fields: Record<string, string>, origin: string): RequestInit {
  return { method: "POST", body: new URLSearchParams(fields), headers: { origin } };
}

Deno.test("the cookie demo reports a login, a counter, a refused forgery and a logout", async () => {
  const lines = await cookieDemo();
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /^login: Set-Cookie __Host-session .*HttpOnly, SameSite=Lax\)$/);
  assert.equal(lines[1], "counter: 1, 2, 3 (the cookie is re-sealed on each change)");
  assert.equal(lines[2], 'unchanged request: "ann 3 -", 0 Set-Cookie headers');
  assert.match(lines[3]!, /"anonymous 0 cookie_tampered"/);
  assert.equal(lines[4], "logout: cookie deleted with Max-Age=0");
});

Deno.test("the login example logs in, counts, logs out everywhere and refuses foreign origins", async () => {
  const kv = await Deno.openKv(":memory:");
  const app = await startCookieLogin({ kv });
  try {
    const laptop = new CookieJar();
    const phone = new CookieJar();
    assert.match(await laptop.text(`${app.url}/`), /Log in/);
    for (const jar of [laptop, phone]) {
      const res = await jar.fetch(`${app.url}/login`, form({ user: "ann <b>" }, app.url));
      assert.equal(res.status, 303);
      await res.body?.cancel();
    }
    const home = await laptop.text(`${app.url}/`);
    assert.match(home, /Welcome, ann &#60;b&#62;\./);
    assert.match(home, /<b id="visits">0<\/b>/);
    await (await laptop.fetch(`${app.url}/count`, form({}, app.url))).body?.cancel();
    await (await laptop.fetch(`${app.url}/count`, form({}, app.url))).body?.cancel();
    assert.match(await laptop.text(`${app.url}/`), /<b id="visits">2<\/b>/);

    const foreign = await laptop.fetch(`${app.url}/logout`, form({}, "https://evil.example"));
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();

    await (await phone.fetch(`${app.url}/logout-everywhere`, form({}, app.url))).body?.cancel();
    assert.match(await phone.text(`${app.url}/`), /Logged out on every device\./);
    assert.match(await laptop.text(`${app.url}/`), /Log in/, "the other device is logged out");
  } finally {
    await app.stop();
    kv.close();
  }
});
