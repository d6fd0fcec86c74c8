// Bulk data: large writes arrive byte for byte, whatever the transport cuts them into; the
// stream neither keeps reading a caller's buffer after write() resolved nor changes a chunk it
// delivered; the frames on the wire are whole tessera/1 records in sequence.

import assert from "node:assert/strict";
import type { ByteStreamPair } from "../../lib/transport/framed_stream.ts";
import {
  concat,
  establish,
  randomBytes,
  readExactly,
  sha256,
  splitFrames,
  TappedPair,
  tcpPair,
  webPair,
} from "./_helpers.ts";

const MiB = 1024 * 1024;

/** A Web streams pair whose chunks arrive cut into pieces of odd sizes. */
function choppedPair(): [ByteStreamPair, ByteStreamPair] {
  const [a, b] = webPair();
  const sizes = [1, 3, 4, 5, 17, 4093, 65537, 131_107, 262_147];
  let i = 0;
  const chop = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (let offset = 0; offset < chunk.length;) {
        const n = sizes[i++ % sizes.length]!;
        controller.enqueue(chunk.slice(offset, offset + n));
        offset += n;
      }
    },
  });
  return [a, { readable: b.readable.pipeThrough(chop), writable: b.writable }];
}

for (
  const [name, pair] of [
    ["TCP", tcpPair],
    ["a Web streams pair", () => Promise.resolve(webPair())],
    ["a pair cutting chunks at odd sizes", () => Promise.resolve(choppedPair())],
  ] as const
) {
  Deno.test(`20 MiB written at once over ${name} arrive byte for byte`, async () => {
    const [c, s] = await pair();
    const [client, server] = await establish(c, s);
    const data = randomBytes(20 * MiB);
    const digest = await sha256(data);
    // Then writes of uneven sizes, small and large.
    const more = concat([randomBytes(5), randomBytes(MiB + 7), randomBytes(2 * MiB - 7)]);
    const reader = server.readable.getReader();
    const reading = readExactly(reader, data.length + more.length);
    const writer = client.writable.getWriter();
    await writer.write(data);
    for (const [start, end] of [[0, 5], [5, MiB + 12], [MiB + 12, more.length]]) {
      await writer.write(more.slice(start, end));
    }
    await writer.close();
    const received = await reading;
    assert.equal(await sha256(received), await sha256(concat([data, more])));
    assert.equal(await sha256(data), digest, "the stream changed the caller's buffer");
    assert.equal((await reader.read()).done, true);
    await Promise.all([client.closed, server.closed]);
  });
}

Deno.test("a caller may change its buffer once write() resolved: the peer reads what was written", async () => {
  const [c, s] = await tcpPair();
  const [client, server] = await establish(c, s);
  const writer = client.writable.getWriter();
  const sizes = [1, 1000, 64 * 1024, 64 * 1024 + 1, 200_000, MiB, 3 * MiB + 1];
  const expected: Uint8Array[] = [];
  const total = sizes.reduce((n, size) => n + 2 * size, 0);
  const reading = readExactly(server.readable.getReader(), total);
  for (const size of sizes) {
    // Writes back to back, each from the same buffer changed as soon as the write resolved.
    const buffer = randomBytes(size);
    for (let round = 0; round < 2; round++) {
      expected.push(buffer.slice());
      await writer.write(buffer);
      buffer.fill(0xee);
    }
  }
  assert.equal(await sha256(await reading), await sha256(concat(expected)));
  await client.close();
  await server.closed; // the close ends both directions: the server's side has ended too
});

Deno.test("chunks the readable delivered never change while more records arrive", async () => {
  const [c, s] = await tcpPair();
  const [client, server] = await establish(c, s);
  const data = randomBytes(8 * MiB);
  const writer = client.writable.getWriter();
  const writing = (async () => {
    for (let offset = 0; offset < data.length; offset += 300_000) {
      await writer.write(data.subarray(offset, offset + 300_000));
    }
    await writer.close();
  })();
  const chunks: Uint8Array[] = [];
  for await (const chunk of server.readable) chunks.push(chunk); // kept as delivered, not copied
  await writing;
  assert.ok(chunks.length > 1);
  assert.equal(await sha256(concat(chunks)), await sha256(data));
});

Deno.test("bulk frames on the wire are whole tessera/1 records in sequence", async () => {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  const data = randomBytes(3 * MiB);
  await client.writable.getWriter().write(data);
  while (tap.heldBytes().length < data.length) await new Promise((r) => setTimeout(r, 1));
  const frames = splitFrames(tap.heldBytes());
  let content = 0;
  frames.forEach((frame, i) => {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    assert.equal(view.getUint32(0), frame.length - 4);
    assert.equal(frame[4], 0x17, "a record");
    assert.equal(frame[5], 0, "no flags");
    assert.equal(view.getBigUint64(4 + 6), BigInt(i), "sequence numbers in order from 0");
    content += frame.length - 4 - 14 - 1 - 16;
  });
  assert.equal(content, data.length);
  tap.inject(tap.heldBytes());
  const received = await readExactly(server.readable.getReader(), data.length);
  assert.equal(await sha256(received), await sha256(data));
  await client.abort();
});
