// Bun smoke test of the runtime-portable Secure Session API.
// Run: npx -y bun@1.4.4 tests/bun/smoke.ts  (also runs under Deno).

import assert from "node:assert/strict";
import {
  directoryLookup,
  generateIdentityKeyPair,
  HandshakeError,
  SecureSession,
  TesseraError,
} from "../../mod.ts";
import { ClientSessionCache, MemoryTicketStore } from "../../lib/resume/mod.ts";
import { memoryTransportPair } from "../../lib/transport/mod.ts";
import { run, test } from "./_harness.ts";

const runtime = "Bun" in globalThis ? "Bun" : "Deno" in globalThis ? "Deno" : "unknown";
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function pair(): Promise<[SecureSession, SecureSession]> {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const lookup = directoryLookup({ a: a.publicKey, b: b.publicKey });
  const client = new SecureSession({
    id: "a",
    privateKey: a.privateKey,
    getPublicKeyForId: lookup,
  });
  const server = new SecureSession({
    id: "b",
    privateKey: b.privateKey,
    getPublicKeyForId: lookup,
  });
  let message: Uint8Array | null = await client.connectRequest();
  while (message) {
    message = await server.negotiate(message);
    if (message) message = await client.negotiate(message);
  }
  return [client, server];
}

test("a buffer-API handshake establishes both sides with one session id", async () => {
  const [client, server] = await pair();
  assert.equal(client.state, "established");
  assert.equal(server.state, "established");
  assert.deepEqual(client.sessionId, server.sessionId);
});

test("wrap/unwrap round-trips both ways and refuses a replay", async () => {
  const [client, server] = await pair();
  const record = await client.wrap(text("hello"));
  assert.deepEqual(await server.unwrap(record), text("hello"));
  await assert.rejects(server.unwrap(record), { code: "record_replayed" });
  assert.deepEqual(await client.unwrap(await server.wrap(text("back"))), text("back"));
});

test("records sealed back to back, none awaited, each carry their own plaintext", async () => {
  // The record layer lays every plaintext out in one reused buffer: correct only because Web
  // Crypto copies its input before encrypt() returns. This runtime must do so too.
  const [client, server] = await pair();
  const sizes = [1, 100, 5000, 70_000, 3, 200_000, 64];
  const sent = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
  const records = await Promise.all(sent.map((data) => client.wrap(data)));
  for (const [i, record] of records.entries()) {
    assert.deepEqual(await server.unwrap(record), sent[i]);
  }
});

test("a tampered record is refused with record_auth_failed", async () => {
  const [client, server] = await pair();
  const record = await client.wrap(text("hello"));
  record[record.length - 1]! ^= 1;
  await assert.rejects(server.unwrap(record), (err: unknown) => {
    assert.ok(err instanceof TesseraError);
    assert.equal(err.code, "record_auth_failed");
    return true;
  });
});

test("the callback API runs over an in-memory transport", async () => {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const lookup = directoryLookup({ a: a.publicKey, b: b.publicKey });
  const [ca, cb] = memoryTransportPair();
  const client = new SecureSession({
    id: "a",
    privateKey: a.privateKey,
    getPublicKeyForId: lookup,
    transport: ca,
  });
  const server = new SecureSession({
    id: "b",
    privateKey: b.privateKey,
    getPublicKeyForId: lookup,
    transport: cb,
  });
  await Promise.all([client.connect(), server.accept()]);
  await client.send(text("ping"));
  assert.deepEqual(await server.receive(), text("ping"));
  await client.close();
  assert.equal(await server.receive(), null);
});

test("rekey, save and restore keep the peer reading", async () => {
  const [client, server] = await pair();
  client.rekey();
  assert.deepEqual(await server.unwrap(await client.wrap(text("1"))), text("1"));
  const key = crypto.getRandomValues(new Uint8Array(32));
  const restored = await SecureSession.restore(await client.save(key, { context: "c" }), key, {
    context: "c",
  });
  assert.equal(restored.generation, 1);
  assert.deepEqual(await server.unwrap(await restored.wrap(text("2"))), text("2"));
  assert.deepEqual(
    await server.exportKeyingMaterial("bun", "", 16),
    await restored.exportKeyingMaterial("bun", "", 16),
  );
  await assert.rejects(SecureSession.restore(await restored.save(key), new Uint8Array(32)), {
    code: "state_auth_failed",
  });
});

test("a ticket resumes the next connection with no signatures and its attributes", async () => {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const connect = async () => {
    const client = new SecureSession({
      id: "a",
      privateKey: a.privateKey,
      getPublicKeyForId,
      expectedPeer: "b",
      resumption: { cache, endpoint: "bun:1" },
    });
    const server = new SecureSession({
      id: "b",
      privateKey: b.privateKey,
      getPublicKeyForId,
      resumption: { store, attributes: () => ({ level: 3 }) },
    });
    let message: Uint8Array | null = await client.connectRequest();
    while (message) {
      message = await server.negotiate(message);
      if (message) message = await client.negotiate(message);
    }
    return [client, server] as const;
  };
  const [first] = await connect();
  assert.equal(first.resumed, false);
  const [client, server] = await connect();
  assert.equal(client.resumed, true);
  assert.deepEqual(server.attributes, { level: 3 });
  assert.deepEqual(await server.unwrap(await client.wrap(text("r"))), text("r"));
});

test("a refused client learns it from the server's alert", async () => {
  const a = await generateIdentityKeyPair();
  const client = new SecureSession({
    id: "a",
    privateKey: a.privateKey,
    getPublicKeyForId: directoryLookup({ b: a.publicKey }),
  });
  const server = new SecureSession({
    id: "b",
    privateKey: a.privateKey,
    getPublicKeyForId: directoryLookup({ b: a.publicKey }),
  });
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  const refused = await server.negotiate(finished!).catch((err) => err);
  assert.ok(refused instanceof HandshakeError && refused.alert);
  await assert.rejects(client.unwrap(refused.alert), { code: "handshake_refused" });
});

test("an unknown peer id fails the handshake with a typed error", async () => {
  const a = await generateIdentityKeyPair();
  const client = new SecureSession({
    id: "a",
    privateKey: a.privateKey,
    getPublicKeyForId: directoryLookup({ b: a.publicKey }),
  });
  const server = new SecureSession({
    id: "b",
    privateKey: a.privateKey,
    getPublicKeyForId: () => null,
  });
  const reply = await server.negotiate(await client.connectRequest());
  const finished = await client.negotiate(reply!);
  await assert.rejects(server.negotiate(finished!), { code: "handshake_unknown_peer" });
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "handshake_unknown_peer");
  await assert.rejects(server.wrap(text("x")), { code: "session_failed" });
});

await run(`${runtime} smoke`);
