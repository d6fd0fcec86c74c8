// Records and reads do not line up: a record split at any byte, many records in one read, empty
// writes, and the records a stream chooses (coalesced, growing, never above the peer's limit).

import assert from "node:assert/strict";
import { tessera1 } from "../../lib/session/tessera1.ts";
import type { SecureStream } from "../../lib/stream/mod.ts";
import {
  clientSession,
  concat,
  establish,
  randomBytes,
  readAll,
  readExactly,
  serverSession,
  sleep,
  splitFrames,
  TappedPair,
  text,
  webPair,
} from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
/** Frame prefix, record header, content type and tag around a record's content. */
const FRAMING = 4 + 14 + 1 + 16;

/** An established pair whose client bytes are held back for the test from now on. */
async function held(): Promise<{ tap: TappedPair; client: SecureStream; server: SecureStream }> {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  return { tap, client, server };
}

/** Writes each message as a record of its own (waits for it to be sealed and sent). */
async function writeRecords(tap: TappedPair, client: SecureStream, messages: Uint8Array[]) {
  const writer = client.writable.getWriter();
  for (const message of messages) {
    const before = tap.held.length;
    await writer.write(message);
    while (tap.held.length === before) await sleep(1);
  }
  writer.releaseLock();
}

Deno.test("records split at every byte boundary are read whole", async () => {
  const { tap, client, server } = await held();
  // Records of one size; record k arrives cut after its k-th byte, so every cut point is used.
  const messages = Array.from({ length: 41 }, (_, i) => bytes(`message ${String(i).padStart(2)}`));
  await writeRecords(tap, client, messages);
  const frames = splitFrames(tap.heldBytes());
  assert.equal(frames.length, messages.length);
  assert.equal(frames[0]!.length, messages[0]!.length + FRAMING);
  const reader = server.readable.getReader();
  for (let k = 0; k < frames.length; k++) {
    const cut = Math.min(k + 1, frames[k]!.length - 1);
    tap.inject(frames[k]!.slice(0, cut));
    await sleep(0);
    tap.inject(frames[k]!.slice(cut));
    assert.equal(text(await readExactly(reader, messages[k]!.length)), text(messages[k]!));
  }
  // And a run of records delivered one byte at a time.
  const more = Array.from({ length: 5 }, (_, i) => randomBytes(100 + i * 300));
  await writeRecords(tap, client, more);
  const rest = tap.heldBytes().subarray(frames.reduce((n, f) => n + f.length, 0));
  for (const byte of rest) tap.inject(new Uint8Array([byte]));
  assert.deepEqual(await readExactly(reader, 100 * 5 + 300 * 10), concat(more));
  await client.abort();
});

Deno.test("many records in one read are all delivered, in order", async () => {
  const { tap, client, server } = await held();
  const messages = Array.from({ length: 100 }, (_, i) => bytes(`<${i}>`));
  await writeRecords(tap, client, messages);
  assert.equal(splitFrames(tap.heldBytes()).length, 100);
  tap.inject(tap.heldBytes()); // one chunk
  const all = text(await readExactly(server.readable.getReader(), concat(messages).length));
  assert.equal(all, messages.map((m) => text(m)).join(""));
  await client.abort();
});

Deno.test("zero-length writes resolve and send nothing", async () => {
  const { tap, client, server } = await held();
  const writer = client.writable.getWriter();
  for (let i = 0; i < 10; i++) await writer.write(new Uint8Array(0));
  await sleep(20);
  assert.equal(tap.held.length, 0);
  assert.equal(client.bufferedAmount, 0);
  await writer.write(bytes("x"));
  await writer.write(new Uint8Array(0));
  while (tap.held.length === 0) await sleep(1);
  assert.equal(splitFrames(tap.heldBytes()).length, 1);
  tap.inject(tap.heldBytes());
  assert.equal(text(await readExactly(server.readable.getReader(), 1)), "x");
  await client.abort();
});

Deno.test("small writes made while a record is being sealed are coalesced into far fewer records", async () => {
  const { tap, client, server } = await held();
  const writer = client.writable.getWriter();
  const messages = Array.from({ length: 2000 }, (_, i) => bytes(`${i};`));
  for (const message of messages) await writer.write(message); // each resolves at once
  const total = concat(messages).length;
  while (tap.heldBytes().length < total + FRAMING) await sleep(2);
  await sleep(20);
  const frames = splitFrames(tap.heldBytes());
  assert.ok(frames.length < 200, `${frames.length} records for 2000 small writes`);
  tap.inject(tap.heldBytes());
  assert.equal(
    text(await readExactly(server.readable.getReader(), total)),
    messages.map(text).join(""),
  );
  await client.abort();
});

Deno.test("a single write into an idle stream is sealed at once, whatever its size", async () => {
  const { tap, client } = await held();
  const writer = client.writable.getWriter();
  await writer.write(bytes("ping"));
  while (tap.held.length === 0) await sleep(1);
  assert.equal(splitFrames(tap.heldBytes())[0]!.length, 4 + FRAMING);
  await client.abort();
});

Deno.test("a large write starts with small records and grows them while data keeps coming", async () => {
  const { tap, client, server } = await held();
  const data = randomBytes(3 * 1024 * 1024);
  const writer = client.writable.getWriter();
  await writer.write(data);
  while (tap.heldBytes().length < data.length) await sleep(2);
  await sleep(20);
  const sizes = splitFrames(tap.heldBytes()).map((f) => f.length - FRAMING);
  assert.equal(sizes.reduce((a, b) => a + b, 0), data.length);
  assert.equal(sizes[0], 16 * 1024, "the first record is small");
  const largest = Math.max(...sizes);
  assert.ok(largest > 16 * 1024, "records grew");
  assert.ok(largest <= 256 * 1024, "records stay within 256 KiB");
  for (let i = 1; i < sizes.length - 1; i++) {
    assert.ok(sizes[i]! >= sizes[i - 1]!, "never shrinking");
  }
  tap.inject(tap.heldBytes());
  assert.deepEqual(await readExactly(server.readable.getReader(), data.length), data);
  await client.abort();
});

Deno.test("records never exceed the record size the peer declared", async () => {
  // Only the server declares 1000 bytes in its handshake; the client's own limit is the default.
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server, {
    server: { session: serverSession({ maxRecordSize: 1000 }) },
  });
  assert.equal(client.session.peerMaxRecordSize, 1000);
  tap.hold();
  const data = randomBytes(50_000);
  const writer = client.writable.getWriter();
  await writer.write(data.subarray(0, 20_000));
  await writer.write(data.subarray(20_000));
  while (tap.heldBytes().length < data.length) await sleep(2);
  await sleep(20);
  const sizes = splitFrames(tap.heldBytes()).map((f) => f.length - FRAMING);
  assert.ok(Math.max(...sizes) <= 1000, `largest record ${Math.max(...sizes)}`);
  assert.equal(sizes.reduce((a, b) => a + b, 0), data.length);
  tap.inject(tap.heldBytes());
  assert.deepEqual(await readExactly(server.readable.getReader(), data.length), data);
  await client.abort();
});

Deno.test("records never exceed the stream's own session maxRecordSize", async () => {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server, {
    client: { session: clientSession({ maxRecordSize: 3000 }) },
    server: { session: serverSession({ maxRecordSize: 3000 }) },
  });
  tap.hold();
  const data = randomBytes(40_000);
  await client.writable.getWriter().write(data);
  while (tap.heldBytes().length < data.length) await sleep(2);
  await sleep(20);
  const sizes = splitFrames(tap.heldBytes()).map((f) => f.length - FRAMING);
  assert.ok(Math.max(...sizes) <= 3000);
  tap.inject(tap.heldBytes());
  assert.deepEqual(await readExactly(server.readable.getReader(), data.length), data);
  await client.abort();
});

Deno.test("a session profile whose records the stream does not know is read one record at a time", async () => {
  // The same protocol under another name: the stream cannot read its record headers, so it
  // lets the session take records in order through receive().
  const profile = { ...tessera1, name: "tessera/1 under another name" };
  const [client, server] = await establish(...webPair(), {
    client: { session: clientSession({ profile }) },
    server: { session: serverSession({ profile }) },
  });
  const data = randomBytes(300_000);
  const writer = client.writable.getWriter();
  const [, received] = await Promise.all([
    writer.write(data).then(() => writer.close()),
    readAll(server.readable),
  ]);
  assert.deepEqual(received, data);
  await Promise.all([client.closed, server.closed]);
});
