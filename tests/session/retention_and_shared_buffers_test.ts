// Adversarial checks of the record layer and the session around it: memory held by waits on the
// transport, records and plaintexts in buffers Web Crypto does not take directly, plaintext
// buffers reused while a key is being derived, and close() racing a handshake step that fails.

import assert from "node:assert/strict";
import type { TesseraError } from "../../lib/errors.ts";
import type { PublicKeyLookup } from "../../lib/session/profile.ts";
import type { SecureSession, SessionTransport } from "../../lib/session/secure_session.ts";
import type { SessionStateEvent } from "../../lib/session/session_events.ts";
import {
  alice,
  bob,
  bufferPair,
  bytes,
  callbackPair,
  lookupOf,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";

/** A copy of `data` in a SharedArrayBuffer (as a worker ring buffer or shared Wasm memory holds it). */
function shared(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(data.length));
  out.set(data);
  return out;
}

// ------------------------------------------------------------ waits on the transport

Deno.test("receive() does not keep the messages it took from the transport alive until the session ends", async () => {
  const SIZE = 1 << 20;
  const COUNT = 256;
  // Each message is a fresh record of 1 MiB, sealed when the session asks for it.
  let client: SecureSession | null = null;
  const transport: SessionTransport = {
    send() {},
    receive: () => client!.wrap(new Uint8Array(SIZE)),
  };
  const pair = await bufferPair({ maxRecordSize: SIZE }, { transport, maxRecordSize: SIZE });
  client = pair.client;
  const server = pair.server;
  const before = Deno.memoryUsage().external;
  for (let i = 0; i < COUNT; i++) assert.equal((await server.receive())!.length, SIZE);
  const grown = (Deno.memoryUsage().external - before) / SIZE;
  assert.ok(
    grown < COUNT / 2,
    `${Math.round(grown)} MiB of the ${COUNT} MiB received are still reachable`,
  );
  await server.close();
});

// ------------------------------------------------- buffers Web Crypto does not take

Deno.test("an authentic record in a SharedArrayBuffer opens whether or not its key is cached", async () => {
  const { client, server } = await bufferPair();
  const outcomes: string[] = [];
  for (const message of ["one", "two", "three"]) {
    const record = shared(await client.wrap(bytes(message)));
    outcomes.push(
      await server.unwrap(record).then(text, (e) => `rejected:${(e as TesseraError).code}`),
    );
  }
  assert.deepEqual(outcomes, ["one", "two", "three"]);
});

Deno.test("send() of a plaintext in a SharedArrayBuffer neither fails nor breaks the stream", async () => {
  const { client, server } = await callbackPair();
  await client.send(bytes("warm")); // the sending key is derived: the common case
  assert.equal(text(await server.receive()), "warm");
  const first = await client.send(shared(bytes("shared"))).then(
    () => "sent",
    (e) => `rejected:${(e as Error).name}`,
  );
  await client.send(bytes("next"));
  const got: string[] = [];
  for (let i = 0; i < 2; i++) {
    got.push(
      await server.receive().then(text, (e) => `rejected:${(e as TesseraError).code}`),
    );
    if (got[i]!.startsWith("rejected")) break;
  }
  assert.deepEqual([first, ...got], ["sent", "shared", "next"]);
});

// ------------------------------------------------------- plaintext buffers reused

Deno.test("wrap() seals the bytes it was given, also while a new sending key is being derived", async () => {
  const { client, server } = await bufferPair();
  const sealed: string[] = [];
  for (const keyUpdate of [false, true]) {
    await server.unwrap(await client.wrap(bytes("settle"))); // the current key is derived
    if (keyUpdate) client.rekey();
    const buffer = bytes("original");
    const record = client.wrap(buffer);
    buffer.fill(0x2a); // the caller reads its next chunk into the same buffer
    sealed.push(text(await server.unwrap(await record)));
  }
  assert.deepEqual(sealed, ["original", "original"]);
});

Deno.test("records sealed back to back each carry their own plaintext and zero padding", async () => {
  // Long plaintexts, then shorter ones: bytes of an earlier record must not show up in a later
  // one's padding (the receiver would read them as content). Some are sealed while a new key is
  // being derived, the others with the keys at hand.
  const { client, server } = await bufferPair({ padding: { blockSize: 256 } });
  await server.unwrap(await client.wrap(bytes("settle")));
  const messages: Uint8Array[] = [];
  const records: Promise<Uint8Array>[] = [];
  for (const length of [70_000, 5000, 300, 1, 0, 65_000, 2, 255, 254, 1000]) {
    if (length === 65_000) client.rekey();
    const message = new Uint8Array(length).fill(length & 0xff || 1);
    messages.push(message.slice());
    records.push(client.wrap(message));
    message.fill(0xee);
  }
  for (const [i, record] of (await Promise.all(records)).entries()) {
    assert.equal((record.length - 14 - 16) % 256, 0, "padded to the block");
    assert.deepEqual(await server.unwrap(record), messages[i]);
  }
});

// --------------------------------------------------- close() racing a failing step

Deno.test("close() while a handshake step runs keeps the session closed when that step then fails", async () => {
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const known = lookupOf(alice, bob);
  // Answers with the wrong key once released: the server's signature will not verify.
  const lookup: PublicKeyLookup = async () => {
    enter();
    await gate;
    return known(alice.id);
  };
  const client = session({ getPublicKeyForId: lookup }, alice);
  const server = session({}, bob);
  const events: string[] = [];
  client.addEventListener("statechange", (e) => events.push((e as SessionStateEvent).state));
  client.addEventListener("error", () => events.push("error"));
  const sh = await server.negotiate(await client.connectRequest());
  const step = client.negotiate(sh!).then(
    () => "answered",
    (e) => `rejected:${(e as TesseraError).code}`,
  );
  await entered;
  assert.equal(await client.close(), null);
  release();
  assert.equal(await step, "rejected:session_closed");
  assert.equal(client.error, null);
  assert.deepEqual(events, ["negotiating", "closed"]);
  await rejectsWith(client.wrap(bytes("after close")), "session_closed");
});
