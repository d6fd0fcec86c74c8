// After an operator shortens maxAge, the server ends sessions issued under the longer setting at
// issued-at + the new maxAge. What it writes for such a session afterwards must say the same: the
// cookie's Max-Age, the envelope's expiries and listSessions() must not reach past that end
// (a cookie kept for a week that the server refuses after the hour; a session list that shows a
// session as live after it ended). Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import type { JsonValue } from "../../lib/cookie/json_value.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import {
  type SessionMiddleware,
  sessions,
  type SessionsOptions,
} from "../../lib/cookie/sessions.ts";
import { CookieJar, ManualClock, MINUTE, randomKey, withServer } from "./_helpers.ts";

const HOUR_S = 3600;
const MONTH_S = 30 * 86_400;

/** A server whose maxAge the test changes, as a redeploy with a new setting would. */
function deployment(options: SessionsOptions, clock: ManualClock) {
  const make = (maxAge: number): SessionMiddleware<Record<string, JsonValue>> =>
    sessions({
      ...options,
      transport: cookieTransport({ name: "sid", secure: false }),
      now: clock.now,
      maxAge,
      idleTimeout: HOUR_S,
    });
  let mw = make(MONTH_S);
  const handler = (req: Request, info: Deno.ServeHandlerInfo) =>
    mw((req, _info, session) => {
      const path = new URL(req.url).pathname;
      if (path === "/login") session.setUser("ann");
      if (path === "/edit") session.set("n", 1);
      if (path === "/remember") session.setPersistent(true);
      return new Response(`${session.userId ?? "-"} ${session.reason ?? "-"}`);
    })(req, info);
  return {
    handler,
    redeploy: (maxAge: number) => mw = make(maxAge),
    mw: () => mw,
  };
}

function maxAgeOf(res: Response): number {
  const line = res.headers.getSetCookie().find((l) => !/Max-Age=0\b/.test(l));
  assert.ok(line, "a cookie was written");
  return Number(/Max-Age=(\d+)/.exec(line)![1]);
}

Deno.test("client-side: a cookie rewritten after maxAge was shortened lives no longer than the session", async () => {
  const clock = new ManualClock();
  const app = deployment({ transformer: encrypt({ key: randomKey() }) }, clock);
  await withServer(app.handler, async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/login`), "ann -");
    clock.advance(10 * MINUTE);
    app.redeploy(HOUR_S); // the session now ends 50 minutes from here
    const edit = await jar.fetch(`${base}/edit`);
    assert.equal(await edit.text(), "ann -");
    const left = HOUR_S - 10 * 60;
    assert.ok(maxAgeOf(edit) <= left, `Max-Age=${maxAgeOf(edit)}, the server ends it in ${left}`);
    clock.advance(left * 1000);
    assert.equal(await jar.text(`${base}/`), "- cookie_expired", "the server did end it");
  });
});

Deno.test("server-side: the cookie and the session list agree with the shortened maxAge", async () => {
  const clock = new ManualClock();
  const app = deployment({ storage: new MemorySessionStorage() }, clock);
  await withServer(app.handler, async (base) => {
    const jar = new CookieJar();
    const issuedAt = clock.time;
    assert.equal(await jar.text(`${base}/login`), "ann -");
    clock.advance(10 * MINUTE);
    app.redeploy(HOUR_S);
    const remember = await jar.fetch(`${base}/remember`); // a new cookie for the same token
    assert.equal(await remember.text(), "ann -");
    const left = HOUR_S - 10 * 60;
    assert.ok(maxAgeOf(remember) <= left, `Max-Age=${maxAgeOf(remember)}, the end is in ${left}`);
    const [listed] = await app.mw().listSessions("ann");
    assert.ok(listed, "still live");
    assert.ok(
      listed.expiresAt <= issuedAt + HOUR_S * 1000,
      `listed until ${(listed.expiresAt - issuedAt) / 1000} s after login; it ends at ${HOUR_S}`,
    );
  });
});
