import assert from "node:assert/strict";
import { generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { webSocketTransport } from "../../lib/transport/mod.ts";

/** Resolves once `socket` has closed. Call it before the socket can close. */
function closed(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => socket.addEventListener("close", () => resolve()));
}

/** A server of WebSockets on 127.0.0.1. */
interface Served {
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly url: string;
  /** Waits until the given client sockets and every server socket have closed, then stops. */
  stop(...clients: Promise<void>[]): Promise<void>;
}

/** Serves WebSockets on 127.0.0.1 and hands each server end to `onSocket`. */
function serveOne(onSocket: (socket: WebSocket) => void): Served {
  const sockets: Promise<void>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    sockets.push(closed(socket));
    onSocket(socket);
    return response;
  });
  return {
    server,
    url: `ws://127.0.0.1:${server.addr.port}`,
    async stop(...clients: Promise<void>[]): Promise<void> {
      // Both ends of every socket are closed before the test ends: nothing is left open.
      await Promise.all([...clients, ...sockets]);
      await server.shutdown();
    },
  };
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
  const ws = new WebSocket(server.url);
  const wsClosed = closed(ws);
  try {
    const transport = webSocketTransport(ws);
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
  } finally {
    ws.close();
    await server.stop(wsClosed);
  }
});

/** Opens a client socket to `served`; `ended` resolves once it has closed. */
function open(served: Served): { ws: WebSocket; ended: Promise<void> } {
  const ws = new WebSocket(served.url);
  return { ws, ended: closed(ws) };
}

Deno.test("webSocketTransport() fails on a text message and on an oversized one", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      socket.send("text is not a session message");
    };
  });
  const text = open(server);
  try {
    const t = webSocketTransport(text.ws);
    await assert.rejects(t.receive(), { code: "transport_failed" });
    await assert.rejects(t.send(new Uint8Array(1)), { code: "transport_failed" });
  } finally {
    text.ws.close();
    await server.stop(text.ended);
  }
  const big = serveOne((socket) => {
    socket.onopen = () => socket.send(new Uint8Array(100));
  });
  const client = open(big);
  try {
    const t = webSocketTransport(client.ws, { maxMessageSize: 10 });
    await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  } finally {
    client.ws.close();
    await big.stop(client.ended);
  }
});

Deno.test("webSocketTransport() resolves receive() to null once the socket closed", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      socket.send(new Uint8Array([1]));
      socket.close();
    };
  });
  const client = open(server);
  try {
    const t = webSocketTransport(client.ws);
    assert.deepEqual(await t.receive(), new Uint8Array([1]));
    assert.equal(await t.receive(), null);
  } finally {
    client.ws.close();
    await server.stop(client.ended);
  }
});

Deno.test("webSocketTransport() fails a peer that floods more unread bytes than allowed", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => {
      for (let i = 0; i < 8; i++) socket.send(new Uint8Array(1000));
    };
  });
  const client = open(server);
  try {
    const t = webSocketTransport(client.ws, { maxQueuedBytes: 3000 });
    // Read nothing until the whole flood has arrived.
    await new Promise<void>((resolve) => {
      let seen = 0;
      client.ws.addEventListener("message", () => ++seen === 8 && resolve());
    });
    await assert.rejects(t.receive(), { code: "transport_failed" });
  } finally {
    client.ws.close();
    await server.stop(client.ended);
  }
});

Deno.test("webSocketTransport() honours a lower limit() set by the session", async () => {
  const server = serveOne((socket) => {
    socket.onopen = () => socket.send(new Uint8Array(100));
  });
  const client = open(server);
  try {
    const t = webSocketTransport(client.ws);
    t.limit(10);
    await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  } finally {
    client.ws.close();
    await server.stop(client.ended);
  }
});
