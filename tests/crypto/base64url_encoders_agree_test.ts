// The runtime's base64url encoder and decoder and the portable ones (used where the runtime has
// none) agree exactly: the same text for every length, and the same bytes, or the same refusal,
// for every text, canonical or not.

import assert from "node:assert/strict";
import {
  fromBase64Url,
  fromBase64UrlPortable,
  toBase64Url,
  toBase64UrlPortable,
} from "../../lib/crypto/_bytes.ts";

Deno.test("native and portable base64url encoders agree and round-trip for lengths 0 to 300", () => {
  for (let length = 0; length <= 300; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    const portable = toBase64UrlPortable(bytes);
    assert.equal(toBase64Url(bytes), portable, `length ${length}`);
    assert.match(portable, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(fromBase64Url(portable), bytes);
  }
  assert.equal(toBase64UrlPortable(new Uint8Array([0xfb, 0xff])), "-_8");
});

Deno.test("native and portable base64url decoders give the same bytes or the same refusal for any text", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const odd = ["=", "+", "/", " ", "\n", "\t", ".", "\u00e9", "\u0000", "=="];
  const texts: string[] = [
    "",
    "A",
    "AA",
    "AB",
    "AAA",
    "AAB",
    "AAE",
    "-_8",
    "-_9",
    "AA==",
    "AA=",
    " AA",
  ];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    const length = Math.floor(next() * 12);
    let text = "";
    for (let j = 0; j < length; j++) {
      text += next() < 0.1
        ? odd[Math.floor(next() * odd.length)]
        : alphabet[Math.floor(next() * 64)];
    }
    texts.push(text);
  }
  for (const text of texts) {
    assert.deepEqual(fromBase64Url(text), fromBase64UrlPortable(text), JSON.stringify(text));
  }
  // Non-canonical trailing bits, whitespace and padding are refused by both.
  for (const text of ["AB", "AAB", " AAA", "AA A", "AAA=", "AA=="]) {
    assert.equal(fromBase64Url(text), null, JSON.stringify(text));
  }
});
