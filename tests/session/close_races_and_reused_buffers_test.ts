// Adversarial checks of the Secure Session: races between close(), save() and handshake steps,
// refused sends while earlier ones are being written, caller buffers reused while a call runs,
// and the promise contract of the public profile.

import assert from "node:assert/strict";
import { channelConfig } from "./_channels.ts";
import { implementationOf, type PublicKeyLookup } from "../../lib/session/profile.ts";
import type { SessionTransport } from "../../lib/session/secure_session.ts";
import type { SessionStateEvent } from "../../lib/session/session_events.ts";
import { tessera1 } from "../../lib/session/tessera1.ts";
import {
  alice,
  bob,
  bufferPair,
  bytes,
  callbackPair,
  handshake,
  lookupOf,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";
import { settledWithin } from "../_settled.ts";

const wrappingKey = crypto.getRandomValues(new Uint8Array(32));

/** A lookup that pauses until released, so that a call can land in the middle of a step. */
function pausedLookup(): { lookup: PublicKeyLookup; entered: Promise<void>; release(): void } {
  const inner = lookupOf(alice, bob);
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  return {
    lookup: async (id) => {
      enter();
      await gate;
      return inner(id);
    },
    entered,
    release,
  };
}

// ------------------------------------------------------------------ refused sends

Deno.test("a send() refused while an earlier send() is still being written rejects without an unhandled rejection", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const transport: SessionTransport = {
    send: () => gate,
    receive: () => new Promise(() => {}),
  };
  const client = session({ transport }, alice);
  const server = session({}, bob);
  await handshake(client, server);
  const unhandled: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    const first = client.send(bytes("first"));
    // The peer closes while the first record is still being written.
    assert.equal(await client.unwrap((await server.close())!), null);
    const second = client.send(bytes("second")).then(() => "sent", (e) => e.code);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await first;
    assert.equal(await second, "session_closed");
    await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

// ------------------------------------------------------------ close() and save() races

Deno.test("close() while the client's negotiate() is running keeps the session closed and seals nothing", async () => {
  const paused = pausedLookup();
  const client = session({ getPublicKeyForId: paused.lookup }, alice);
  const server = session({}, bob);
  const states: string[] = [];
  client.addEventListener("statechange", (e) => states.push((e as SessionStateEvent).state));
  const sh = await server.negotiate(await client.connectRequest());
  const refused = rejectsWith(client.negotiate(sh!), "session_closed");
  await paused.entered;
  assert.equal(await client.close(), null);
  paused.release();
  await refused;
  assert.equal(client.state, "closed");
  assert.equal(client.isEstablished(), false);
  assert.equal(client.sessionId, null);
  await rejectsWith(client.wrap(bytes("after close")), "session_closed");
  assert.deepEqual(states, ["negotiating", "closed"]);
});

Deno.test("close() while the server's negotiate() verifies the ClientFinished keeps the server closed", async () => {
  const paused = pausedLookup();
  const client = session({}, alice);
  const server = session({ getPublicKeyForId: paused.lookup }, bob);
  const sh = await server.negotiate(await client.connectRequest());
  const cf = await client.negotiate(sh!);
  const refused = rejectsWith(server.negotiate(cf!), "session_closed");
  await paused.entered;
  await server.close();
  paused.release();
  await refused;
  assert.equal(server.state, "closed");
  await rejectsWith(server.unwrap(await client.wrap(bytes("late"))), "session_closed");
});

Deno.test("save() racing close() does not produce a restorable copy of the closed session", async () => {
  const { client } = await bufferPair();
  const refused = rejectsWith(client.save(wrappingKey), "session_closed");
  await client.close();
  await refused;
});

Deno.test("a receive() waiting on the transport resolves to null when this side closes the session", async () => {
  const { client, server } = await callbackPair();
  const pending = server.receive();
  pending.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 10));
  await server.close();
  const outcome = await settledWithin(pending, 300);
  // The peer's close record unblocks the transport, so nothing is left waiting after the test.
  await client.close();
  assert.equal(outcome, null);
});

// ------------------------------------------------------------- caller-owned buffers

Deno.test("a record buffer reused by the caller while unwrap() runs cannot make one record count twice", async () => {
  const { client, server } = await bufferPair();
  client.rekey(); // a key id the server has not derived yet
  const one = await client.wrap(bytes("one"));
  const two = await client.wrap(bytes("two"));
  const buffer = one.slice();
  const opening = server.unwrap(buffer);
  buffer.set(two); // the caller reads the next datagram into the same buffer
  assert.equal(text(await opening), "one");
  assert.equal(text(await server.unwrap(two)), "two");
  await rejectsWith(server.unwrap(two), "record_replayed");
  await rejectsWith(server.unwrap(one), "record_replayed");
});

Deno.test("a caller that reuses the buffer of a sent handshake message does not break the handshake", async () => {
  const client = session({}, alice);
  const server = session({}, bob);
  const ch = await client.connectRequest();
  const chSent = ch.slice();
  ch.fill(0); // the caller's transport recycles the buffer once sent
  const sh = await server.negotiate(chSent);
  const shSent = sh!.slice();
  sh!.fill(0);
  const cf = await client.negotiate(shSent);
  assert.ok(cf);
  assert.equal(await server.negotiate(cf), null);
  assert.equal(client.isEstablished() && server.isEstablished(), true);
});

// ------------------------------------------------------------------ the profile API

Deno.test("tessera1.importChannel() reports malformed state as a rejected promise, not a synchronous throw", async () => {
  const config = channelConfig();
  let result: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    result = implementationOf(tessera1, "profile").importChannel(new Uint8Array([9]), config);
  });
  await rejectsWith(result!, "state_unsupported_version");
});
