import assert from "node:assert/strict";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTH,
  importAesGcmKey,
} from "../../lib/crypto/aes_gcm.ts";
import { concat, fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

Deno.test("aesGcmEncrypt() and aesGcmDecrypt() agree with every Wycheproof AES-256-GCM vector with a 96-bit IV", async () => {
  const file = await loadWycheproof<
    { keySize: number; ivSize: number; tagSize: number },
    { key: string; iv: string; aad: string; msg: string; ct: string; tag: string }
  >("aes_gcm_test.json");
  const counts = { valid: 0, invalid: 0, skipped: 0 };
  for (const [group, t] of cases(file)) {
    // tessera uses AES-256 with 96-bit nonces and 128-bit tags only.
    if (group.keySize !== 256 || group.ivSize !== 96 || group.tagSize !== 128) {
      counts.skipped++;
      continue;
    }
    const key = await importAesGcmKey(fromHex(t.key));
    const iv = fromHex(t.iv);
    const aad = fromHex(t.aad);
    const sealed = concat(fromHex(t.ct), fromHex(t.tag));
    const opened = await aesGcmDecrypt(key, iv, sealed, aad);
    if (t.result === "valid") {
      assert.equal(toHex(await aesGcmEncrypt(key, iv, fromHex(t.msg), aad)), toHex(sealed));
      assert.ok(opened, `tcId ${t.tcId} (${t.comment}) did not decrypt`);
      assert.equal(toHex(opened), t.msg, `tcId ${t.tcId}`);
      counts.valid++;
    } else {
      assert.equal(opened, null, `tcId ${t.tcId} (${t.comment}) decrypted`);
      counts.invalid++;
    }
  }
  assert.deepEqual(counts, { valid: 39, invalid: 27, skipped: 316 - 66 });
});

Deno.test("aesGcmEncrypt() refuses a nonce that is not 12 bytes with RangeError", async () => {
  const key = await importAesGcmKey(new Uint8Array(32));
  for (const length of [0, 8, 11, 13, 16]) {
    await assert.rejects(
      aesGcmEncrypt(key, new Uint8Array(length), new Uint8Array(1), new Uint8Array(0)),
      RangeError,
    );
  }
});

Deno.test("aesGcmDecrypt() returns null for a short input, a wrong nonce length or wrong AAD", async () => {
  const key = await importAesGcmKey(new Uint8Array(32).fill(1));
  const nonce = new Uint8Array(GCM_NONCE_LENGTH);
  const sealed = await aesGcmEncrypt(key, nonce, new Uint8Array([1, 2, 3]), new Uint8Array([9]));
  assert.equal(sealed.length, 3 + GCM_TAG_LENGTH);
  assert.equal(await aesGcmDecrypt(key, nonce, sealed.subarray(0, 15), new Uint8Array([9])), null);
  assert.equal(await aesGcmDecrypt(key, new Uint8Array(16), sealed, new Uint8Array([9])), null);
  assert.equal(await aesGcmDecrypt(key, nonce, sealed, new Uint8Array([8])), null);
  assert.deepEqual(
    await aesGcmDecrypt(key, nonce, sealed, new Uint8Array([9])),
    new Uint8Array([1, 2, 3]),
  );
});

Deno.test("importAesGcmKey() refuses a key that is not 32 bytes with RangeError", () => {
  for (const length of [0, 16, 24, 31, 33]) {
    assert.throws(() => importAesGcmKey(new Uint8Array(length)), RangeError);
  }
});
