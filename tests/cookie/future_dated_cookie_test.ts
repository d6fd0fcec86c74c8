// A session issued by a server whose clock runs ahead is refused beyond the allowed clock skew,
// so that it cannot outlive maxAge on the other servers.

import assert from "node:assert/strict";
import {
  checkPayload,
  decodePayload,
  DEFAULT_CLOCK_SKEW,
  encodePayload,
  toWire,
} from "../../lib/cookie/payload.ts";
import {
  encrypt,
  hmac,
  MemorySessionStorage,
  type Session,
  type SessionMiddleware,
  sessions,
  type SessionsOptions,
} from "../../lib/cookie/mod.ts";
import { CookieJar, DAY, HOUR, ManualClock, MINUTE, randomKey, withServer } from "./_helpers.ts";

type Data = { user: string };
const NAME = "__Host-session";

/** Logs in on `/login`; answers with the user (or "anonymous") and the refusal reason. */
function app(mw: SessionMiddleware<Data>): (req: Request, info: unknown) => Promise<Response> {
  return mw((req: Request, _info: unknown, session: Session<Data>) => {
    if (new URL(req.url).pathname === "/login") {
      session.regenerate();
      session.setUser("ann");
      session.set("user", "ann");
    }
    return new Response(session.get("user") ?? "anonymous", {
      headers: { "x-reason": session.reason ?? "" },
    });
  });
}

/** Two instances that share everything but their clocks; `ahead` runs `by` ms fast. */
function instances(
  by: number,
  options: SessionsOptions,
  readerOptions: Partial<SessionsOptions> = {},
): { ahead: SessionMiddleware<Data>; reader: SessionMiddleware<Data>; clock: ManualClock } {
  const clock = new ManualClock();
  const ahead = sessions<Data>({ ...options, now: () => clock.now() + by });
  const reader = sessions<Data>({ ...options, now: clock.now, ...readerOptions });
  return { ahead, reader, clock };
}

/** Logs in on the fast instance and visits the other one with the cookie it got. */
async function loginAheadThenVisit(
  ahead: SessionMiddleware<Data>,
  reader: SessionMiddleware<Data>,
): Promise<{ body: string; reason: string | null; cleared: boolean }> {
  const jar = new CookieJar();
  await withServer(app(ahead), async (base) => {
    assert.equal(await jar.text(`${base}/login`), "ann");
  });
  assert.ok(jar.cookies.has(NAME));
  let result!: { body: string; reason: string | null; cleared: boolean };
  await withServer(app(reader), async (base) => {
    const res = await jar.fetch(`${base}/whoami`);
    result = {
      body: await res.text(),
      reason: res.headers.get("x-reason"),
      cleared: res.headers.getSetCookie().some((c) => c.startsWith(`${NAME}=; Max-Age=0`)),
    };
  });
  return result;
}

Deno.test("a client-side cookie issued an hour ahead of the clock is refused as cookie_issued_in_future", async () => {
  const { ahead, reader } = instances(HOUR, { transformer: encrypt({ key: randomKey() }) });
  const seen = await loginAheadThenVisit(ahead, reader);
  assert.equal(seen.body, "anonymous");
  assert.equal(seen.reason, "cookie_issued_in_future");
  assert.ok(seen.cleared, "the future-dated cookie is cleared");
});

Deno.test("a future-dated cookie can no longer outlive maxAge on a server with the right clock", async () => {
  // A server 30 days fast mints a cookie; with maxAge 7 days it must never be accepted, whereas
  // before the check it would have stayed valid for 37 days on every other server.
  const { ahead, reader, clock } = instances(30 * DAY, {
    transformer: hmac({ key: randomKey() }),
    maxAge: 7 * 86_400,
  });
  const jar = new CookieJar();
  await withServer(app(ahead), async (base) => void await jar.text(`${base}/login`));
  await withServer(app(reader), async (base) => {
    for (const step of [0, 8 * DAY, 20 * DAY]) {
      clock.advance(step);
      const res = await fetch(`${base}/whoami`, { headers: { cookie: jar.header()! } });
      assert.equal(await res.text(), "anonymous", `${step / DAY} days later`);
      assert.equal(res.headers.get("x-reason"), "cookie_issued_in_future");
    }
  });
});

Deno.test("a cookie issued within the default 60 s skew is accepted, one ms beyond it is not", async () => {
  const key = randomKey();
  const within = instances(DEFAULT_CLOCK_SKEW, { transformer: encrypt({ key }) });
  const seen = await loginAheadThenVisit(within.ahead, within.reader);
  assert.deepEqual([seen.body, seen.reason], ["ann", ""]);

  const beyond = instances(DEFAULT_CLOCK_SKEW + 1, { transformer: encrypt({ key }) });
  const refused = await loginAheadThenVisit(beyond.ahead, beyond.reader);
  assert.deepEqual([refused.body, refused.reason], ["anonymous", "cookie_issued_in_future"]);
});

Deno.test("clockSkew configures how far ahead issued-at may be", async () => {
  const key = randomKey();
  const lenient = instances(HOUR / 2, { transformer: encrypt({ key }) }, { clockSkew: 3600 });
  const seen = await loginAheadThenVisit(lenient.ahead, lenient.reader);
  assert.deepEqual([seen.body, seen.reason], ["ann", ""]);

  const strict = instances(1, { transformer: encrypt({ key }) }, { clockSkew: 0 });
  const refused = await loginAheadThenVisit(strict.ahead, strict.reader);
  assert.deepEqual([refused.body, refused.reason], ["anonymous", "cookie_issued_in_future"]);
});

Deno.test("a server-side session written by an instance whose clock runs ahead is refused", async () => {
  const storage = new MemorySessionStorage();
  const { ahead, reader } = instances(HOUR, { storage });
  const seen = await loginAheadThenVisit(ahead, reader);
  assert.equal(seen.body, "anonymous");
  assert.equal(seen.reason, "cookie_issued_in_future");
  assert.ok(seen.cleared);
});

Deno.test("the clock skew check follows the injected clock, not the wall clock", async () => {
  // Both instances agree with each other, and both run a year ahead of the wall clock.
  const clock = new ManualClock();
  clock.time = Date.now() + 365 * DAY;
  for (
    const options of [
      { transformer: hmac({ key: randomKey() }), now: clock.now },
      { storage: new MemorySessionStorage(), now: clock.now },
    ]
  ) {
    const jar = new CookieJar();
    await withServer(app(sessions<Data>(options)), async (base) => {
      await jar.text(`${base}/login`);
      clock.advance(MINUTE);
      const res = await jar.fetch(`${base}/whoami`);
      assert.equal(await res.text(), "ann", res.headers.get("x-reason") ?? "");
    });
  }
});

Deno.test("decodePayload() and checkPayload() refuse issued-at beyond now plus the skew", () => {
  const now = 1_700_000_000_000;
  const payload = (issuedAt: number) => ({
    issuedAt,
    expiresAt: issuedAt + DAY,
    idleExpiresAt: issuedAt + HOUR,
    data: {},
  });
  const future = { ok: false, code: "cookie_issued_in_future" };
  assert.equal(decodePayload(encodePayload(payload(now + MINUTE)), now).ok, true);
  assert.deepEqual(decodePayload(encodePayload(payload(now + MINUTE + 1)), now), future);
  assert.deepEqual(checkPayload(toWire(payload(now + 1)), now, { clockSkew: 0 }), future);
  assert.equal(checkPayload(toWire(payload(now + DAY)), now, { clockSkew: Infinity }).ok, true);
  // The future check comes before expiry: a value both future-dated and idle-expired says so.
  const odd = { ...toWire(payload(now + HOUR)), idl: now - 1 };
  assert.deepEqual(checkPayload(odd, now), future);
});

Deno.test("a negative or non-numeric clockSkew is refused as a caller mistake", () => {
  const wire = toWire({ issuedAt: 0, expiresAt: 10, idleExpiresAt: 10, data: {} });
  assert.throws(() => checkPayload(wire, 0, { clockSkew: -1 }), RangeError);
  assert.throws(() => checkPayload(wire, 0, { clockSkew: NaN }), RangeError);
  assert.throws(() => decodePayload("{}", 0, { clockSkew: "60" as unknown as number }), RangeError);
  const transformer = hmac({ key: randomKey() });
  assert.throws(() => sessions({ transformer, clockSkew: -1 }), RangeError);
  assert.throws(() => sessions({ transformer, clockSkew: 1.5 }), RangeError);
  assert.throws(() => sessions({ transformer, clockSkew: Infinity }), RangeError);
  assert.equal(sessions({ transformer, clockSkew: 0 }).mode, "client");
});
