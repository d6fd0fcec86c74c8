// The WebSocket endpoints: secureWebSocketHandler() for Deno.serve and connectWebSocket(). What a
// server does with connections that never handshake, speak garbage, are refused, or are cut; what
// each side sees when the other closes.

import assert from "node:assert/strict";
import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { HandshakeError, TesseraError, TransportError } from "../../lib/errors.ts";
import {
  connectWebSocket,
  type OnSecureSession,
  secureWebSocketHandler,
  type SecureWebSocketOptions,
} from "../../lib/transport/mod.ts";
import { settledWithin } from "../_settled.ts";

const server = await generateIdentityKeyPair();
const ann = await generateIdentityKeyPair();
const stranger = await generateIdentityKeyPair();
const getPublicKeyForId = directoryLookup({ server: server.publicKey, ann: ann.publicKey });
const serverOptions = { id: "server", privateKey: server.privateKey, getPublicKeyForId };
const annOptions = {
  id: "ann",
  privateKey: ann.privateKey,
  getPublicKeyForId,
  expectedPeer: "server",
};
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array | null): string => new TextDecoder().decode(b!);

interface Endpoint {
  url: string;
  port: number;
  errors: unknown[];
  /** Resolves with the next error reported to onError. */
  nextError(): Promise<unknown>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves secureWebSocketHandler() on 127.0.0.1, recording what onError receives. Disposing of it
 * waits (up to 2 s) until every socket opened meanwhile, client and server ends, has closed, so
 * that no test ends with a socket still closing.
 */
function serve(options: Partial<SecureWebSocketOptions>, onSession: OnSecureSession): Endpoint {
  const sockets = trackSockets();
  const errors: unknown[] = [];
  let waiting: ((error: unknown) => void)[] = [];
  const handler = secureWebSocketHandler({
    ...serverOptions,
    ...options,
    onError(error) {
      errors.push(error);
      for (const w of waiting) w(error);
      waiting = [];
    },
  }, onSession);
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return {
    url: `ws://127.0.0.1:${http.addr.port}/chat?room=1`,
    port: http.addr.port,
    errors,
    nextError: () => new Promise((resolve) => waiting.push(resolve)),
    async [Symbol.asyncDispose]() {
      try {
        await sockets.closed(2_000);
      } finally {
        sockets.restore();
        await http.shutdown();
      }
    },
  };
}

/**
 * Records every socket made from now on, by `new WebSocket` and by `Deno.upgradeWebSocket`
 * (on top of whatever records them already), until `restore()`.
 */
function trackSockets(): { closed(ms: number): Promise<unknown>; restore(): void } {
  const closings: Promise<unknown>[] = [];
  const Current = globalThis.WebSocket;
  globalThis.WebSocket = class extends Current {
    constructor(url: string | URL, protocols?: ConstructorParameters<typeof WebSocket>[1]) {
      super(url, protocols);
      closings.push(closedEvent(this));
    }
  };
  const descriptor = Object.getOwnPropertyDescriptor(Deno, "upgradeWebSocket")!;
  const upgrade = Deno.upgradeWebSocket;
  Object.defineProperty(Deno, "upgradeWebSocket", {
    configurable: true,
    value: (request: Request, options?: Deno.UpgradeWebSocketOptions) => {
      const upgraded = upgrade(request, options);
      closings.push(closedEvent(upgraded.socket));
      return upgraded;
    },
  });
  return {
    closed: (ms) => settledWithin(Promise.all(closings), ms),
    restore() {
      globalThis.WebSocket = Current;
      Object.defineProperty(Deno, "upgradeWebSocket", descriptor);
    },
  };
}

/** Resolves once `ws` has closed. */
function closedEvent(ws: WebSocket): Promise<CloseEvent | null> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(null);
  return new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
}

/** Records every WebSocket a client creates while `fn` runs. */
async function withClientSockets<T>(fn: (sockets: WebSocket[]) => Promise<T>): Promise<T> {
  const Original = globalThis.WebSocket;
  const sockets: WebSocket[] = [];
  globalThis.WebSocket = class extends Original {
    constructor(url: string | URL, protocols?: ConstructorParameters<typeof WebSocket>[1]) {
      super(url, protocols);
      sockets.push(this);
    }
  };
  try {
    return await fn(sockets);
  } finally {
    globalThis.WebSocket = Original;
  }
}

/** Records every socket Deno.upgradeWebSocket hands a server while `fn` runs. */
async function withServerSockets<T>(fn: (sockets: WebSocket[]) => Promise<T>): Promise<T> {
  const descriptor = Object.getOwnPropertyDescriptor(Deno, "upgradeWebSocket")!;
  const upgrade = Deno.upgradeWebSocket;
  const sockets: WebSocket[] = [];
  Object.defineProperty(Deno, "upgradeWebSocket", {
    configurable: true,
    value: (request: Request, options?: Deno.UpgradeWebSocketOptions) => {
      const upgraded = upgrade(request, options);
      sockets.push(upgraded.socket);
      return upgraded;
    },
  });
  try {
    return await fn(sockets);
  } finally {
    Object.defineProperty(Deno, "upgradeWebSocket", descriptor);
  }
}

/** Sends a WebSocket upgrade request over raw TCP and reads the status code of the answer. */
async function rawUpgrade(port: number): Promise<{ conn: Deno.TcpConn; status: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(encode(
    `GET /chat HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  const head = new Uint8Array(1024);
  const n = await conn.read(head);
  const status = Number(new TextDecoder().decode(head.subarray(0, n ?? 0)).split(" ")[1]);
  return { conn, status };
}

/** An echo until the client closes. */
const echo: OnSecureSession = async (session) => {
  for (let m = await session.receive(); m !== null; m = await session.receive()) {
    await session.send(m);
  }
};

Deno.test("secureWebSocketHandler() hands each established session and its request to onSession; connectWebSocket() returns the client's", async () => {
  const seen: string[] = [];
  await using endpoint = serve({}, async (session, request) => {
    seen.push(`${decode(session.peerId)} ${new URL(request.url).search}`);
    await echo(session, request);
  });
  const session = await connectWebSocket(endpoint.url, annOptions);
  assert.equal(session.state, "established");
  assert.equal(decode(session.peerId), "server");
  for (const word of ["one", "two", "three"]) {
    await session.send(encode(word));
    assert.equal(decode(await session.receive()), word);
  }
  await session.close();
  assert.deepEqual(seen, ["ann ?room=1"]);
});

Deno.test("a plain HTTP request to the endpoint is answered 426 Upgrade Required", async () => {
  await using endpoint = serve({}, echo);
  const res = await fetch(`http://127.0.0.1:${endpoint.port}/chat`);
  assert.equal(res.status, 426);
  assert.equal(res.headers.get("upgrade"), "websocket");
  await res.body?.cancel();
});

Deno.test("a client that opens the socket and sends nothing is closed after handshakeTimeout, and its handshake slot is freed", async () => {
  await using endpoint = serve({ handshakeTimeout: 300, maxConcurrentHandshakes: 1 }, echo);
  const silent = new WebSocket(endpoint.url);
  const closed = closedEvent(silent);
  const failed = endpoint.nextError();
  await new Promise((resolve) => silent.addEventListener("open", resolve, { once: true }));
  const opened = performance.now();

  // The one handshake slot is taken: another upgrade is answered 503 before it is upgraded.
  const busy = await rawUpgrade(endpoint.port);
  assert.equal(busy.status, 503);
  busy.conn.close();

  const error = await failed;
  await closed;
  assert.ok(performance.now() - opened >= 250, "closed at the deadline, not before");
  assert.ok(error instanceof HandshakeError);
  assert.equal(error.code, "handshake_timeout");
  assert.equal(silent.readyState, WebSocket.CLOSED);

  // The slot is free again.
  const session = await connectWebSocket(endpoint.url, annOptions);
  await session.send(encode("after"));
  assert.equal(decode(await session.receive()), "after");
  await session.close();
});

Deno.test("a garbage first message is dropped: handshake_unexpected goes to onError and the socket is closed", async () => {
  await using endpoint = serve({}, echo);
  for (const garbage of [new Uint8Array([0x17, 1, 2, 3]), "hello?"]) {
    const ws = new WebSocket(endpoint.url);
    ws.binaryType = "arraybuffer";
    const closed = closedEvent(ws);
    const failed = endpoint.nextError();
    ws.onopen = () => ws.send(garbage);
    const error = await failed;
    await closed;
    assert.ok(error instanceof TesseraError);
    assert.equal(
      error.code,
      typeof garbage === "string" ? "transport_failed" : "handshake_unexpected",
    );
  }
});

Deno.test("a peer refused by acceptPeer learns it: its first receive() rejects with handshake_refused", async () => {
  const asked: string[] = [];
  await using endpoint = serve({
    acceptPeer: (peerId, request) => {
      asked.push(`${decode(peerId)} ${new URL(request.url).pathname}`);
      return false;
    },
  }, echo);
  const failed = endpoint.nextError();
  const session = await connectWebSocket(endpoint.url, annOptions);
  const refused = await session.receive().catch((err) => err);
  assert.ok(refused instanceof HandshakeError);
  assert.equal(refused.code, "handshake_refused");
  assert.equal(session.state, "closed");
  const error = await failed;
  assert.ok(error instanceof HandshakeError);
  assert.equal(error.code, "handshake_peer_rejected");
  assert.deepEqual(asked, ["ann /chat"]);
});

Deno.test("an acceptPeer that throws refuses the peer and its error goes to onError", async () => {
  const bug = new Error("directory offline");
  await using endpoint = serve({
    acceptPeer: () => {
      throw bug;
    },
  }, echo);
  const first = endpoint.nextError();
  const session = await connectWebSocket(endpoint.url, annOptions);
  await assert.rejects(session.receive(), { code: "handshake_refused" });
  assert.equal(await first, bug);
  while (endpoint.errors.length < 2) await endpoint.nextError();
  assert.equal((endpoint.errors[1] as TesseraError).code, "handshake_peer_rejected");
});

Deno.test("an unknown client is refused without reaching acceptPeer or onSession", async () => {
  let reached = false;
  await using endpoint = serve({ acceptPeer: () => (reached = true) }, () => {
    reached = true;
  });
  const failed = endpoint.nextError();
  const session = await connectWebSocket(endpoint.url, {
    id: "mallory",
    privateKey: stranger.privateKey,
    getPublicKeyForId,
    expectedPeer: "server",
  });
  await assert.rejects(session.receive(), { code: "handshake_refused" });
  assert.equal(((await failed) as TesseraError).code, "handshake_unknown_peer");
  assert.equal(reached, false);
});

Deno.test("the client's close() ends the server's receive() with null and closes both sockets", async () => {
  await withServerSockets(async (serverSockets) => {
    await withClientSockets(async (clientSockets) => {
      const ended = Promise.withResolvers<string>();
      await using endpoint = serve({}, async (session) => {
        const m = await session.receive();
        const end = await session.receive();
        ended.resolve(`${decode(m)} then ${end}`);
      });
      const session = await connectWebSocket(endpoint.url, annOptions);
      const [clientSocket, serverSocket] = [clientSockets[0]!, serverSockets[0]!];
      const closed = Promise.all([closedEvent(clientSocket), closedEvent(serverSocket)]);
      await session.send(encode("bye"));
      await session.close();
      assert.equal(await ended.promise, "bye then null");
      await closed;
      assert.equal(clientSocket.readyState, WebSocket.CLOSED);
      assert.equal(serverSocket.readyState, WebSocket.CLOSED);
      assert.deepEqual(endpoint.errors, []);
    });
  });
});

Deno.test("the server's close() ends the client's receive() with null and closes both sockets", async () => {
  await withServerSockets(async (serverSockets) => {
    await withClientSockets(async (clientSockets) => {
      await using endpoint = serve({}, async (session) => {
        await session.send(encode("closing now"));
        await session.close();
      });
      const session = await connectWebSocket(endpoint.url, annOptions);
      const closed = Promise.all([
        closedEvent(clientSockets[0]!),
        closedEvent(serverSockets[0]!),
      ]);
      assert.equal(decode(await session.receive()), "closing now");
      assert.equal(await session.receive(), null);
      assert.equal(session.error, null);
      await closed;
      assert.deepEqual(endpoint.errors, []);
    });
  });
});

Deno.test("onSession settling closes the session: the client sees a clean end; a throw goes to onError", async () => {
  const bug = new Error("handler bug");
  for (const outcome of ["returns", "throws"] as const) {
    await using endpoint = serve({}, async (session) => {
      await session.send(encode("hi"));
      if (outcome === "throws") throw bug;
    });
    const session = await connectWebSocket(endpoint.url, annOptions);
    assert.equal(decode(await session.receive()), "hi");
    assert.equal(await session.receive(), null, `onSession ${outcome}`);
    assert.deepEqual(endpoint.errors, outcome === "throws" ? [bug] : []);
  }
});

Deno.test("a client socket cut without a session close is transport_closed on the server, not a clean end", async () => {
  await withClientSockets(async (clientSockets) => {
    const outcome = Promise.withResolvers<unknown>();
    await using endpoint = serve({}, async (session) => {
      outcome.resolve(await session.receive().catch((err) => err));
    });
    const session = await connectWebSocket(endpoint.url, annOptions);
    clientSockets[0]!.close(); // the socket goes, the session never sent its close
    const error = await outcome.promise;
    assert.ok(error instanceof TransportError);
    assert.equal(error.code, "transport_closed");
    await assert.rejects(session.receive(), { code: "transport_closed" });
  });
});

Deno.test("a server socket cut without a session close is transport_closed on the client, not a clean end", async () => {
  await withServerSockets(async (serverSockets) => {
    const done = Promise.withResolvers<void>();
    const ended = Promise.withResolvers<void>();
    await using endpoint = serve({}, async (session) => {
      serverSockets[0]!.close(); // the server's socket goes without the session's close
      await done.promise;
      await session.close();
      ended.resolve();
    });
    const session = await connectWebSocket(endpoint.url, annOptions);
    await assert.rejects(session.receive(), (err: unknown) => {
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, "transport_closed");
      return true;
    });
    done.resolve();
    await ended.promise; // the server's session is done too
  });
});

Deno.test("a TCP connection cut during the handshake is a transport error reported to onError", async () => {
  await using endpoint = serve({}, echo);
  const failed = endpoint.nextError();
  const { conn, status } = await rawUpgrade(endpoint.port);
  assert.equal(status, 101);
  conn.close();
  const error = await failed;
  // Deno reports an abnormal closure as a socket error first: failed or closed, never clean.
  assert.ok(error instanceof TransportError);
  assert.ok(["transport_failed", "transport_closed"].includes(error.code), error.code);
});

Deno.test("connectWebSocket() rejects with handshake_timeout when the server never answers, and closes its socket", async () => {
  const serverSockets: WebSocket[] = [];
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    serverSockets.push(socket); // upgraded, then silent
    return response;
  });
  try {
    await withClientSockets(async (clientSockets) => {
      const started = performance.now();
      const err = await connectWebSocket(`ws://127.0.0.1:${http.addr.port}`, {
        ...annOptions,
        timeout: 200,
      }).catch((e) => e);
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.code, "handshake_timeout");
      assert.ok(performance.now() - started >= 150);
      await closedEvent(clientSockets[0]!);
      await closedEvent(serverSockets[0]!);
    });
  } finally {
    await http.shutdown();
  }
});

Deno.test("connectWebSocket() to a port where nothing listens rejects with a TransportError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const outcome = await settledWithin(
    connectWebSocket(`ws://127.0.0.1:${port}`, { ...annOptions, timeout: 5_000 }),
    6_000,
  );
  assert.ok(
    outcome === "rejected:transport_failed" || outcome === "rejected:transport_closed",
    String(outcome),
  );
});

Deno.test("the endpoints check their options once, when made", async () => {
  const ok: OnSecureSession = () => {};
  assert.throws(
    () => secureWebSocketHandler({ ...serverOptions, handshakeTimeout: 0 }, ok),
    RangeError,
  );
  assert.throws(
    () => secureWebSocketHandler({ ...serverOptions, maxConcurrentHandshakes: 1.5 }, ok),
    RangeError,
  );
  assert.throws(
    () => secureWebSocketHandler({ ...serverOptions, acceptPeer: true as never }, ok),
    TypeError,
  );
  assert.throws(() => secureWebSocketHandler(serverOptions, null as never), TypeError);
  assert.throws(
    () => secureWebSocketHandler({ ...serverOptions, webSocket: { maxQueuedMessages: 0 } }, ok),
    RangeError,
  );
  assert.throws(
    () => secureWebSocketHandler({ ...serverOptions, getPublicKeyForId: undefined as never }, ok),
    TypeError,
  );
  await assert.rejects(connectWebSocket("not a url", annOptions), TypeError);
  await assert.rejects(
    connectWebSocket("ws://127.0.0.1:1/", { ...annOptions, timeout: -1 }),
    RangeError,
  );
  // The caller's options object is not changed.
  const options = { ...serverOptions, handshakeTimeout: 1000 };
  secureWebSocketHandler(options, ok);
  assert.deepEqual(Object.keys(options), [
    "id",
    "privateKey",
    "getPublicKeyForId",
    "handshakeTimeout",
  ]);
});

Deno.test("SecureSession is what onSession receives", async () => {
  const got = Promise.withResolvers<unknown>();
  await using endpoint = serve({}, (session) => {
    got.resolve(session);
    return session.close().then(() => {});
  });
  const session = await connectWebSocket(endpoint.url, annOptions);
  assert.ok((await got.promise) instanceof SecureSession);
  assert.equal(await session.receive(), null);
});
