import assert from "node:assert/strict";
import { settledWithin } from "../_settled.ts";
import { HandshakeError, SessionStateError, TransportError } from "../../lib/errors.ts";
import { SecureSession, type SessionTransport } from "../../lib/session/secure_session.ts";
import type { SessionErrorEvent } from "../../lib/session/session_events.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import {
  alice,
  bob,
  bytes,
  callbackPair,
  CountingTransport,
  identity,
  lookupOf,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";

Deno.test("connect() and accept() establish a session that carries many messages both ways", async () => {
  const { client, server } = await callbackPair();
  for (let i = 0; i < 20; i++) {
    await client.send(bytes(`c${i}`));
    await server.send(bytes(`s${i}`));
  }
  for (let i = 0; i < 20; i++) {
    assert.equal(text(await server.receive()), `c${i}`);
    assert.equal(text(await client.receive()), `s${i}`);
  }
});

Deno.test("accept() on an established session returns at once", async () => {
  const { server, serverEnd } = await callbackPair();
  const before = serverEnd.receives;
  await server.accept();
  assert.equal(serverEnd.receives, before);
});

Deno.test("the callback API without a transport is a TypeError", async () => {
  const s = session();
  await assert.rejects(s.connect(), TypeError);
  await assert.rejects(s.accept(), TypeError);
  await assert.rejects(s.send(bytes("x")), TypeError);
  await assert.rejects(s.receive(), TypeError);
  assert.equal(s.state, "idle");
  assert.equal(s.error, null);
});

Deno.test("send() before the handshake is session_not_established and sends nothing", async () => {
  const [a] = memoryTransportPair();
  const end = new CountingTransport(a);
  const s = session({ transport: end });
  await rejectsWith(s.send(bytes("early")), "session_not_established", SessionStateError);
  assert.equal(end.sent.length, 0);
});

Deno.test("connect() rejects with the handshake error; the client sends only its alert after its hello and ends the transport", async () => {
  const [a, b] = memoryTransportPair();
  const clientEnd = new CountingTransport(a);
  const client = session({ transport: clientEnd, getPublicKeyForId: lookupOf(alice) });
  const server = session({ self: bob, transport: b });
  const accepting = server.accept();
  await rejectsWith(client.connect(), "handshake_unknown_peer", HandshakeError);
  assert.equal(clientEnd.sent.length, 2);
  assert.equal(clientEnd.sent[1]!.length, 20); // the protected alert, no ClientFinished
  assert.equal(client.state, "closed");
  // The server learns of the refusal at once instead of waiting.
  await rejectsWith(accepting, "handshake_refused", HandshakeError);
  assert.equal(server.isEstablished(), false);
  assert.equal(server.error?.code, "handshake_refused");
  assert.equal(await b.receive(), null); // and the client ended its side
});

Deno.test("a transport that ends during the handshake fails it with transport_closed", async () => {
  const ended: SessionTransport = { send() {}, receive: () => Promise.resolve(null) };
  const s = session({ transport: ended });
  await rejectsWith(s.connect(), "transport_closed", TransportError);
  assert.equal(s.state, "closed");
  await rejectsWith(s.connect(), "session_failed", SessionStateError);
});

Deno.test("a transport whose send() throws fails the session with transport_failed", async () => {
  const cause = new Error("socket gone");
  const broken: SessionTransport = {
    send() {
      throw cause;
    },
    receive: () => new Promise(() => {}),
  };
  const s = session({ transport: broken });
  const failures: SessionErrorEvent[] = [];
  s.addEventListener("error", (e) => failures.push(e as SessionErrorEvent));
  const err = await rejectsWith(s.connect(), "transport_failed", TransportError);
  assert.equal(err.cause, cause);
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.error, err);
  assert.equal(s.state, "closed");
});

Deno.test("a transport whose receive() throws or returns non-bytes fails with transport_failed", async () => {
  const throwing: SessionTransport = { send() {}, receive: () => Promise.reject(new Error("x")) };
  await rejectsWith(session({ transport: throwing }).connect(), "transport_failed");
  const strange: SessionTransport = {
    send() {},
    receive: () => Promise.resolve("text" as unknown as Uint8Array),
  };
  await rejectsWith(session({ transport: strange }).accept(), "transport_failed");
});

Deno.test("send() through a failing transport on an established session is transport_failed, then session_failed", async () => {
  const { client } = await callbackPair();
  const [a] = memoryTransportPair();
  let fail = false;
  const flaky: SessionTransport = {
    send: (m) => {
      if (fail) throw new Error("down");
      return a.send(m);
    },
    receive: () => a.receive(),
  };
  // Move the established client onto the flaky transport through save/restore.
  const key = crypto.getRandomValues(new Uint8Array(32));
  const moved = await SecureSession.restore(await client.save(key), key, { transport: flaky });
  await moved.send(bytes("fine"));
  fail = true;
  await rejectsWith(moved.send(bytes("lost")), "transport_failed", TransportError);
  await rejectsWith(moved.send(bytes("later")), "session_failed", SessionStateError);
  await rejectsWith(moved.wrap(bytes("later")), "session_failed", SessionStateError);
});

Deno.test("a peer speaking garbage instead of a hello fails accept() with handshake_unexpected", async () => {
  const [a, b] = memoryTransportPair();
  const serverEnd = new CountingTransport(b);
  const server = session({ self: bob, transport: serverEnd });
  await a.send(new Uint8Array([0x17, 1, 2, 3]));
  await rejectsWith(server.accept(), "handshake_unexpected", HandshakeError);
  // A plain alert of the protocol class is all it says.
  assert.deepEqual(serverEnd.sent, [new Uint8Array([0x15, 0x01, 0x00, 0x02])]);
});

Deno.test("receive() on a new session that the peer fails to authenticate rejects with the handshake error", async () => {
  const [a, b] = memoryTransportPair();
  const mallory = await identity("mallory");
  const client = session({ self: mallory, transport: a, getPublicKeyForId: lookupOf(bob) });
  const server = session({ self: bob, transport: b });
  const [connected, received] = await Promise.allSettled([client.connect(), server.receive()]);
  assert.equal(connected.status, "fulfilled"); // the client cannot know before it hears back
  assert.equal(received.status, "rejected");
  assert.equal((received as PromiseRejectedResult).reason.code, "handshake_unknown_peer");
  assert.equal(server.isEstablished(), false);
});

Deno.test("close() during a callback handshake ends the transport: the peer is not left waiting", async () => {
  // The server closes while it waits for a hello: the client's connect() ends.
  {
    const [a, b] = memoryTransportPair();
    const client = session({ transport: a }, alice);
    const server = session({ self: bob, transport: b });
    const accepting = server.accept();
    await server.close();
    await rejectsWith(accepting, "session_closed", SessionStateError);
    assert.equal(await settledWithin(client.connect(), 2000), "rejected:transport_closed");
  }
  // The client closes after its hello, before the server answered: the server's accept() ends.
  {
    const [a, b] = memoryTransportPair();
    const clientEnd = new CountingTransport(a);
    const client = session({ transport: clientEnd }, alice);
    const server = session({ self: bob, transport: b });
    const connecting = client.connect();
    connecting.catch(() => {});
    for (let i = 0; i < 1000 && clientEnd.sent.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(clientEnd.sent.length, 1, "the hello went out");
    await client.close();
    await rejectsWith(connecting, "session_closed", SessionStateError);
    assert.equal(await settledWithin(server.accept(), 2000), "rejected:transport_closed");
  }
});
