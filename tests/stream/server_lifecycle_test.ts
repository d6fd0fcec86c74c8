// A secure server's life: handlers own their connection until they return, shutdown() drains,
// close() and failures cut, a signal stops it, and it works from a listener it is given.

import assert from "node:assert/strict";
import { TransportError } from "../../lib/errors.ts";
import { connectSecure, type SecureStream, serveSecure } from "../../lib/stream/mod.ts";
import { clientSession, readAll, readExactly, serverSession, sleep, text } from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Whether a promise is still pending after the callbacks queued so far and `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await sleep(ms);
  return !settled;
}

Deno.test("shutdown() stops accepting at once and resolves when the open streams have ended", async () => {
  let handlers = 0;
  const server = serveSecure(
    { hostname: "127.0.0.1", port: 0, session: serverSession() },
    async (stream) => {
      handlers++;
      // Serve until the client says bye.
      const reader = stream.readable.getReader();
      assert.equal(text(await readExactly(reader, 3)), "bye");
    },
  );
  const port = server.addr.port;
  const stream = await connectSecure({ port, session: clientSession() });
  while (handlers === 0) await sleep(1);
  const shutdown = server.shutdown();
  assert.ok(await pendingAfter(shutdown, 50), "shutdown waits for the open stream");
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  await stream.writable.getWriter().write(bytes("bye"));
  // The handler returned: the server closed the stream, the client's readable ends cleanly.
  assert.equal((await readAll(stream.readable)).length, 0);
  await shutdown;
  await server.finished;
  await stream.closed;
});

Deno.test("an aborted signal shuts the server down", async () => {
  const controller = new AbortController();
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    signal: controller.signal,
  }, () => {});
  controller.abort();
  await server.finished;
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("close() cuts the open streams: their clients see a TransportError, their handlers end unreported", async () => {
  const streams: SecureStream[] = [];
  const errors: unknown[] = [];
  const server = serveSecure(
    {
      hostname: "127.0.0.1",
      port: 0,
      session: serverSession(),
      onError: (err) => errors.push(err),
    },
    (stream) => {
      streams.push(stream);
      return stream.readable.pipeTo(stream.writable); // rejects when the stream is cut
    },
  );
  const client = await connectSecure({ port: server.addr.port, session: clientSession() });
  while (streams.length === 0) await sleep(1);
  await server.close();
  await assert.rejects(readAll(client.readable), TransportError);
  await assert.rejects(streams[0]!.closed, { code: "session_closed" });
  assert.deepEqual(errors, []);
  // The cut client ends too; a record it was sealing when the transport went away settles
  // before the test ends (Deno 2.5's sanitizer reports any crypto call still running).
  await client.abort().catch(() => {});
  await client.closed.catch(() => {});
  await sleep(50);
});

Deno.test("a handler that throws is reported and its stream cut; one that returns has its stream closed cleanly", async () => {
  const errors: unknown[] = [];
  const boom = new Error("handler bug");
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    onError: (err) => errors.push(err),
  }, async (stream) => {
    const request = text(await readExactly(stream.readable.getReader(), 4));
    const writer = stream.writable.getWriter();
    await writer.write(bytes("ok:" + request));
    if (request === "fail") throw boom;
  });
  try {
    const good = await connectSecure({ port: server.addr.port, session: clientSession() });
    await good.writable.getWriter().write(bytes("good"));
    assert.equal(text(await readAll(good.readable)), "ok:good");
    await good.closed;

    const bad = await connectSecure({ port: server.addr.port, session: clientSession() });
    await bad.writable.getWriter().write(bytes("fail"));
    // What was written before the throw arrives; then the cut: never a clean end.
    await assert.rejects(readAll(bad.readable), TransportError);
    await assert.rejects(bad.closed, TransportError);
    assert.deepEqual(errors, [boom]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a handshake under way when the server shuts down is dropped", async () => {
  const errors: unknown[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    onError: (err) => errors.push(err),
  }, () => {});
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await raw.write(new Uint8Array([0, 0, 0, 50, 1])); // a handshake message that never completes
  await sleep(50);
  await server.shutdown();
  assert.equal(await raw.read(new Uint8Array(10)), null);
  raw.close();
  assert.deepEqual(errors, [], "dropping handshakes at shutdown is no error");
});

Deno.test("a server given a listener accepts from it and closes it when it stops", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = serveSecure({ listener, session: serverSession() }, async (stream) => {
    await stream.writable.getWriter().write(bytes("from the given listener"));
  });
  assert.equal(server.addr.port, listener.addr.port);
  const stream = await connectSecure({ port: server.addr.port, session: clientSession() });
  assert.equal(text(await readAll(stream.readable)), "from the given listener");
  await server.shutdown();
  assert.throws(() => listener.close(), Deno.errors.BadResource);
});

Deno.test("await using shuts the server down at the end of the block", async () => {
  let port: number;
  {
    await using server = serveSecure(
      { hostname: "127.0.0.1", port: 0, session: serverSession() },
      () => {},
    );
    port = server.addr.port;
  }
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
