// The Themis profile through the callback API (connect, accept, send, receive) against WasmThemis
// and between tessera peers, with the same events, counters and concurrency guarantees as
// tessera/1.

import assert from "node:assert/strict";
import type { SessionTransport } from "../../lib/session/secure_session.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import {
  client,
  data,
  rejectsWith,
  server,
  tesseraPair,
  tesseraSession,
  type WasmSession,
  wasmSession,
} from "./_wasm_themis.ts";

/**
 * A transport whose far end is a WasmThemis session: handshake messages go to its
 * negotiateReply(), data to its unwrap() (kept in `received`); what it answers, and what
 * `peerSend` wraps, comes back through receive().
 */
function wasmTransport(wasm: WasmSession) {
  const queue: Uint8Array[] = [];
  const waiting: ((m: Uint8Array | null) => void)[] = [];
  const received: Uint8Array[] = [];
  let closed = false;
  const deliver = (message: Uint8Array | null) => {
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else if (message) queue.push(message);
  };
  const transport: SessionTransport & { closed(): boolean } = {
    send(message) {
      if (!wasm.established()) {
        const reply = wasm.negotiateReply(message);
        if (reply.length > 0) deliver(reply);
      } else {
        received.push(new Uint8Array(wasm.unwrap(message)));
      }
    },
    receive() {
      const next = queue.shift();
      if (next) return Promise.resolve(next);
      if (closed) return Promise.resolve(null);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close() {
      closed = true;
      for (const waiter of waiting.splice(0)) waiter(null);
    },
    closed: () => closed,
  };
  return { transport, received, peerSend: (m: Uint8Array) => deliver(wasm.wrap(m)), deliver };
}

Deno.test("connect() runs the handshake against a WasmThemis server; send() and receive() carry data both ways", async () => {
  const wasm = wasmSession(server);
  const { transport, received, peerSend } = wasmTransport(wasm);
  const tessera = tesseraSession(client, { transport });
  const states: string[] = [];
  tessera.addEventListener("statechange", (e) => states.push(e.state));
  let handshake: { role: string; resumed: boolean; peer: string } | null = null;
  tessera.addEventListener("handshake", (e) => {
    handshake = { role: e.role, resumed: e.resumed, peer: new TextDecoder().decode(e.peerId) };
  });
  await tessera.connect();
  assert.ok(wasm.established());
  assert.deepEqual(states, ["negotiating", "established"]);
  assert.deepEqual(handshake, { role: "client", resumed: false, peer: "server" });
  await Promise.all([tessera.send(data(1)), tessera.send(data(100)), tessera.send(data(70_000))]);
  assert.deepEqual(received, [data(1), data(100), data(70_000)]);
  peerSend(data(5, 1));
  peerSend(data(5, 2));
  assert.deepEqual(await tessera.receive(), data(5, 1));
  assert.deepEqual(await tessera.receive(), data(5, 2));
  assert.deepEqual(tessera.stats, {
    recordsSent: 3,
    recordsReceived: 2,
    bytesSent: 70_101,
    bytesReceived: 10,
    keyUpdates: 0,
  });
  wasm.destroy();
});

Deno.test("accept() runs the handshake for a WasmThemis client; receive() on a new session does too", async () => {
  for (const start of ["accept", "receive"] as const) {
    const wasm = wasmSession(client);
    const { transport, received, peerSend, deliver } = wasmTransport(wasm);
    const tessera = tesseraSession(server, { transport });
    deliver(wasm.connectionRequest());
    if (start === "accept") {
      await tessera.accept();
      peerSend(data(3));
      assert.deepEqual(await tessera.receive(), data(3));
    } else {
      const first = tessera.receive();
      // The handshake completes inside receive(); then the client's first message arrives.
      for (let i = 0; i < 500 && !wasm.established(); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(wasm.established());
      peerSend(data(4));
      assert.deepEqual(await first, data(4));
    }
    assert.equal(tessera.role, "server");
    await tessera.send(data(6));
    assert.deepEqual(received, [data(6)]);
    wasm.destroy();
  }
});

Deno.test("close() sends nothing (Themis has no close message) and ends the transport; the peer sees the end as transport_closed", async () => {
  const [a, b] = memoryTransportPair();
  const c = tesseraSession(client, { transport: a });
  const s = tesseraSession(server, { transport: b });
  let closeEvent: { clean: boolean } | null = null;
  c.addEventListener("close", (e) => closeEvent = { clean: e.error === null });
  await Promise.all([c.connect(), s.accept()]);
  await c.send(data(8));
  assert.equal(await c.close(), null);
  assert.equal(c.state, "closed");
  assert.deepEqual(closeEvent, { clean: true });
  assert.deepEqual(await s.receive(), data(8));
  // No authenticated close exists in Themis: an ended transport is not a clean end.
  await rejectsWith(s.receive(), "transport_closed");
});

Deno.test("a WasmThemis server that never answers leaves connect() to the transport's end, with a typed error", async () => {
  const wasm = wasmSession(server);
  const { transport } = wasmTransport(wasm);
  const silent: SessionTransport = {
    send() {},
    receive: () => Promise.resolve(null),
    close: transport.close,
  };
  const tessera = tesseraSession(client, { transport: silent });
  await rejectsWith(tessera.connect(), "transport_closed");
  assert.equal(tessera.state, "closed");
  wasm.destroy();
});

Deno.test("concurrent wraps resolve in sequence order; concurrent unwraps of a reordered batch accept each message once", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  const wrapped = await Promise.all(Array.from({ length: 9 }, (_, i) => c.wrap(data(3, i))));
  const order = [4, 0, 8, 2, 6, 1, 5, 3, 7];
  const batch = [...order, 4, 0].map((i) => s.unwrap(wrapped[i]!).then((d) => d, (e) => e));
  const results = await Promise.all(batch);
  for (let k = 0; k < order.length; k++) assert.deepEqual(results[k], data(3, order[k]!));
  assert.equal(results[9].code, "record_replayed");
  assert.equal(results[10].code, "record_replayed");
  // Two copies of one message in flight together: exactly one is accepted.
  const next = await c.wrap(data(2));
  const both = await Promise.allSettled([s.unwrap(next), s.unwrap(next.slice())]);
  assert.deepEqual(both.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
});

Deno.test("handshake steps called concurrently run one after another", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  const m1 = await c.connectRequest();
  const [m2, again] = await Promise.allSettled([s.negotiate(m1), s.negotiate(m1)]);
  assert.equal(m2.status, "fulfilled");
  // The second call ran after the first: it found the server waiting for message 3.
  assert.equal(again.status, "rejected");
  assert.equal((again as PromiseRejectedResult).reason.code, "handshake_unexpected");
  assert.match((again as PromiseRejectedResult).reason.message, /another connection request/);
});

Deno.test("the first messages, opened while the keys are still being imported, survive the caller reusing its buffer", async () => {
  const { ThemisChannel } = await import("../../lib/themis/_channel.ts");
  const key = crypto.getRandomValues(new Uint8Array(32));
  const limits = {
    random: (b: Uint8Array<ArrayBuffer>) => crypto.getRandomValues(b),
    recordsPerKey: 100,
    bytesPerKey: 2 ** 20,
    maxRecordSize: 1024,
    maxAuthFailures: 10,
    padding: "none" as const,
  };
  const base = {
    peerId: new Uint8Array([1]),
    sessionId: new Uint8Array([5, 6, 7, 8]),
    sendKey: key,
    receiveKey: key,
    receiveSeen: 0,
    recordsSent: 0,
    bytesSent: 0,
    authFailures: 0,
  };
  const sender = await ThemisChannel.create(
    { ...base, role: "client", sendSeq: 40, receiveTop: 0 },
    limits,
  );
  const sealed = await Promise.all([sender.seal(data(16, 1)), sender.seal(data(16, 2))]);
  const receiver = await ThemisChannel.create({
    ...base,
    role: "server",
    sendSeq: 0,
    receiveTop: 40,
  }, limits);
  const buffer = sealed[0]!.slice();
  const opening = receiver.open(buffer, false); // the receive key is not imported yet
  buffer.set(sealed[1]!); // the caller reuses its buffer at once
  assert.deepEqual((await opening).data, data(16, 1));
  assert.deepEqual((await receiver.open(sealed[1]!, false)).data, data(16, 2));
});
