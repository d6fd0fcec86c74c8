// Each side declares the largest record content it accepts (extension 0004, docs/protocol.md
// §3.1), and a sender never sends more than its peer declared (§5).

import assert from "node:assert/strict";
import { concat, u16, u32 } from "../../lib/crypto/_bytes.ts";
import { HandshakeError, RecordError } from "../../lib/errors.ts";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import {
  type Channel,
  type HandshakeStep,
  implementationOf,
  type ProfileImplementation,
} from "../../lib/session/profile.ts";
import { DEFAULT_MAX_RECORD_SIZE, SecureSession } from "../../lib/session/secure_session.ts";
import { tessera1 } from "../../lib/session/tessera1.ts";
import {
  alice,
  bob,
  bufferPair,
  callbackPair,
  handshake,
  lookupOf,
  rejectsWith,
  session,
} from "./_helpers.ts";

/** ClientHello layout: 01 01 n suites(2n) random(32) share(65) vec16(extensions). */
const EXTENSIONS_AT = 3 + 2 + 32 + 65;
/** Extension 0002 as a tessera/1 client sends it: the single version 01. */
const VERSIONS = concat(u16(0x0002), u16(2), new Uint8Array([1, 1]));

/** A ClientHello (without an offer) whose extensions are 0002 and 0004 with `data`. */
function withLimitData(hello: Uint8Array, data: Uint8Array): Uint8Array {
  const block = concat(VERSIONS, u16(0x0004), u16(data.length), data);
  return concat(hello.subarray(0, EXTENSIONS_AT), u16(block.length), block);
}

/** Asserts that `wrap(length bytes)` is refused for the peer's limit, naming both numbers. */
async function refusesAbovePeerLimit(sender: SecureSession, length: number, limit: number) {
  const err = await rejectsWith(
    sender.wrap(new Uint8Array(length)),
    "record_too_large",
    RecordError,
  );
  assert.equal(
    err.message,
    `plaintext of ${length} bytes exceeds the peer's record size limit of ${limit} bytes`,
  );
}

/** Asserts that `from` may send exactly `limit` bytes to `to`, and not one more. */
async function sendsUpTo(from: SecureSession, to: SecureSession, limit: number) {
  assert.equal(from.peerMaxRecordSize, limit);
  await refusesAbovePeerLimit(from, limit + 1, limit);
  const full = new Uint8Array(limit).fill(7);
  assert.deepEqual(await to.unwrap(await from.wrap(full)), full);
}

Deno.test("a client with maxRecordSize 1024 declares it: the server sends at most 1024 bytes", async () => {
  const { client, server } = await bufferPair({ maxRecordSize: 1024 }, {});
  await sendsUpTo(server, client, 1024);
  // The client learned the server's default, and its own maxRecordSize still bounds what it sends.
  assert.equal(client.peerMaxRecordSize, DEFAULT_MAX_RECORD_SIZE);
  const own = await rejectsWith(client.wrap(new Uint8Array(1025)), "record_too_large");
  assert.equal(own.message, "plaintext of 1025 bytes exceeds maxRecordSize of 1024 bytes");
  assert.equal((await server.unwrap(await client.wrap(new Uint8Array(1024))))!.length, 1024);
});

Deno.test("a server with maxRecordSize 1024 declares it: the client sends at most 1024 bytes", async () => {
  const { client, server } = await bufferPair({}, { maxRecordSize: 1024 });
  await sendsUpTo(client, server, 1024);
  assert.equal(server.peerMaxRecordSize, DEFAULT_MAX_RECORD_SIZE);
});

Deno.test("the lower of the two limits binds each direction", async () => {
  const { client, server } = await bufferPair({ maxRecordSize: 4096 }, { maxRecordSize: 512 });
  await sendsUpTo(client, server, 512);
  // The client declared 4096, but the server's own 512 binds first.
  assert.equal(server.peerMaxRecordSize, 4096);
  const own = await rejectsWith(server.wrap(new Uint8Array(513)), "record_too_large");
  assert.equal(own.message, "plaintext of 513 bytes exceeds maxRecordSize of 512 bytes");
});

Deno.test("the declared limits 1 and 2^30 are learned exactly", async () => {
  const tiny = await bufferPair({ maxRecordSize: 1 }, { maxRecordSize: 2 ** 30 });
  assert.equal(tiny.server.peerMaxRecordSize, 1);
  assert.equal(tiny.client.peerMaxRecordSize, 2 ** 30);
  await sendsUpTo(tiny.server, tiny.client, 1);
  // The declaration is the last 8 bytes of a ClientHello without an offer: 0004, 0004, u32.
  assert.deepEqual(
    tiny.transcript.ch.subarray(-8),
    new Uint8Array([0, 4, 0, 4, 0, 0, 0, 1]),
  );
});

Deno.test("send() refuses data above the peer's limit and sends nothing", async () => {
  const { client, clientEnd } = await callbackPair({}, { maxRecordSize: 100 });
  const before = clientEnd.sent.length;
  const err = await rejectsWith(client.send(new Uint8Array(101)), "record_too_large", RecordError);
  assert.equal(
    err.message,
    "plaintext of 101 bytes exceeds the peer's record size limit of 100 bytes",
  );
  assert.equal(clientEnd.sent.length, before);
  assert.equal(client.state, "established");
  await client.send(new Uint8Array(100));
  assert.equal(clientEnd.sent.length, before + 1);
});

Deno.test("peerMaxRecordSize is null before the handshake completes and after close", async () => {
  const client = session({ maxRecordSize: 1024 }, alice);
  const server = session({}, bob);
  assert.equal(client.peerMaxRecordSize, null);
  const reply = await server.negotiate(await client.connectRequest());
  assert.equal(server.peerMaxRecordSize, null, "the server is not established yet");
  const finished = await client.negotiate(reply!);
  assert.equal(client.peerMaxRecordSize, DEFAULT_MAX_RECORD_SIZE);
  await server.negotiate(finished!);
  assert.equal(server.peerMaxRecordSize, 1024);
  await client.close();
  assert.equal(client.peerMaxRecordSize, null);
});

Deno.test("a declared limit of 0, 2^30 + 1 or of another length than 4 bytes is handshake_malformed", async () => {
  const hello = await session({}, alice).connectRequest();
  // The untouched layout first: 0002, then 0004 with the default 16 MiB.
  assert.deepEqual(hello, withLimitData(hello, u32(DEFAULT_MAX_RECORD_SIZE)));
  const bad = [u32(0), u32(2 ** 30 + 1), u32(0xffff_ffff), new Uint8Array(0)];
  bad.push(new Uint8Array([0, 0, 4]), new Uint8Array([0, 0, 4, 0, 0]));
  for (const data of bad) {
    const server = session({}, bob);
    const err = await rejectsWith(
      server.negotiate(withLimitData(hello, data)),
      "handshake_malformed",
      HandshakeError,
    ) as HandshakeError;
    assert.equal(err.alert?.length, 4, "a plain alert: no keys exist yet");
    assert.equal(server.state, "closed");
  }
  // Within 1..2^30 the server answers.
  for (const limit of [1, 2 ** 30]) {
    assert.ok(await session({}, bob).negotiate(withLimitData(hello, u32(limit))));
  }
});

Deno.test("a declared limit altered in transit fails the handshake: the two sides' keys differ", async () => {
  const client = session({ maxRecordSize: 1024 }, alice);
  const server = session({}, bob);
  const hello = await client.connectRequest();
  assert.deepEqual(hello.subarray(-4), u32(1024));
  const raised = hello.slice();
  raised.set(u32(1 << 20), raised.length - 4);
  const reply = await server.negotiate(raised);
  assert.ok(reply, "the server cannot tell");
  const err = await rejectsWith(
    client.negotiate(reply),
    "handshake_decrypt_failed",
    HandshakeError,
  ) as HandshakeError;
  assert.equal(client.peerMaxRecordSize, null);
  // The client's alert is protected under keys the server does not share.
  await rejectsWith(server.negotiate(err.alert!), "handshake_decrypt_failed");
  assert.equal(server.isEstablished(), false);
  assert.equal(server.peerMaxRecordSize, null);
});

Deno.test("the peer's declared limit survives save() and restore(), generation after generation", async () => {
  const { client, server } = await bufferPair({ maxRecordSize: 1024 }, {});
  const key = crypto.getRandomValues(new Uint8Array(32));
  let restored = await SecureSession.restore(await server.save(key), key);
  for (let generation = 1; generation <= 2; generation++) {
    assert.equal(restored.generation, generation);
    await sendsUpTo(restored, client, 1024);
    if (generation < 2) restored = await SecureSession.restore(await restored.save(key), key);
  }
  // The other side keeps the default it learned, whatever it is restored with.
  const restoredClient = await SecureSession.restore(await client.save(key), key, {
    maxRecordSize: 1024,
  });
  assert.equal(restoredClient.peerMaxRecordSize, DEFAULT_MAX_RECORD_SIZE);
});

Deno.test("a resumed handshake declares the limits afresh; the ticket does not carry them", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const pair = async (clientLimit: number, serverLimit: number) => {
    const client = session({
      maxRecordSize: clientLimit,
      expectedPeer: "bob",
      resumption: { cache, endpoint: "127.0.0.1:4433" },
    }, alice);
    const server = session({ maxRecordSize: serverLimit, resumption: { store } }, bob);
    await handshake(client, server);
    return { client, server };
  };
  const first = await pair(1024, 2048);
  assert.equal(first.client.resumed, false);
  assert.equal(first.server.peerMaxRecordSize, 1024);
  assert.equal(first.client.peerMaxRecordSize, 2048);
  const resumed = await pair(4096, 512);
  assert.equal(resumed.client.resumed, true);
  assert.equal(resumed.server.resumed, true);
  assert.equal(resumed.server.peerMaxRecordSize, 4096);
  await sendsUpTo(resumed.client, resumed.server, 512);
});

Deno.test("a profile without a declaration reports null, and only the local limit applies", async () => {
  const undeclared = (channel: Channel): Channel =>
    new Proxy(channel, {
      get(target, key) {
        if (key === "peerMaxRecordSize") return null;
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const reported = (step: HandshakeStep): HandshakeStep =>
    step.channel ? { send: step.send, channel: undeclared(step.channel) } : step;
  const base = implementationOf(tessera1, "profile");
  const profile: ProfileImplementation = {
    ...base,
    createHandshake(role, config) {
      const inner = base.createHandshake(role, config);
      return {
        start: () => inner.start(),
        receive: async (message) => reported(await inner.receive(message)),
      };
    },
  };
  const getPublicKeyForId = lookupOf(alice, bob);
  const client = new SecureSession({
    id: alice.id,
    privateKey: alice.keys.privateKey,
    getPublicKeyForId,
    profile,
    maxRecordSize: 64,
  });
  const server = new SecureSession({
    id: bob.id,
    privateKey: bob.keys.privateKey,
    getPublicKeyForId,
    profile,
  });
  await handshake(client, server);
  assert.equal(client.peerMaxRecordSize, null);
  assert.equal(server.peerMaxRecordSize, null);
  const err = await rejectsWith(client.wrap(new Uint8Array(65)), "record_too_large");
  assert.equal(err.message, "plaintext of 65 bytes exceeds maxRecordSize of 64 bytes");
  assert.equal((await server.unwrap(await client.wrap(new Uint8Array(64))))!.length, 64);
});
