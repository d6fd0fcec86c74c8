// Peers that send what they should not: garbage, absurd frame lengths, tampered, replayed or
// reordered records. Each is dropped with a typed error; nothing after the fault is delivered,
// and other connections carry on.

import assert from "node:assert/strict";
import { HandshakeError, TransportError } from "../../lib/errors.ts";
import { connectSecure, serveSecure } from "../../lib/stream/mod.ts";
import {
  clientSession,
  establish,
  readAll,
  readExactly,
  serverSession,
  sleep,
  splitFrames,
  TappedPair,
  text,
} from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Everything a raw connection receives until it is closed. */
async function drain(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(...buf.subarray(0, n));
    }
  } catch {
    // Reset: closed all the same.
  }
  return new Uint8Array(chunks);
}

/** A server that greets each client by id, reporting failures into `errors`. */
function greeter(errors: unknown[]) {
  return serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    onError: (err) => errors.push(err),
  }, async (stream) => {
    const writer = stream.writable.getWriter();
    await writer.write(bytes(`hello ${text(stream.peerId)}`));
    await writer.close();
  });
}

async function greeted(port: number): Promise<string> {
  const stream = await connectSecure({ port, session: clientSession() });
  return text(await readAll(stream.readable));
}

Deno.test("a peer that sends garbage instead of a handshake is dropped with a HandshakeError while another client is served", async () => {
  const errors: unknown[] = [];
  const server = greeter(errors);
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    const garbage = crypto.getRandomValues(new Uint8Array(40));
    garbage.set([0, 0, 0, 36]);
    await raw.write(garbage);
    const [answer, other] = await Promise.all([drain(raw), greeted(server.addr.port)]);
    assert.equal(other, "hello client");
    // The server told the raw peer with a 4-byte plain alert frame, then closed.
    assert.deepEqual(answer.subarray(0, 4), new Uint8Array([0, 0, 0, 4]));
    assert.equal(answer[4], 0x15);
    assert.equal(answer.length, 8);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof HandshakeError, String(errors[0]));
  } finally {
    raw.close();
    await server.shutdown();
  }
});

Deno.test("a 4 GiB length prefix is refused from the prefix alone, and the connection dropped, while another client is served", async () => {
  const errors: unknown[] = [];
  const server = greeter(errors);
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await raw.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    const [answer, other] = await Promise.all([drain(raw), greeted(server.addr.port)]);
    assert.equal(other, "hello client");
    assert.equal(answer.length, 0);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TransportError);
    assert.equal(errors[0].code, "transport_frame_too_large");
  } finally {
    raw.close();
    await server.shutdown();
  }
});

/** An established pair whose client bytes the test holds back; `frames` are the client's next records. */
async function heldPair(...messages: string[]) {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  const writer = client.writable.getWriter();
  for (const message of messages) {
    const before = tap.held.length;
    await writer.write(bytes(message));
    while (tap.held.length === before) await sleep(1); // one record per message
  }
  return { tap, client, server, frames: splitFrames(tap.heldBytes()) };
}

Deno.test("a 4 GiB length prefix after the handshake fails the stream with transport_frame_too_large", async () => {
  const { tap, client, server, frames } = await heldPair("fine");
  tap.inject(frames[0]!);
  tap.inject(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 4)), "fine");
  await assert.rejects(reader.read(), { code: "transport_frame_too_large" });
  await assert.rejects(server.closed, { code: "transport_frame_too_large" });
  await client.abort();
});

Deno.test("a tampered record fails the stream with record_auth_failed after the records before it", async () => {
  const { tap, client, server, frames } = await heldPair("first", "second", "third");
  const tampered = frames[1]!.slice();
  tampered[tampered.length - 3]! ^= 0x01;
  tap.inject(frames[0]!);
  tap.inject(tampered);
  tap.inject(frames[2]!);
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 5)), "first");
  await assert.rejects(reader.read(), { code: "record_auth_failed" });
  await assert.rejects(server.closed, { code: "record_auth_failed" });
  assert.equal(server.state, "closed");
  await client.abort();
});

Deno.test("a replayed record fails the stream with record_replayed", async () => {
  const { tap, client, server, frames } = await heldPair("once", "twice");
  tap.inject(frames[0]!);
  tap.inject(frames[0]!);
  tap.inject(frames[1]!);
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 4)), "once");
  await assert.rejects(reader.read(), { code: "record_replayed" });
  await client.abort();
});

Deno.test("reordered records fail the stream with record_out_of_order, delivering nothing out of order", async () => {
  const { tap, client, server, frames } = await heldPair("one", "two", "three");
  tap.inject(frames[0]!);
  tap.inject(frames[2]!);
  tap.inject(frames[1]!);
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 3)), "one");
  await assert.rejects(reader.read(), { code: "record_out_of_order" });
  await client.abort();
});

Deno.test("a frame that is not a record fails the stream with record_malformed", async () => {
  const { tap, client, server } = await heldPair();
  const junk = new Uint8Array(44);
  junk.set([0, 0, 0, 40, 0x42]);
  tap.inject(junk);
  await assert.rejects(readAll(server.readable), { code: "record_malformed" });
  await assert.rejects(server.closed, { code: "record_malformed" });
  await client.abort();
});
