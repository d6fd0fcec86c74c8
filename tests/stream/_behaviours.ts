// The behaviours every transport must show, registered once per transport: over TCP and a Web
// streams pair in transport_behaviours_test.ts, over a Unix socket in _unix_socket_suite.ts
// (a child process with permission for exactly one socket path).

import assert from "node:assert/strict";
import { TransportError } from "../../lib/errors.ts";
import type { ByteStreamPair } from "../../lib/transport/framed_stream.ts";
import { concat, establish, randomBytes, readAll, readExactly, sha256, text } from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Registers the behaviours over the transport `name`, whose connected ends `pair()` makes. */
export function registerBehaviours(
  name: string,
  pair: () => Promise<[ByteStreamPair, ByteStreamPair]>,
): void {
  Deno.test(`closing the client's writable ends the server's readable cleanly after every byte (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const writer = client.writable.getWriter();
    await writer.write(bytes("first "));
    await writer.write(bytes("second"));
    await writer.close();
    assert.equal(text(await readAll(server.readable)), "first second");
    await Promise.all([client.closed, server.closed]);
    assert.equal(client.state, "closed");
    assert.equal(server.state, "closed");
    // tessera/1's close covers both directions: the server can write no more.
    await assert.rejects(server.writable.getWriter().write(bytes("late")), {
      code: "session_closed",
    });
  });

  Deno.test(`closing the server's writable ends the client's readable cleanly after every byte (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const writer = server.writable.getWriter();
    await writer.write(bytes("from the server"));
    await writer.close();
    assert.equal(text(await readAll(client.readable)), "from the server");
    await Promise.all([client.closed, server.closed]);
    await assert.rejects(client.writable.getWriter().write(bytes("late")), {
      code: "session_closed",
    });
  });

  Deno.test(`both sides closing at once both end cleanly (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    await Promise.all([client.close(), server.close()]);
    await Promise.all([client.closed, server.closed]);
  });

  Deno.test(`a reply read before closing arrives whole, and the closing side's readable then ends (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const served = (async () => {
      const reader = server.readable.getReader();
      const request = await readExactly(reader, 5);
      const writer = server.writable.getWriter();
      await writer.write(concat([bytes("echo "), request]));
      assert.equal((await reader.read()).done, true, "the client's close ends the request stream");
    })();
    const writer = client.writable.getWriter();
    const reader = client.readable.getReader();
    await writer.write(bytes("hello"));
    assert.equal(text(await readExactly(reader, 10)), "echo hello");
    await writer.close();
    assert.equal((await reader.read()).done, true);
    await served;
    await Promise.all([client.closed, server.closed]);
  });

  Deno.test(`a transport cut after data is a TransportError on the peer's readable, after the data (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const writer = client.writable.getWriter();
    await writer.write(bytes("partial"));
    const reader = server.readable.getReader();
    assert.equal(text(await readExactly(reader, 7)), "partial");
    await client.abort();
    const err = await reader.read().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof TransportError, `expected a TransportError, got ${err}`);
    assert.ok(err.code === "transport_closed" || err.code === "transport_failed", err.code);
    await assert.rejects(server.closed, TransportError);
    await assert.rejects(client.closed, { code: "session_closed" });
  });

  Deno.test(`random-size writes both ways at once arrive intact, by SHA-256 (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const send = async (writable: WritableStream<Uint8Array>, chunks: Uint8Array[]) => {
      const writer = writable.getWriter();
      for (const chunk of chunks) await writer.write(chunk);
      writer.releaseLock();
    };
    const up = randomChunks(1_500_000);
    const down = randomChunks(1_500_000);
    const [, , gotUp, gotDown] = await Promise.all([
      send(client.writable, up),
      send(server.writable, down),
      readExactly(server.readable.getReader(), 1_500_000),
      readExactly(client.readable.getReader(), 1_500_000),
    ]);
    assert.equal(await sha256(gotUp), await sha256(concat(up)));
    assert.equal(await sha256(gotDown), await sha256(concat(down)));
    await client.writable.close();
    await Promise.all([client.closed, server.closed]);
  });

  Deno.test(`one 20 MiB write is cut into records and read back intact (${name})`, async () => {
    const [client, server] = await establish(...await pair());
    const data = randomBytes(20 * 1024 * 1024);
    const expected = await sha256(data);
    const writer = client.writable.getWriter();
    const [, received] = await Promise.all([
      writer.write(data).then(() => writer.close()),
      readAll(server.readable),
    ]);
    assert.equal(received.length, data.length);
    assert.equal(await sha256(received), expected);
    await Promise.all([client.closed, server.closed]);
  });
}

/** Random chunks of `total` bytes in all: mostly small, some large, a few empty. */
export function randomChunks(total: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let left = total; left > 0;) {
    const roll = Math.random();
    const size = roll < 0.05 ? 0 : Math.min(left, Math.floor(Math.random() ** 4 * 300_000) + 1);
    chunks.push(randomBytes(size));
    left -= size;
  }
  return chunks;
}
