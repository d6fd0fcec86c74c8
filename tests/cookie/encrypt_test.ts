import assert from "node:assert/strict";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { hmac } from "../../lib/cookie/hmac.ts";
import { keyring } from "../../lib/cookie/keyring.ts";
import { MAX_SEALED_LENGTH } from "../../lib/cookie/compose.ts";
import { CookieError } from "../../lib/errors.ts";
import { fromBase64Url, toBase64Url } from "../../lib/crypto/_bytes.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";
import { countSubtle } from "./_helpers.ts";

const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
const VALUE = '{"user":"ada","roles":["admin"],"n":42}';
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function key(fill = 1): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

function mutate(value: string, i: number): string {
  const c = value[i]!;
  const next = c === "." ? "A" : B64URL[(B64URL.indexOf(c) + 1) % 64]!;
  return value.slice(0, i) + next + value.slice(i + 1);
}

Deno.test("encrypt() round-trips a value and writes a cookie-safe t1.e value", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.match(sealed, /^t1\.e\.0\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  assert.equal(await t.read(sealed, CONTEXT), VALUE);
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: VALUE, stale: false });
});

Deno.test("encrypt() hides the value", async () => {
  const sealed = await encrypt({ key: key() }).write(VALUE, CONTEXT);
  const bytes = fromBase64Url(sealed.split(".")[4]!)!;
  assert.equal(bytes.length, new TextEncoder().encode(VALUE).length + 16);
  assert.ok(!sealed.includes(toBase64Url(new TextEncoder().encode(VALUE)).slice(0, 8)));
  assert.ok(!new TextDecoder().decode(bytes).includes("admin"));
});

Deno.test("encrypt() draws a fresh 96-bit nonce for every write", async () => {
  const t = encrypt({ key: key() });
  const nonces = new Set<string>();
  const outputs = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const sealed = await t.write(VALUE, CONTEXT);
    const nonce = sealed.split(".")[3]!;
    assert.equal(fromBase64Url(nonce)!.length, 12);
    nonces.add(nonce);
    outputs.add(sealed);
  }
  assert.equal(nonces.size, 50);
  assert.equal(outputs.size, 50);
});

Deno.test("encrypt() round-trips an empty value and non-ASCII text", async () => {
  const t = encrypt({ key: key() });
  for (const value of ["", "ünïcødé ✓ 🍪", 'a;b, c="d"']) {
    assert.equal(await t.read(await t.write(value, CONTEXT), CONTEXT), value);
  }
});

Deno.test("encrypt() refuses a value moved to another cookie name", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const moved = { name: "__Host-other", purpose: "session" };
  assert.equal(await t.read(sealed, moved), null);
  assert.deepEqual(await t.inspect(sealed, moved), { ok: false, code: "cookie_tampered" });
});

Deno.test("encrypt() refuses a value moved to another purpose", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const moved = { name: "__Host-session", purpose: "flash" };
  assert.equal(await t.read(sealed, moved), null);
  assert.deepEqual(await t.inspect(sealed, moved), { ok: false, code: "cookie_tampered" });
});

Deno.test("encrypt() refuses a value decrypted under another key", async () => {
  const sealed = await encrypt({ key: key(1) }).write(VALUE, CONTEXT);
  assert.deepEqual(await encrypt({ key: key(2) }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("encrypt() refuses a value with a character changed at every position", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const pieces = sealed.split(".");
  const starts = pieces.map((_, i) => pieces.slice(0, i).join(".").length + (i > 0 ? 1 : 0));
  for (let i = 0; i < sealed.length; i++) {
    const bad = mutate(sealed, i);
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
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code: expected }, `position ${i}`);
  }
});

Deno.test("encrypt() refuses every truncation of a value", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const lastStart = sealed.lastIndexOf(".") + 1;
  for (let n = 0; n < sealed.length; n++) {
    const cut = sealed.slice(0, n);
    assert.equal(await t.read(cut, CONTEXT), null);
    let expected = "cookie_malformed";
    if (n >= lastStart) {
      const rest = fromBase64Url(cut.slice(lastStart));
      if (rest !== null && rest.length >= 16) expected = "cookie_tampered";
    }
    assert.deepEqual(await t.inspect(cut, CONTEXT), { ok: false, code: expected }, `${n}`);
  }
});

Deno.test("encrypt() refuses a wrong nonce length or a ciphertext shorter than a tag", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const [v, k, id, nonce, body] = sealed.split(".");
  const cases: [string, string][] = [
    [[v, k, id, nonce!.slice(0, 12), body].join("."), "cookie_malformed"],
    [[v, k, id, nonce + "AAAA", body].join("."), "cookie_malformed"],
    [[v, k, id, nonce, "A".repeat(20)].join("."), "cookie_malformed"],
    [[v, k, id, nonce, "A".repeat(22)].join("."), "cookie_tampered"],
    [[v, k, id, nonce, ""].join("."), "cookie_malformed"],
  ];
  for (const [bad, code] of cases) {
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code }, bad);
  }
});

Deno.test("encrypt() refuses an empty value, non-strings and extra pieces as malformed", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  for (const bad of ["", "t1.e", "t1.e.0", `${sealed}.`, `${sealed}.AA`, `x${sealed}`]) {
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code: "cookie_malformed" }, bad);
  }
  for (const bad of [null, undefined, 1, {}]) {
    assert.equal(await t.read(bad as unknown as string, CONTEXT), null);
  }
});

Deno.test("encrypt() refuses characters outside base64url as malformed", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const [v, k, id, nonce, body] = sealed.split(".");
  for (const c of ["+", "/", "=", " ", "ü", ",", '"']) {
    for (const bad of [[v, k, id, c + nonce!.slice(1), body], [v, k, id, nonce, body + c]]) {
      const text = bad.join(".");
      assert.equal(await t.read(text, CONTEXT), null);
      assert.deepEqual(await t.inspect(text, CONTEXT), { ok: false, code: "cookie_malformed" });
    }
  }
});

Deno.test("encrypt() reports another format version as unsupported", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect("t2" + sealed.slice(2), CONTEXT), {
    ok: false,
    code: "cookie_unsupported_version",
  });
  assert.deepEqual(await t.inspect("t9.x.y", CONTEXT), {
    ok: false,
    code: "cookie_unsupported_version",
  });
});

Deno.test("encrypt() refuses an hmac() value as malformed", async () => {
  const signed = await hmac({ key: key() }).write(VALUE, CONTEXT);
  assert.deepEqual(await encrypt({ key: key() }).inspect(signed, CONTEXT), {
    ok: false,
    code: "cookie_malformed",
  });
});

Deno.test("encrypt() refuses an oversized value before any crypto", async () => {
  const t = encrypt({ key: key() });
  const sealed = await t.write(VALUE, CONTEXT);
  const calls = await countSubtle(["decrypt", "encrypt", "importKey"], async () => {
    const huge = sealed + "A".repeat(MAX_SEALED_LENGTH);
    assert.equal(await t.read(huge, CONTEXT), null);
    assert.deepEqual(await t.inspect(huge, CONTEXT), { ok: false, code: "cookie_too_large" });
  });
  assert.equal(calls, 0);
});

Deno.test("encrypt() write throws cookie_too_large past its bound", async () => {
  await assert.rejects(
    encrypt({ key: key(), maxLength: 200 }).write("x".repeat(200), CONTEXT),
    (e: unknown) => e instanceof CookieError && e.code === "cookie_too_large",
  );
});

Deno.test("encrypt() decrypts under every key of a keyring and marks older keys stale", async () => {
  const old = encrypt({ key: keyring({ current: "2024", keys: { "2024": key(1) } }) });
  const t = encrypt({
    key: keyring({ current: "2025", keys: { "2024": key(1), "2025": key(2) } }),
  });
  const fromOld = await old.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect(fromOld, CONTEXT), { ok: true, value: VALUE, stale: true });
  const fresh = await t.write(VALUE, CONTEXT);
  assert.ok(fresh.startsWith("t1.e.2025."));
  assert.deepEqual(await t.inspect(fresh, CONTEXT), { ok: true, value: VALUE, stale: false });
  assert.deepEqual(await old.inspect(fresh, CONTEXT), { ok: false, code: "cookie_unknown_key" });
});

Deno.test("encrypt() binds the key id: relabelling a value to another held key fails", async () => {
  const t = encrypt({ key: keyring({ current: "a", keys: { a: key(5), b: key(5) } }) });
  const sealed = await t.write(VALUE, CONTEXT);
  assert.deepEqual(await t.inspect(sealed.replace(".a.", ".b."), CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("encrypt() accepts an AES-GCM CryptoKey and a decrypt-only old key", async () => {
  const current = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const oldRaw = key(9);
  const decryptOnly = await crypto.subtle.importKey(
    "raw",
    oldRaw as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    ["decrypt"],
  );
  const t = encrypt({ key: keyring({ current: "new", keys: { old: decryptOnly, new: current } }) });
  const old = await encrypt({ key: keyring({ current: "old", keys: { old: oldRaw } }) }).write(
    VALUE,
    CONTEXT,
  );
  assert.deepEqual(await t.inspect(old, CONTEXT), { ok: true, value: VALUE, stale: true });
  assert.equal(await t.read(await t.write(VALUE, CONTEXT), CONTEXT), VALUE);
});

Deno.test("encrypt() checks a CryptoKey's algorithm, length and usages when it is created", async () => {
  const hmacKey = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  const aes128 = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const cbc = await crypto.subtle.generateKey({ name: "AES-CBC", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const decryptOnly = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "decrypt",
  ]);
  assert.throws(() => encrypt({ key: hmacKey }), TypeError);
  assert.throws(() => encrypt({ key: aes128 }), RangeError);
  assert.throws(() => encrypt({ key: cbc }), TypeError);
  assert.throws(() => encrypt({ key: decryptOnly }), TypeError);
  assert.throws(() => encrypt({ key: new Uint8Array(16) }), RangeError);
  assert.throws(() => encrypt({ key: null as unknown as Uint8Array }), TypeError);
});

Deno.test("encrypt() imports its key once, not per request", async () => {
  const t = encrypt({ key: key() });
  const calls = await countSubtle(["importKey", "deriveKey", "deriveBits"], async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal(await t.read(await t.write(`v${i}`, CONTEXT), CONTEXT), `v${i}`);
    }
  });
  assert.equal(calls, 1);
});

Deno.test("encrypt() write refuses a string that is not well-formed UTF-16", async () => {
  await assert.rejects(encrypt({ key: key() }).write("\uDFFF", CONTEXT), TypeError);
});

Deno.test("encrypt() authenticates the documented binding as AES-GCM additional data", async () => {
  const raw = key(0x24);
  const sealed = await encrypt({ key: raw }).write("hello", { name: "sid", purpose: "auth" });
  const [, , , nonce, body] = sealed.split(".");
  const enc = new TextEncoder();
  const aad = new Uint8Array([
    ...enc.encode("tessera-cookie\0t1\0aes-256-gcm\0"),
    0,
    3,
    ...enc.encode("sid"),
    0,
    4,
    ...enc.encode("auth"),
    1,
    ...enc.encode("0"),
  ]);
  const k = await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "decrypt",
  ]);
  const plain = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: fromBase64Url(nonce!) as Uint8Array<ArrayBuffer>,
      additionalData: aad,
      tagLength: 128,
    },
    k,
    fromBase64Url(body!) as Uint8Array<ArrayBuffer>,
  );
  assert.equal(new TextDecoder().decode(plain), "hello");
});
