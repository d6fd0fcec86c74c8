import assert from "node:assert/strict";
import { sealData } from "npm:iron-session@8.0.4";
import {
  cookieTransport,
  encrypt,
  fallback,
  fromIronSession,
  iron,
  sessions,
} from "../../lib/cookie/mod.ts";
import { CookieJar, randomKey, withServer } from "./_helpers.ts";

const PASSWORD = "an iron-session password of at least 32 characters";
const NAME = "myapp_session";

Deno.test("a user logged in by iron-session stays logged in and is re-sealed by tessera", async () => {
  const withSession = sessions<{ user: string; visits: number }>({
    transport: cookieTransport({ name: NAME }),
    transformer: fallback(encrypt({ key: randomKey() }), iron({ password: PASSWORD }), {
      upgrade: fromIronSession(),
    }),
  });
  const handler = withSession((_req, _info, session) => {
    const visits = session.update("visits", (n = 0) => n + 1);
    return new Response(`${session.get("user") ?? "anonymous"} ${visits} ${session.reason ?? "-"}`);
  });
  await withServer(handler, async (base) => {
    const jar = new CookieJar();
    // The cookie iron-session would have set.
    jar.cookies.set(NAME, await sealData({ user: "ann", visits: 4 }, { password: PASSWORD }));
    assert.ok(jar.cookies.get(NAME)!.startsWith("Fe26.2*"));
    assert.equal(await jar.text(`${base}/`), "ann 5 -");
    // Re-sealed in tessera's AES-GCM format on that very response.
    assert.ok(jar.cookies.get(NAME)!.startsWith("t1.e."));
    assert.equal(await jar.text(`${base}/`), "ann 6 -");
  });
});

Deno.test("fromIronSession() refuses anything but a JSON object", () => {
  const upgrade = fromIronSession({ now: () => 1000 });
  assert.equal(upgrade("[1,2]"), null);
  assert.equal(upgrade("42"), null);
  assert.equal(upgrade("not json"), null);
  assert.equal(upgrade("null"), null);
  const envelope = JSON.parse(upgrade('{"user":"ann"}')!);
  assert.deepEqual(Object.values(envelope).includes(1000), true);
  assert.throws(() => fromIronSession({ maxAge: 0 }), RangeError);
});

Deno.test("a tampered iron-session cookie gives an empty session with a reason", async () => {
  const withSession = sessions<{ user: string }>({
    transport: cookieTransport({ name: NAME }),
    transformer: fallback(encrypt({ key: randomKey() }), iron({ password: PASSWORD }), {
      upgrade: fromIronSession(),
    }),
  });
  const handler = withSession((_req, _info, session) =>
    new Response(`${session.get("user") ?? "anonymous"} ${session.reason ?? "-"}`)
  );
  await withServer(handler, async (base) => {
    const jar = new CookieJar();
    const sealed = await sealData({ user: "ann" }, { password: PASSWORD });
    const i = sealed.indexOf("*", 10) + 3;
    jar.cookies.set(
      NAME,
      sealed.slice(0, i) + (sealed[i] === "A" ? "B" : "A") + sealed.slice(i + 1),
    );
    assert.equal(await jar.text(`${base}/`), "anonymous cookie_tampered");
  });
});
