import assert from "node:assert/strict";
import { pbkdf2Sync } from "node:crypto";
import { DEFAULT_KEY_ID, Keyring, keyring, type KeyringOptions } from "../../lib/cookie/keyring.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { hmac } from "../../lib/cookie/hmac.ts";
import {
  deriveKeyFromPassphrase,
  MIN_PASSPHRASE_LENGTH,
  MIN_PBKDF2_ITERATIONS,
} from "../../lib/cookie/passphrase.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "sid", purpose: "session" };

function key(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

Deno.test("keyring() holds its ids and current id and answers has() exactly", () => {
  const ring = keyring({ current: "b-2", keys: { a_1: key(1), "b-2": key(2) } });
  assert.ok(ring instanceof Keyring);
  assert.equal(ring.current, "b-2");
  assert.deepEqual(ring.ids, ["a_1", "b-2"]);
  assert.equal(ring.has("a_1"), true);
  assert.equal(ring.has("A_1"), false);
  assert.equal(ring.has("toString"), false);
  assert.equal(ring.has("__proto__"), false);
});

Deno.test("keyring() takes a Map of keys in the order given", () => {
  const ring = keyring({ current: "x", keys: new Map([["y", key(1)], ["x", key(2)]]) });
  assert.deepEqual(ring.ids, ["y", "x"]);
});

Deno.test("keyring() is immutable", () => {
  const ring = keyring({ current: "a", keys: { a: key(1) } });
  assert.throws(() => {
    (ring as { current: string }).current = "b";
  }, TypeError);
  assert.throws(() => {
    (ring.ids as string[]).push("b");
  }, TypeError);
});

Deno.test("keyring() keeps its own copies of raw keys", async () => {
  const raw = key(4);
  const ring = keyring({ current: "a", keys: { a: raw } });
  const expected = await hmac({ key: keyring({ current: "a", keys: { a: key(4) } }) }).write(
    "v",
    CONTEXT,
  );
  raw.fill(0);
  assert.equal(await hmac({ key: ring }).write("v", CONTEXT), expected);
});

Deno.test("keyring() refuses ids that are empty, too long or not cookie-safe", () => {
  for (const id of ["", "a.b", "a b", "a;b", "é", "x".repeat(17), "a*b", "a~b"]) {
    assert.throws(
      () => keyring({ current: "ok", keys: { ok: key(1), [id]: key(2) } }),
      TypeError,
      id,
    );
  }
  assert.doesNotThrow(() =>
    keyring({ current: "x".repeat(16), keys: { ["x".repeat(16)]: key(1) } })
  );
});

Deno.test("keyring() refuses a current id that is not one of its keys", () => {
  assert.throws(() => keyring({ current: "c", keys: { a: key(1) } }), TypeError);
  assert.throws(
    () => keyring({ current: undefined as unknown as string, keys: { a: key(1) } }),
    TypeError,
  );
});

Deno.test("keyring() refuses raw keys that are not 32 bytes and values that are not keys", () => {
  assert.throws(() => keyring({ current: "a", keys: { a: new Uint8Array(16) } }), RangeError);
  assert.throws(() => keyring({ current: "a", keys: { a: new Uint8Array(64) } }), RangeError);
  assert.throws(
    () => keyring({ current: "a", keys: { a: 42 as unknown as Uint8Array } }),
    TypeError,
  );
  // A string is a password key now; a short one is refused for its length.
  assert.throws(
    () => keyring({ current: "a", keys: { a: "secret" } }),
    RangeError,
  );
  assert.throws(() => keyring({ current: "a", keys: {} }), RangeError);
  assert.throws(() => keyring(null as unknown as KeyringOptions), TypeError);
  const many: Record<string, Uint8Array> = {};
  for (let i = 0; i < 65; i++) many[`k${i}`] = key(1);
  assert.throws(() => keyring({ current: "k0", keys: many }), RangeError);
});

Deno.test("a single key has the default id, so the first rotation keeps old cookies", async () => {
  assert.equal(DEFAULT_KEY_ID, "0");
  const before = hmac({ key: key(1) });
  const sealed = await before.write("v", CONTEXT);
  const after = hmac({
    key: keyring({ current: "1", keys: { [DEFAULT_KEY_ID]: key(1), "1": key(2) } }),
  });
  assert.deepEqual(await after.inspect(sealed, CONTEXT), { ok: true, value: "v", stale: true });
});

Deno.test("a keyring of CryptoKeys is checked against the transformer's algorithm", async () => {
  const aes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const ring = keyring({ current: "a", keys: { a: aes } });
  assert.doesNotThrow(() => encrypt({ key: ring }));
  assert.throws(() => hmac({ key: ring }), TypeError);
});

Deno.test("an old key only needs to open; the current key must also seal", async () => {
  const decryptOnly = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "decrypt",
  ]);
  assert.doesNotThrow(() =>
    encrypt({ key: keyring({ current: "new", keys: { old: decryptOnly, new: key(1) } }) })
  );
  assert.throws(
    () => encrypt({ key: keyring({ current: "old", keys: { old: decryptOnly, new: key(1) } }) }),
    TypeError,
  );
});

Deno.test("a value sealed under a retired key id is cookie_unknown_key, under every transformer", async () => {
  for (const make of [hmac, encrypt]) {
    const before = make({ key: keyring({ current: "old", keys: { old: key(1) } }) });
    const after = make({ key: keyring({ current: "new", keys: { new: key(2) } }) });
    const sealed = await before.write("v", CONTEXT);
    assert.equal(await after.read(sealed, CONTEXT), null);
    assert.deepEqual(await after.inspect(sealed, CONTEXT), {
      ok: false,
      code: "cookie_unknown_key",
    });
  }
});

Deno.test("deriveKeyFromPassphrase() gives PBKDF2-HMAC-SHA256 output of 32 bytes", async () => {
  const passphrase = "correct horse battery staple";
  const salt = "tessera/cookie-test";
  const derived = await deriveKeyFromPassphrase(passphrase, salt, {
    iterations: MIN_PBKDF2_ITERATIONS,
  });
  const expected = pbkdf2Sync(passphrase, salt, MIN_PBKDF2_ITERATIONS, 32, "sha256");
  assert.deepEqual(derived, new Uint8Array(expected));
  const again = await deriveKeyFromPassphrase(passphrase, new TextEncoder().encode(salt), {
    iterations: MIN_PBKDF2_ITERATIONS,
  });
  assert.deepEqual(again, derived);
});

Deno.test("deriveKeyFromPassphrase() output works as a key for hmac() and encrypt()", async () => {
  const options = { iterations: MIN_PBKDF2_ITERATIONS };
  const macKey = await deriveKeyFromPassphrase(
    "a long enough passphrase",
    "my-app/cookie/mac",
    options,
  );
  const encKey = await deriveKeyFromPassphrase(
    "a long enough passphrase",
    "my-app/cookie/enc",
    options,
  );
  assert.notDeepEqual(macKey, encKey);
  const t = hmac({ key: keyring({ current: "p", keys: { p: macKey } }) });
  const e = encrypt({ key: encKey });
  assert.equal(await t.read(await t.write("v", CONTEXT), CONTEXT), "v");
  assert.equal(await e.read(await e.write("v", CONTEXT), CONTEXT), "v");
});

Deno.test("deriveKeyFromPassphrase() refuses short passphrases, short salts and few iterations", async () => {
  const ok = "x".repeat(MIN_PASSPHRASE_LENGTH);
  const salt = "sixteen-byte-slt";
  await assert.rejects(deriveKeyFromPassphrase(ok.slice(1), salt), RangeError);
  await assert.rejects(deriveKeyFromPassphrase("🍪".repeat(15), salt), RangeError);
  await assert.rejects(deriveKeyFromPassphrase("x".repeat(1025), salt), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, salt.slice(1)), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, new Uint8Array(15)), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, salt, { iterations: 99_999 }), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, salt, { iterations: 1.5e5 + 0.5 }), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, salt, { iterations: 1e8 }), RangeError);
  await assert.rejects(deriveKeyFromPassphrase(42 as unknown as string, salt), TypeError);
  await assert.rejects(deriveKeyFromPassphrase(ok + "\uD800", salt), TypeError);
  await assert.rejects(deriveKeyFromPassphrase(ok, 7 as unknown as string), TypeError);
});

Deno.test("deriveKeyFromPassphrase() counts characters, not UTF-16 units", async () => {
  const key = await deriveKeyFromPassphrase(
    "🍪".repeat(MIN_PASSPHRASE_LENGTH),
    "sixteen-byte-slt",
    {
      iterations: MIN_PBKDF2_ITERATIONS,
    },
  );
  assert.equal(key.length, 32);
});
