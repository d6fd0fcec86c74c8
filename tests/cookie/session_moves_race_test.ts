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
