import assert from "node:assert/strict";
import { compose, inspectWith } from "../../lib/cookie/compose.ts";
import { digest } from "../../lib/cookie/digest.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { hmac } from "../../lib/cookie/hmac.ts";
import { keyring } from "../../lib/cookie/keyring.ts";
import type { SessionTransformer, TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
const VALUE = '{"user":"ada","n":42}';

function key(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

/** A custom transformer without inspect: wraps the value in a tag. */
function tag(label: string, log?: string[]): SessionTransformer {
  return {
    write(value) {
      log?.push(`write ${label}`);
      return Promise.resolve(`${label}(${value})`);
    },
    read(value) {
      log?.push(`read ${label}`);
      const prefix = `${label}(`;
      return Promise.resolve(
        value.startsWith(prefix) && value.endsWith(")") ? value.slice(prefix.length, -1) : null,
      );
    },
  };
}

Deno.test("compose() writes left to right and reads right to left", async () => {
  const log: string[] = [];
  const t = compose(tag("a", log), tag("b", log), tag("c", log));
  const out = await t.write("v", CONTEXT);
  assert.equal(out, "c(b(a(v)))");
  assert.equal(await t.read(out, CONTEXT), "v");
  assert.deepEqual(log, ["write a", "write b", "write c", "read c", "read b", "read a"]);
});

Deno.test("compose(hmac, encrypt) encrypts the signed value and reads it back", async () => {
  const t = compose(hmac({ key: key(1) }), encrypt({ key: key(2) }));
  const sealed = await t.write(VALUE, CONTEXT);
  assert.match(sealed, /^t1\.e\.0\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: VALUE, stale: false });
  const inner = await encrypt({ key: key(2) }).read(sealed, CONTEXT);
  assert.ok(inner!.startsWith("t1.m.0."));
});

Deno.test("compose() fails when the outer layer fails, with its code", async () => {
  const t = compose(hmac({ key: key(1) }), encrypt({ key: key(2) }));
  const sealed = await t.write(VALUE, CONTEXT);
  assert.equal(await t.read(sealed.slice(0, -3), CONTEXT), null);
  assert.deepEqual(await t.inspect(sealed, { name: "other", purpose: "session" }), {
    ok: false,
    code: "cookie_tampered",
  });
  assert.deepEqual(await t.inspect("t2.e.0.x.y", CONTEXT), {
    ok: false,
    code: "cookie_unsupported_version",
  });
});

Deno.test("compose() fails when an inner layer fails, even if the outer one passes", async () => {
  const writer = compose(hmac({ key: key(1) }), encrypt({ key: key(2) }));
  const reader = compose(hmac({ key: key(3) }), encrypt({ key: key(2) }));
  const sealed = await writer.write(VALUE, CONTEXT);
  assert.equal(await reader.read(sealed, CONTEXT), null);
  assert.deepEqual(await reader.inspect(sealed, CONTEXT), { ok: false, code: "cookie_tampered" });
  const noInner = await encrypt({ key: key(2) }).write("not signed", CONTEXT);
  assert.deepEqual(await reader.inspect(noInner, CONTEXT), { ok: false, code: "cookie_malformed" });
});

Deno.test("compose() reports stale when any layer was sealed under an old key", async () => {
  const oldRing = keyring({ current: "a", keys: { a: key(1) } });
  const newRing = keyring({ current: "b", keys: { a: key(1), b: key(4) } });
  const inner = compose(hmac({ key: oldRing }), encrypt({ key: key(2) }));
  const outer = compose(hmac({ key: key(3) }), encrypt({ key: oldRing }));
  const reader1 = compose(hmac({ key: newRing }), encrypt({ key: key(2) }));
  const reader2 = compose(hmac({ key: key(3) }), encrypt({ key: newRing }));
  assert.deepEqual(await reader1.inspect(await inner.write(VALUE, CONTEXT), CONTEXT), {
    ok: true,
    value: VALUE,
    stale: true,
  });
  assert.deepEqual(await reader2.inspect(await outer.write(VALUE, CONTEXT), CONTEXT), {
    ok: true,
    value: VALUE,
    stale: true,
  });
  assert.deepEqual(await reader2.inspect(await reader2.write(VALUE, CONTEXT), CONTEXT), {
    ok: true,
    value: VALUE,
    stale: false,
  });
});

Deno.test("compose() reports a custom layer's null as cookie_tampered", async () => {
  const t = compose(tag("a"), digest());
  const sealed = await t.write("v", CONTEXT);
  assert.equal(await t.read(sealed, CONTEXT), "v");
  const other = await digest().write("no tag", CONTEXT);
  assert.equal(await t.read(other, CONTEXT), null);
  assert.deepEqual(await t.inspect(other, CONTEXT), { ok: false, code: "cookie_tampered" });
});

Deno.test("compose() treats a layer that throws on read as a refusal", async () => {
  const throwing: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: () => {
      throw new SyntaxError("bad input");
    },
  };
  const rejecting: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: () => Promise.reject(new Error("bad input")),
  };
  for (const layer of [throwing, rejecting]) {
    const t = compose(digest(), layer);
    const sealed = await t.write("v", CONTEXT);
    assert.equal(await t.read(sealed, CONTEXT), null);
    assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: false, code: "cookie_tampered" });
  }
});

Deno.test("compose() lets a write failure of any layer propagate", async () => {
  const failing: SessionTransformer = {
    write: () => Promise.reject(new Error("storage down")),
    read: (v) => Promise.resolve(v),
  };
  await assert.rejects(compose(digest(), failing).write("v", CONTEXT), /storage down/);
});

Deno.test("compose() of one transformer behaves like that transformer", async () => {
  const t = compose(hmac({ key: key(1) }));
  const sealed = await t.write(VALUE, CONTEXT);
  assert.equal(sealed, await hmac({ key: key(1) }).write(VALUE, CONTEXT));
  assert.equal(await t.read(sealed, CONTEXT), VALUE);
});

Deno.test("compose() refuses no transformers or objects that are not transformers", () => {
  assert.throws(() => compose(), TypeError);
  assert.throws(() => compose({} as SessionTransformer), TypeError);
  assert.throws(() => compose(null as unknown as SessionTransformer), TypeError);
  assert.throws(
    () => compose({ write: () => Promise.resolve("") } as unknown as SessionTransformer),
    TypeError,
  );
});

Deno.test("compose() read throws for an invalid context, like the built-in layers", async () => {
  const t = compose(tag("a"));
  await assert.rejects(t.read("a(v)", { name: "", purpose: "session" }), RangeError);
  await assert.rejects(t.inspect("a(v)", null as unknown as TransformContext), TypeError);
});

Deno.test("inspectWith() normalises results of custom inspect implementations", async () => {
  const odd: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: (v) => Promise.resolve(v),
    inspect: () => Promise.resolve({ ok: "yes" } as never),
  };
  assert.deepEqual(await inspectWith(odd, "v", CONTEXT), { ok: false, code: "cookie_tampered" });
  const staleish: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: (v) => Promise.resolve(v),
    inspect: (v) => Promise.resolve({ ok: true, value: v, stale: "no" } as never),
  };
  assert.deepEqual(await inspectWith(staleish, "v", CONTEXT), {
    ok: true,
    value: "v",
    stale: false,
  });
  const unknownCode: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: () => Promise.resolve(null),
    inspect: () => Promise.resolve({ ok: false, code: "toString" } as never),
  };
  assert.deepEqual(await inspectWith(unknownCode, "v", CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
  const expired: SessionTransformer = {
    write: (v) => Promise.resolve(v),
    read: () => Promise.resolve(null),
    inspect: () => Promise.resolve({ ok: false, code: "cookie_expired" }),
  };
  assert.deepEqual(await inspectWith(expired, "v", CONTEXT), { ok: false, code: "cookie_expired" });
});
