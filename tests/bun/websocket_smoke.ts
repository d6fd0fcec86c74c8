// Bun smoke test of bunWebSocketSessions(): Secure Sessions under Bun.serve WebSockets, with a
// standard WebSocket client (connectWebSocket). npx -y bun@1.4.4 tests/bun/websocket_smoke.ts
// Exits non-zero on any failure; the last line is "N passed, M failed".

import assert from "node:assert/strict";
import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { HandshakeError, TesseraError, TransportError } from "../../lib/errors.ts";
import {
  type BunWebSocketHandlers,
  bunWebSocketSessions,
  connectWebSocket,
  type OnSecureSession,
  type SecureWebSocketOptions,
} from "../../lib/transport/mod.ts";
import type { BunServer as BunUpgrader } from "../../lib/transport/mod.ts";
import { run, test } from "./_harness.ts";

interface BunServer extends BunUpgrader {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: BunServer) => Response | undefined;
    websocket: BunWebSocketHandlers;
  }): BunServer;
};

const server = await generateIdentityKeyPair();
const ann = await generateIdentityKeyPair();
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

/** Runs `fn` against Bun.serve with bunWebSocketSessions() on 127.0.0.1, then stops it. */
async function withBun(
  options: Partial<SecureWebSocketOptions>,
  onSession: OnSecureSession,
  fn: (url: string, errors: unknown[]) => Promise<void>,
): Promise<void> {
  const errors: unknown[] = [];
  const sessions = bunWebSocketSessions(
    { ...serverOptions, ...options, onError: (error) => errors.push(error) },
    onSession,
  );
  const bun = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request, srv) => sessions.upgrade(request, srv),
    websocket: sessions.websocket,
  });
  try {
    await fn(`ws://127.0.0.1:${bun.port}/chat`, errors);
  } finally {
    await bun.stop(true);
  }
}

/** Waits until `check` holds, up to `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function closedEvent(ws: WebSocket): Promise<unknown> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
}

const echo: OnSecureSession = async (session) => {
  for (let m = await session.receive(); m !== null; m = await session.receive()) {
    await session.send(m);
  }
};

test("a client establishes a session with Bun.serve and messages echo both ways", async () => {
  const peers: string[] = [];
  await withBun({}, async (session, request) => {
    peers.push(`${decode(session.peerId)} ${new URL(request.url).pathname}`);
    assert.ok(session instanceof SecureSession);
    await echo(session, request);
  }, async (url) => {
    const session = await connectWebSocket(url, annOptions);
    for (const word of ["one", "two", "a longer message ".repeat(100)]) {
      await session.send(encode(word));
      assert.equal(decode(await session.receive()), word);
    }
    await session.close();
    await until(() => peers.length === 1);
    assert.deepEqual(peers, ["ann /chat"]);
  });
});

test("the client's close() ends the server's receive() with null", async () => {
  let ended = "";
  await withBun({}, async (session) => {
    const first = await session.receive();
    ended = `${decode(first)} then ${await session.receive()}`;
  }, async (url, errors) => {
    const session = await connectWebSocket(url, annOptions);
    await session.send(encode("bye"));
    await session.close();
    await until(() => ended !== "");
    assert.equal(ended, "bye then null");
    assert.deepEqual(errors, []);
  });
});

test("the server's close() ends the client's receive() with null", async () => {
  await withBun({}, async (session) => {
    await session.send(encode("closing now"));
    await session.close();
  }, async (url) => {
    const session = await connectWebSocket(url, annOptions);
    assert.equal(decode(await session.receive()), "closing now");
    assert.equal(await session.receive(), null);
    assert.equal(session.error, null);
  });
});

test("a plain HTTP request is answered 426", async () => {
  await withBun({}, echo, async (url) => {
    const res = await fetch(url.replace("ws:", "http:"));
    assert.equal(res.status, 426);
    await res.body?.cancel();
  });
});

test("a client that sends nothing is closed after handshakeTimeout (handshake_timeout)", async () => {
  await withBun({ handshakeTimeout: 200 }, echo, async (url, errors) => {
    const silent = new WebSocket(url);
    const started = Date.now();
    await closedEvent(silent);
    assert.ok(Date.now() - started >= 150, "closed at the deadline");
    await until(() => errors.length === 1);
    assert.ok(errors[0] instanceof HandshakeError);
    assert.equal(errors[0].code, "handshake_timeout");
  });
});

test("a garbage first message is dropped with handshake_unexpected and the socket closed", async () => {
  await withBun({}, echo, async (url, errors) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(new Uint8Array([0x17, 1, 2, 3]));
    await closedEvent(ws);
    await until(() => errors.length === 1);
    assert.ok(errors[0] instanceof TesseraError);
    assert.equal(errors[0].code, "handshake_unexpected");
  });
});

test("a peer refused by acceptPeer gets handshake_refused on its first receive()", async () => {
  await withBun({ acceptPeer: () => false }, echo, async (url, errors) => {
    const session = await connectWebSocket(url, annOptions);
    await assert.rejects(session.receive(), { code: "handshake_refused" });
    await until(() => errors.length === 1);
    assert.equal((errors[0] as TesseraError).code, "handshake_peer_rejected");
  });
});

test("a client socket cut without a session close is transport_closed on the server", async () => {
  const Original = globalThis.WebSocket;
  const sockets: WebSocket[] = [];
  globalThis.WebSocket = class extends Original {
    constructor(url: string | URL, protocols?: ConstructorParameters<typeof WebSocket>[1]) {
      super(url, protocols);
      sockets.push(this);
    }
  };
  try {
    let outcome: unknown = null;
    await withBun({}, async (session) => {
      outcome = await session.receive().catch((err) => err);
    }, async (url) => {
      await connectWebSocket(url, annOptions);
      sockets[0]!.close();
      await until(() => outcome !== null);
      assert.ok(outcome instanceof TransportError);
      assert.equal(outcome.code, "transport_closed");
    });
  } finally {
    globalThis.WebSocket = Original;
  }
});

test("Bun refuses a message above maxPayloadLength (maxRecordSize + 1024) while reading it", async () => {
  await withBun({ maxRecordSize: 4096 }, echo, async (url, errors) => {
    const ws = new WebSocket(url);
    const closed = new Promise<CloseEvent>((resolve) => {
      ws.addEventListener("close", resolve, { once: true });
    });
    ws.onopen = () => ws.send(new Uint8Array(4096 + 1024 + 1));
    assert.equal((await closed).code, 1009); // message too big
    await until(() => errors.length === 1);
    assert.ok(errors[0] instanceof TransportError);
  });
});

await run("Bun WebSocket sessions");
