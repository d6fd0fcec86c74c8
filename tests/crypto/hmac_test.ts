import assert from "node:assert/strict";
import { hmacSign, hmacVerify, importHmacKey } from "../../lib/crypto/hmac.ts";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

Deno.test("hmacSign() and hmacVerify() agree with every Wycheproof HMAC-SHA256 vector", async () => {
  const file = await loadWycheproof<
    { keySize: number; tagSize: number },
    { key: string; msg: string; tag: string }
  >("hmac_sha256_test.json");
  const counts = { valid: 0, invalid: 0, truncatedRefused: 0 };
  for (const [group, t] of cases(file)) {
    const key = await importHmacKey(fromHex(t.key));
    const msg = fromHex(t.msg);
    const tag = fromHex(t.tag);
    const mac = await hmacSign(key, msg);
    if (group.tagSize !== 256) {
      // Truncated tags are never accepted, even a correct truncation.
      assert.equal(group.tagSize, 128);
      assert.equal(await hmacVerify(key, tag, msg), false, `tcId ${t.tcId}`);
      if (t.result === "valid") assert.equal(toHex(mac.subarray(0, 16)), t.tag);
      counts.truncatedRefused++;
    } else if (t.result === "valid") {
      assert.equal(toHex(mac), t.tag, `tcId ${t.tcId} (${t.comment})`);
      assert.equal(await hmacVerify(key, tag, msg), true, `tcId ${t.tcId}`);
      counts.valid++;
    } else {
      assert.equal(await hmacVerify(key, tag, msg), false, `tcId ${t.tcId} (${t.comment})`);
      assert.notEqual(toHex(mac), t.tag);
      counts.invalid++;
    }
  }
  assert.deepEqual(counts, { valid: 33, invalid: 54, truncatedRefused: 87 });
});

Deno.test("hmacVerify() refuses a MAC of any length but 32 bytes", async () => {
  const key = await importHmacKey(new Uint8Array(32).fill(7));
  const msg = new Uint8Array([1, 2, 3]);
  const mac = await hmacSign(key, msg);
  for (const length of [0, 1, 16, 31]) {
    assert.equal(await hmacVerify(key, mac.subarray(0, length), msg), false);
  }
  assert.equal(await hmacVerify(key, new Uint8Array([...mac, 0]), msg), false);
});

Deno.test("importHmacKey() refuses an empty key with RangeError", () => {
  assert.throws(() => importHmacKey(new Uint8Array(0)), RangeError);
});
