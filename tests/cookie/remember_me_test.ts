// Remember-me: each session chooses between a persistent cookie (Max-Age) and a browser-session
// cookie (none), and the choice sticks to the session across renewals, edits and login.

import assert from "node:assert/strict";
import {
  cookieTransport,
  encrypt,
  KvSessionStorage,
  MemorySessionStorage,
  type Session,
  sessions,
  type SessionsOptions,
} from "../../lib/cookie/mod.ts";
import { withKv } from "../_kv.ts";
import { CookieJar, HOUR, ManualClock, randomKey, withServer } from "./_helpers.ts";

type Data = { n: number; cart: string[] };

/** `/login?remember=on|off`, `/count`, `/remember?v=on|off`, `/cart`, `/logout`. */
function app(options: SessionsOptions) {
  return sessions<Data>(options)((req: Request, _info: unknown, session: Session<Data>) => {
    const url = new URL(req.url);
    const flag = (name: string) => url.searchParams.get(name) === "on";
    switch (url.pathname) {
      case "/login":
        session.setUser("ann");
        if (url.searchParams.has("remember")) session.setPersistent(flag("remember"));
        break;
      case "/count":
        session.update("n", (n = 0) => n + 1);
        break;
      case "/remember":
        session.setPersistent(flag("v"));
        break;
      case "/cart":
        session.update("cart", (c = []) => [...c, "tea"]);
        break;
      case "/logout":
        session.destroy();
        break;
    }
    return new Response(`${session.userId ?? "-"} ${session.persistent ?? "default"}`);
  });
}

/** The session cookie line of a response (not a clearing one). */
function cookieLine(res: Response): string | undefined {
  return res.headers.getSetCookie().find((line) => !/Max-Age=0\b/.test(line));
}

const MODES: [string, () => Promise<SessionsOptions> | SessionsOptions, boolean?][] = [
  ["client-side encrypt()", () => ({ transformer: encrypt({ key: randomKey() }) })],
  ["MemorySessionStorage", () => ({ storage: new MemorySessionStorage() })],
  ["KvSessionStorage", () => ({}), true],
];

for (const [mode, make, kv] of MODES) {
  Deno.test(`${mode}: a remembered login gets Max-Age, a browser-only one none, and it sticks`, async () => {
    const run = async (extra: SessionsOptions) => {
      const clock = new ManualClock();
      const options = { ...await make(), ...extra, now: clock.now, idleTimeout: 10 * 3600 };
      const isClient = options.storage === undefined;
      await withServer(app(options), async (base) => {
        const remembered = new CookieJar();
        const login = await remembered.fetch(`${base}/login?remember=on`);
        assert.equal(await login.text(), "ann true");
        assert.match(cookieLine(login)!, /; Max-Age=604800;/);

        const browserOnly = new CookieJar();
        const other = await browserOnly.fetch(`${base}/login?remember=off`);
        assert.equal(await other.text(), "ann false");
        assert.doesNotMatch(cookieLine(other)!, /Max-Age|Expires/i);

        // An edit, then a rolling renewal (6 h of a 10 h idle window later): same choice.
        // (Server-side, neither needs a new cookie: the token and its lifetime stay.)
        const edit = await browserOnly.fetch(`${base}/count`);
        await edit.body?.cancel();
        if (cookieLine(edit)) assert.doesNotMatch(cookieLine(edit)!, /Max-Age/);
        clock.advance(6 * HOUR);
        const renewal = await browserOnly.fetch(`${base}/`);
        assert.equal(await renewal.text(), "ann false");
        if (cookieLine(renewal)) assert.doesNotMatch(cookieLine(renewal)!, /Max-Age/);
        else assert.ok(!isClient, "client-side renewal rewrites the cookie");
        const kept = await remembered.fetch(`${base}/count`);
        await kept.body?.cancel();
        if (cookieLine(kept)) assert.match(cookieLine(kept)!, /; Max-Age=\d+;/);
        else assert.ok(!isClient, "client-side edits rewrite the cookie");
        assert.equal(await remembered.text(`${base}/`), "ann true");

        // Changing one's mind is a change: written at once.
        const opt = await browserOnly.fetch(`${base}/remember?v=on`);
        assert.equal(await opt.text(), "ann true");
        assert.match(cookieLine(opt)!, /; Max-Age=\d+;/);
        const back = await browserOnly.fetch(`${base}/remember?v=off`);
        assert.equal(await back.text(), "ann false");
        assert.doesNotMatch(cookieLine(back)!, /Max-Age/);
      });
    };
    if (kv) await withKv((db) => run({ storage: new KvSessionStorage(db) }));
    else await run({});
  });
}

Deno.test("without a choice the transport's default applies; the choice overrides it both ways", async () => {
  const key = randomKey();
  const handler = (persistent: boolean) =>
    app({ transformer: encrypt({ key }), transport: cookieTransport({ persistent }) });
  const line = async (persistent: boolean, query: string) =>
    cookieLine(await handler(persistent)(new Request(`https://x.test/login${query}`), {}))!;
  assert.match(await line(true, ""), /Max-Age=/);
  assert.doesNotMatch(await line(false, ""), /Max-Age=/);
  assert.doesNotMatch(await line(true, "?remember=off"), /Max-Age=/);
  assert.match(await line(false, "?remember=on"), /Max-Age=/);
});

Deno.test("an anonymous visitor's choice moves into the stored session on login", async () => {
  const storage = new MemorySessionStorage();
  await withServer(app({ storage }), async (base) => {
    const jar = new CookieJar();
    const cart = await jar.fetch(`${base}/cart`);
    await cart.body?.cancel();
    const choose = await jar.fetch(`${base}/remember?v=off`);
    assert.equal(await choose.text(), "- false");
    assert.doesNotMatch(cookieLine(choose)!, /Max-Age/);
    const login = await jar.fetch(`${base}/login`);
    assert.equal(await login.text(), "ann false");
    assert.doesNotMatch(cookieLine(login)!, /Max-Age/, "the stored session keeps the choice");
    assert.equal(await jar.text(`${base}/`), "ann false");
  });
});

Deno.test("logout forgets the choice, and clearing a browser-session cookie still expires it", async () => {
  await withServer(app({ storage: new MemorySessionStorage() }), async (base) => {
    const jar = new CookieJar();
    await jar.text(`${base}/login?remember=off`);
    const logout = await jar.fetch(`${base}/logout`);
    assert.equal(await logout.text(), "- default");
    assert.ok(logout.headers.getSetCookie().every((line) => /Max-Age=0\b/.test(line)));
    assert.equal(jar.cookies.size, 0);
  });
});

Deno.test("setPersistent() takes only a boolean", () => {
  const handler = sessions({ transformer: encrypt({ key: randomKey() }) })((_r, _i, session) => {
    assert.throws(() => session.setPersistent("yes" as unknown as boolean), TypeError);
    assert.equal(session.persistent, undefined);
    assert.equal(session.changed, false, "a refused call changes nothing");
    session.setPersistent(true);
    session.setPersistent(true);
    return new Response(String(session.changed));
  });
  return handler(new Request("https://x.test/"), {}).then(async (res) => {
    assert.equal(await res.text(), "true");
  });
});
