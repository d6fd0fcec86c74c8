// secureWebSocketHandler() against two slow parties: an acceptPeer that never decides (the
// handshake deadline must still drop the connection and free its handshake slot), and a client
// that stops reading its socket (the server's send() must wait instead of buffering without bound).

import assert from "node:assert/strict";
import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { connectWebSocket, secureWebSocketHandler } from "../../lib/transport/mod.ts";
import { settledWithin } from "../_settled.ts";

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
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A WebSocket upgrade request made by hand, answered without upgrading when the server is busy. */
async function upgradeStatus(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  await response.body?.cancel();
  return response.status;
}

/**
 * A WebSocket client over a raw TCP connection (RFC 6455, binary messages, masked), which reads
 * the connection only when `receive()` is called: a client that stops calling it stops reading.
 */
async function rawWebSocket(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  let buf = new Uint8Array(0);
  const more = async (): Promise<void> => {
    const chunk = new Uint8Array(65536);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("the connection closed");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  };
  for (;;) {
    const head = new TextDecoder().decode(buf);
    const end = head.indexOf("\r\n\r\n");
    if (end >= 0) {
      assert.ok(head.startsWith("HTTP/1.1 101"), head);
      buf = buf.slice(end + 4);
      break;
    }
    await more();
  }
  return {
    conn,
    async send(payload: Uint8Array): Promise<void> {
      const n = payload.length;
      const head = n < 126
        ? [0x82, 0x80 | n]
        : n < 65536
        ? [0x82, 0x80 | 126, n >> 8, n & 255]
        : [0x82, 0x80 | 127, 0, 0, 0, 0, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
      const mask = [1, 2, 3, 4];
      const frame = new Uint8Array(head.length + 4 + n);
      frame.set(head);
      frame.set(mask, head.length);
      for (let i = 0; i < n; i++) frame[head.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
      await conn.write(frame);
    },
    async receive(): Promise<Uint8Array | null> {
      for (;;) {
        if (buf.length >= 2) {
          let length = buf[1]! & 127;
          let offset = 2;
          if (length === 126 && buf.length >= 4) {
            length = (buf[2]! << 8) | buf[3]!;
            offset = 4;
          } else if (length === 127 && buf.length >= 10) {
            length = new DataView(buf.buffer, buf.byteOffset + 6, 4).getUint32(0);
            offset = 10;
          } else if (length >= 126) {
            await more();
            continue;
          }
          if (buf.length >= offset + length) {
            const opcode = buf[0]! & 15;
            const payload = buf.slice(offset, offset + length);
            buf = buf.slice(offset + length);
            if (opcode === 8) return null;
            if (opcode === 2) return payload;
            continue;
          }
        }
        await more();
      }
    },
  };
}

Deno.test("an acceptPeer that never settles is dropped at handshakeTimeout, reported, and its handshake slot freed", async () => {
  const waiting: (() => void)[] = [];
  const errors: unknown[] = [];
  const handler = secureWebSocketHandler({
    ...serverOptions,
    handshakeTimeout: 200,
    maxConcurrentHandshakes: 1,
    acceptPeer: () => new Promise<boolean>((resolve) => waiting.push(() => resolve(false))),
    onError: (error) => errors.push(error),
  }, () => {});
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    const url = `ws://127.0.0.1:${http.addr.port}/`;
    const client = await connectWebSocket(url, { ...annOptions, timeout: 1_000 }).catch(() => null);
    await sleep(800); // four deadlines
    assert.deepEqual(
      errors.map((e) => (e as { code?: string }).code),
      ["handshake_timeout"],
      "the stalled handshake is dropped at its deadline",
    );
    assert.equal(await upgradeStatus(http.addr.port), 101, "the handshake slot is free again");
    await client?.close();
  } finally {
    for (const release of waiting.splice(0)) release();
    await http.shutdown();
  }
});

Deno.test("a client that stops reading its socket holds back the server's send(): the server does not buffer without bound", async () => {
  const chunk = new Uint8Array(256 * 1024);
  let sent = 0;
  let stop = false;
  const handler = secureWebSocketHandler(
    { ...serverOptions, handshakeTimeout: 2_000 },
    async (session) => {
      // 256 MiB at most: the bound a test can afford if nothing holds the sender back.
      while (!stop && sent < 256 * 1024 * 1024) {
        await session.send(chunk);
        sent += chunk.length;
      }
    },
  );
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const ws = await rawWebSocket(http.addr.port);
  try {
    const client = new SecureSession({
      ...annOptions,
      transport: { send: (m) => ws.send(m), receive: () => ws.receive() },
    });
    await client.connect();
    // From now on the client reads nothing.
    await sleep(2_000);
    assert.ok(
      sent <= 16 * 1024 * 1024,
      `the server's send() resolved for ${sent / 2 ** 20} MiB that the client never read`,
    );
  } finally {
    stop = true;
    ws.conn.close();
    await settledWithin(http.shutdown(), 2_000);
  }
});
