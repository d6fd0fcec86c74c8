// An operator shortens maxAge: sessions issued under the longer setting end, and their tokens keep
// reading `cookie_expired` (never `cookie_revoked`, which would look like a logout) and leave the
// user's session list.

import assert from "node:assert/strict";
import {
  KvSessionStorage,
  MemorySessionStorage,
  sessions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { withKv } from "../_kv.ts";
import { ManualClock } from "./_helpers.ts";

async function check(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  const make = (maxAge: number) => sessions({ storage, now: clock.now, maxAge, idleTimeout: 3600 });
  const long = make(30 * 86_400);
  const login = await long((_req, _info, session) => {
    session.setUser("ann");
    return new Response("in");
  })(new Request("https://x.test/login"), {});
  const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;

  // Active for 3 hours under the old setting (renewals keep it within its 1 h idle window).
  const keepAlive = long((_req, _info, session) => new Response(session.userId ?? "-"));
  for (let i = 0; i < 4; i++) {
    clock.advance(45 * 60_000);
    const res = await keepAlive(new Request("https://x.test/", { headers: { cookie } }), {});
    assert.equal(await res.text(), "ann");
  }
  const short = make(2 * 3600);
  const visit = short((_req, _info, session) => new Response(String(session.reason)));
  const reasons: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await visit(new Request("https://x.test/", { headers: { cookie } }), {});
    reasons.push(await res.text());
  }
  assert.deepEqual(reasons, ["cookie_expired", "cookie_expired", "cookie_expired"]);
  assert.deepEqual(await short.listSessions("ann"), []);
}

Deno.test("MemorySessionStorage: a session ended by a shortened maxAge stays cookie_expired", async () => {
  await check(new MemorySessionStorage());
});

Deno.test("KvSessionStorage: a session ended by a shortened maxAge stays cookie_expired", async () => {
  await withKv((kv) => check(new KvSessionStorage(kv)));
});
