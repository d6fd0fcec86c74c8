// The runtime's base64url encoder and the portable one (used where the runtime has none) write
// exactly the same text, and the strict decoder reads it back, for every length.

import assert from "node:assert/strict";
import { fromBase64Url, toBase64Url, toBase64UrlPortable } from "../../lib/crypto/_bytes.ts";

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
