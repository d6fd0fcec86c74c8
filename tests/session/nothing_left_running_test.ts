// A handshake that fails midway, a restore that is refused, and a session dropped right after
// its handshake leave no Web Crypto operation running. Two checks see to it: while a case runs,
// every `crypto.subtle` call is counted (and slowed down, so that one left behind is still
// running), and none may still be pending when the failure (or the handshake) is reported; and
// the test runner's operation sanitizer, on by default, fails a test that ends with an operation
// or timer still pending (Deno 2.5 reports Web Crypto operations among them).

import assert from "node:assert/strict";
import { TesseraError } from "../../lib/errors.ts";
import { watchingCrypto } from "../_watching_crypto.ts";
import { openState, sealState, toWrappingKey } from "../../lib/session/_saved_state.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import {
  alice,
  bob,
  bufferPair,
  bytes,
  handshake,
  identity,
  lookupOf,
  session,
  text,
} from "./_helpers.ts";

/** Where the key share starts in a ClientHello with one suite, and in a ServerHello. */
const CLIENT_HELLO_SHARE = 1 + 1 + 1 + 2 + 32;
const SERVER_HELLO_SHARE = 1 + 1 + 2 + 32;

/** A copy of `message` whose key share is no SEC1 point (refused before any crypto). */
function badShare(message: Uint8Array, at: number): Uint8Array {
  const copy = message.slice();
  copy[at] = 0x05;
  return copy;
}

/** Awaits `attempt`, which must reject with `code`, and checks that nothing is left running. */
async function failsCleanly(
  pending: () => string[],
  attempt: Promise<unknown>,
  code: string,
): Promise<void> {
  const error = await attempt.then(() => null, (err: unknown) => err);
  const left = pending();
  assert.ok(error instanceof TesseraError, `expected ${code}, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.deepEqual(left, [], `still running when ${code} was reported: ${left.join(", ")}`);
}

Deno.test("a server given a ClientHello with a bad key share leaves nothing running", async () => {
  const hello = await session({}, alice).connectRequest();
  await watchingCrypto(async (pending) => {
    const server = session({}, bob);
    const bad = badShare(hello, CLIENT_HELLO_SHARE);
    await failsCleanly(pending, server.negotiate(bad), "handshake_bad_key_share");
  });
});

Deno.test("a client given a ServerHello with a bad key share leaves nothing running", async () => {
  const client = session({}, alice);
  const reply = await session({}, bob).negotiate(await client.connectRequest());
  await watchingCrypto(async (pending) => {
    const bad = badShare(reply!, SERVER_HELLO_SHARE);
    await failsCleanly(pending, client.negotiate(bad), "handshake_bad_key_share");
  });
});

Deno.test("a server that does not know the client leaves nothing running", async () => {
  // The server derives the traffic keys while it verifies the client, who is unknown to it.
  const stranger = await identity("mallory");
  const client = session({ self: stranger, getPublicKeyForId: lookupOf(alice, bob, stranger) });
  const server = session({}, bob);
  const reply = await server.negotiate(await client.connectRequest());
  const finished = (await client.negotiate(reply!))!;
  await watchingCrypto(async (pending) => {
    await failsCleanly(pending, server.negotiate(finished), "handshake_unknown_peer");
  });
});

Deno.test("a client that refuses the server leaves nothing running", async () => {
  // The client builds its reply while it verifies the server, which is not the one expected.
  const client = session({ expectedPeer: "carol" }, alice);
  const reply = await session({}, bob).negotiate(await client.connectRequest());
  await watchingCrypto(async (pending) => {
    await failsCleanly(pending, client.negotiate(reply!), "handshake_peer_rejected");
  });
});

Deno.test("a refused restore leaves nothing running", async () => {
  const wrappingKey = await toWrappingKey(crypto.getRandomValues(new Uint8Array(32)));
  const { client } = await bufferPair();
  const { inner } = await openState(wrappingKey, await client.save(wrappingKey), new Uint8Array());
  const flipped = inner.slice();
  flipped[0] = 1; // the session says server, the channel inside says client
  const state = await sealState(wrappingKey, 1, 1, new Uint8Array(), flipped, (b) => {
    return crypto.getRandomValues(b);
  });
  await watchingCrypto(async (pending) => {
    await failsCleanly(pending, SecureSession.restore(state, wrappingKey), "state_malformed");
  });
});

Deno.test("sessions dropped right after their handshake leave nothing running", async () => {
  await watchingCrypto(async (pending) => {
    const client = session({}, alice);
    const server = session({}, bob);
    await handshake(client, server);
    assert.equal(client.state, "established");
    assert.equal(server.state, "established");
    assert.deepEqual(pending(), []);
  });
});

Deno.test("a datagram session moving to the next epoch leaves nothing running", async () => {
  // The epoch left behind stays usable for a grace period, so its keys are derived on the way.
  const { client, server } = await bufferPair();
  client.rekey();
  const record = await client.wrap(bytes("first, in epoch 1"));
  await watchingCrypto(async (pending) => {
    assert.equal(text(await server.unwrap(record)), "first, in epoch 1");
    assert.deepEqual(pending(), []);
  });
});

Deno.test("no Web Crypto operation is running when a tessera/1 handshake step returns, full or resumed", async () => {
  const { ClientSessionCache, MemoryTicketStore } = await import("../../lib/resume/mod.ts");
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const pair = () => ({
    client: session({ resumption: { cache, endpoint: "bob:1" } }, alice),
    server: session({ resumption: { store } }, bob),
  });
  await watchingCrypto(async (pending) => {
    for (const expectResumed of [false, true]) {
      const { client, server } = pair();
      const step = async <T>(name: string, run: Promise<T>): Promise<T> => {
        const out = await run;
        assert.deepEqual(pending(), [], `still running after ${name} (resumed: ${expectResumed})`);
        return out;
      };
      const ch = await step("the ClientHello", client.connectRequest());
      const sh = await step("the ServerHello", server.negotiate(ch));
      const cf = await step("the ClientFinished", client.negotiate(sh!));
      assert.equal(await step("the server's last step", server.negotiate(cf!)), null);
      assert.equal(client.resumed, expectResumed);
    }
  });
});
