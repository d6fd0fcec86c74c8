// Errors at commit time (after the handler ran) reach the app as a CookieError with one of three
// documented codes, which the server's onError maps to 409, 413 and 503 as the README shows.

import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import {
  cookieTransport,
  encrypt,
  MemoryRevocationStore,
  MemorySessionStorage,
  type Session,
  type SessionMiddleware,
  sessions,
  type SessionStorage,
} from "../../lib/cookie/mod.ts";
import { CookieJar, randomKey, withServer } from "./_helpers.ts";

type Data = { count: number; blob: string };

/** The mapping of the README, recording what reached it. */
function mapper(): { onError: (error: unknown) => Response; seen: unknown[] } {
  const seen: unknown[] = [];
  const STATUS: Record<string, number> = {
    session_conflict: 409,
    cookie_too_large: 413,
    session_storage_failed: 503,
  };
  const onError = (error: unknown): Response => {
    seen.push(error);
    const status = error instanceof CookieError ? STATUS[error.code] ?? 500 : 500;
    return new Response(error instanceof CookieError ? error.code : "internal", { status });
  };
  return { onError, seen };
}

/** `/big?n=` stores n bytes, `/count` increments, `/slow` reads then writes after `gate`. */
function app(
  mw: SessionMiddleware<Data>,
  gate: Promise<void> = Promise.resolve(),
  entered: () => void = () => {},
): (req: Request, info: unknown) => Promise<Response> {
  return mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/big":
        session.set("blob", "x".repeat(Number(url.searchParams.get("n"))));
        return new Response("stored");
      case "/slow": {
        const n = session.get("count") ?? 0;
        entered();
        await gate;
        session.set("count", n + 1);
        return new Response(String(n + 1));
      }
      case "/throw":
        throw new RangeError("a bug in the handler");
      default:
        return new Response(String(session.update("count", (n = 0) => n + 1)));
    }
  });
}

/** A store that works until `failing` is set, then throws what a database driver would. */
class FlakyStorage implements SessionStorage {
  readonly #inner = new MemorySessionStorage();
  failing: "read" | "write" | null = null;
  read(id: string, now: number) {
    if (this.failing === "read") return Promise.reject(new Error("connection refused"));
    return this.#inner.read(id, now);
  }
  write(...args: Parameters<SessionStorage["write"]>) {
    if (this.failing === "write") return Promise.reject(new Error("connection refused"));
    return this.#inner.write(...args);
  }
  delete(id: string) {
    return this.#inner.delete(id);
  }
  listByUser(userId: string, now: number) {
    return this.#inner.listByUser(userId, now);
  }
  deleteByUser(userId: string) {
    return this.#inner.deleteByUser(userId);
  }
}

Deno.test("a session over the cookie budget reaches onError as cookie_too_large and maps to 413", async () => {
  const { onError, seen } = mapper();
  const mw = sessions<Data>({
    transformer: encrypt({ key: randomKey() }),
    transport: cookieTransport({ maxChunks: 1 }),
  });
  await withServer(app(mw), async (base) => {
    const res = await fetch(`${base}/big?n=9000`);
    assert.equal(res.status, 413);
    assert.equal(await res.text(), "cookie_too_large");
    assert.deepEqual(res.headers.getSetCookie(), []);
  }, onError);
  assert.equal(seen.length, 1);
});

Deno.test("a session over the store's limit maps to 413 too", async () => {
  const { onError } = mapper();
  const mw = sessions<Data>({ storage: new MemorySessionStorage(), anonymous: "store" });
  await withServer(app(mw), async (base) => {
    const res = await fetch(`${base}/big?n=70000`);
    assert.equal(res.status, 413);
    assert.equal(await res.text(), "cookie_too_large");
  }, onError);
});

Deno.test("a concurrent write to data the request read reaches onError as session_conflict and maps to 409", async () => {
  const { onError } = mapper();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let entered!: () => void;
  const slowLoaded = new Promise<void>((resolve) => entered = resolve);
  const mw = sessions<Data>({ storage: new MemorySessionStorage(), anonymous: "store" });
  await withServer(app(mw, gate, entered), async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/count`), "1");
    const slow = jar.fetch(`${base}/slow`);
    await slowLoaded;
    assert.equal(await jar.text(`${base}/count`), "2");
    release();
    const res = await slow;
    assert.equal(res.status, 409);
    assert.equal(await res.text(), "session_conflict");
    assert.equal(await jar.text(`${base}/count`), "3", "the other request's write stands");
  }, onError);
});

Deno.test("a failing custom store reaches onError as session_storage_failed with its error as cause", async () => {
  const { onError, seen } = mapper();
  const storage = new FlakyStorage();
  const mw = sessions<Data>({ storage, anonymous: "store" });
  await withServer(app(mw), async (base) => {
    const jar = new CookieJar();
    assert.equal(await jar.text(`${base}/count`), "1");
    storage.failing = "write";
    const write = await jar.fetch(`${base}/count`);
    assert.equal(write.status, 503);
    assert.equal(await write.text(), "session_storage_failed");
    storage.failing = "read";
    const read = await jar.fetch(`${base}/count`);
    assert.equal(read.status, 503);
    await read.body?.cancel();
    storage.failing = null;
    assert.equal(await jar.text(`${base}/count`), "2", "the failed write changed nothing");
  }, onError);
  assert.equal(seen.length, 2);
  for (const error of seen) {
    assert.ok(error instanceof CookieError);
    assert.equal(error.code, "session_storage_failed");
    assert.equal((error.cause as Error).message, "connection refused");
  }
});

Deno.test("a failing revocation store reaches onError as session_storage_failed", async () => {
  const { onError } = mapper();
  const revocation = new MemoryRevocationStore();
  revocation.epoch = () => Promise.reject(new Error("timeout"));
  const mw = sessions<Data>({ transformer: encrypt({ key: randomKey() }), revocation });
  const handler = mw((_req: Request, _info: unknown, session: Session<Data>) => {
    session.setUser("ann");
    return new Response("ok");
  });
  await withServer(handler, async (base) => {
    const res = await fetch(base);
    assert.equal(res.status, 503);
    await res.body?.cancel();
  }, onError);
});

Deno.test("an error of the handler itself passes through untouched", async () => {
  const { onError, seen } = mapper();
  const mw = sessions<Data>({ storage: new MemorySessionStorage() });
  await withServer(app(mw), async (base) => {
    const res = await fetch(`${base}/throw`);
    assert.equal(res.status, 500);
    await res.body?.cancel();
  }, onError);
  assert.ok(seen[0] instanceof RangeError);
});

Deno.test("the body of a response that cannot be sent is cancelled", async () => {
  let cancelled = false;
  const mw = sessions<Data>({
    transformer: encrypt({ key: randomKey() }),
    transport: cookieTransport({ maxChunks: 1 }),
  });
  const handler = mw((_req: Request, _info: unknown, session: Session<Data>) => {
    session.set("blob", "x".repeat(9000));
    const body = new ReadableStream({
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body);
  });
  await assert.rejects(
    handler(new Request("https://x/"), {}),
    (err) => err instanceof CookieError && err.code === "cookie_too_large",
  );
  await Promise.resolve();
  assert.ok(cancelled);
});
