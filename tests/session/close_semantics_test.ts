// What close() does, on either side: to this side's pending and later calls, to the peer (the
// authenticated close, then receive() -> null), and to the transport (closed: a Deno.Conn under
// a framedStreamTransport, the socket under a webSocketTransport).

import assert from "node:assert/strict";
import { SessionStateError, TransportError } from "../../lib/errors.ts";
import { SecureSession, type SessionTransport } from "../../lib/session/secure_session.ts";
import { framedStreamTransport } from "../../lib/transport/framed_stream.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { webSocketTransport } from "../../lib/transport/websocket.ts";
import { settledWithin } from "../_settled.ts";
import { watchingCrypto } from "../_watching_crypto.ts";
import {
  alice,
  bob,
  bytes,
  callbackPair,
  CountingTransport,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";

const sides = ["client", "server"] as const;

/** A memory transport that counts close() calls. */
class ClosingTransport extends CountingTransport {
  closes = 0;
  override close(): void {
    this.closes++;
    super.close();
  }
}

async function closingPair(): Promise<{
  client: SecureSession;
  server: SecureSession;
  ends: { client: ClosingTransport; server: ClosingTransport };
}> {
  const [a, b] = memoryTransportPair();
  const ends = { client: new ClosingTransport(a), server: new ClosingTransport(b) };
  const client = session({ transport: ends.client }, alice);
  const server = session({ self: bob, transport: ends.server });
  await Promise.all([client.connect(), server.accept()]);
  return { client, server, ends };
}

Deno.test("close() from either side: the peer receives what was sent before, then null, and both transports are closed", async () => {
  for (const closer of sides) {
    const { ends, ...pair } = await closingPair();
    const [self, peer] = closer === "client"
      ? [pair.client, pair.server]
      : [pair.server, pair.client];
    await self.send(bytes("one"));
    const sending = self.send(bytes("two")); // made before close(): written before the close
    const record = await self.close();
    await sending;
    assert.ok(record instanceof Uint8Array, "an established session returns its close record");
    assert.equal(ends[closer].closes, 1, `${closer}: close() closes the transport`);
    assert.equal(text(await peer.receive()), "one");
    assert.equal(text(await peer.receive()), "two");
    assert.equal(await peer.receive(), null, `${closer} closed: the peer sees a clean end`);
    assert.equal(peer.state, "closed");
    assert.equal(peer.error, null);
    const other = closer === "client" ? "server" : "client";
    assert.equal(ends[other].closes, 1, "the peer's close closes the peer's transport too");
    assert.equal(await peer.receive(), null, "and every later receive() is the end as well");
  }
});

Deno.test("a receive() pending when this side closes resolves to null, on either side, and so do later ones", async () => {
  for (const closer of sides) {
    const { ends, ...pair } = await closingPair();
    const self = pair[closer];
    const pending = self.receive();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await self.close();
    assert.equal(await settledWithin(pending, 500), null, `${closer}: the pending receive()`);
    assert.equal(await self.receive(), null);
    assert.equal(self.error, null);
    assert.equal(ends[closer].closes, 1);
    await rejectsWith(self.send(bytes("after")), "session_closed", SessionStateError);
    await rejectsWith(self.wrap(bytes("after")), "session_closed", SessionStateError);
    // The peer is told as well.
    const peer = closer === "client" ? pair.server : pair.client;
    assert.equal(await peer.receive(), null);
  }
});

Deno.test("a receive() that runs the handshake resolves to null when this side closes during it", async () => {
  const [, b] = memoryTransportPair();
  const end = new ClosingTransport(b);
  const server = session({ self: bob, transport: end });
  const pending = server.receive(); // accepts first: nobody connects
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(await server.close(), null, "nothing to seal before the handshake");
  assert.equal(await settledWithin(pending, 500), null);
  assert.equal(end.closes, 1);
});

Deno.test("close() twice closes the transport again harmlessly and returns null the second time", async () => {
  const { client, ends } = await closingPair();
  assert.ok(await client.close());
  assert.equal(await client.close(), null);
  assert.equal(ends.client.closes, 2);
});

Deno.test("a second close() resolves only once the first one's close record is sealed and sent", async () => {
  const { client, server } = await closingPair();
  await watchingCrypto(async (pending) => {
    const first = client.close(); // seals the close record: not awaited yet
    assert.equal(await client.close(), null);
    assert.deepEqual(pending(), [], "the first close() was still sealing");
    assert.ok(await first);
  });
  assert.equal(await server.receive(), null); // the peer got the close record
});

Deno.test("close() after the peer's close returns null: nothing left to seal", async () => {
  const { client, server } = await closingPair();
  await client.close();
  assert.equal(await server.receive(), null);
  assert.equal(await server.close(), null);
  assert.equal(server.error, null);
});

Deno.test("close() on a session that failed closes its transport and resolves null", async () => {
  const { client, server, ends } = await closingPair();
  await ends.client.inner.send(new Uint8Array(40)); // not a record of this session
  await rejectsWith(server.receive(), "record_malformed");
  assert.equal(ends.server.closes, 1, "a failed stream closes its transport at once");
  assert.equal(await server.close(), null);
  await rejectsWith(client.receive(), "transport_closed", TransportError);
});

Deno.test("close() when the close record cannot be written still closes the transport and resolves", async () => {
  const { client } = await callbackPair();
  const [a] = memoryTransportPair();
  let closes = 0;
  const broken: SessionTransport = {
    send: () => Promise.reject(new Error("cut")),
    receive: () => a.receive(),
    close: () => void closes++,
  };
  const key = crypto.getRandomValues(new Uint8Array(32));
  const moved = await SecureSession.restore(await client.save(key), key, { transport: broken });
  const record = await moved.close();
  assert.ok(record instanceof Uint8Array);
  assert.equal(closes, 1);
  assert.equal(moved.state, "closed");
  assert.equal(await moved.receive(), null);
});

Deno.test("close() after save() leaves the transport to the restored session", async () => {
  const [a, b] = memoryTransportPair();
  const end = new ClosingTransport(a);
  const client = session({ transport: end }, alice);
  const server = session({ self: bob, transport: b });
  await Promise.all([client.connect(), server.accept()]);
  const key = crypto.getRandomValues(new Uint8Array(32));
  const saved = await client.save(key);
  assert.equal(await client.close(), null);
  assert.equal(end.closes, 0);
  const restored = await SecureSession.restore(saved, key, { transport: end });
  await restored.send(bytes("still here"));
  assert.equal(text(await server.receive()), "still here");
  await restored.close();
  assert.equal(end.closes, 1);
  assert.equal(await server.receive(), null);
});

Deno.test("a transport that ends without the peer's close is transport_closed on receive(), never null", async () => {
  for (const cutter of sides) {
    const { ends, ...pair } = await closingPair();
    ends[cutter].inner.close(); // the peer's transport ends, no close record
    const other = cutter === "client" ? pair.server : pair.client;
    await rejectsWith(other.receive(), "transport_closed", TransportError);
    assert.notEqual(other.error, null);
  }
});

/** Two connected TCP sockets on 127.0.0.1. */
async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [client, accepted] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
    return [client, accepted];
  } finally {
    listener.close();
  }
}

Deno.test("over TCP, close() from either side closes both Deno.Conn connections and the peer sees a clean end", async () => {
  for (const closer of sides) {
    const [clientConn, serverConn] = await tcpPair();
    const client = session({ transport: framedStreamTransport(clientConn) }, alice);
    const server = session({ self: bob, transport: framedStreamTransport(serverConn) });
    await Promise.all([client.connect(), server.accept()]);
    const [self, peer] = closer === "client" ? [client, server] : [server, client];
    await self.send(bytes("bye"));
    await self.close();
    assert.equal(text(await peer.receive()), "bye");
    assert.equal(await peer.receive(), null);
    // Both connections are closed (the resource sanitizer would report a leak otherwise).
    assert.throws(() => clientConn.close(), Deno.errors.BadResource);
    assert.throws(() => serverConn.close(), Deno.errors.BadResource);
  }
});

Deno.test("over TCP, a connection cut without a close is transport_closed on the other side", async () => {
  const [clientConn, serverConn] = await tcpPair();
  const client = session({ transport: framedStreamTransport(clientConn) }, alice);
  const server = session({ self: bob, transport: framedStreamTransport(serverConn) });
  await Promise.all([client.connect(), server.accept()]);
  clientConn.close(); // no close record
  await rejectsWith(server.receive(), "transport_closed", TransportError);
  assert.throws(() => serverConn.close(), Deno.errors.BadResource, "the failed session closed it");
});

Deno.test("over a WebSocket, close() from either side closes both sockets and the peer sees a clean end", async () => {
  for (const closer of sides) {
    let serverSocket!: WebSocket;
    const serverSession = Promise.withResolvers<SecureSession>();
    const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      serverSocket = socket;
      const s = session({ self: bob, transport: webSocketTransport(socket) });
      s.accept().then(() => serverSession.resolve(s), serverSession.reject);
      return response;
    });
    try {
      const clientSocket = new WebSocket(`ws://127.0.0.1:${http.addr.port}`);
      const client = session({ transport: webSocketTransport(clientSocket) }, alice);
      await client.connect();
      const server = await serverSession.promise;
      const closed = [clientSocket, serverSocket].map((ws) =>
        ws.readyState === WebSocket.CLOSED
          ? Promise.resolve()
          : new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }))
      );
      const [self, peer] = closer === "client" ? [client, server] : [server, client];
      await self.send(bytes("bye"));
      await self.close();
      assert.equal(text(await peer.receive()), "bye");
      assert.equal(await peer.receive(), null);
      await Promise.all(closed);
      assert.equal(clientSocket.readyState, WebSocket.CLOSED);
      assert.equal(serverSocket.readyState, WebSocket.CLOSED);
    } finally {
      await http.shutdown();
    }
  }
});
