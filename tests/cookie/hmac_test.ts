import assert from "node:assert/strict";
import { hmac } from "../../lib/cookie/hmac.ts";
import { digest } from "../../lib/cookie/digest.ts";
import { keyring } from "../../lib/cookie/keyring.ts";
import { MAX_SEALED_LENGTH } from "../../lib/cookie/compose.ts";
import { CookieError } from "../../lib/errors.ts";
import { fromBase64Url, toBase64Url } from "../../lib/crypto/_bytes.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";
import { countSubtle } from "./_helpers.ts";

const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
const VALUE = '{"user":"ada","roles":["admin"],"n":42}';
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const COOKIE_SAFE = /^[A-Za-z0-9_.-]+$/;

function key(fill = 1): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

/** Replaces the character at `i` by another one of the base64url alphabet (or `A` for a dot). */
function mutate(value: string, i: number): string {
  const c = value[i]!;
  const next = c === "." ? "A" : B64URL[(B64URL.indexOf(c) + 1) % 64]!;
  return value.slice(0, i) + next + value.slice(i + 1);
}

/** Counts calls to the given `crypto.subtle` methods while `fn` runs. */
Deno.test("hmac() round-trips a value and writes a cookie-safe t1.m value", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.match(sealed, /^t1\.m\.0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.match(sealed, COOKIE_SAFE);
  assert.equal(await t.read(sealed, CONTEXT), VALUE);
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: VALUE, stale: false });
});

Deno.test("hmac() round-trips an empty value and non-ASCII text", async () => {
  const t = hmac({ key: key() });
  for (const value of ["", "ünïcødé ✓ 🍪", 'a;b, c="d"']) {
    const sealed = await t.write(value, CONTEXT);
    assert.match(sealed, /^t1\.m\.0\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{43}$/);
    assert.equal(await t.read(sealed, CONTEXT), value);
  }
});

Deno.test("hmac() is deterministic for one key, value and context", async () => {
  const t = hmac({ key: key() });
  assert.equal(await t.write(VALUE, CONTEXT), await t.write(VALUE, CONTEXT));
});

Deno.test("hmac() refuses a value moved to another cookie name", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const moved = { name: "__Host-other", purpose: "session" };
  assert.equal(await t.read(sealed, moved), null);
  assert.deepEqual(await t.inspect(sealed, moved), { ok: false, code: "cookie_tampered" });
});

Deno.test("hmac() refuses a value moved to another purpose", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const moved = { name: "__Host-session", purpose: "csrf" };
  assert.equal(await t.read(sealed, moved), null);
  assert.deepEqual(await t.inspect(sealed, moved), { ok: false, code: "cookie_tampered" });
});

Deno.test("hmac() keeps name and purpose apart when their concatenation is equal", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, { name: "ab", purpose: "c" });
  assert.deepEqual(await t.inspect(sealed, { name: "a", purpose: "bc" }), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("hmac() refuses a value checked under another key", async () => {
  const sealed = await hmac({ key: key(1) }).write(VALUE, CONTEXT);
  assert.deepEqual(await hmac({ key: key(2) }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("hmac() refuses a value with a character changed at every position", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const pieces = sealed.split(".");
  const starts = pieces.map((_, i) => pieces.slice(0, i).join(".").length + (i > 0 ? 1 : 0));
  for (let i = 0; i < sealed.length; i++) {
    const bad = mutate(sealed, i);
    const result = await t.inspect(bad, CONTEXT);
    assert.equal(await t.read(bad, CONTEXT), null, `position ${i}`);
    let expected: string;
    const piece = starts.findLastIndex((s) => s <= i);
    if (sealed[i] === ".") expected = "cookie_malformed";
    else if (piece === 0) expected = i === 1 ? "cookie_unsupported_version" : "cookie_malformed";
    else if (piece === 1) expected = "cookie_malformed";
    else if (piece === 2) expected = "cookie_unknown_key";
    else {
      const mutated = bad.split(".")[piece]!;
      expected = fromBase64Url(mutated) === null ? "cookie_malformed" : "cookie_tampered";
    }
    assert.deepEqual(result, { ok: false, code: expected }, `position ${i}`);
  }
});

Deno.test("hmac() refuses every truncation of a value as malformed", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  for (let n = 0; n < sealed.length; n++) {
    const cut = sealed.slice(0, n);
    assert.equal(await t.read(cut, CONTEXT), null);
    assert.deepEqual(
      await t.inspect(cut, CONTEXT),
      { ok: false, code: "cookie_malformed" },
      `${n}`,
    );
  }
});

Deno.test("hmac() refuses an empty value, non-strings and extra pieces as malformed", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  for (const bad of ["", ".", "t1", "t1.m", `${sealed}.`, `.${sealed}`, `${sealed}.AAAA`]) {
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code: "cookie_malformed" }, bad);
  }
  for (const bad of [null, undefined, 42, {}, ["t1"]]) {
    assert.equal(await t.read(bad as unknown as string, CONTEXT), null);
    assert.deepEqual(await t.inspect(bad as unknown as string, CONTEXT), {
      ok: false,
      code: "cookie_malformed",
    });
  }
});

Deno.test("hmac() refuses characters outside base64url as malformed", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const [v, k, id, body, mac] = sealed.split(".");
  for (const c of ["+", "/", "=", " ", "%", "é", "\u0000", ";"]) {
    for (const bad of [[v, k, id, c + body, mac], [v, k, id, body, mac!.slice(0, -1) + c]]) {
      const text = bad.join(".");
      assert.equal(await t.read(text, CONTEXT), null);
      assert.deepEqual(await t.inspect(text, CONTEXT), { ok: false, code: "cookie_malformed" });
    }
  }
  const padded = [v, k, id, body, mac + "="].join(".");
  assert.deepEqual(await t.inspect(padded, CONTEXT), { ok: false, code: "cookie_malformed" });
});

Deno.test("hmac() refuses a MAC of the wrong length as malformed", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const [v, k, id, body] = sealed.split(".");
  for (const mac of ["", "AAAA", "A".repeat(42) + "A", "A".repeat(64)]) {
    assert.deepEqual(await t.inspect([v, k, id, body, mac].join("."), CONTEXT), {
      ok: false,
      code: mac.length === 43 ? "cookie_tampered" : "cookie_malformed",
    });
  }
});

Deno.test("hmac() reports another format version as unsupported", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  for (const version of ["t0", "t2", "t10"]) {
    const bad = version + sealed.slice(2);
    assert.equal(await t.read(bad, CONTEXT), null);
    assert.deepEqual(await t.inspect(bad, CONTEXT), {
      ok: false,
      code: "cookie_unsupported_version",
    });
  }
  assert.deepEqual(await t.inspect("T1" + sealed.slice(2), CONTEXT), {
    ok: false,
    code: "cookie_malformed",
  });
});

Deno.test("hmac() refuses a digest() value as malformed", async () => {
  const value = await digest().write(VALUE, CONTEXT);
  assert.deepEqual(await hmac({ key: key() }).inspect(value, CONTEXT), {
    ok: false,
    code: "cookie_malformed",
  });
});

Deno.test("hmac() refuses an oversized value before any crypto", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const huge = sealed + "A".repeat(MAX_SEALED_LENGTH);
  const calls = await countSubtle(["verify", "sign", "importKey"], async () => {
    assert.equal(await t.read(huge, CONTEXT), null);
    assert.deepEqual(await t.inspect(huge, CONTEXT), { ok: false, code: "cookie_too_large" });
    assert.deepEqual(await t.inspect("x".repeat(MAX_SEALED_LENGTH + 1), CONTEXT), {
      ok: false,
      code: "cookie_too_large",
    });
  });
  assert.equal(calls, 0);
});

Deno.test("hmac() refuses malformed values before any crypto", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const calls = await countSubtle(["verify", "sign", "importKey"], async () => {
    assert.equal(await t.read(sealed.slice(0, -2), CONTEXT), null);
    assert.equal(await t.read(sealed.replace("t1.m.0.", "t1.m.9."), CONTEXT), null);
  });
  assert.equal(calls, 0);
});

Deno.test("hmac() honours a smaller maxLength on read and write", async () => {
  const t = hmac({ key: key(), maxLength: 100 });
  const sealed = await t.write("short", CONTEXT);
  assert.equal(await t.read(sealed, CONTEXT), "short");
  await assert.rejects(
    t.write("x".repeat(60), CONTEXT),
    (e: unknown) => e instanceof CookieError && e.code === "cookie_too_large",
  );
  const big = await hmac({ key: key() }).write("x".repeat(60), CONTEXT);
  assert.deepEqual(await t.inspect(big, CONTEXT), { ok: false, code: "cookie_too_large" });
});

Deno.test("hmac() write throws cookie_too_large past the default bound", async () => {
  await assert.rejects(
    hmac({ key: key() }).write("x".repeat(13000), CONTEXT),
    (e: unknown) => e instanceof CookieError && e.code === "cookie_too_large",
  );
});

Deno.test("hmac() seals with the current key of a keyring and marks older keys stale", async () => {
  const old = hmac({ key: keyring({ current: "k1", keys: { k1: key(1) } }) });
  const ring = keyring({ current: "k2", keys: { k1: key(1), k2: key(2) } });
  const t = hmac({ key: ring });
  const fromOld = await old.write(VALUE, CONTEXT);
  assert.ok(fromOld.startsWith("t1.m.k1."));
  assert.deepEqual(await t.inspect(fromOld, CONTEXT), { ok: true, value: VALUE, stale: true });
  assert.equal(await t.read(fromOld, CONTEXT), VALUE);
  const fresh = await t.write(VALUE, CONTEXT);
  assert.ok(fresh.startsWith("t1.m.k2."));
  assert.deepEqual(await t.inspect(fresh, CONTEXT), { ok: true, value: VALUE, stale: false });
});

Deno.test("hmac() reports a removed key id as cookie_unknown_key", async () => {
  const before = hmac({ key: keyring({ current: "k1", keys: { k1: key(1) } }) });
  const after = hmac({ key: keyring({ current: "k2", keys: { k2: key(2) } }) });
  const sealed = await before.write(VALUE, CONTEXT);
  assert.equal(await after.read(sealed, CONTEXT), null);
  assert.deepEqual(await after.inspect(sealed, CONTEXT), { ok: false, code: "cookie_unknown_key" });
});

Deno.test("hmac() looks key ids up exactly", async () => {
  const t = hmac({ key: keyring({ current: "ab", keys: { ab: key(1) } }) });
  const sealed = await t.write(VALUE, CONTEXT);
  for (const id of ["AB", "ab_", "a", "ab0", "constructor", "__proto__", "toString"]) {
    assert.deepEqual(await t.inspect(sealed.replace(".ab.", `.${id}.`), CONTEXT), {
      ok: false,
      code: "cookie_unknown_key",
    }, id);
  }
  assert.deepEqual(await t.inspect(sealed.replace(".ab.", ".a!b."), CONTEXT), {
    ok: false,
    code: "cookie_malformed",
  });
});

Deno.test("hmac() binds the key id: relabelling a value to another held key fails", async () => {
  const ring = keyring({ current: "a", keys: { a: key(1), b: key(1) } });
  const t = hmac({ key: ring });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect(sealed.replace(".a.", ".b."), CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("hmac() accepts an HMAC-SHA256 CryptoKey and a verify-only old key", async () => {
  const current = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  const oldRaw = key(7);
  const oldSigner = hmac({ key: oldRaw });
  const verifyOnly = await crypto.subtle.importKey(
    "raw",
    oldRaw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const t = hmac({ key: keyring({ current: "1", keys: { "0": verifyOnly, "1": current } }) });
  const old = await oldSigner.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect(old, CONTEXT), { ok: true, value: VALUE, stale: true });
  assert.equal(await t.read(await t.write(VALUE, CONTEXT), CONTEXT), VALUE);
});

Deno.test("hmac() checks a CryptoKey's algorithm and usages when it is created", async () => {
  const aes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const sha384 = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-384" }, false, [
    "sign",
    "verify",
  ]);
  const short = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(16),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  const verifyOnly = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(32),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  assert.throws(() => hmac({ key: aes }), TypeError);
  assert.throws(() => hmac({ key: sha384 }), TypeError);
  assert.throws(() => hmac({ key: short }), RangeError);
  assert.throws(() => hmac({ key: verifyOnly }), TypeError);
});

Deno.test("hmac() refuses raw keys that are not 32 bytes and keys of other types", () => {
  assert.throws(() => hmac({ key: new Uint8Array(31) }), RangeError);
  assert.throws(() => hmac({ key: new Uint8Array(33) }), RangeError);
  assert.throws(() => hmac({ key: new Uint8Array(0) }), RangeError);
  // A string is a password key now; a short one is refused for its length.
  assert.throws(() => hmac({ key: "a secret string" }), RangeError);
  assert.throws(() => hmac({ key: 42 as unknown as Uint8Array }), TypeError);
  assert.throws(() => hmac({ key: new ArrayBuffer(32) as unknown as Uint8Array }), TypeError);
  assert.throws(() => hmac(undefined as unknown as { key: Uint8Array }), TypeError);
  assert.throws(() => hmac({ key: key(), maxLength: 10 }), RangeError);
});

Deno.test("hmac() imports its key once, not per request", async () => {
  const t = hmac({ key: key() });
  const calls = await countSubtle(["importKey", "deriveKey", "deriveBits"], async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal(await t.read(await t.write(`v${i}`, CONTEXT), CONTEXT), `v${i}`);
    }
  });
  assert.equal(calls, 1);
});

Deno.test("hmac() keeps its own copy of a raw key", async () => {
  const raw = key(3);
  const t = hmac({ key: raw });
  const reference = await hmac({ key: key(3) }).write(VALUE, CONTEXT);
  raw.fill(0);
  assert.equal(await t.write(VALUE, CONTEXT), reference);
});

Deno.test("hmac() write refuses a string that is not well-formed UTF-16", async () => {
  await assert.rejects(hmac({ key: key() }).write("a\uD800b", CONTEXT), TypeError);
  await assert.rejects(hmac({ key: key() }).write(42 as unknown as string, CONTEXT), TypeError);
});

Deno.test("hmac() throws for a context that is not a valid name and purpose", async () => {
  const t = hmac({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  await assert.rejects(t.write(VALUE, { name: "", purpose: "session" }), RangeError);
  await assert.rejects(t.write(VALUE, { name: "x".repeat(1025), purpose: "s" }), RangeError);
  await assert.rejects(
    t.write(VALUE, { name: 1, purpose: "session" } as unknown as TransformContext),
    TypeError,
  );
  await assert.rejects(t.read(sealed, { name: "a\uDC00", purpose: "session" }), TypeError);
  await assert.rejects(t.read(sealed, null as unknown as TransformContext), TypeError);
});

Deno.test("hmac() MACs the documented binding: version, kind, name, purpose, key id, value", async () => {
  const raw = key(0x42);
  const sealed = await hmac({ key: raw }).write("hello", { name: "sid", purpose: "auth" });
  const enc = new TextEncoder();
  const input = new Uint8Array([
    ...enc.encode("tessera-cookie\0t1\0hmac-sha256\0"),
    0,
    3,
    ...enc.encode("sid"),
    0,
    4,
    ...enc.encode("auth"),
    1,
    ...enc.encode("0"),
    ...enc.encode("hello"),
  ]);
  const k = await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", k, input));
  assert.equal(sealed, `t1.m.0.aGVsbG8.${toBase64Url(mac)}`);
});
