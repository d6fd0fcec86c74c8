// What a server-side write does after losing its compare-and-set: renewals already done count as
// done, changes are replayed key by key, and what cannot be merged safely is session_conflict.
import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import {
  KvSessionStorage,
  MemorySessionStorage,
  type Session,
  sessions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { conflictBackoff } from "../../lib/cookie/_kv_retry.ts";
import { ManualClock, MINUTE } from "./_helpers.ts";

type Data = { user: string; count: number; note: string };

/** A latch: `wait` resolves once `open()` was called. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => open = resolve);
  return { wait, open };
}

function isConflict(error: unknown): boolean {
  return error instanceof CookieError && error.code === "session_conflict";
}

/** Counts the writes a store accepted. */
function counting(storage: SessionStorage): { storage: SessionStorage; writes: () => number } {
  let writes = 0;
  return {
    storage: {
      read: (id, now) => storage.read(id, now),
      write: async (id, payload, options) => {
        const version = await storage.write(id, payload, options);
        if (version !== null) writes++;
        return version;
      },
      delete: (id) => storage.delete(id),
      listByUser: (userId, now) => storage.listByUser(userId, now),
      deleteByUser: (userId) => storage.deleteByUser(userId),
    },
    writes: () => writes,
  };
}

/**
 * An app whose `/slow…` routes wait at `gate` after loading the session, so that another request
 * can write it first. `/login` binds ann, `/unbind` unbinds in place, `/logout` destroys.
 */
function app(storage: SessionStorage, clock: ManualClock) {
  const gate = latch();
  const entered = latch();
  const handler = sessions<Data>({ storage, now: clock.now, idleTimeout: 3600 })(
    async (req: Request, _info: unknown, session: Session<Data>) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/slow")) {
        entered.open();
        await gate.wait;
      }
      switch (path) {
        case "/login":
          session.regenerate();
          session.setUser("ann");
          session.set("user", "ann");
          break;
        case "/unbind":
          session.setUser(null);
          break;
        case "/logout":
          session.destroy();
          break;
        case "/count":
        case "/slow-count":
          session.update("count", (n = 0) => n + 1);
          break;
      }
      return new Response(`${session.get("user") ?? "anonymous"} ${session.get("count") ?? 0}`);
    },
  );
  const request = (path: string, cookie?: string): Request =>
    new Request(`https://example.com${path}`, { headers: cookie ? { cookie } : {} });
  const send = (path: string, cookie?: string) => handler(request(path, cookie), {});
  return { send, gate, entered };
}

function pairOf(response: Response): string {
  return response.headers.getSetCookie()[0]!.split(";")[0]!;
}

/** Runs `fn` with KV in memory, then with MemorySessionStorage. */
async function eachStorage(fn: (storage: SessionStorage) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(new KvSessionStorage(kv));
  } finally {
    kv.close();
  }
  await fn(new MemorySessionStorage());
}

Deno.test("a burst of read-only requests while renewal is due writes the session once", async () => {
  await eachStorage(async (inner) => {
    const clock = new ManualClock();
    const { storage, writes } = counting(inner);
    const { send, gate } = app(storage, clock);
    const cookie = pairOf(await send("/login"));
    const before = writes();
    clock.advance(40 * MINUTE);
    const views = Array.from({ length: 20 }, () => send("/slow-view", cookie));
    gate.open();
    for (const view of views) assert.equal(await (await view).text(), "ann 0");
    assert.equal(writes() - before, 1, "the renewal one request did is done for all");
  });
});

Deno.test("a read-only request racing a logout succeeds and does not bring the session back", async () => {
  await eachStorage(async (storage) => {
    const clock = new ManualClock();
    const { send, gate, entered } = app(storage, clock);
    const cookie = pairOf(await send("/login"));
    clock.advance(40 * MINUTE); // the view would renew
    const view = send("/slow-view", cookie);
    await entered.wait;
    await send("/logout", cookie);
    gate.open();
    const res = await view;
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.getSetCookie(), []);
    assert.equal(await (await send("/", cookie)).text(), "anonymous 0");
  });
});

Deno.test("an update racing a logout is session_conflict and does not bring the session back", async () => {
  await eachStorage(async (storage) => {
    const clock = new ManualClock();
    const { send, gate, entered } = app(storage, clock);
    const cookie = pairOf(await send("/login"));
    const update = send("/slow-count", cookie);
    await entered.wait;
    await send("/logout", cookie);
    gate.open();
    await assert.rejects(update, isConflict);
    assert.equal(await (await send("/", cookie)).text(), "anonymous 0");
  });
});

Deno.test("an update racing a change of the bound user is session_conflict", async () => {
  await eachStorage(async (storage) => {
    const clock = new ManualClock();
    const { send, gate, entered } = app(storage, clock);
    const cookie = pairOf(await send("/login"));
    const update = send("/slow-count", cookie);
    await entered.wait;
    assert.equal((await send("/unbind", cookie)).status, 200);
    gate.open();
    await assert.rejects(update, isConflict);
    // The update did not land; the unbinding did (it also dropped ann's data).
    assert.equal(await (await send("/", cookie)).text(), "anonymous 0", "the update did not land");
  });
});

Deno.test("an update racing another update lands on top of it", async () => {
  await eachStorage(async (storage) => {
    const clock = new ManualClock();
    const { send, gate, entered } = app(storage, clock);
    const cookie = pairOf(await send("/login"));
    const slow = send("/slow-count", cookie);
    await entered.wait;
    assert.equal(await (await send("/count", cookie)).text(), "ann 1");
    gate.open();
    assert.equal((await slow).status, 200);
    assert.equal(await (await send("/", cookie)).text(), "ann 2");
  });
});

Deno.test("maxConflictRetries is bounded, and with none a read-only request still never fails", async () => {
  const storage = new MemorySessionStorage();
  assert.throws(() => sessions({ storage, maxConflictRetries: 101 }), RangeError);
  assert.throws(() => sessions({ storage, maxConflictRetries: -1 }), RangeError);
  const clock = new ManualClock();
  const gate = latch();
  const handler = sessions<Data>({
    storage,
    now: clock.now,
    idleTimeout: 3600,
    maxConflictRetries: 0,
  })(
    async (req: Request, _info: unknown, session: Session<Data>) => {
      if (new URL(req.url).pathname === "/login") session.set("user", "ann");
      else await gate.wait;
      return new Response(session.get("user") ?? "anonymous");
    },
  );
  const cookie = pairOf(await handler(new Request("https://example.com/login"), {}));
  clock.advance(40 * MINUTE);
  const views = Array.from(
    { length: 10 },
    () => handler(new Request("https://example.com/", { headers: { cookie } }), {}),
  );
  gate.open();
  for (const view of views) assert.equal(await (await view).text(), "ann");
});

Deno.test("the backoff between conflict retries is capped", async () => {
  const start = performance.now();
  await conflictBackoff(60, () => 1); // 2 ms doubling 59 times, but at most 100 ms
  assert.ok(performance.now() - start < 1000);
});
