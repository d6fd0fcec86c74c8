// Session data is JSON: the types refuse what would not come back as it went in (a Date would
// come back a string), and set(), update() and flash() refuse it at run time, naming where.

import assert from "node:assert/strict";
import { type JsonSafe, Session, sessions } from "../../lib/cookie/mod.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { randomKey } from "./_helpers.ts";

// Type level: these lines must fail to compile (`deno check` runs over the tests).
// @ts-expect-error a Date would come back a string
new Session<{ when: Date }>();
// @ts-expect-error a Map would come back {}
new Session<{ seen: Map<string, number> }>();
// @ts-expect-error a bigint cannot be JSON at all
sessions<{ n: bigint }>({ transformer: encrypt({ key: randomKey() }) });
// @ts-expect-error nested too
new Session<{ cart: { items: { added: Date }[] } }>();
// These compile: interfaces, optional keys, nested arrays and objects, null.
interface Profile {
  name: string;
  tags?: string[];
  prefs: { theme: "dark" | "light"; sizes: number[][] };
  avatar: string | null;
}
new Session<Profile>();
const same: JsonSafe<Profile> = { name: "a", prefs: { theme: "dark", sizes: [[1]] }, avatar: null };

Deno.test("what comes out of a session is what went in", () => {
  const session = new Session<Profile>();
  const prefs = { theme: "light" as const, sizes: [[1, 2], [3]] };
  session.set("prefs", prefs);
  assert.deepEqual(session.get("prefs"), prefs);
  assert.deepEqual(same.prefs.sizes, [[1]]);
});

Deno.test("set() refuses values that would not survive JSON, naming where", () => {
  const session = new Session<Record<string, never>>();
  const cases: [unknown, RegExp][] = [
    [
      new Date(0),
      /^session value "v" is a Date, which would not come back as one \(store date\.toISOString\(\)/,
    ],
    [{ at: [1, { when: new Date(0) }] }, /^session value "v" at \.at\[1\]\.when is a Date/],
    [NaN, /is NaN, which JSON turns into null/],
    [[1, Infinity], /at \[1\] is Infinity/],
    [new Map(), /is a Map/],
    [new Set([1]), /is a Set/],
    [new Uint8Array(2), /is a Uint8Array/],
    [
      new (class Point {
        x = 1;
      })(),
      /is a Point/,
    ],
    [{ f: () => 1 }, /at \.f is a function/],
    [[1, undefined], /at \[1\] is undefined in an array/],
    [10n, /is a bigint/],
    [Symbol("s"), /is a symbol/],
    [{ [Symbol("k")]: 1 }, /has symbol keys/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => session.set("v", value as never), { name: "TypeError", message });
  }
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => session.set("v", cycle as never), /at \.self is a cycle/);
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  assert.throws(() => session.set("v", deep as never), /nests deeper than 64 levels/);
  assert.equal(session.changed, false, "nothing refused was stored");
  // Shared (not cyclic) references and undefined properties are fine.
  const shared = { a: 1 };
  session.set("v", { x: shared, y: shared, z: undefined } as never);
  assert.deepEqual(session.get("v"), { x: { a: 1 }, y: { a: 1 } });
  session.set("v", Object.assign(Object.create(null), { ok: true }) as never);
  assert.deepEqual(session.get("v"), { ok: true });
});

Deno.test("update() and flash() check the same way", () => {
  const session = new Session<{ when: string }>();
  assert.throws(
    () => session.update("when", () => new Date() as unknown as string),
    /session value "when" is a Date/,
  );
  assert.equal(session.get("when"), undefined);
  assert.throws(() => session.flash("note", new Date() as never), /flash value "note" is a Date/);
  assert.equal(session.changed, false);
});
