import assert from "node:assert/strict";
import {
  assertSigningKey,
  exportPrivateKey,
  exportPrivateKeyJwk,
  exportPublicKey,
  exportPublicKeyJwk,
  generateIdentityKeyPair,
  type IdentityKeyPair,
  importPrivateKey,
  importPublicKey,
  publicKeyFromPrivate,
  signP256,
  toVerifyKey,
  verifyP256,
} from "../../lib/crypto/identity.ts";
import { fromHex, toBase64Url, toHex } from "../../lib/crypto/_bytes.ts";
import { KeyError, type KeyErrorCode } from "../../lib/errors.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

const subtle = crypto.subtle;
const data = new TextEncoder().encode("transcript");
/** PKCS#8 for a P-256 scalar without the optional public key; `d` follows. */
const PKCS8_PREFIX = "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420";
const ORDER_N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const PRIME_P = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";

function keyError(code: KeyErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof KeyError, `expected a KeyError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  };
}

async function rejectsWith(promise: Promise<unknown>, code: KeyErrorCode): Promise<void> {
  await assert.rejects(promise, keyError(code));
}

async function extractablePair(): Promise<IdentityKeyPair> {
  return await generateIdentityKeyPair({ extractable: true });
}

interface OtherKeys {
  ecdh: CryptoKeyPair;
  p384: CryptoKeyPair;
  rsa: CryptoKeyPair;
}

async function otherKeys(): Promise<OtherKeys> {
  const ecdh = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const p384 = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const rsa = await subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 1024,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  return { ecdh, p384, rsa };
}

// ---------------------------------------------------------------- generation and signing

Deno.test("generateIdentityKeyPair() makes the private key non-extractable by default", async () => {
  const keys = await generateIdentityKeyPair();
  assert.equal(keys.privateKey.extractable, false);
  assert.equal(keys.publicKey.extractable, true);
  await rejectsWith(exportPrivateKey(keys.privateKey, "pkcs8"), "key_not_extractable");
  await rejectsWith(exportPrivateKeyJwk(keys.privateKey), "key_not_extractable");
  await rejectsWith(publicKeyFromPrivate(keys.privateKey), "key_not_extractable");
});

Deno.test("verifyP256() refuses a signature over other data or of the wrong length", async () => {
  const keys = await generateIdentityKeyPair();
  const sig = await signP256(keys.privateKey, data);
  assert.equal(await verifyP256(keys.publicKey, sig, data), true);
  assert.equal(await verifyP256(keys.publicKey, sig, new Uint8Array([1])), false);
  assert.equal(await verifyP256(keys.publicKey, sig.subarray(0, 63), data), false);
  assert.equal(await verifyP256(keys.publicKey, new Uint8Array([...sig, 0]), data), false);
});

// ---------------------------------------------------------------- public key round trips

Deno.test("exportPublicKey() and importPublicKey() round-trip raw, compressed and SPKI", async () => {
  const { publicKey } = await generateIdentityKeyPair();
  const raw = await exportPublicKey(publicKey, "raw");
  for (const format of ["raw", "compressed", "spki"] as const) {
    const bytes = await exportPublicKey(publicKey, format);
    for (const key of [await importPublicKey(bytes), await importPublicKey(bytes, format)]) {
      assert.equal(key.type, "public");
      assert.equal(key.extractable, true);
      assert.deepEqual(key.usages, ["verify"]);
      assert.deepEqual(await exportPublicKey(key, "raw"), raw);
      assert.deepEqual(await exportPublicKey(key, format), bytes);
    }
  }
});

Deno.test("exportPublicKeyJwk() and importPublicKey() round-trip a minimal JWK", async () => {
  const keys = await generateIdentityKeyPair();
  const jwk = await exportPublicKeyJwk(keys.publicKey);
  assert.deepEqual(Object.keys(jwk).sort(), ["crv", "kty", "x", "y"]);
  assert.equal(jwk.kty, "EC");
  assert.equal(jwk.crv, "P-256");
  const raw = await exportPublicKey(keys.publicKey, "raw");
  assert.equal(jwk.x, toBase64Url(raw.subarray(1, 33)));
  assert.equal(jwk.y, toBase64Url(raw.subarray(33)));
  for (const key of [await importPublicKey(jwk), await importPublicKey(jwk, "jwk")]) {
    assert.deepEqual(await exportPublicKeyJwk(key), jwk);
    const sig = await signP256(keys.privateKey, data);
    assert.ok(await verifyP256(key, sig, data));
  }
});

Deno.test("importPublicKey() accepts a JWK carrying alg, use, key_ops, ext and kid", async () => {
  const { publicKey } = await generateIdentityKeyPair();
  const full = await subtle.exportKey("jwk", publicKey);
  const withKid = { ...full, alg: "ES256", use: "sig", kid: "k1" } as JsonWebKey;
  const key = await importPublicKey(withKid);
  assert.deepEqual(await exportPublicKeyJwk(key), await exportPublicKeyJwk(publicKey));
});

Deno.test("exportPublicKey() sets the compressed prefix from the parity of Y", async () => {
  const seen = new Set<number>();
  for (let i = 0; i < 64 && seen.size < 2; i++) {
    const { publicKey } = await generateIdentityKeyPair();
    const raw = await exportPublicKey(publicKey, "raw");
    const compressed = await exportPublicKey(publicKey, "compressed");
    assert.equal(compressed[0], 0x02 | (raw[64]! & 1));
    assert.deepEqual(compressed.subarray(1), raw.subarray(1, 33));
    seen.add(compressed[0]!);
  }
  assert.deepEqual([...seen].sort(), [2, 3]);
});

Deno.test("toVerifyKey() accepts every public encoding and a verify CryptoKey", async () => {
  const keys = await generateIdentityKeyPair();
  const sig = await signP256(keys.privateKey, data);
  const inputs = [
    keys.publicKey,
    await exportPublicKey(keys.publicKey, "raw"),
    await exportPublicKey(keys.publicKey, "compressed"),
    await exportPublicKey(keys.publicKey, "spki"),
    await exportPublicKeyJwk(keys.publicKey),
  ];
  for (const input of inputs) assert.ok(await verifyP256(await toVerifyKey(input), sig, data));
  await rejectsWith(toVerifyKey(keys.privateKey), "key_unsupported");
  await rejectsWith(toVerifyKey({ kty: "OKP" }), "key_unsupported");
  await rejectsWith(toVerifyKey(new Uint8Array(65)), "key_invalid");
});

// ---------------------------------------------------------------- private key round trips

Deno.test("importPrivateKey() round-trips PKCS#8 and makes the key non-extractable by default", async () => {
  const keys = await extractablePair();
  const pkcs8 = await exportPrivateKey(keys.privateKey, "pkcs8");
  for (
    const key of [await importPrivateKey(pkcs8), await importPrivateKey(pkcs8, { format: "pkcs8" })]
  ) {
    assert.equal(key.type, "private");
    assert.equal(key.extractable, false);
    assert.deepEqual(key.usages, ["sign"]);
    assertSigningKey(key);
    assert.ok(await verifyP256(keys.publicKey, await signP256(key, data), data));
    await rejectsWith(exportPrivateKey(key, "pkcs8"), "key_not_extractable");
  }
  const open = await importPrivateKey(pkcs8, { extractable: true });
  assert.equal(open.extractable, true);
  assert.deepEqual(await exportPrivateKey(open, "pkcs8"), pkcs8);
});

Deno.test("importPrivateKey() round-trips a JWK and makes the key non-extractable by default", async () => {
  const keys = await extractablePair();
  const jwk = await exportPrivateKeyJwk(keys.privateKey);
  assert.deepEqual(Object.keys(jwk).sort(), ["crv", "d", "kty", "x", "y"]);
  for (const key of [await importPrivateKey(jwk), await importPrivateKey(jwk, { format: "jwk" })]) {
    assert.equal(key.extractable, false);
    assert.ok(await verifyP256(keys.publicKey, await signP256(key, data), data));
    await rejectsWith(exportPrivateKeyJwk(key), "key_not_extractable");
  }
  const open = await importPrivateKey(jwk, { extractable: true });
  assert.deepEqual(await exportPrivateKeyJwk(open), jwk);
  assert.deepEqual(
    await exportPublicKeyJwk(await publicKeyFromPrivate(open)),
    await exportPublicKeyJwk(keys.publicKey),
  );
});

Deno.test("importPrivateKey() accepts PKCS#8 that omits the public key", async () => {
  const keys = await extractablePair();
  const jwk = await exportPrivateKeyJwk(keys.privateKey);
  const d = toHex(
    Uint8Array.from(atob(jwk.d!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
  );
  const key = await importPrivateKey(fromHex(PKCS8_PREFIX + d), { extractable: true });
  assert.deepEqual(await exportPrivateKeyJwk(key), jwk);
});

Deno.test("publicKeyFromPrivate() returns the public half of an extractable key", async () => {
  const keys = await extractablePair();
  const pub = await publicKeyFromPrivate(keys.privateKey);
  assert.equal(pub.type, "public");
  assert.ok(await verifyP256(pub, await signP256(keys.privateKey, data), data));
});

// ---------------------------------------------------------------- wrong key types

Deno.test("every identity function refuses ECDH, RSA and P-384 CryptoKeys with key_unsupported", async () => {
  const { ecdh, p384, rsa } = await otherKeys();
  for (const pair of [ecdh, p384, rsa]) {
    await rejectsWith(exportPublicKey(pair.publicKey, "raw"), "key_unsupported");
    await rejectsWith(exportPublicKeyJwk(pair.publicKey), "key_unsupported");
    await rejectsWith(exportPrivateKey(pair.privateKey, "pkcs8"), "key_unsupported");
    await rejectsWith(exportPrivateKeyJwk(pair.privateKey), "key_unsupported");
    await rejectsWith(publicKeyFromPrivate(pair.privateKey), "key_unsupported");
    await rejectsWith(toVerifyKey(pair.publicKey), "key_unsupported");
    assert.throws(() => assertSigningKey(pair.privateKey), keyError("key_unsupported"));
  }
});

Deno.test("export functions refuse a key of the wrong type with key_unsupported", async () => {
  const keys = await extractablePair();
  await rejectsWith(exportPublicKey(keys.privateKey, "raw"), "key_unsupported");
  await rejectsWith(exportPublicKeyJwk(keys.privateKey), "key_unsupported");
  await rejectsWith(exportPrivateKey(keys.publicKey, "pkcs8"), "key_unsupported");
  await rejectsWith(exportPrivateKeyJwk(keys.publicKey), "key_unsupported");
});

Deno.test("importPublicKey() refuses RSA and P-384 SPKI with key_unsupported", async () => {
  const { p384, rsa } = await otherKeys();
  for (const pair of [p384, rsa]) {
    const spki = new Uint8Array(await subtle.exportKey("spki", pair.publicKey));
    await rejectsWith(importPublicKey(spki), "key_unsupported");
    await rejectsWith(importPublicKey(spki, "spki"), "key_unsupported");
  }
});

Deno.test("importPrivateKey() refuses RSA and P-384 PKCS#8 with key_unsupported", async () => {
  const { p384, rsa } = await otherKeys();
  for (const pair of [p384, rsa]) {
    const pkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
    await rejectsWith(importPrivateKey(pkcs8), "key_unsupported");
  }
});

Deno.test("importPublicKey() and importPrivateKey() refuse JWKs of another type or use", async () => {
  const keys = await extractablePair();
  const pub = await exportPublicKeyJwk(keys.publicKey);
  const priv = await exportPrivateKeyJwk(keys.privateKey);
  const p384 = await subtle.exportKey("jwk", (await otherKeys()).p384.publicKey);
  const variants: JsonWebKey[] = [
    { ...pub, kty: "RSA" },
    { ...pub, kty: undefined },
    { ...pub, crv: "P-384" },
    { ...pub, crv: "secp256k1" },
    p384,
    { ...pub, alg: "ES384" },
    { ...pub, use: "enc" },
  ];
  for (const jwk of variants) {
    await rejectsWith(importPublicKey(jwk), "key_unsupported");
    await rejectsWith(importPrivateKey({ ...jwk, d: priv.d }), "key_unsupported");
  }
  await rejectsWith(importPublicKey({ ...pub, key_ops: ["sign"] }), "key_unsupported");
  await rejectsWith(importPrivateKey({ ...priv, key_ops: ["verify"] }), "key_unsupported");
  await rejectsWith(importPublicKey({}), "key_unsupported");
});

// ---------------------------------------------------------------- malformed input

Deno.test("importPublicKey() refuses malformed bytes and off-curve points with key_invalid", async () => {
  const { publicKey } = await generateIdentityKeyPair();
  const raw = await exportPublicKey(publicKey, "raw");
  const spki = await exportPublicKey(publicKey, "spki");
  const offCurve = raw.slice();
  offCurve[64]! ^= 1;
  const samples: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0]),
    new Uint8Array([0x30, 0x00]),
    new Uint8Array(65).fill(0).fill(4, 0, 1), // (0, 0)
    offCurve,
    fromHex("04" + PRIME_P + toHex(raw.subarray(33))), // x = p
    fromHex("04" + toHex(raw.subarray(1, 33)) + PRIME_P), // y = p
    fromHex("02fd4bf61763b46581fd9174d623516cf3c81edd40e29ffa2777fb6cb0ae3ce535"), // x off the curve
    fromHex("02" + PRIME_P), // x = p, compressed
    raw.subarray(0, 64),
    spki.subarray(0, spki.length - 1),
    new Uint8Array([...spki, 0]),
    crypto.getRandomValues(new Uint8Array(91)),
  ];
  for (const [i, bytes] of samples.entries()) {
    await assert.rejects(importPublicKey(bytes), keyError("key_invalid"), `sample ${i}`);
  }
  await rejectsWith(importPublicKey(raw, "compressed"), "key_invalid");
  await rejectsWith(
    importPublicKey(await exportPublicKey(publicKey, "compressed"), "raw"),
    "key_invalid",
  );
  await rejectsWith(importPublicKey(raw, "spki"), "key_invalid");
});

Deno.test("importPublicKey() refuses malformed JWK members and a private JWK with key_invalid", async () => {
  const keys = await extractablePair();
  const pub = await exportPublicKeyJwk(keys.publicKey);
  const priv = await exportPrivateKeyJwk(keys.privateKey);
  const variants: JsonWebKey[] = [
    { ...pub, x: undefined },
    { ...pub, y: undefined },
    { ...pub, x: pub.x + "=" },
    { ...pub, x: pub.x!.slice(1) },
    { ...pub, x: pub.x + "AA" },
    { ...pub, y: pub.y!.replace(/[A-Za-z]/, "+") },
    { ...pub, x: 5 as unknown as string },
    { ...pub, y: toBase64Url(new Uint8Array(32)) }, // off the curve
    priv,
  ];
  for (const jwk of variants) await rejectsWith(importPublicKey(jwk), "key_invalid");
});

Deno.test("importPrivateKey() refuses a JWK whose public point does not match its scalar", async () => {
  const a = await exportPrivateKeyJwk((await extractablePair()).privateKey);
  const b = await exportPrivateKeyJwk((await extractablePair()).privateKey);
  await rejectsWith(importPrivateKey({ ...a, x: b.x, y: b.y }), "key_invalid");
});

Deno.test("importPrivateKey() refuses missing or malformed JWK members with key_invalid", async () => {
  const priv = await exportPrivateKeyJwk((await extractablePair()).privateKey);
  const variants: JsonWebKey[] = [
    { ...priv, d: undefined },
    { ...priv, x: undefined },
    { ...priv, y: undefined },
    { ...priv, d: priv.d + "A" },
    { ...priv, d: toBase64Url(new Uint8Array(32)) },
    { ...priv, d: toBase64Url(fromHex(ORDER_N)) },
  ];
  for (const jwk of variants) await rejectsWith(importPrivateKey(jwk), "key_invalid");
});

Deno.test("importPrivateKey() refuses out-of-range scalars and malformed PKCS#8 with key_invalid", async () => {
  const a = await exportPrivateKey((await extractablePair()).privateKey, "pkcs8");
  const b = await exportPrivateKey((await extractablePair()).privateKey, "pkcs8");
  const mixed = a.slice();
  mixed.set(b.subarray(b.length - 65), a.length - 65); // another key's public point
  const samples: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x30, 0x00]),
    fromHex(PKCS8_PREFIX + "00".repeat(32)),
    fromHex(PKCS8_PREFIX + ORDER_N),
    fromHex(PKCS8_PREFIX + "ff".repeat(32)),
    fromHex(PKCS8_PREFIX + "01"),
    a.subarray(0, a.length - 1),
    new Uint8Array([...a, 0]),
    mixed,
  ];
  for (const bytes of samples) await rejectsWith(importPrivateKey(bytes), "key_invalid");
});

Deno.test("importPrivateKey() accepts the scalars 1 and n - 1", async () => {
  const nMinus1 = ORDER_N.slice(0, 63) + "0";
  for (const d of ["00".repeat(31) + "01", nMinus1]) {
    const key = await importPrivateKey(fromHex(PKCS8_PREFIX + d), { extractable: true });
    const pub = await publicKeyFromPrivate(key);
    assert.ok(await verifyP256(pub, await signP256(key, data), data));
  }
});

Deno.test("key import refuses an encoding that contradicts the requested format with TypeError", async () => {
  const keys = await extractablePair();
  const raw = await exportPublicKey(keys.publicKey, "raw");
  const jwk = await exportPublicKeyJwk(keys.publicKey);
  await assert.rejects(importPublicKey(jwk, "raw"), TypeError);
  await assert.rejects(importPublicKey(jwk, "spki"), TypeError);
  await assert.rejects(importPublicKey(raw, "jwk"), TypeError);
  await assert.rejects(importPublicKey(raw, "pem" as "raw"), TypeError);
  await assert.rejects(importPublicKey("04ab", "raw"), TypeError);
  await assert.rejects(importPublicKey(4 as unknown as Uint8Array), TypeError);
  await assert.rejects(importPrivateKey("04ab", { format: "pkcs8" }), TypeError);
  await assert.rejects(importPrivateKey(raw, { format: "jwk" }), TypeError);
  await assert.rejects(importPrivateKey(jwk, { format: "pkcs8" }), TypeError);
  await assert.rejects(importPrivateKey(null as unknown as Uint8Array), TypeError);
  await assert.rejects(exportPublicKey(keys.publicKey, "jwk" as "raw"), TypeError);
  await assert.rejects(exportPrivateKey(keys.privateKey, "jwk" as "pkcs8"), TypeError);
  await assert.rejects(exportPublicKey(raw as unknown as CryptoKey, "raw"), TypeError);
});

Deno.test("exportPublicKey() refuses a public key imported non-extractable with key_not_extractable", async () => {
  const { publicKey } = await generateIdentityKeyPair();
  const raw = await exportPublicKey(publicKey, "raw");
  const closed = await subtle.importKey("raw", raw, { name: "ECDSA", namedCurve: "P-256" }, false, [
    "verify",
  ]);
  await rejectsWith(exportPublicKey(closed, "compressed"), "key_not_extractable");
  await rejectsWith(exportPublicKeyJwk(closed), "key_not_extractable");
});

Deno.test("key errors carry no key bytes in their message or cause", async () => {
  const a = await exportPrivateKeyJwk((await extractablePair()).privateKey);
  const b = await exportPrivateKeyJwk((await extractablePair()).privateKey);
  const pkcs8 = fromHex(PKCS8_PREFIX + ORDER_N);
  const attempts: [() => Promise<unknown>, string[]][] = [
    [() => importPrivateKey({ ...a, x: b.x, y: b.y }), [a.d!, b.x!, b.y!]],
    [() => importPrivateKey({ ...a, d: a.d + "A" }), [a.d!]],
    [() => importPrivateKey(pkcs8), [ORDER_N, toBase64Url(fromHex(ORDER_N))]],
  ];
  for (const [attempt, secrets] of attempts) {
    const err = await attempt().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof KeyError);
    const text = `${err.message} ${err.stack} ${String(err.cause)} ${
      (err.cause as Error | undefined)?.stack ?? ""
    }`;
    for (const secret of secrets) {
      assert.equal(text.includes(secret), false);
      assert.equal(text.toLowerCase().includes(secret.slice(0, 16).toLowerCase()), false);
    }
  }
});

// ---------------------------------------------------------------- Wycheproof

Deno.test("importPublicKey() and verifyP256() agree with every Wycheproof P1363 ECDSA P-256 vector", async () => {
  const file = await loadWycheproof<
    {
      publicKey: { uncompressed: string };
      publicKeyDer: string;
      publicKeyJwk?: JsonWebKey;
    },
    { msg: string; sig: string }
  >("ecdsa_secp256r1_sha256_p1363_test.json");
  const counts = { valid: 0, invalid: 0, groups: 0, jwkGroups: 0 };
  let group: unknown = null;
  let keys: CryptoKey[] = [];
  for (const [g, t] of cases(file)) {
    if (g !== group) {
      group = g;
      counts.groups++;
      const raw = fromHex(g.publicKey.uncompressed);
      const compressed = new Uint8Array(33);
      compressed[0] = 0x02 | (raw[64]! & 1);
      compressed.set(raw.subarray(1, 33), 1);
      keys = [
        await importPublicKey(raw, "raw"),
        await importPublicKey(compressed, "compressed"),
        await importPublicKey(fromHex(g.publicKeyDer), "spki"),
        await importPublicKey(fromHex(g.publicKeyDer)),
      ];
      if (g.publicKeyJwk) {
        counts.jwkGroups++;
        keys.push(await importPublicKey(g.publicKeyJwk, "jwk"));
      }
      for (const key of keys) assert.deepEqual(await exportPublicKey(key, "raw"), raw);
    }
    const sig = fromHex(t.sig);
    const msg = fromHex(t.msg);
    for (const key of keys) {
      const ok = await verifyP256(key, sig, msg);
      assert.equal(ok, t.result === "valid", `tcId ${t.tcId} (${t.comment})`);
    }
    assert.notEqual(t.result, "acceptable"); // none in this file version
    counts[t.result as "valid" | "invalid"]++;
  }
  assert.deepEqual(counts, { valid: 173, invalid: 89, groups: 112, jwkGroups: counts.jwkGroups });
  assert.ok(counts.jwkGroups > 0);
});

Deno.test("toVerifyKey() turns a generated public CryptoKey into an equivalent verify key", async () => {
  const raw = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const data = new Uint8Array([1, 2, 3]);
  const signature = await signP256(raw.privateKey, data);
  const key = await toVerifyKey(raw.publicKey);
  assert.equal(await toVerifyKey(raw.publicKey), key, "the re-imported key is cached");
  assert.equal(key.type, "public");
  assert.ok(await verifyP256(key, signature, data));
  assert.equal(await verifyP256(key, signature, new Uint8Array([1, 2, 4])), false);
});
