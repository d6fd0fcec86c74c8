// Lifetimes are whole seconds, as Max-Age, iron-session's ttl and Hono count them; milliseconds
// passed by mistake and misspelt option names are refused at the call, saying what was meant.

import assert from "node:assert/strict";
import { encrypt, fromIronSession, honoSessions, sessions } from "../../lib/cookie/mod.ts";
import { ManualClock, randomKey } from "./_helpers.ts";

const transformer = encrypt({ key: randomKey() });

Deno.test("maxAge and idleTimeout are seconds: Max-Age says the same number", async () => {
  const clock = new ManualClock();
  const handler = sessions({ transformer, now: clock.now, maxAge: 3600, idleTimeout: 600 })(
    (_req, _info, session) => {
      session.set("n", 1);
      return new Response("ok");
    },
  );
  const res = await handler(new Request("https://x.test/"), {});
  assert.match(res.headers.getSetCookie()[0]!, /; Max-Age=3600;/);
  // 600 s idle: alive after 599 s, gone after 600 s.
  const cookie = res.headers.getSetCookie()[0]!.split(";")[0]!;
  const peek = sessions({ transformer, now: clock.now, maxAge: 3600, idleTimeout: 600 })(
    (_req, _info, session) => new Response(String(session.get("n") ?? "none")),
  );
  clock.advance(599_000);
  assert.equal(
    await (await peek(new Request("https://x.test/", { headers: { cookie } }), {})).text(),
    "1",
  );
  clock.advance(1_000);
  assert.equal(
    await (await peek(new Request("https://x.test/", { headers: { cookie } }), {})).text(),
    "none",
  );
});

Deno.test("the defaults are 7 days absolute, 24 hours idle, 60 s skew", async () => {
  const handler = sessions({ transformer })((_req, _info, session) => {
    session.set("n", 1);
    return new Response("ok");
  });
  const res = await handler(new Request("https://x.test/"), {});
  assert.match(res.headers.getSetCookie()[0]!, /; Max-Age=604800;/);
});

Deno.test("milliseconds passed as seconds are refused with a hint", () => {
  assert.throws(() => sessions({ transformer, maxAge: 7 * 24 * 3600 * 1000 }), {
    name: "RangeError",
    message:
      "maxAge is in seconds: an integer from 1 to 34560000, not 604800000 (milliseconds? 604800000 ms is 604800 s)",
  });
  assert.throws(
    () => sessions({ transformer, idleTimeout: 86_400_000 }),
    /idleTimeout is in seconds.*milliseconds\?/,
  );
  assert.throws(
    () => sessions({ transformer, clockSkew: 60_000 }),
    /clockSkew is in seconds.*milliseconds\?/,
  );
  assert.throws(() => fromIronSession({ maxAge: 604_800_000 }), /maxAge is in seconds/);
  assert.throws(
    () => honoSessions({ transformer, maxAge: 604_800_000 }),
    /maxAge is in seconds/,
  );
});

Deno.test("out-of-range and non-integer lifetimes name the range and the value", () => {
  assert.throws(() => sessions({ transformer, maxAge: 0 }), /from 1 to 34560000, not 0$/);
  assert.throws(() => sessions({ transformer, maxAge: 1.5 }), /not 1.5$/);
  assert.throws(
    () => sessions({ transformer, maxAge: "3600" as unknown as number }),
    /not string$/,
  );
  assert.throws(() => sessions({ transformer, maxAge: 401 * 86_400 }), RangeError);
  assert.throws(
    () => sessions({ transformer, maxAge: 60, idleTimeout: 61 }),
    /from 1 to 60, not 61/,
  );
  assert.throws(() => sessions({ transformer, clockSkew: -1 }), RangeError);
  assert.equal(sessions({ transformer, maxAge: 400 * 86_400 }).mode, "client");
  assert.equal(sessions({ transformer, maxAge: 60, idleTimeout: 60, clockSkew: 0 }).mode, "client");
});

Deno.test("unknown option names are refused, naming the option meant", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ timeout: 60 }, /sessions\(\) has no option "timeout" \(did you mean "idleTimeout"\?\)/],
    [{ ttl: 3600 }, /no option "ttl" \(did you mean "maxAge"\?\)/],
    [{ password: "x".repeat(32) }, /no option "password" \(did you mean "transformer"\?\)/],
    [{ cookieName: "sid" }, /did you mean "transport"/],
    [{ maxage: 60 }, /did you mean "maxAge"/],
    [{ idleTimout: 60 }, /did you mean "idleTimeout"/],
    [{ zzzzzz: 1 }, /^sessions\(\) has no option "zzzzzz"$/],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => sessions({ transformer, ...extra }), { name: "TypeError", message });
  }
  assert.throws(() => honoSessions({ transformer, ttl: 5 } as never), /did you mean "maxAge"/);
  assert.throws(() => fromIronSession({ ttl: 5 } as never), /did you mean "maxAge"/);
});
