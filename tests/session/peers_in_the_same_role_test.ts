// Two clients, or two servers, facing each other: the error says what came instead of the
// expected message and what the usual mix-up is, rather than a bare "unexpected".

import assert from "node:assert/strict";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { alice, bob, bufferPair, lookupOf, session } from "./_helpers.ts";

Deno.test("two clients calling connect() both learn that the peer is a client too", async () => {
  const [ta, tb] = memoryTransportPair();
  const getPublicKeyForId = lookupOf(alice, bob);
  const a = new SecureSession({
    id: alice.id,
    privateKey: alice.keys.privateKey,
    getPublicKeyForId,
    transport: ta,
  });
  const b = new SecureSession({
    id: bob.id,
    privateKey: bob.keys.privateKey,
    getPublicKeyForId,
    transport: tb,
  });
  const results = await Promise.allSettled([a.connect(), b.connect()]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.equal(result.reason.code, "handshake_unexpected");
    assert.match(
      result.reason.message,
      /expected a ServerHello, got a ClientHello: the peer is a client too/,
    );
  }
});

Deno.test("a server handed a ServerHello learns that the peer is a server too", async () => {
  const client = session({ self: alice });
  const server = session({ self: bob });
  const reply = await server.negotiate(await client.connectRequest());
  const other = session({ self: bob });
  await assert.rejects(other.negotiate(reply!), {
    code: "handshake_unexpected",
    message: /expected a ClientHello, got a ServerHello: the peer is a server too/,
  });
});

Deno.test("a record where a handshake message belongs says the peer thinks it is established", async () => {
  const { client } = await bufferPair();
  const record = await client.wrap(new Uint8Array([1]));
  await assert.rejects(session({ self: bob }).negotiate(record), {
    code: "handshake_unexpected",
    message:
      /expected a ClientHello, got a record: the peer thinks a session is already established/,
  });
  const fresh = session({ self: alice });
  await fresh.connectRequest();
  await assert.rejects(fresh.negotiate(new Uint8Array([0x42, 1])), {
    code: "handshake_unexpected",
    message: /expected a ServerHello, got a message of unknown type 0x42$/,
  });
});

Deno.test("two servers facing each other: the deadline says no ClientHello came, the peer may be a server", async () => {
  const { SecureStream } = await import("../../lib/stream/mod.ts");
  const a = new TransformStream<Uint8Array, Uint8Array>();
  const b = new TransformStream<Uint8Array, Uint8Array>();
  const options = (self: typeof alice, handshakeTimeout: number) => ({
    session: {
      id: self.id,
      privateKey: self.keys.privateKey,
      getPublicKeyForId: lookupOf(alice, bob),
    },
    handshakeTimeout,
  });
  const [first, second] = await Promise.allSettled([
    SecureStream.accept({ readable: a.readable, writable: b.writable }, options(alice, 300)),
    SecureStream.accept({ readable: b.readable, writable: a.writable }, options(bob, 10_000)),
  ]);
  assert.equal(first.status, "rejected");
  assert.equal(first.reason.code, "handshake_timeout");
  assert.match(
    first.reason.message,
    /no handshake message arrived within 300 ms \(is the peer a server too\?\)/,
  );
  // The other server then loses its transport (the first one cut it), long before its deadline.
  assert.equal(second.status, "rejected");
});
