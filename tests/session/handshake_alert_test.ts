import assert from "node:assert/strict";
import { HandshakeError, RecordError } from "../../lib/errors.ts";
import type { SessionErrorEvent } from "../../lib/session/session_events.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import {
  alice,
  bob,
  bytes,
  CountingTransport,
  flip,
  identity,
  lookupOf,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";

const stranger = await identity("mallory");

/** The HandshakeError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<HandshakeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HandshakeError, String(err));
    return err;
  }
  assert.fail("expected a HandshakeError");
}

Deno.test("a refused client learns its refusal from the server's alert within one round trip (buffer API)", async () => {
  // The server does not know mallory; mallory's own lookup knows the server.
  const client = session({ getPublicKeyForId: lookupOf(bob) }, stranger);
  const server = session({ getPublicKeyForId: lookupOf(alice, bob) }, bob);
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  assert.equal(client.state, "established"); // 1-RTT: the client does not know yet
  const refused = await failure(server.negotiate(finished!));
  assert.equal(refused.code, "handshake_unknown_peer");
  assert.ok(refused.alert, "the server has an alert to send");
  assert.equal(refused.alert.length, 20); // protected under the server's handshake key
  const events: string[] = [];
  client.addEventListener("error", (e) => events.push((e as SessionErrorEvent).error.code));
  const learned = await failure(client.unwrap(refused.alert));
  assert.equal(learned.code, "handshake_refused");
  assert.equal(learned.alert, null); // nobody answers an alert
  assert.equal(client.state, "closed");
  assert.deepEqual(events, ["handshake_refused"]);
  await rejectsWith(client.wrap(bytes("x")), "session_failed");
});

Deno.test("a refused client's receive() rejects with handshake_refused instead of hanging (callback API)", async () => {
  const [a, b] = memoryTransportPair();
  const clientEnd = new CountingTransport(a);
  const serverEnd = new CountingTransport(b);
  const client = session({ getPublicKeyForId: lookupOf(bob), transport: clientEnd }, stranger);
  const server = session({ getPublicKeyForId: lookupOf(alice, bob), transport: serverEnd }, bob);
  const [connected, accepted] = await Promise.allSettled([client.connect(), server.accept()]);
  assert.equal(connected.status, "fulfilled");
  assert.equal(accepted.status, "rejected");
  assert.equal((accepted as PromiseRejectedResult).reason.code, "handshake_unknown_peer");
  await rejectsWith(client.receive(), "handshake_refused", HandshakeError);
  // The server sent its hello and the alert, then ended its side of the transport.
  assert.equal(serverEnd.sent.length, 2);
  assert.equal(serverEnd.sent[1]!.length, 20);
  assert.equal(await a.receive(), null);
});

Deno.test("a client that refuses the server tells it with a protected alert", async () => {
  const client = session({ getPublicKeyForId: lookupOf(alice, bob), expectedPeer: "carol" }, alice);
  const server = session({ getPublicKeyForId: lookupOf(alice, bob) }, bob);
  const reply = await server.negotiate(await client.connectRequest());
  const refused = await failure(client.negotiate(reply!));
  assert.equal(refused.code, "handshake_peer_rejected");
  assert.equal(refused.alert?.length, 20);
  const learned = await failure(server.negotiate(refused.alert!));
  assert.equal(learned.code, "handshake_refused");
  assert.equal(server.state, "closed");
});

Deno.test("a server that cannot parse the ClientHello answers with a plain alert", async () => {
  const client = session({}, alice);
  const server = session({}, bob);
  const hello = await client.connectRequest();
  const noSuite = hello.slice();
  noSuite.set([0x00, 0x09], 3); // the only suite offered becomes 0009
  const refused = await failure(server.negotiate(noSuite));
  assert.equal(refused.code, "handshake_unsupported_suite");
  assert.deepEqual(refused.alert, new Uint8Array([0x15, 0x01, 0x00, 0x03]));
  await rejectsWith(client.negotiate(refused.alert!), "handshake_refused");
});

Deno.test("the alert says only the class: an unknown id and a bad signature look the same", async () => {
  const classes: number[] = [];
  for (
    const lookup of [lookupOf(bob), lookupOf(bob, { id: bytes("alice"), keys: stranger.keys })]
  ) {
    const client = session({ getPublicKeyForId: lookupOf(bob) }, alice);
    const server = session({ getPublicKeyForId: lookup }, bob);
    const finished = await client.negotiate(
      (await server.negotiate(await client.connectRequest()))!,
    );
    const refused = await failure(server.negotiate(finished!));
    classes.push(refused.alert!.length);
    const learned = await failure(client.unwrap(refused.alert!));
    assert.equal(learned.message, "the peer refused the handshake (refused)");
  }
  assert.deepEqual(classes, [20, 20]);
});

Deno.test("an alert is never answered with an alert", async () => {
  const server = session({}, bob);
  const refused = await failure(server.negotiate(new Uint8Array([0x15, 0x01, 0x00, 0x01])));
  assert.equal(refused.code, "handshake_unexpected");
  assert.equal(refused.alert, null);
  const client = session({}, alice);
  await client.connectRequest();
  const bad = await failure(client.negotiate(new Uint8Array([0x15, 0x01, 0x00, 0x09])));
  assert.equal(bad.code, "handshake_malformed");
  assert.equal(bad.alert, null);
});

Deno.test("a forged alert does not end an established client; after the server's first record none is accepted", async () => {
  const client = session({}, alice);
  const server = session({}, bob);
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  await server.negotiate(finished!);
  const forged = flip(new Uint8Array(20).fill(7), 0, 0x07 ^ 0x15);
  forged.set([0x15, 0x01, 0x01]);
  await rejectsWith(client.unwrap(forged), "record_auth_failed", RecordError);
  assert.equal(client.state, "established");
  await rejectsWith(client.unwrap(new Uint8Array([0x15, 0x01, 0x00, 0x01])), "record_malformed");
  assert.equal(text(await client.unwrap(await server.wrap(bytes("hello")))), "hello");
  // The server has proved itself: an alert (even a well-formed one) is no longer expected.
  await rejectsWith(client.unwrap(forged), "record_malformed", RecordError);
  assert.equal(client.state, "established");
});
