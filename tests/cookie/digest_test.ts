import assert from "node:assert/strict";
import { digest } from "../../lib/cookie/digest.ts";
import { MAX_SEALED_LENGTH } from "../../lib/cookie/compose.ts";
import { fromBase64Url, toBase64Url } from "../../lib/crypto/_bytes.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "prefs", purpose: "ui" };
const VALUE = '{"theme":"dark","lang":"fr"}';
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function mutate(value: string, i: number): string {
  const c = value[i]!;
  const next = c === "." ? "A" : B64URL[(B64URL.indexOf(c) + 1) % 64]!;
  return value.slice(0, i) + next + value.slice(i + 1);
}

Deno.test("digest() round-trips a value and writes a cookie-safe t1.d value", async () => {
  const t = digest();
  const value = await t.write(VALUE, CONTEXT);
  assert.match(value, /^t1\.d\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.equal(await t.read(value, CONTEXT), VALUE);
  assert.deepEqual(await t.inspect(value, CONTEXT), { ok: true, value: VALUE, stale: false });
  assert.equal(await t.read(await t.write("", CONTEXT), CONTEXT), "");
});

Deno.test("digest() detects an accidental change at every position", async () => {
  const t = digest();
  const value = await t.write(VALUE, CONTEXT);
  const pieces = value.split(".");
  const starts = pieces.map((_, i) => pieces.slice(0, i).join(".").length + (i > 0 ? 1 : 0));
  for (let i = 0; i < value.length; i++) {
    const bad = mutate(value, i);
    assert.equal(await t.read(bad, CONTEXT), null, `position ${i}`);
    let expected: string;
    const piece = starts.findLastIndex((s) => s <= i);
    if (value[i] === ".") expected = "cookie_malformed";
    else if (piece === 0) expected = i === 1 ? "cookie_unsupported_version" : "cookie_malformed";
    else if (piece === 1) expected = "cookie_malformed";
    else {
      expected = fromBase64Url(bad.split(".")[piece]!) === null
        ? "cookie_malformed"
        : "cookie_tampered";
    }
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code: expected }, `position ${i}`);
  }
});

Deno.test("digest() refuses every truncation of a value as malformed", async () => {
  const t = digest();
  const value = await t.write(VALUE, CONTEXT);
  for (let n = 0; n < value.length; n++) {
    assert.deepEqual(await t.inspect(value.slice(0, n), CONTEXT), {
      ok: false,
      code: "cookie_malformed",
    });
  }
});

Deno.test("digest() refuses a value moved to another cookie name or purpose", async () => {
  const t = digest();
  const value = await t.write(VALUE, CONTEXT);
  for (const moved of [{ name: "other", purpose: "ui" }, { name: "prefs", purpose: "session" }]) {
    assert.equal(await t.read(value, moved), null);
    assert.deepEqual(await t.inspect(value, moved), { ok: false, code: "cookie_tampered" });
  }
});

Deno.test("digest() refuses a value written with another salt", async () => {
  const value = await digest({ salt: "app-a" }).write(VALUE, CONTEXT);
  assert.deepEqual(await digest({ salt: "app-b" }).inspect(value, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
  const bytes = await digest({ salt: new Uint8Array([1, 2, 3]) }).write(VALUE, CONTEXT);
  assert.equal(await digest({ salt: new Uint8Array([1, 2, 3]) }).read(bytes, CONTEXT), VALUE);
});

Deno.test("digest() does not stop forgery by anybody who knows the salt", async () => {
  // This is what the documentation says: digest() detects accidents, not attacks.
  const honest = digest({ salt: "public" });
  const forger = digest({ salt: "public" });
  const forged = await forger.write('{"admin":true}', CONTEXT);
  assert.equal(await honest.read(forged, CONTEXT), '{"admin":true}');
});

Deno.test("digest() refuses non-base64url characters, empty input and other versions", async () => {
  const t = digest();
  const value = await t.write(VALUE, CONTEXT);
  const [v, k, body, sum] = value.split(".");
  for (const c of ["+", "/", "=", " ", "\n"]) {
    assert.deepEqual(await t.inspect([v, k, c + body, sum].join("."), CONTEXT), {
      ok: false,
      code: "cookie_malformed",
    });
  }
  assert.deepEqual(await t.inspect("", CONTEXT), { ok: false, code: "cookie_malformed" });
  assert.deepEqual(await t.inspect("t3" + value.slice(2), CONTEXT), {
    ok: false,
    code: "cookie_unsupported_version",
  });
  assert.deepEqual(
    await t.inspect([v, k, body, toBase64Url(new Uint8Array(31))].join("."), CONTEXT),
    {
      ok: false,
      code: "cookie_malformed",
    },
  );
  assert.equal(await t.read(7 as unknown as string, CONTEXT), null);
});

Deno.test("digest() refuses an oversized value", async () => {
  const t = digest();
  const huge = (await t.write(VALUE, CONTEXT)) + "A".repeat(MAX_SEALED_LENGTH);
  assert.equal(await t.read(huge, CONTEXT), null);
  assert.deepEqual(await t.inspect(huge, CONTEXT), { ok: false, code: "cookie_too_large" });
});

Deno.test("digest() refuses a salt of the wrong type or length", () => {
  assert.throws(() => digest({ salt: 42 as unknown as string }), TypeError);
  assert.throws(() => digest({ salt: "x".repeat(1025) }), RangeError);
  assert.throws(() => digest({ maxLength: 0 }), RangeError);
});

Deno.test("digest() hashes the documented input: salt, version, kind, name, purpose, value", async () => {
  const value = await digest({ salt: "s" }).write("hello", { name: "sid", purpose: "auth" });
  const enc = new TextEncoder();
  const input = new Uint8Array([
    0,
    1,
    ...enc.encode("s"),
    ...enc.encode("tessera-cookie\0t1\0digest-sha256\0"),
    0,
    3,
    ...enc.encode("sid"),
    0,
    4,
    ...enc.encode("auth"),
    ...enc.encode("hello"),
  ]);
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  assert.equal(value, `t1.d.aGVsbG8.${toBase64Url(sum)}`);
});
