import assert from "node:assert/strict";
import { HandshakeError } from "../../lib/errors.ts";
import {
  alice,
  bob,
  bytes,
  handshake,
  identity,
  lookupOf,
  rejectsWith,
  session,
} from "./_helpers.ts";

const carol = await identity("carol");
const directory = lookupOf(alice, bob, carol);

/** Runs the handshake up to the client's answer to the ServerHello. */
async function clientAnswer(
  clientOptions: Parameters<typeof session>[0],
  serverSelf = bob,
): Promise<{ answer: Promise<Uint8Array | null> }> {
  const client = session({ getPublicKeyForId: directory, ...clientOptions }, alice);
  const server = session({ getPublicKeyForId: directory }, serverSelf);
  const reply = await server.negotiate(await client.connectRequest());
  return { answer: client.negotiate(reply!) };
}

Deno.test("a client naming its server completes with that server", async () => {
  for (const expectedPeer of ["bob", bytes("bob"), (id: Uint8Array) => id.length === 3]) {
    const client = session({ getPublicKeyForId: directory, expectedPeer }, alice);
    const server = session({ getPublicKeyForId: directory }, bob);
    await handshake(client, server);
    assert.deepEqual(client.peerId, bytes("bob"));
  }
});

Deno.test("a client meant for bob refuses carol before revealing its id, and tells her with an alert", async () => {
  const { answer } = await clientAnswer({ expectedPeer: "bob" }, carol);
  await assert.rejects(answer, (e: unknown) => {
    assert.ok(e instanceof HandshakeError);
    assert.equal(e.code, "handshake_peer_rejected");
    // The alert is the only thing sent: 20 bytes, no ClientFinished, so no client id.
    assert.equal(e.alert?.length, 20);
    assert.equal(e.alert?.[0], 0x15);
    return true;
  });
});

Deno.test("a predicate that returns false, throws or returns a non-boolean refuses the server", async () => {
  const predicates = [
    () => false,
    () => {
      throw new Error("policy store down");
    },
    () => "yes" as unknown as boolean,
    () => Promise.resolve(false),
  ];
  for (const expectedPeer of predicates) {
    await rejectsWith((await clientAnswer({ expectedPeer })).answer, "handshake_peer_rejected");
  }
});

Deno.test("without expectedPeer, a server presenting the client's own id (a reflection) is refused", async () => {
  // alice's own id answered by a server that holds alice's key: the reflection.
  const { answer } = await clientAnswer({}, alice);
  await rejectsWith(answer, "handshake_peer_rejected");
  // Naming one's own id explicitly allows it (one identity shared by a cluster).
  await handshake(
    session({ getPublicKeyForId: directory, expectedPeer: "alice" }, alice),
    session({ getPublicKeyForId: directory, expectedPeer: "alice" }, alice),
  );
});

Deno.test("a server's expectedPeer (its accept hook) refuses a client it does not accept", async () => {
  const client = session({ getPublicKeyForId: directory }, carol);
  const server = session({
    getPublicKeyForId: directory,
    expectedPeer: (id) => new TextDecoder().decode(id) === "alice",
  }, bob);
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  await rejectsWith(server.negotiate(finished!), "handshake_peer_rejected");
  assert.equal(server.state, "closed");
});

Deno.test("expectedPeer of the wrong type or length is refused at construction", () => {
  assert.throws(() => session({ expectedPeer: 7 as unknown as string }), TypeError);
  assert.throws(() => session({ expectedPeer: "" }), RangeError);
  assert.throws(() => session({ expectedPeer: new Uint8Array(1025) }), RangeError);
});
