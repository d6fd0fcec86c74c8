// Handshakes have a deadline: a peer that stalls is dropped and everything it held is freed, on
// the server and on the client side.

import assert from "node:assert/strict";
import { HandshakeError } from "../../lib/errors.ts";
import { connectSecure, SecureStream, serveSecure } from "../../lib/stream/mod.ts";
import { clientSession, readAll, serverSession, text, webPair } from "./_helpers.ts";

/** Reads a raw connection until the other side closes it; resolves with the bytes read. */
async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buf = new Uint8Array(4096);
  let total = 0;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return total;
      total += n;
    }
  } catch {
    return total; // reset by the peer: closed all the same
  }
}

Deno.test("a client that stalls mid-handshake is dropped at the deadline, freeing its slot for the next client", async () => {
  const errors: unknown[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    handshakeTimeout: 300,
    maxConcurrentHandshakes: 1,
    onError: (err) => errors.push(err),
  }, async (stream) => {
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode("served"));
    await writer.close();
  });
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    // The start of a 100-byte ClientHello, then nothing.
    await stalled.write(new Uint8Array([0, 0, 0, 100, 1, 1, 1, 1]));
    const started = performance.now();
    const dropped = readToEnd(stalled);
    // The only handshake slot is taken: this client is accepted once the staller is dropped.
    const stream = await connectSecure({ port: server.addr.port, session: clientSession() });
    assert.equal(text(await readAll(stream.readable)), "served");
    assert.ok(performance.now() - started >= 150, "the second client waited for the slot");
    assert.equal(await dropped, 0, "the staller got nothing and its connection was closed");
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof HandshakeError);
    assert.equal(errors[0].code, "handshake_timeout");
  } finally {
    stalled.close();
    await server.shutdown();
  }
});

Deno.test("a client that connects and sends nothing is dropped at the deadline", async () => {
  const errors: string[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    handshakeTimeout: 100,
    onError: (err) => errors.push((err as HandshakeError).code),
  }, () => {});
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    assert.equal(await readToEnd(silent), 0);
    assert.deepEqual(errors, ["handshake_timeout"]);
  } finally {
    silent.close();
    await server.shutdown();
  }
});

Deno.test("connectSecure() gives up at its timeout against a server that never answers, and closes its connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const started = performance.now();
    await assert.rejects(
      connectSecure({ port: listener.addr.port, session: clientSession(), timeout: 200 }),
      (err) => err instanceof HandshakeError && err.code === "handshake_timeout",
    );
    assert.ok(performance.now() - started < 2000);
    const conn = await accepted;
    // The ClientHello arrived, then the client closed its side.
    assert.ok((await readToEnd(conn)) > 0);
    conn.close();
  } finally {
    listener.close();
  }
});

Deno.test("SecureStream.accept() past its handshakeTimeout rejects with handshake_timeout and releases the transport", async () => {
  const [clientEnd, serverEnd] = webPair();
  const accepting = SecureStream.accept(serverEnd, {
    session: serverSession(),
    handshakeTimeout: 50,
  });
  await assert.rejects(accepting, { code: "handshake_timeout" });
  // The server's side of the pipe is released (aborted): the client's reads and writes fail.
  await assert.rejects(clientEnd.readable.getReader().read());
  await assert.rejects(clientEnd.writable.getWriter().write(new Uint8Array(1)));
});

Deno.test("an aborted signal stops a handshake with the signal's reason", async () => {
  const [, serverEnd] = webPair();
  const controller = new AbortController();
  const accepting = SecureStream.accept(serverEnd, {
    session: serverSession(),
    signal: controller.signal,
  });
  const reason = new Error("no longer needed");
  controller.abort(reason);
  await assert.rejects(accepting, (err) => err === reason);
  const [clientEnd] = webPair();
  await assert.rejects(
    SecureStream.connect(clientEnd, { session: clientSession(), signal: controller.signal }),
    (err) => err === reason,
  );
});
