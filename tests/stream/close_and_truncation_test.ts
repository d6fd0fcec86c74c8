// How secure streams end, beyond what every transport shows (_behaviours.ts): what closing does
// to a Deno.Conn, and every way of losing the transport without the close, never a clean end.

import assert from "node:assert/strict";
import { TransportError } from "../../lib/errors.ts";
import { establish, readAll, readExactly, sleep, TappedPair, tcpPair, text } from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

Deno.test("closing a secure stream over a Deno.Conn closes the connection", async () => {
  const [a, b] = await tcpPair();
  const [client, server] = await establish(a, b);
  await client.close();
  await server.closed;
  // Both sockets are released: the resources are gone.
  assert.throws(() => a.close(), Deno.errors.BadResource);
  assert.throws(() => b.close(), Deno.errors.BadResource);
});

Deno.test("a TCP connection cut without the close is transport_closed, never a clean end", async () => {
  const [a, b] = await tcpPair();
  const [client, server] = await establish(a, b);
  const writer = client.writable.getWriter();
  await writer.write(bytes("data"));
  await sleep(20);
  a.close(); // the socket goes away under the stream: no close record
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 4)), "data");
  await assert.rejects(reader.read(), { code: "transport_closed" });
  await assert.rejects(server.closed, { code: "transport_closed" });
  await assert.rejects(client.closed, TransportError);
});

Deno.test("a transport that ends inside a record is transport_closed", async () => {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  const writer = client.writable.getWriter();
  await writer.write(bytes("this record is cut short"));
  while (tap.held.length === 0) await sleep(1);
  const frame = tap.heldBytes();
  tap.inject(frame.subarray(0, frame.length - 5));
  tap.end();
  await assert.rejects(readAll(server.readable), { code: "transport_closed" });
  await assert.rejects(server.closed, { code: "transport_closed" });
  await client.abort();
});

Deno.test("a transport that ends cleanly between records, without the close, is transport_closed", async () => {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  const writer = client.writable.getWriter();
  await writer.write(bytes("whole record"));
  while (tap.held.length === 0) await sleep(1);
  tap.inject(tap.heldBytes());
  tap.end();
  const reader = server.readable.getReader();
  assert.equal(text(await readExactly(reader, 12)), "whole record");
  await assert.rejects(reader.read(), { code: "transport_closed" });
  await client.abort();
});

Deno.test("a close whose records before it were withheld is refused, never a clean end", async () => {
  const tap = new TappedPair();
  const [client, server] = await establish(tap.client, tap.server);
  tap.hold();
  const writer = client.writable.getWriter();
  await writer.write(bytes("withheld"));
  await writer.close();
  const frames = tap.heldBytes();
  // The data record is dropped; only the close (the last frame) arrives.
  const dataLength = 4 + new DataView(frames.buffer, frames.byteOffset).getUint32(0);
  tap.inject(frames.subarray(dataLength));
  await assert.rejects(readAll(server.readable), { code: "record_out_of_order" });
  await assert.rejects(server.closed, { code: "record_out_of_order" });
  await client.closed;
});

Deno.test("writable.abort() cuts the stream: both sides fail, nothing is sent after it", async () => {
  const [a, b] = await tcpPair();
  const [client, server] = await establish(a, b);
  const reason = new Error("gave up");
  await client.writable.abort(reason);
  await assert.rejects(client.closed, (err) => err === reason);
  await assert.rejects(readAll(server.readable), TransportError);
  await assert.rejects(server.closed, TransportError);
});

Deno.test("close() twice is harmless and rejects with the failure of a stream that failed", async () => {
  const [client, server] = await establish(...await tcpPair());
  await Promise.all([client.close(), client.close()]);
  await server.closed;
  const [c2, s2] = await establish(...await tcpPair());
  await c2.abort(new TransportError("transport_failed", "test"));
  await assert.rejects(c2.close(), { code: "transport_failed" });
  await assert.rejects(s2.closed, TransportError);
});

Deno.test("cancelling the readable stops reading; the writable still works until it closes", async () => {
  const [client, server] = await establish(...await tcpPair());
  await server.readable.cancel();
  const writer = server.writable.getWriter();
  await writer.write(bytes("still writing"));
  await writer.close();
  assert.equal(text(await readAll(client.readable)), "still writing");
  await Promise.all([client.closed, server.closed]);
});
