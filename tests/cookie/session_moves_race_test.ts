// A request that moves a stored session to a new token (regenerate(), a login or a change of
// user) while another request ends or changes it must not bring it back or write a stale copy.

import assert from "node:assert/strict";
import { KvSessionStorage } from "../../lib/cookie/kv_storage.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import type { SessionStorage } from "../../lib/cookie/session_storage.ts";
import { sessions } from "../../lib/cookie/sessions.ts";

async function stores(): Promise<[string, SessionStorage, () => void][]> {
  const kv = await Deno.openKv(":memory:");
  return [
    ["memory", new MemorySessionStorage(), () => {}],
    ["kv", new KvSessionStorage(kv), () => kv.close()],
  ];
}

function app(storage: SessionStorage, gate: Promise<void>, entered: () => void) {
  const withSession = sessions<{ role?: string }>({ storage });
  const handler = withSession(async (req, _info, s) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") {
      s.setUser("ann");
      s.set("role", "admin");
    }
    if (path === "/sudo") {
      entered();
      await gate;
      s.regenerate();
    }
    if (path === "/switch") {
      entered();
      await gate;
      s.setUser("bob");
    }
    if (path === "/demote") s.set("role", "user");
    if (path === "/logout") s.destroy();
    return new Response(`${s.userId} ${s.get("role") ?? "-"}`);
  });
  const call = (path: string, cookie = "") =>
    handler(new Request("https://app.example" + path, { headers: { cookie } }), {});
  return { withSession, call };
}

function cookieOf(res: Response): string {
  return res.headers.getSetCookie()[0]!.split(";")[0]!;
}

Deno.test("regenerate() or a change of user racing a logout everywhere does not bring the session back", async () => {
  for (const [name, storage, close] of await stores()) {
    for (const path of ["/sudo", "/switch"]) {
      for (const ending of ["revokeUser", "logout"]) {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const { withSession, call } = app(storage, gate, entered);
        const cookie = cookieOf(await call("/login"));
        const moving = call(path, cookie).then((r) => r.status, (e) => e.code);
        await inside;
        if (ending === "revokeUser") await withSession.revokeUser("ann");
        else await call("/logout", cookie);
        release();
        assert.equal(await moving, "session_conflict", `${name} ${path} ${ending}`);
        assert.equal((await withSession.listSessions("ann")).length, 0, `${name} ${path}`);
        assert.equal((await withSession.listSessions("bob")).length, 0, `${name} ${path}`);
      }
    }
    close();
  }
});

Deno.test("regenerate() racing another request's change does not write a stale copy", async () => {
  for (const [name, storage, close] of await stores()) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const { call } = app(storage, gate, entered);
    const cookie = cookieOf(await call("/login"));
    const moving = call("/sudo", cookie).then((r) => r.status, (e) => e.code);
    await inside;
    assert.equal((await call("/demote", cookie)).status, 200);
    release();
    assert.equal(await moving, "session_conflict", name);
    assert.equal(await (await call("/", cookie)).text(), "ann user", name);
    close();
  }
});

Deno.test("switching users drops the previous user's data", async () => {
  const storage = new MemorySessionStorage();
  const withSession = sessions<{ note?: string }>({ storage });
  const handler = withSession((req, _info, s) => {
    const path = new URL(req.url).pathname;
    if (path === "/ann") {
      s.setUser("ann");
      s.set("note", "ann's private note");
    }
    if (path === "/bob") s.setUser("bob");
    return new Response(`${s.userId} ${s.get("note") ?? "-"}`);
  });
  const call = (path: string, cookie = "") =>
    handler(new Request("https://app.example" + path, { headers: { cookie } }), {});
  const annCookie = cookieOf(await call("/ann"));
  const bob = await call("/bob", annCookie);
  assert.equal(await bob.text(), "bob -");
  assert.equal(await (await call("/", cookieOf(bob))).text(), "bob -");
});

Deno.test("switching users through null, or with flash values pending, carries nothing over", async () => {
  const withSession = sessions<{ acct?: string }>({ storage: new MemorySessionStorage() });
  const handler = withSession((req, _info, s) => {
    const [, op, arg] = new URL(req.url).pathname.split("/");
    if (op === "login") s.setUser(arg!);
    if (op === "unbind") s.setUser(null);
    if (op === "unbind-login") {
      s.setUser(null);
      s.setUser(arg!);
    }
    if (op === "secret") {
      s.set("acct", "ALICE-DATA");
      s.flash("codes", "ALICE-CODES");
    }
    return Response.json({ user: s.userId, data: s.all(), flash: s.takeFlash("codes") ?? null });
  });
  for (const steps of [["/login/bob"], ["/unbind-login/bob"], ["/unbind", "/login/carol"]]) {
    let jar = "";
    const go = async (path: string) => {
      const res = await handler(
        new Request("https://app.example" + path, { headers: jar ? { cookie: jar } : {} }),
        {},
      );
      const set = res.headers.getSetCookie()[0];
      if (set) jar = set.split(";")[0]!;
      return res;
    };
    await go("/login/alice");
    await go("/secret");
    for (const step of steps) await go(step);
    const seen = await (await go("/")).json();
    assert.deepEqual(seen.data, {}, steps.join(" "));
    assert.equal(seen.flash, null, steps.join(" "));
  }
});

Deno.test("log out everywhere on KV catches a session regenerated while it was listing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const withSession = sessions({ storage: new KvSessionStorage(kv) });
    const handler = withSession((req, _info, s) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/login/")) s.setUser(path.slice(7));
      if (path === "/elevate") s.regenerate();
      return new Response(String(s.userId));
    });
    const call = (path: string, cookie = "") =>
      handler(new Request("https://app.example" + path, { headers: { cookie } }), {});
    let survived = 0;
    for (let trial = 0; trial < 10; trial++) {
      const user = `v${trial}`;
      for (let i = 0; i < 60; i++) await call(`/login/${user}`);
      const stolen = cookieOf(await call(`/login/${user}`));
      const revoking = withSession.revokeUser(user);
      const moved = await call("/elevate", stolen).catch((e) => e);
      await revoking;
      if (moved instanceof Response && moved.headers.getSetCookie().length > 0) {
        if ((await (await call("/", cookieOf(moved))).text()) === user) survived++;
      }
      assert.equal((await withSession.listSessions(user)).length, 0);
    }
    assert.equal(survived, 0);
  } finally {
    kv.close();
  }
});
