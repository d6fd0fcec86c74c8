// A large write is sealed from the caller's buffer in place, which is safe only while the buffer
// cannot shrink under the stream. A write from a resizable ArrayBuffer is copied at once: the
// caller may shrink or grow it as soon as write() was called, and the peer still reads what was
// written; nothing escapes as an unhandled rejection.

import assert from "node:assert/strict";
import { establish, randomBytes, readExactly, sha256, webPair } from "./_helpers.ts";

Deno.test("a large write from a resizable ArrayBuffer the caller shrinks at once arrives as written", async () => {
  const [client, server] = await establish(...webPair());
  const size = 300_000;
  const expected = randomBytes(size);
  const buffer = new ArrayBuffer(size, { maxByteLength: 2 * size });
  const chunk = new Uint8Array(buffer); // length-tracking: it shrinks with the buffer
  chunk.set(expected);
  const reading = readExactly(server.readable.getReader(), size);
  const writer = client.writable.getWriter();
  const writing = writer.write(chunk);
  buffer.resize(10); // before the write resolved
  await writing;
  buffer.resize(2 * size);
  assert.equal(await sha256(await reading), await sha256(expected));
  writer.releaseLock();
  await client.close();
  await server.closed;
});
