// The standard base64 codec under PEM bodies and formatted fingerprints agrees with the
// runtime's `btoa`/`atob`, and its decoder takes exactly one spelling of each byte string.

import assert from "node:assert/strict";
import { fromBase64, toBase64 } from "../../lib/crypto/_bytes.ts";

function btoaBytes(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test("toBase64() agrees with btoa() and fromBase64() reads it back for lengths 0 to 300", () => {
  for (let length = 0; length <= 300; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    const text = toBase64(bytes);
    assert.equal(text, btoaBytes(bytes), `length ${length}`);
    assert.deepEqual(fromBase64(text), bytes);
  }
  assert.equal(toBase64(new Uint8Array([0xfb, 0xff])), "+/8=");
});

Deno.test("fromBase64() refuses missing or misplaced padding, other alphabets, whitespace and non-canonical bits", () => {
  for (
    const text of [
      "QQ",
      "QUE",
      "QQ=",
      "Q===",
      "=QQQ",
      "QQ==QQ==",
      "-_8=",
      "QQ ==",
      "QQ==\n",
      "QR==",
    ]
  ) {
    assert.equal(fromBase64(text), null, JSON.stringify(text));
  }
  assert.deepEqual(fromBase64("QQ=="), new Uint8Array([0x41]));
  assert.deepEqual(fromBase64(""), new Uint8Array(0));
});
