// A writer far ahead of its reader is held back: writes stay pending, and what the streams buffer
// stays bounded, in memory pipes and over TCP; once the reader reads, everything arrives.

import assert from "node:assert/strict";
import type { SecureStream } from "../../lib/stream/mod.ts";
import { concat, establish, readExactly, sha256, sleep, tcpPair, webPair } from "./_helpers.ts";

const CHUNK = 1024 * 1024;

/** Writes 1 MiB chunks until `stop`, awaiting each write; returns the bytes whose write resolved. */
function flood(stream: SecureStream, chunks: Uint8Array[], stop: { now: boolean }) {
  const writer = stream.writable.getWriter();
  let accepted = 0;
  let pending = false;
  const done = (async () => {
    for (let i = 0; !stop.now; i++) {
      const chunk = new Uint8Array(CHUNK).fill(i & 0xff);
      chunks.push(chunk);
      pending = true;
      await writer.write(chunk);
      pending = false;
      accepted += CHUNK;
    }
    writer.releaseLock();
  })();
  return { done, accepted: () => accepted, pending: () => pending };
}

for (
  const { name, pair, bound } of [
    // Web streams pipes hold a chunk or so: the bound is the two streams' own buffers.
    { name: "a Web streams pair", pair: () => Promise.resolve(webPair()), bound: 4 * CHUNK },
    // TCP adds the kernel's socket buffers (a few MiB on loopback).
    { name: "TCP", pair: tcpPair, bound: 24 * CHUNK },
  ]
) {
  Deno.test(`a writer far ahead of a reader that does not read is held back, its buffers bounded (${name})`, async () => {
    const bufferSize = 256 * 1024;
    const [client, server] = await establish(...await pair(), {
      client: { bufferSize },
      server: { bufferSize },
    });
    const chunks: Uint8Array[] = [];
    const stop = { now: false };
    const writing = flood(client, chunks, stop);
    // Wait until the writer stops making progress (on a loaded machine filling the buffers takes
    // a while), never letting it get more than the bound ahead of a reader that reads nothing.
    let accepted = -1;
    for (let i = 0; i < 50 && writing.accepted() !== accepted; i++) {
      accepted = writing.accepted();
      assert.ok(accepted <= bound, `${accepted / CHUNK} MiB accepted while nothing was read`);
      await sleep(250);
    }
    assert.equal(writing.accepted(), accepted, "no progress without a reader");
    assert.ok(writing.pending(), "a write is pending");
    // What the writer holds: the bytes of the pending write, plus at most its buffer size (and
    // the framing, headers and tags of the records that hold them: 34 bytes a record).
    const slack = 4096;
    assert.ok(
      client.bufferedAmount <= CHUNK + bufferSize + slack,
      `${client.bufferedAmount} buffered`,
    );

    // Now read: the pending write resolves and every byte arrives in order.
    stop.now = true;
    const reader = server.readable.getReader();
    const expected = chunks.length * CHUNK;
    const [received] = await Promise.all([readExactly(reader, expected), writing.done]);
    assert.equal(await sha256(received), await sha256(concat(chunks)));
    reader.releaseLock();
    await client.close();
    await server.closed;
  });
}

Deno.test("a reader that does not read stops reading the transport: the peer's writes back up to it", async () => {
  const [client, server] = await establish(...webPair(), {
    client: { bufferSize: 64 * 1024 },
    server: { bufferSize: 64 * 1024 },
  });
  const writer = client.writable.getWriter();
  let accepted = 0;
  const writing = (async () => {
    for (let i = 0; i < 64; i++) {
      await writer.write(new Uint8Array(16 * 1024));
      accepted += 16 * 1024;
    }
  })();
  await sleep(300);
  // The server read ahead at most its buffer size; the pipe and the client hold the rest.
  assert.ok(accepted < 512 * 1024, `${accepted} bytes accepted`);
  const reader = server.readable.getReader();
  await readExactly(reader, 64 * 16 * 1024);
  await writing;
  reader.releaseLock();
  await client.close();
  await server.closed;
});
