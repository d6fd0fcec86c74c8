// encrypt() remembers the sealed values it made or opened (a bounded set: the cookies of the
// sessions in use), so the cookie a server set opens without a cipher call when it comes back.
// The shortcut must answer exactly as the cipher would: only for the very string, only under
// the context and key it was sealed under, and only while that key is in the keyring.

import assert from "node:assert/strict";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { keyring } from "../../lib/cookie/keyring.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";
import { countSubtle } from "./_helpers.ts";

const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
const VALUE = '{"user":"ada","n":1}';
const key = (fill: number) => new Uint8Array(32).fill(fill);

Deno.test("a value encrypt() sealed opens again without a cipher call, to the same text", async () => {
  const t = encrypt({ key: key(1) });
  const sealed = await t.write(VALUE, CONTEXT);
  const calls = await countSubtle(["decrypt", "importKey"], async () => {
    assert.equal(await t.read(sealed, CONTEXT), VALUE);
    assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: VALUE, stale: false });
  });
  assert.equal(calls, 0);
});

Deno.test("a value opened once by another instance with the same key opens again without a cipher call", async () => {
  const sealed = await encrypt({ key: key(1) }).write(VALUE, CONTEXT);
  const t = encrypt({ key: key(1) });
  assert.equal(
    await countSubtle(["decrypt"], async () => {
      assert.equal(await t.read(sealed, CONTEXT), VALUE);
    }),
    1,
  );
  assert.equal(
    await countSubtle(["decrypt"], async () => {
      assert.equal(await t.read(sealed, CONTEXT), VALUE);
    }),
    0,
  );
});

Deno.test("a remembered value is still refused under another cookie name or purpose", async () => {
  const t = encrypt({ key: key(1) });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect(sealed, { ...CONTEXT, name: "other" }), {
    ok: false,
    code: "cookie_tampered",
  });
  assert.deepEqual(await t.inspect(sealed, { ...CONTEXT, purpose: "csrf" }), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("any change to a remembered value goes to the cipher and is refused", async () => {
  const t = encrypt({ key: key(1) });
  const sealed = await t.write(VALUE, CONTEXT);
  const last = sealed.at(-1) === "A" ? "B" : "A";
  for (const changed of [sealed.slice(0, -1) + last, sealed + "A", sealed.slice(0, -1)]) {
    const result = await t.inspect(changed, CONTEXT);
    assert.equal(result.ok, false, changed);
  }
});

Deno.test("a remembered value sealed under a retired key is refused as an unknown key", async () => {
  const ring = keyring({ current: "k1", keys: { k1: key(1) } });
  const t = encrypt({ key: ring });
  const sealed = await t.write(VALUE, CONTEXT);
  const next = encrypt({ key: keyring({ current: "k2", keys: { k2: key(2) } }) });
  assert.deepEqual(await next.inspect(sealed, CONTEXT), { ok: false, code: "cookie_unknown_key" });
});

Deno.test("the set of remembered values is bounded: the last 512 stay, older ones go back to the cipher", async () => {
  const t = encrypt({ key: key(1) });
  const first = await t.write(VALUE, CONTEXT);
  const recent: string[] = [];
  for (let i = 0; i < 1024; i++) recent.push(await t.write(`{"n":${i}}`, CONTEXT));
  assert.equal(
    await countSubtle(["decrypt"], async () => {
      assert.equal(await t.read(first, CONTEXT), VALUE);
    }),
    1,
  );
  assert.equal(
    await countSubtle(["decrypt"], async () => {
      for (const [i, value] of recent.slice(-511).entries()) {
        assert.equal(await t.read(value, CONTEXT), `{"n":${1024 - 511 + i}}`);
      }
    }),
    0,
  );
});

Deno.test("a value longer than a cookie is not remembered: it opens through the cipher every time", async () => {
  const t = encrypt({ key: key(1) });
  const long = JSON.stringify({ note: "x".repeat(4000) });
  const sealed = await t.write(long, CONTEXT);
  assert.ok(sealed.length > 4096);
  for (let i = 0; i < 2; i++) {
    assert.equal(
      await countSubtle(["decrypt"], async () => {
        assert.equal(await t.read(sealed, CONTEXT), long);
      }),
      1,
    );
  }
});
