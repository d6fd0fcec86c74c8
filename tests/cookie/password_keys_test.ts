import assert from "node:assert/strict";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { hmac } from "../../lib/cookie/hmac.ts";
import { keyring, MIN_KEY_PASSWORD_LENGTH, PASSWORD_KEY_LABELS } from "../../lib/cookie/keyring.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "sid", purpose: "session" };
const PASSWORD = "Zq8v1Lr0pX3mC7tY9wB2nK5sD4fH6jG0"; // 32 characters
const encoder = new TextEncoder();

/** HKDF-SHA256 as documented: ikm = UTF-8 password, empty salt, info = label, 32 bytes. */
async function hkdf(password: string, label: string): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey("raw", encoder.encode(password), "HKDF", false, [
    "deriveBits",
  ]);
  const params = {
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(0),
    info: encoder.encode(label),
  };
  return new Uint8Array(await crypto.subtle.deriveBits(params, base, 256));
}

Deno.test("a password of 32+ characters seals and opens with encrypt() and hmac()", async () => {
  assert.equal(PASSWORD.length, MIN_KEY_PASSWORD_LENGTH);
  for (const password of [PASSWORD, PASSWORD + " and some more characters"]) {
    const sealer = encrypt({ key: password });
    const sealed = await sealer.write('{"user":42}', CONTEXT);
    assert.ok(sealed.startsWith("t1.e.0."));
    assert.ok(!sealed.includes("user"));
    assert.deepEqual(await sealer.inspect(sealed, CONTEXT), {
      ok: true,
      value: '{"user":42}',
      stale: false,
    });
    const signer = hmac({ key: password });
    const signed = await signer.write("hi", CONTEXT);
    assert.ok(signed.startsWith("t1.m.0."));
    assert.equal(await signer.read(signed, CONTEXT), "hi");
    assert.equal(await signer.read(signed, { name: "other", purpose: "session" }), null);
  }
});

Deno.test("separate transformer instances with one password interoperate (same key)", async () => {
  // As two processes would: every instance derives the key on its own.
  const sealed = await encrypt({ key: PASSWORD }).write("hello", CONTEXT);
  assert.equal(await encrypt({ key: PASSWORD }).read(sealed, CONTEXT), "hello");
  const signed = await hmac({ key: PASSWORD }).write("hello", CONTEXT);
  assert.equal(await hmac({ key: PASSWORD }).read(signed, CONTEXT), "hello");

  // The derived key is the documented HKDF output: a raw key computed independently opens it.
  const rawEnc = await hkdf(PASSWORD, PASSWORD_KEY_LABELS.encrypt);
  const rawMac = await hkdf(PASSWORD, PASSWORD_KEY_LABELS.hmac);
  assert.equal(await encrypt({ key: rawEnc }).read(sealed, CONTEXT), "hello");
  assert.equal(await hmac({ key: rawMac }).read(signed, CONTEXT), "hello");
  assert.equal(
    await encrypt({ key: PASSWORD }).read(
      await encrypt({ key: rawEnc }).write("x", CONTEXT),
      CONTEXT,
    ),
    "x",
  );

  // A different password does not open it.
  const other = PASSWORD.slice(0, -1) + "1";
  assert.deepEqual(await encrypt({ key: other }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("a password shorter than 32 characters throws RangeError naming the minimum", () => {
  const short = PASSWORD.slice(0, 31);
  const names32 = (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /32 characters/);
    return true;
  };
  assert.throws(() => encrypt({ key: short }), names32);
  assert.throws(() => hmac({ key: short }), names32);
  assert.throws(() => keyring({ current: "a", keys: { a: short } }), names32);
  assert.throws(() => encrypt({ key: "" }), RangeError);
  // 32 code points, whatever their UTF-16 length: 31 emoji are refused, 32 accepted.
  assert.throws(() => encrypt({ key: "\u{1F600}".repeat(31) }), RangeError);
  encrypt({ key: "\u{1F600}".repeat(32) });
  // Not a well-formed string: TypeError.
  assert.throws(() => encrypt({ key: PASSWORD + "\uD800" }), TypeError);
  // Absurdly long: RangeError.
  assert.throws(() => encrypt({ key: "x".repeat(1025) }), RangeError);
});

Deno.test("hmac() and encrypt() derive different keys from one password", async () => {
  const rawEnc = await hkdf(PASSWORD, PASSWORD_KEY_LABELS.encrypt);
  const rawMac = await hkdf(PASSWORD, PASSWORD_KEY_LABELS.hmac);
  assert.notEqual(PASSWORD_KEY_LABELS.hmac, PASSWORD_KEY_LABELS.encrypt);
  assert.notDeepEqual(rawEnc, rawMac);

  // A value signed by hmac({ key: password }) is refused by the other.
  const signed = await hmac({ key: PASSWORD }).write("hi", CONTEXT);
  assert.equal(await encrypt({ key: PASSWORD }).read(signed, CONTEXT), null);
  const sealed = await encrypt({ key: PASSWORD }).write("hi", CONTEXT);
  assert.equal(await hmac({ key: PASSWORD }).read(sealed, CONTEXT), null);

  // And not just because of the format: the encrypt key, used as an HMAC key, does not verify
  // the hmac seal, and the hmac key, used as an AES key, does not open the encrypt seal.
  assert.deepEqual(await hmac({ key: rawEnc }).inspect(signed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
  assert.deepEqual(await encrypt({ key: rawMac }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
  // Nor is the password's UTF-8 (or its prefix) used directly.
  const direct = encoder.encode(PASSWORD);
  assert.deepEqual(await hmac({ key: direct }).inspect(signed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("password keys work in a keyring beside raw keys and rotate", async () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const before = encrypt({ key: raw });
  const sealed = await before.write("old", CONTEXT);
  const ring = keyring({ current: "p", keys: { "0": raw, p: PASSWORD } });
  const after = encrypt({ key: ring });
  assert.deepEqual(await after.inspect(sealed, CONTEXT), { ok: true, value: "old", stale: true });
  const fresh = await after.write("new", CONTEXT);
  assert.ok(fresh.startsWith("t1.e.p."));
  const onlyPassword = encrypt({ key: keyring({ current: "p", keys: { p: PASSWORD } }) });
  assert.equal(await onlyPassword.read(fresh, CONTEXT), "new");
  // One ring of passwords serves both uses with separate keys.
  const signed = await hmac({ key: ring }).write("m", CONTEXT);
  assert.ok(signed.startsWith("t1.m.p."));
  assert.equal(await hmac({ key: ring }).read(signed, CONTEXT), "m");
});

Deno.test("raw and CryptoKey keys behave as before", async () => {
  const raw = new Uint8Array(32).fill(7);
  const signed = await hmac({ key: raw }).write("hi", CONTEXT);
  // HMAC-SHA256 over the same binding with the same raw key: deterministic, as before.
  assert.equal(signed, await hmac({ key: new Uint8Array(32).fill(7) }).write("hi", CONTEXT));
  const imported = await crypto.subtle.importKey(
    "raw",
    raw,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  assert.equal(await hmac({ key: imported }).read(signed, CONTEXT), "hi");
  assert.equal(await hmac({ key: imported }).write("hi", CONTEXT), signed);
  const aes = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const sealed = await encrypt({ key: raw }).write("hi", CONTEXT);
  assert.equal(await encrypt({ key: aes }).read(sealed, CONTEXT), "hi");
  assert.throws(() => hmac({ key: new Uint8Array(31) }), RangeError);
  assert.throws(() => encrypt({ key: new Uint8Array(33) }), RangeError);
  assert.throws(() => encrypt({ key: 42 as unknown as Uint8Array }), TypeError);
  assert.throws(() => keyring({ current: "a", keys: { a: new Uint8Array(16) } }), RangeError);
});
