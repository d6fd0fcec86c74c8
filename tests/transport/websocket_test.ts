import assert from "node:assert/strict";
import { generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { webSocketTransport } from "../../lib/transport/mod.ts";

/** Serves one WebSocket on 127.0.0.1 and hands its server end to `onSocket`. */
function serveOne(onSocket: (socket: WebSocket) => void): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    onSocket(socket);
    return response;
  });
}

Deno.test("a SecureSession runs over a WebSocket upgraded by Deno.serve", async () => {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const lookup = (id: Uint8Array): CryptoKey => (id[0] === 0x63 ? a.publicKey : b.publicKey);
  let serverDone!: Promise<string[]>;
  const server = serveOne((socket) => {
    const session = new SecureSession({
      id: "server",
      privateKey: b.privateKey,
      getPublicKeyForId: lookup,
      transport: webSocketTransport(socket),
    });
    serverDone = (async () => {
      const got: string[] = [];
      for (let i = 0; i < 10; i++) {
        const m = await session.receive();
        if (m === null) break;
        got.push(new TextDecoder().decode(m));
        await session.send(m);
      }
      return got;
    })();
  });
  try {
    const transport = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
    const client = new SecureSession({
      id: "client",
      privateKey: a.privateKey,
      getPublicKeyForId: lookup,
      transport,
    });
    await client.connect();
    await client.send(new TextEncoder().encode("over websocket"));
    assert.equal(new TextDecoder().decode((await client.receive())!), "over websocket");
    await client.close();
    assert.deepEqual(await serverDone, ["over websocket"]);
    transport.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("webSocketTransport() fails on a text message and on an oversized one", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      socket.send("text is not a session message");
    };
  });
  try {
    const t = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
    await assert.rejects(t.receive(), { code: "transport_failed" });
    await assert.rejects(t.send(new Uint8Array(1)), { code: "transport_failed" });
  } finally {
    await server.shutdown();
  }
  const big = serveOne((socket) => {
    socket.onopen = () => socket.send(new Uint8Array(100));
  });
  try {
    const t = webSocketTransport(new WebSocket(`ws://127.0.0.1:${big.addr.port}`), {
      maxMessageSize: 10,
    });
    await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  } finally {
    await big.shutdown();
  }
});

Deno.test("webSocketTransport() resolves receive() to null once the socket closed", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      socket.send(new Uint8Array([1]));
      socket.close();
    };
  });
  try {
    const t = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
    assert.deepEqual(await t.receive(), new Uint8Array([1]));
    assert.equal(await t.receive(), null);
  } finally {
    await server.shutdown();
  }
});

Deno.test("webSocketTransport() fails a peer that floods more unread bytes than allowed", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      for (let i = 0; i < 8; i++) socket.send(new Uint8Array(1000));
    };
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}`);
    const t = webSocketTransport(ws, { maxQueuedBytes: 3000 });
    // Read nothing until the whole flood has arrived.
    await new Promise<void>((resolve) => {
      let seen = 0;
      ws.addEventListener("message", () => ++seen === 8 && resolve());
    });
    await assert.rejects(t.receive(), { code: "transport_failed" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("webSocketTransport() honours a lower limit() set by the session", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => socket.send(new Uint8Array(100));
  });
  try {
    const t = webSocketTransport(new WebSocket(`ws://127.0.0.1:${server.addr.port}`));
    t.limit(10);
    await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  } finally {
    await server.shutdown();
  }
});
