// Bursts of parallel requests on one server-side session, as a browser sends them over HTTP/2:
// over real HTTP against Deno.serve, with Deno KV in memory and with MemorySessionStorage.
import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import {
  type JsonValue,
  KvSessionStorage,
  MemorySessionStorage,
  type Session,
  sessions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { CookieJar, ManualClock, MINUTE, withServer } from "./_helpers.ts";

type Data = Record<string, JsonValue> & { user: string; count: number };

const STATUS: Record<string, number> = {
  session_conflict: 409,
  cookie_too_large: 413,
  session_storage_failed: 503,
};

/** Maps commit errors to their documented status, with the code as body. */
function onError(error: unknown): Response {
  if (error instanceof CookieError) {
    return new Response(error.code, { status: STATUS[error.code] ?? 500 });
  }
  return new Response(String(error), { status: 500 });
}

/** How long each handler works (a database query, say), so that a burst overlaps. */
const WORK_MS = 10;

/**
 * An app: `/login` starts a session, `/count` increments a counter, `/view` only reads,
 * `/set?key=&value=` writes one key without reading it.
 */
function app(storage: SessionStorage, clock: ManualClock) {
  return sessions<Data>({ storage, now: clock.now, idleTimeout: 3600 })(
    async (req: Request, _info: unknown, session: Session<Data>) => {
      const url = new URL(req.url);
      await new Promise((resolve) => setTimeout(resolve, WORK_MS));
      switch (url.pathname) {
        case "/login":
          session.regenerate();
          session.setUser("ann");
          session.set("user", "ann");
          session.set("count", 0);
          return new Response("hello ann");
        case "/count":
          return new Response(String(session.update("count", (n = 0) => n + 1)));
        case "/set":
          session.set(url.searchParams.get("key")!, url.searchParams.get("value"));
          return new Response("stored");
        default:
          return new Response(`${session.get("user") ?? "anonymous"} ${session.get("count")}`);
      }
    },
  );
}

/** Sends all `paths` at once with the same cookie; returns each status and body. */
async function burst(
  base: string,
  cookie: string,
  paths: readonly string[],
): Promise<{ status: number; body: string }[]> {
  return await Promise.all(paths.map(async (path) => {
    const res = await fetch(`${base}${path}`, { headers: { cookie } });
    return { status: res.status, body: await res.text() };
  }));
}

function failures(results: readonly { status: number; body: string }[]): string[] {
  return results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`);
}

/** Runs `fn` against the app served over HTTP with a logged-in cookie jar. */
async function withApp(
  storage: SessionStorage,
  clock: ManualClock,
  fn: (base: string, jar: CookieJar) => Promise<void>,
): Promise<void> {
  await withServer(app(storage, clock), async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/login`), "hello ann");
    await fn(base, jar);
  }, onError);
}

async function fiftyIncrements(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  await withApp(storage, clock, async (base, jar) => {
    const results = await burst(base, jar.header()!, Array(50).fill("/count"));
    assert.deepEqual(failures(results), [], "every increment succeeds");
    const seen = results.map((r) => Number(r.body));
    assert.ok(seen.every((n) => n >= 1 && n <= 50), `counts seen: ${seen}`);
    assert.equal(await jar.text(`${base}/view`), "ann 50", "no increment was lost");
  });
}

async function hundredViewsWhileRenewalIsDue(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  await withApp(storage, clock, async (base, jar) => {
    clock.advance(40 * MINUTE); // less than half of the idle hour is left: renewal is due
    const results = await burst(base, jar.header()!, Array(100).fill("/view"));
    assert.deepEqual(failures(results), [], "every read-only request succeeds");
    assert.ok(results.every((r) => r.body === "ann 0"));
    clock.advance(40 * MINUTE); // 80 minutes after login: alive only if the burst renewed it
    assert.equal(await jar.text(`${base}/view`), "ann 0", "the session was renewed");
  });
}

async function viewsRacingUpdates(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  await withApp(storage, clock, async (base, jar) => {
    clock.advance(40 * MINUTE); // renewal is due, so the views write too
    const paths = Array.from({ length: 60 }, (_, i) => i % 6 === 0 ? "/count" : "/view");
    const results = await burst(base, jar.header()!, paths);
    assert.deepEqual(failures(results), [], "every view and every update succeeds");
    assert.equal(await jar.text(`${base}/view`), "ann 10", "all ten updates landed");
  });
}

async function fiftyDifferentKeys(storage: SessionStorage): Promise<void> {
  const clock = new ManualClock();
  await withApp(storage, clock, async (base, jar) => {
    const paths = Array.from({ length: 50 }, (_, i) => `/set?key=k${i}&value=v${i}`);
    const results = await burst(base, jar.header()!, paths);
    assert.deepEqual(failures(results), [], "every write succeeds");
    let found: Record<string, unknown> | undefined;
    const peek = sessions<Data>({ storage, now: clock.now, idleTimeout: 3600 })(
      (_req: Request, _info: unknown, session: Session<Data>) => {
        found = session.all();
        return new Response("ok");
      },
    );
    await peek(new Request(`${base}/`, { headers: { cookie: jar.header()! } }), {});
    for (let i = 0; i < 50; i++) assert.equal(found?.[`k${i}`], `v${i}`, `k${i} was lost`);
    assert.equal(found?.user, "ann");
    assert.equal(found?.count, 0);
  });
}

Deno.test("fifty parallel increments of one counter all succeed and the count ends at fifty", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await fiftyIncrements(new KvSessionStorage(kv));
  } finally {
    kv.close();
  }
});

Deno.test("a hundred parallel read-only requests all succeed while renewal is due", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await hundredViewsWhileRenewalIsDue(new KvSessionStorage(kv));
  } finally {
    kv.close();
  }
});

Deno.test("page views racing counter updates all succeed and every update lands", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await viewsRacingUpdates(new KvSessionStorage(kv));
  } finally {
    kv.close();
  }
});

Deno.test("fifty parallel writes of different keys all succeed and no key is lost", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await fiftyDifferentKeys(new KvSessionStorage(kv));
  } finally {
    kv.close();
  }
});

Deno.test("with MemorySessionStorage, parallel increments, views and writes all succeed and lose nothing", async () => {
  for (const run of [fiftyIncrements, hundredViewsWhileRenewalIsDue, viewsRacingUpdates]) {
    await run(new MemorySessionStorage());
  }
  await fiftyDifferentKeys(new MemorySessionStorage());
});
