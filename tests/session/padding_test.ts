import assert from "node:assert/strict";
import { bufferPair, bytes, text } from "./_helpers.ts";

Deno.test("a block-size padding policy makes records of different lengths look the same", async () => {
  const { client, server } = await bufferPair({ padding: { blockSize: 32 } });
  const lengths = new Set<number>();
  for (const message of ["", "a", "hello", "x".repeat(30)]) {
    const record = await client.wrap(bytes(message));
    lengths.add(record.length);
    assert.equal(text(await server.unwrap(record)), message);
  }
  assert.deepEqual([...lengths], [14 + 32 + 16]);
  // 31 bytes and the content type fill the block exactly; one byte more spills into the next.
  assert.equal((await client.wrap(bytes("x".repeat(31)))).length, 14 + 32 + 16);
  assert.equal((await client.wrap(bytes("x".repeat(32)))).length, 14 + 64 + 16);
});

Deno.test("a padding function chooses the padding; zero bytes of data survive it", async () => {
  const { client, server } = await bufferPair({ padding: (n) => (n < 100 ? 100 - n : 0) });
  const zeros = new Uint8Array(10); // content ending in zero bytes is not mistaken for padding
  const record = await client.wrap(zeros);
  assert.equal(record.length, 14 + 100 + 1 + 16);
  assert.deepEqual(await server.unwrap(record), zeros);
  assert.equal((await client.wrap(new Uint8Array(200))).length, 14 + 200 + 1 + 16);
});

Deno.test("a close is padded like data", async () => {
  const { client, server } = await bufferPair({ padding: { blockSize: 64 } });
  const close = (await client.close())!;
  assert.equal(close.length, 14 + 64 + 16);
  assert.equal(await server.unwrap(close), null);
});

Deno.test("padding policies are checked: block size 1 to 256, functions return 0 to 256", async () => {
  for (const padding of [{ blockSize: 0 }, { blockSize: 257 }, { blockSize: 1.5 }]) {
    await assert.rejects(bufferPair({ padding }), RangeError);
  }
  await assert.rejects(bufferPair({ padding: "some" as unknown as "none" }), TypeError);
  const { client } = await bufferPair({ padding: () => 257 });
  await assert.rejects(client.wrap(bytes("x")), RangeError);
  const { client: other } = await bufferPair({ padding: () => -1 });
  await assert.rejects(other.wrap(bytes("x")), RangeError);
});

Deno.test("records with the most padding are accepted at maxRecordSize", async () => {
  const { client, server } = await bufferPair({ padding: () => 256, maxRecordSize: 64 }, {
    maxRecordSize: 64,
  });
  const record = await client.wrap(new Uint8Array(64));
  assert.deepEqual(await server.unwrap(record), new Uint8Array(64));
});
