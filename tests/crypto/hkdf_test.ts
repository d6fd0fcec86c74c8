import assert from "node:assert/strict";
import { hkdf, hkdfKey, importHkdfKey } from "../../lib/crypto/hkdf.ts";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

Deno.test("hkdf() matches every Wycheproof HKDF-SHA256 vector and refuses oversized output", async () => {
  const file = await loadWycheproof<
    Record<string, unknown>,
    { ikm: string; salt: string; info: string; size: number; okm: string }
  >("hkdf_sha256_test.json");
  const counts = { valid: 0, invalid: 0 };
  for (const [, t] of cases(file)) {
    const key = await importHkdfKey(fromHex(t.ikm));
    if (t.result === "valid") {
      const okm = await hkdf(key, fromHex(t.salt), fromHex(t.info), t.size);
      assert.equal(toHex(okm), t.okm, `tcId ${t.tcId} (${t.comment})`);
      counts.valid++;
    } else {
      // Every invalid vector asks for more than 255 * 32 bytes.
      await assert.rejects(hkdf(key, fromHex(t.salt), fromHex(t.info), t.size), RangeError);
      counts.invalid++;
    }
  }
  assert.deepEqual(counts, { valid: 83, invalid: 3 });
});

Deno.test("hkdf() refuses a length of zero, a fraction or more than 8160 bytes", async () => {
  const key = await importHkdfKey(new Uint8Array(32));
  for (const length of [0, -1, 1.5, 8161, Number.NaN]) {
    await assert.rejects(hkdf(key, new Uint8Array(0), new Uint8Array(0), length), RangeError);
  }
  assert.equal((await hkdf(key, new Uint8Array(0), new Uint8Array(0), 8160)).length, 8160);
});

Deno.test("hkdfKey() derives non-extractable AES-GCM and HMAC keys", async () => {
  const base = await importHkdfKey(new Uint8Array(32));
  const aes = await hkdfKey(base, new Uint8Array(0), new Uint8Array([1]), "aes-gcm");
  const mac = await hkdfKey(base, new Uint8Array(0), new Uint8Array([1]), "hmac");
  assert.equal(aes.algorithm.name, "AES-GCM");
  assert.equal((aes.algorithm as AesKeyAlgorithm).length, 256);
  assert.equal(mac.algorithm.name, "HMAC");
  assert.equal(aes.extractable || mac.extractable, false);
});
