import assert from "node:assert/strict";
import {
  rebaseSession,
  Session,
  sessionContents,
  sessionStatus,
} from "../../lib/cookie/session.ts";
import type { SessionPayload } from "../../lib/cookie/payload.ts";

type Data = { count: number; name: string; list: string[] };

function payload(
  data: Record<string, unknown>,
  extra: Partial<SessionPayload> = {},
): SessionPayload {
  return { issuedAt: 0, expiresAt: 100, idleExpiresAt: 50, data, ...extra };
}

Deno.test("a new session is empty, unchanged and without reason", () => {
  const session = new Session<Data>();
  assert.equal(session.isNew, true);
  assert.equal(session.changed, false);
  assert.equal(session.reason, null);
  assert.equal(session.id, null);
  assert.equal(session.userId, null);
  assert.deepEqual(session.all(), {});
});

Deno.test("a session refused on read keeps the reason for the app to log", () => {
  const session = new Session<Data>({ reason: "cookie_tampered" });
  assert.equal(session.reason, "cookie_tampered");
  assert.equal(session.isNew, true);
});

Deno.test("get, set, has, delete, clear and all behave like a typed map of JSON copies", () => {
  const session = new Session<Data>({ payload: payload({ count: 1 }) });
  assert.equal(session.isNew, false);
  assert.equal(session.get("count"), 1);
  assert.equal(session.has("name"), false);
  session.set("name", "ann");
  const list = ["a"];
  session.set("list", list);
  list.push("b");
  assert.deepEqual(session.get("list"), ["a"], "set copies in");
  session.get("list")!.push("c");
  assert.deepEqual(session.get("list"), ["a"], "get copies out");
  assert.deepEqual(session.all(), { count: 1, name: "ann", list: ["a"] });
  assert.equal(session.delete("name"), true);
  assert.equal(session.delete("name"), false);
  session.set("count", undefined);
  assert.equal(session.has("count"), false);
  session.clear();
  assert.deepEqual(session.all(), {});
  assert.equal(session.changed, true);
});

Deno.test("set() refuses a value JSON cannot encode", () => {
  const session = new Session<{ n: number }>();
  assert.throws(() => session.set("n", 1n as unknown as number), TypeError);
  assert.equal(session.changed, false);
});

Deno.test("update() applies a function to the current value", () => {
  const session = new Session<Data>({ payload: payload({ count: 4 }) });
  assert.equal(session.update("count", (n = 0) => n + 1), 5);
  assert.equal(session.update("name", (s) => s ?? "new"), "new");
  assert.equal(session.update("name", () => undefined), undefined);
  assert.equal(session.has("name"), false);
});

Deno.test("flash values are invisible now and readable once later", () => {
  const first = new Session();
  first.flash("note", "saved");
  assert.equal(first.takeFlash("note"), undefined);
  const stored = sessionContents(first);
  assert.deepEqual(stored.flash, { note: "saved" });

  const second = new Session({ payload: payload({}, { flash: stored.flash }) });
  assert.equal(second.changed, false);
  assert.equal(second.takeFlash("note"), "saved");
  assert.equal(second.takeFlash("note"), undefined);
  assert.equal(second.changed, true, "taking a flash value must be written back");
  assert.deepEqual(sessionContents(second).flash, {});
  assert.throws(() => second.flash("bad", undefined as unknown as null), TypeError);
});

Deno.test("setUser() binds a user and refuses invalid user ids", () => {
  const session = new Session();
  session.setUser("ann");
  assert.equal(session.userId, "ann");
  assert.equal(sessionStatus(session).userChanged, true);
  assert.throws(() => session.setUser(""), TypeError);
  assert.throws(() => session.setUser("a\u0000b"), TypeError);
  assert.throws(() => session.setUser("x".repeat(257)), TypeError);
  session.setUser(null);
  assert.equal(session.userId, null);
});

Deno.test("regenerate() keeps the data and clears the id until the response is sent", () => {
  const session = new Session<Data>({ id: "old", payload: payload({ count: 2 }) });
  session.regenerate();
  assert.equal(session.id, null);
  assert.equal(session.get("count"), 2);
  assert.equal(session.changed, true);
  assert.equal(sessionStatus(session).regenerated, true);
});

Deno.test("destroy() drops everything, and later writes start a separate session", () => {
  const session = new Session<Data>({
    id: "old",
    payload: payload({ count: 2 }, { userId: "ann", flash: { a: 1 } }),
  });
  session.destroy();
  assert.deepEqual(session.all(), {});
  assert.equal(session.userId, null);
  assert.equal(session.takeFlash("a"), undefined);
  let status = sessionStatus(session);
  assert.equal(status.destroyed, true);
  assert.equal(status.changed, false);
  session.flash("note", "logged out");
  status = sessionStatus(session);
  assert.equal(status.changed, true);
  assert.deepEqual(sessionContents(session), {
    data: {},
    flash: { note: "logged out" },
    userId: undefined,
    persistent: undefined,
  });
});

Deno.test("rebase replays updates and blind writes on a newer version", () => {
  const session = new Session<Data>({ payload: payload({ count: 1, name: "a" }) });
  session.update("count", (n = 0) => n + 1);
  session.set("name", "mine");
  assert.equal(rebaseSession(session, payload({ count: 10, name: "theirs", list: ["x"] })), true);
  assert.deepEqual(session.all(), { count: 11, name: "mine", list: ["x"] });
});

Deno.test("rebase refuses when a key read by the request changed meanwhile", () => {
  const session = new Session<Data>({ payload: payload({ count: 1 }) });
  const n = session.get("count")!;
  session.set("count", n + 1);
  assert.equal(rebaseSession(session, payload({ count: 5 })), false);

  const reader = new Session<Data>({ payload: payload({ count: 1, name: "a" }) });
  reader.all();
  reader.set("list", []);
  assert.equal(rebaseSession(reader, payload({ count: 1, name: "b" })), false);
  assert.equal(rebaseSession(reader, payload({ count: 1, name: "a", list: ["z"] })), false);
});

Deno.test("rebase ignores reads of keys the request had already written", () => {
  const session = new Session<Data>({ payload: payload({ count: 1 }) });
  session.set("count", 7);
  assert.equal(session.get("count"), 7);
  assert.equal(rebaseSession(session, payload({ count: 3 })), true);
  assert.equal(session.get("count"), 7);
});
