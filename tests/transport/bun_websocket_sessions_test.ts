// bunWebSocketSessions() driven as Bun drives it, with a stand-in ServerWebSocket: upgrade answers,
// message bounds, backpressure and sockets it did not upgrade. (tests/bun/websocket_smoke.ts runs
// it under Bun.serve itself.)

import assert from "node:assert/strict";
import { directoryLookup, generateIdentityKeyPair } from "../../mod.ts";
import { TesseraError } from "../../lib/errors.ts";
import type { SessionTransport } from "../../lib/session/secure_session.ts";
import {
  type BunServerWebSocket,
  bunWebSocketSessions,
  type OnSecureSession,
  type SecureWebSocketOptions,
} from "../../lib/transport/mod.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";

const server = await generateIdentityKeyPair();
const ann = await generateIdentityKeyPair();
const getPublicKeyForId = directoryLookup({ server: server.publicKey, ann: ann.publicKey });
const serverOptions = { id: "server", privateKey: server.privateKey, getPublicKeyForId };
const upgradeRequest = (): Request =>
  new Request("http://localhost/chat", { headers: { upgrade: "websocket" } });

/** A stand-in for Bun's ServerWebSocket whose far end is a client SessionTransport. */
class FakeSocket implements BunServerWebSocket {
  data: unknown;
  readyState = 1;
  /** What send() returns: bytes, -1 under backpressure, 0 when dropped. */
  sendStatus: (message: Uint8Array) => number = (m) => m.length;
  closes: number[] = [];
  toClient: Uint8Array[] = [];
  #waiting: ((m: Uint8Array | null) => void)[] = [];
  #clientClosed = false;

  constructor(data: unknown) {
    this.data = data;
  }

  send(message: Uint8Array): number {
    const status = this.sendStatus(message);
    if (status === 0) return 0;
    const waiter = this.#waiting.shift();
    if (waiter) waiter(message.slice());
    else this.toClient.push(message.slice());
    return status;
  }

  close(code = 1000): void {
    this.closes.push(code);
    this.readyState = 3;
    this.#clientClosed = true;
    for (const w of this.#waiting.splice(0)) w(null);
  }

  /** The client's end: what it sends goes through `message`. */
  clientTransport(message: (m: Uint8Array) => void): SessionTransport {
    return {
      send: (m) => message(m.slice()),
      receive: () => {
        const next = this.toClient.shift();
        if (next) return Promise.resolve(next);
        if (this.#clientClosed) return Promise.resolve(null);
        return new Promise((resolve) => this.#waiting.push(resolve));
      },
    };
  }
}

/** Makes the adapter, upgrades one request with a FakeSocket and opens it. */
function openOne(options: Partial<SecureWebSocketOptions>, onSession: OnSecureSession) {
  const errors: unknown[] = [];
  const sessions = bunWebSocketSessions(
    { ...serverOptions, ...options, onError: (e) => errors.push(e) },
    onSession,
  );
  let ws: FakeSocket | null = null;
  const answer = sessions.upgrade(upgradeRequest(), {
    upgrade(_request, upgradeOptions) {
      ws = new FakeSocket(upgradeOptions?.data);
      return true;
    },
  });
  assert.equal(answer, undefined);
  const socket = ws as unknown as FakeSocket;
  sessions.websocket.open(socket);
  return { sessions, ws: socket, errors };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), "timed out");
}

Deno.test("bunWebSocketSessions() runs a session over Bun's message and close handlers", async () => {
  const got: string[] = [];
  const { sessions, ws, errors } = openOne({}, async (session) => {
    for (let m = await session.receive(); m !== null; m = await session.receive()) {
      got.push(new TextDecoder().decode(m));
      await session.send(m);
    }
  });
  const client = new SecureSession({
    id: "ann",
    privateKey: ann.privateKey,
    getPublicKeyForId,
    expectedPeer: "server",
    transport: ws.clientTransport((m) => sessions.websocket.message(ws, m)),
  });
  await client.connect();
  await client.send(new TextEncoder().encode("hi"));
  assert.equal(new TextDecoder().decode((await client.receive())!), "hi");
  await client.close();
  await until(() => ws.closes.length > 0); // onSession returned: the server closed the socket
  sessions.websocket.close(ws, 1000, "");
  assert.deepEqual(got, ["hi"]);
  assert.deepEqual(errors, []);
});

Deno.test("bunWebSocketSessions() answers 426 to plain HTTP, 503 above maxConcurrentHandshakes and 400 when Bun refuses", async () => {
  const { sessions, ws } = openOne({ maxConcurrentHandshakes: 1, handshakeTimeout: 50 }, () => {});
  const never = { upgrade: () => false };
  assert.equal(sessions.upgrade(new Request("http://localhost/"), never)?.status, 426);
  assert.equal(sessions.upgrade(upgradeRequest(), never)?.status, 503);
  await until(() => ws.closes.length > 0); // the deadline passed: the slot is free again
  sessions.websocket.close(ws, 1006, "");
  assert.equal(sessions.upgrade(upgradeRequest(), never)?.status, 400);
});

Deno.test("bunWebSocketSessions() fails a text message, an oversized one and a flood with typed errors", async () => {
  const cases: [string, string | ArrayBuffer | Uint8Array, string][] = [
    ["a text message", "hello", "transport_failed"],
    ["a message above the handshake bound", new Uint8Array(5000), "transport_frame_too_large"],
    ["a garbage ArrayBuffer", new Uint8Array([0x17, 1, 2, 3]).buffer, "handshake_unexpected"],
  ];
  for (const [what, message, code] of cases) {
    const { sessions, ws, errors } = openOne({}, () => {});
    sessions.websocket.message(ws, message);
    await until(() => errors.length > 0);
    assert.ok(errors[0] instanceof TesseraError, what);
    assert.equal((errors[0] as TesseraError).code, code, what);
    assert.ok(ws.closes.length > 0, `${what}: the socket is closed`);
    sessions.websocket.close(ws, 1000, "");
  }
  // Unread messages above the bound fail the socket before they pile up.
  const { sessions, ws, errors } = openOne({
    webSocket: { maxQueuedMessages: 2 },
  }, () => {});
  for (let i = 0; i < 4; i++) sessions.websocket.message(ws, new Uint8Array(10));
  await until(() => errors.length > 0);
  assert.ok(ws.closes.includes(1008));
  sessions.websocket.close(ws, 1008, "");
});

Deno.test("bunWebSocketSessions() waits for drain when Bun reports backpressure, and fails a dropped send", async () => {
  for (const status of [-1, 0]) {
    const sends: string[] = [];
    const { sessions, ws } = openOne({}, async (session) => {
      ws.sendStatus = () => status;
      const sent = session.send(new Uint8Array([1])).then(
        () => "sent",
        (e) => (e as TesseraError).code,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiting = new Promise<string>((r) => timer = setTimeout(r, 30, "waiting"));
      sends.push(await Promise.race([sent, waiting]));
      clearTimeout(timer);
      if (status === -1) {
        ws.sendStatus = (m) => m.length; // the backlog is written
        sessions.websocket.drain(ws);
        sends.push(await sent);
      }
    });
    const client = new SecureSession({
      id: "ann",
      privateKey: ann.privateKey,
      getPublicKeyForId,
      transport: ws.clientTransport((m) => sessions.websocket.message(ws, m)),
    });
    await client.connect();
    await until(() => sends.length === (status === -1 ? 2 : 1));
    assert.deepEqual(sends, status === -1 ? ["waiting", "sent"] : ["transport_closed"]);
    await until(() => ws.closes.length > 0);
    sessions.websocket.close(ws, 1000, "");
    await client.close();
  }
});

Deno.test("bunWebSocketSessions() closes a socket it did not upgrade", () => {
  const sessions = bunWebSocketSessions(serverOptions, () => {});
  const stranger = new FakeSocket({ user: "someone else's data" });
  sessions.websocket.open(stranger);
  sessions.websocket.message(stranger, new Uint8Array(1)); // ignored
  sessions.websocket.close(stranger, 1000, "");
  assert.deepEqual(stranger.closes, [1011]);
});
