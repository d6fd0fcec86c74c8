// encrypt() remembers the values it sealed with the text it was given, and answers a remembered
// value from memory. The cipher path decodes the opened bytes with a UTF-8 decoder that drops a
// leading byte order mark (U+FEFF), so a value whose text starts with one opens to different text
// depending on whether this transformer instance wrote it recently: the writing process sees
// "\uFEFF…", every other process (or the same one after 1024 other values) sees "…". The shortcut
// must answer exactly as the cipher would.

import assert from "node:assert/strict";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import type { TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
const key = new Uint8Array(32).fill(7);

for (const text of ["\uFEFF", "\uFEFFadmin", '\uFEFF{"user":"ada"}', "\uFEFF\uFEFFx"]) {
  Deno.test(`a sealed value whose text starts with U+FEFF opens to the same text from the writer and from a fresh instance (${JSON.stringify(text)})`, async () => {
    const writer = encrypt({ key });
    const sealed = await writer.write(text, CONTEXT);
    const fromWriter = await writer.read(sealed, CONTEXT);
    const fromOther = await encrypt({ key }).read(sealed, CONTEXT);
    assert.equal(fromWriter, fromOther);
    assert.equal(fromOther, text); // and both give back exactly the text sealed
    assert.deepEqual(
      await writer.inspect(sealed, CONTEXT),
      await encrypt({ key }).inspect(sealed, CONTEXT),
    );
  });
}

Deno.test("a sealed value whose text starts with U+FEFF opens to the same text once the writer has forgotten it", async () => {
  const writer = encrypt({ key });
  const sealed = await writer.write("\uFEFFadmin", CONTEXT);
  const before = await writer.read(sealed, CONTEXT);
  for (let i = 0; i < 1024; i++) await writer.write(`{"n":${i}}`, CONTEXT);
  assert.equal(await writer.read(sealed, CONTEXT), before);
});
