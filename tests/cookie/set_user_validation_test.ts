// User ids are checked where they are passed (setUser, revokeUser, listSessions), with a
// TypeError that says what is wrong, never later when the response is sent.

import assert from "node:assert/strict";
import { MAX_USER_ID_LENGTH } from "../../lib/cookie/payload.ts";
import {
  encrypt,
  MemoryRevocationStore,
  MemorySessionStorage,
  Session,
  type SessionMiddleware,
  sessions,
} from "../../lib/cookie/mod.ts";
import { randomKey, withServer } from "./_helpers.ts";

type Data = { user: string };

/** `/login?user=` binds the user; `/everywhere?user=` and `/list?user=` act on one. */
function app(mw: SessionMiddleware<Data>): (req: Request, info: unknown) => Promise<Response> {
  return mw(async (req: Request, _info: unknown, session: Session<Data>) => {
    const url = new URL(req.url);
    const user = url.searchParams.get("user") ?? "";
    try {
      if (url.pathname === "/login") {
        session.setUser(user);
        session.set("user", user);
        return new Response(`hello ${user}`);
      }
      if (url.pathname === "/everywhere") {
        await mw.revokeUser(user);
        return new Response("revoked");
      }
      if (url.pathname === "/list") return Response.json(await mw.listSessions(user));
    } catch (err) {
      if (err instanceof TypeError) return new Response(err.message, { status: 400 });
      throw err;
    }
    return new Response(session.userId ?? "anonymous");
  });
}

/** Every 500 of the server is a failed assertion: nothing may escape as an internal error. */
function noInternalErrors(error: unknown): Response {
  return new Response(`unexpected: ${error}`, { status: 500 });
}

const BAD_IDS: [string, string, RegExp][] = [
  ["CR LF", "a\r\nb", /control characters .*U\+000D at index 1/],
  ["NUL", "a\0b", /control characters .*U\+0000 at index 1/],
  ["NEL (a C1 control)", "a\u0085b", /control characters .*U\+0085 at index 1/],
  ["CSI (a C1 control)", "\u009b31m", /control characters .*U\+009B at index 0/],
  ["a line separator", "a\u2028b", /line separators .*U\+2028 at index 1/],
  ["a paragraph separator", "ab\u2029", /line separators .*U\+2029 at index 2/],
  ["nothing", "", /must not be empty/],
  ["257 characters", "u".repeat(MAX_USER_ID_LENGTH + 1), /at most 256 characters, not 257/],
];

Deno.test("setUser() refuses a bad user id at the call, so the handler can answer 400", async () => {
  const options = [
    { storage: new MemorySessionStorage() },
    { transformer: encrypt({ key: randomKey() }) },
  ];
  for (const option of options) {
    await withServer(app(sessions<Data>(option)), async (base) => {
      for (const [what, id, message] of BAD_IDS) {
        const res = await fetch(`${base}/login?user=${encodeURIComponent(id)}`);
        assert.equal(res.status, 400, what);
        assert.match(await res.text(), message, what);
        assert.deepEqual(res.headers.getSetCookie(), [], `${what}: nothing was stored`);
      }
      const ok = await fetch(`${base}/login?user=${encodeURIComponent("ann@example.com")}`);
      assert.equal(await ok.text(), "hello ann@example.com");
      assert.equal(ok.headers.getSetCookie().length, 1);
    }, noInternalErrors);
  }
});

Deno.test("revokeUser() and listSessions() refuse a bad user id at the call", async () => {
  const options = [
    { storage: new MemorySessionStorage() },
    { transformer: encrypt({ key: randomKey() }), revocation: new MemoryRevocationStore() },
  ];
  for (const option of options) {
    const mw = sessions<Data>(option);
    await withServer(app(mw), async (base) => {
      for (const [what, id, message] of BAD_IDS) {
        const res = await fetch(`${base}/everywhere?user=${encodeURIComponent(id)}`);
        assert.equal(res.status, 400, `revokeUser: ${what}`);
        assert.match(await res.text(), message, `revokeUser: ${what}`);
        if (mw.mode === "client") continue; // client-side sessions cannot be listed at all
        const list = await fetch(`${base}/list?user=${encodeURIComponent(id)}`);
        assert.equal(list.status, 400, `listSessions: ${what}`);
        assert.match(await list.text(), message, `listSessions: ${what}`);
      }
      assert.equal(await (await fetch(`${base}/everywhere?user=ann`)).text(), "revoked");
    }, noInternalErrors);
  }
});

Deno.test("setUser() says what is wrong with each kind of bad id and leaves the session as it was", () => {
  const session = new Session();
  session.setUser("ann");
  const before = session.changed;
  for (const [what, id, message] of BAD_IDS) {
    assert.throws(() => session.setUser(id), { name: "TypeError", message }, what);
  }
  assert.throws(
    () => session.setUser("a\ud800b"),
    { name: "TypeError", message: /lone surrogate/ },
  );
  assert.throws(
    () => session.setUser(42 as unknown as string),
    { name: "TypeError", message: /must be a string/ },
  );
  assert.equal(session.userId, "ann");
  assert.equal(session.changed, before);
  session.setUser("u".repeat(MAX_USER_ID_LENGTH));
  session.setUser("Zoë 🦊 <zoe@example.com>");
  session.setUser(null);
  assert.equal(session.userId, null);
});

Deno.test("revocation stores refuse a bad user id with the same message as setUser()", async () => {
  const store = new MemoryRevocationStore();
  await assert.rejects(store.revoke("a\r\nb"), {
    name: "TypeError",
    message: /control characters .*U\+000D at index 1/,
  });
  await assert.rejects(store.revoke("a\u0085b"), { name: "TypeError" });
  assert.equal(await store.revoke("ann"), 1);
});
