import assert from "node:assert/strict";
import { toHex } from "../../lib/crypto/_bytes.ts";
import { exportPublicKey, exportPublicKeyJwk } from "../../lib/crypto/identity.ts";
import { HandshakeError, type HandshakeErrorCode, SessionStateError } from "../../lib/errors.ts";
import type { PublicKeyLookup } from "../../lib/session/profile.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import type { SessionErrorEvent } from "../../lib/session/session_events.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import {
  alice,
  bob,
  bufferPair,
  bytes,
  callbackPair,
  CountingTransport,
  identity,
  lookupOf,
  rejectsWith,
  session,
  text,
  throwsWith,
} from "./_helpers.ts";

function assertSameSession(client: SecureSession, server: SecureSession): void {
  assert.equal(client.state, "established");
  assert.equal(server.state, "established");
  assert.equal(client.role, "client");
  assert.equal(server.role, "server");
  assert.ok(client.sessionId instanceof Uint8Array && client.sessionId.length === 16);
  assert.deepEqual(client.sessionId, server.sessionId);
  assert.deepEqual(client.peerId, server.id);
  assert.deepEqual(server.peerId, client.id);
}

Deno.test("the buffer API completes a handshake and both sides derive one session id", async () => {
  const { client, server, transcript } = await bufferPair();
  assertSameSession(client, server);
  assert.deepEqual(client.peerId, bytes("bob"));
  assert.deepEqual(server.peerId, bytes("alice"));
  assert.equal(transcript.ch[0], 0x01);
  assert.equal(transcript.sh[0], 0x02);
  assert.deepEqual(transcript.cf.subarray(0, 2), new Uint8Array([0x03, 0x01]));
  const record = await client.wrap(bytes("hello"));
  assert.equal(text(await server.unwrap(record)), "hello");
  assert.equal(text(await client.unwrap(await server.wrap(bytes("back")))), "back");
});

Deno.test("two handshakes between the same peers derive different session ids", async () => {
  const first = await bufferPair();
  const second = await bufferPair();
  assert.notDeepEqual(first.client.sessionId, second.client.sessionId);
});

Deno.test("ids given as strings and as bytes are the same id on the wire", async () => {
  const { client, server } = await bufferPair({ idAs: "string" }, { idAs: "string" });
  assertSameSession(client, server);
  assert.deepEqual(client.id, bytes("alice"));
  assert.deepEqual(client.peerId, bytes("bob"));
});

Deno.test("binary ids that are not UTF-8 work, and peerId returns them exactly", async () => {
  const c = await identity(new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x00]));
  const s = await identity(new Uint8Array(1024).fill(0xc3));
  const lookup = lookupOf(c, s);
  const { client, server } = await bufferPair(
    { self: c, getPublicKeyForId: lookup },
    { self: s, getPublicKeyForId: lookup },
  );
  assertSameSession(client, server);
  assert.deepEqual(client.peerId, s.id);
  assert.deepEqual(server.peerId, c.id);
});

Deno.test("the lookup receives the peer id, may be async, and may be sync", async () => {
  const seen: string[] = [];
  const asyncLookup: PublicKeyLookup = async (id) => {
    seen.push("server:" + new TextDecoder().decode(id));
    await Promise.resolve();
    return alice.keys.publicKey;
  };
  const syncLookup: PublicKeyLookup = (id) => {
    seen.push("client:" + new TextDecoder().decode(id));
    return bob.keys.publicKey;
  };
  const { client, server } = await bufferPair(
    { getPublicKeyForId: syncLookup },
    { getPublicKeyForId: asyncLookup },
  );
  assertSameSession(client, server);
  assert.deepEqual(seen, ["client:bob", "server:alice"]);
});

for (const format of ["raw", "compressed", "spki", "jwk", "CryptoKey"] as const) {
  Deno.test(`the lookup may return the public key as ${format}`, async () => {
    const encode = async (key: CryptoKey): Promise<CryptoKey | Uint8Array | JsonWebKey> =>
      format === "CryptoKey"
        ? key
        : format === "jwk"
        ? await exportPublicKeyJwk(key)
        : await exportPublicKey(key, format);
    const table = new Map([
      [toHex(alice.id), await encode(alice.keys.publicKey)],
      [toHex(bob.id), await encode(bob.keys.publicKey)],
    ]);
    const getPublicKeyForId: PublicKeyLookup = (id) => table.get(toHex(id));
    const { client, server } = await bufferPair({ getPublicKeyForId }, { getPublicKeyForId });
    assertSameSession(client, server);
  });
}

Deno.test("the callback API completes a handshake with connect() and accept()", async () => {
  const { client, server, clientEnd, serverEnd } = await callbackPair();
  assertSameSession(client, server);
  assert.equal(clientEnd.sent.length, 2);
  assert.equal(serverEnd.sent.length, 1);
  await client.send(bytes("ping"));
  assert.equal(text(await server.receive()), "ping");
  await server.send(bytes("pong"));
  assert.equal(text(await client.receive()), "pong");
});

Deno.test("receive() on a new session accepts the handshake implicitly", async () => {
  const [a, b] = memoryTransportPair();
  const client = session({ transport: a }, alice);
  const server = session({ transport: b }, bob);
  const [, received] = await Promise.all([
    client.connect().then(() => client.send(bytes("first"))),
    server.receive(),
  ]);
  assert.equal(text(received), "first");
  assertSameSession(client, server);
});

Deno.test("a buffer-API client completes a handshake with a callback-API server", async () => {
  const [a, b] = memoryTransportPair();
  const client = session({}, alice);
  const server = session({ transport: b }, bob);
  const accepted = server.accept();
  await a.send(await client.connectRequest());
  const sh = await a.receive();
  assert.ok(sh);
  const cf = await client.negotiate(sh);
  assert.ok(cf);
  await a.send(cf);
  await accepted;
  assertSameSession(client, server);
  // Buffer wrap delivered into a callback receive through the transport.
  await a.send(await client.wrap(bytes("wrapped")));
  assert.equal(text(await server.receive()), "wrapped");
  // Callback send taken off the transport and opened with the buffer unwrap.
  await server.send(bytes("sent"));
  const record = await a.receive();
  assert.ok(record);
  assert.equal(text(await client.unwrap(record)), "sent");
});

Deno.test("a callback-API client completes a handshake with a buffer-API server", async () => {
  const [a, b] = memoryTransportPair();
  const client = session({ transport: a }, alice);
  const server = session({}, bob);
  const connected = client.connect();
  const ch = await b.receive();
  assert.ok(ch);
  const sh = await server.negotiate(ch);
  assert.ok(sh);
  await b.send(sh);
  const cf = await b.receive();
  assert.ok(cf);
  assert.equal(await server.negotiate(cf), null);
  await connected;
  assertSameSession(client, server);
  await client.send(bytes("over the transport"));
  const record = await b.receive();
  assert.ok(record);
  assert.equal(text(await server.unwrap(record)), "over the transport");
  await b.send(await server.wrap(bytes("into receive")));
  assert.equal(text(await client.receive()), "into receive");
});

Deno.test("callback send() and buffer unwrap() mix on one established callback pair", async () => {
  const { client, server, serverEnd } = await callbackPair();
  await client.send(bytes("one"));
  const record = await serverEnd.inner.receive();
  assert.ok(record);
  assert.equal(text(await server.unwrap(record)), "one");
  await client.send(bytes("two"));
  assert.equal(text(await server.receive()), "two");
});

// ---------------------------------------------------------------- failures

interface Failure {
  client: SecureSession;
  server: SecureSession;
  failed: SecureSession;
  error: HandshakeError;
}

/** Runs a buffer handshake expected to fail with `code` on the side `where`. */
async function failingHandshake(
  where: "client" | "server",
  code: HandshakeErrorCode,
  client: SecureSession,
  server: SecureSession,
): Promise<Failure> {
  const ch = await client.connectRequest();
  const sh = await server.negotiate(ch);
  assert.ok(sh);
  if (where === "client") {
    const error = await rejectsWith(client.negotiate(sh), code, HandshakeError);
    assert.equal(server.isEstablished(), false);
    return { client, server, failed: client, error: error as HandshakeError };
  }
  const cf = await client.negotiate(sh);
  assert.ok(cf);
  const error = await rejectsWith(server.negotiate(cf), code, HandshakeError);
  return { client, server, failed: server, error: error as HandshakeError };
}

function assertFailed(f: Failure): void {
  assert.equal(f.failed.state, "closed");
  assert.equal(f.failed.isEstablished(), false);
  assert.equal(f.failed.error, f.error);
  assert.equal(f.failed.sessionId, null);
  assert.equal(f.failed.peerId, null);
}

Deno.test("a server signing with a key that is not its registered key fails with handshake_bad_signature", async () => {
  const impostor = await identity("bob");
  const f = await failingHandshake(
    "client",
    "handshake_bad_signature",
    session({}, alice),
    session({ privateKey: impostor.keys.privateKey }, bob),
  );
  assertFailed(f);
});

Deno.test("a client signing with a key that is not its registered key fails with handshake_bad_signature", async () => {
  const impostor = await identity("alice");
  const f = await failingHandshake(
    "server",
    "handshake_bad_signature",
    session({ privateKey: impostor.keys.privateKey }, alice),
    session({}, bob),
  );
  assertFailed(f);
});

Deno.test("an unknown server id fails the client with handshake_unknown_peer", async () => {
  const f = await failingHandshake(
    "client",
    "handshake_unknown_peer",
    session({ getPublicKeyForId: lookupOf(alice) }, alice),
    session({}, bob),
  );
  assertFailed(f);
});

Deno.test("an unknown client id fails the server with handshake_unknown_peer", async () => {
  const mallory = await identity("mallory");
  const f = await failingHandshake(
    "server",
    "handshake_unknown_peer",
    session({ self: mallory, getPublicKeyForId: lookupOf(bob) }),
    session({}, bob),
  );
  assertFailed(f);
});

Deno.test("a lookup that returns undefined or null is an unknown peer", async () => {
  for (const value of [undefined, null]) {
    const f = await failingHandshake(
      "server",
      "handshake_unknown_peer",
      session({}, alice),
      session({ getPublicKeyForId: () => value }, bob),
    );
    assertFailed(f);
  }
});

Deno.test("a lookup that throws fails with handshake_lookup_failed", async () => {
  const thrown = new Error("database down");
  const f = await failingHandshake(
    "server",
    "handshake_lookup_failed",
    session({}, alice),
    session({
      getPublicKeyForId: () => {
        throw thrown;
      },
    }, bob),
  );
  assertFailed(f);
  assert.equal(f.error.cause, thrown);
});

Deno.test("an async lookup that rejects fails with handshake_lookup_failed", async () => {
  const f = await failingHandshake(
    "client",
    "handshake_lookup_failed",
    session({ getPublicKeyForId: () => Promise.reject(new Error("no")) }, alice),
    session({}, bob),
  );
  assertFailed(f);
});

Deno.test("a lookup returning something that is not a usable public key fails with handshake_lookup_failed", async () => {
  const ecdh = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const garbage: unknown[] = [
    "not a key",
    42,
    true,
    {},
    [],
    { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" },
    { kty: "RSA", n: "AQAB", e: "AQAB" },
    new Uint8Array(0),
    new Uint8Array(65).fill(4),
    new Uint8Array([0x30, 0x03, 0x01, 0x02, 0x03]),
    alice.keys.privateKey,
    ecdh.publicKey,
    p384.publicKey,
  ];
  for (const value of garbage) {
    const f = await failingHandshake(
      "server",
      "handshake_lookup_failed",
      session({}, alice),
      session({ getPublicKeyForId: (() => value) as PublicKeyLookup }, bob),
    );
    assertFailed(f);
  }
});

Deno.test("a failed session refuses negotiate, connectRequest, accept, wrap, unwrap, send, save and rekey with session_failed and sends nothing", async () => {
  const [a, b] = memoryTransportPair();
  const clientEnd = new CountingTransport(a);
  const serverEnd = new CountingTransport(b);
  const client = session({ transport: clientEnd }, alice);
  // The server does not know alice: it fails on the ClientFinished, after sending its hello.
  const server = session({ transport: serverEnd, getPublicKeyForId: lookupOf(bob) }, bob);
  const failures: string[] = [];
  server.addEventListener("error", (e) => failures.push((e as SessionErrorEvent).error.code));
  const [, accepted] = await Promise.allSettled([client.connect(), server.accept()]);
  assert.equal(accepted.status, "rejected");
  assert.equal((accepted as PromiseRejectedResult).reason.code, "handshake_unknown_peer");
  assert.deepEqual(failures, ["handshake_unknown_peer"]);
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "handshake_unknown_peer");
  const sentBefore = serverEnd.sent.length;
  assert.equal(sentBefore, 2); // the ServerHello and the alert, nothing after the failure
  assert.equal(serverEnd.sent[1]![0], 0x15);

  const { transcript } = await bufferPair();
  await rejectsWith(server.negotiate(transcript.ch), "session_failed", SessionStateError);
  await rejectsWith(server.connectRequest(), "session_failed", SessionStateError);
  await rejectsWith(server.wrap(bytes("x")), "session_failed", SessionStateError);
  await rejectsWith(server.unwrap(new Uint8Array(40)), "session_failed", SessionStateError);
  await rejectsWith(server.send(bytes("x")), "session_failed", SessionStateError);
  await rejectsWith(server.save(new Uint8Array(32)), "session_failed", SessionStateError);
  await rejectsWith(server.accept(), "session_failed", SessionStateError);
  throwsWith(() => server.rekey(), "session_failed");
  assert.equal(serverEnd.sent.length, sentBefore);
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "handshake_unknown_peer");
  assert.equal(await server.close(), null);
  assert.equal(serverEnd.sent.length, sentBefore);
});

Deno.test("receive() on a failed session rejects with session_failed without reading the transport", async () => {
  const [a, b] = memoryTransportPair();
  const serverEnd = new CountingTransport(b);
  const server = session({ transport: serverEnd }, bob);
  await rejectsWith(server.negotiate(new Uint8Array([0x03, 0x01])), "handshake_unexpected");
  // Something is waiting on the transport; a refused call must leave it there.
  await a.send(bytes("a message for a later reader"));
  const receivesBefore = serverEnd.receives;
  await rejectsWith(server.receive(), "session_failed", SessionStateError);
  assert.equal(serverEnd.receives, receivesBefore, "receive() must not consume transport input");
  assert.equal(serverEnd.sent.length, 0);
});

Deno.test("negotiate() after the handshake is a session_invalid_call and the session stays usable", async () => {
  const { client, server, transcript } = await bufferPair();
  await rejectsWith(server.negotiate(transcript.ch), "session_invalid_call", SessionStateError);
  await rejectsWith(client.negotiate(transcript.sh), "session_invalid_call", SessionStateError);
  await rejectsWith(server.negotiate(transcript.cf), "session_invalid_call", SessionStateError);
  assert.equal(client.error, null);
  assert.equal(server.error, null);
  assert.equal(text(await server.unwrap(await client.wrap(bytes("still fine")))), "still fine");
});

Deno.test("connectRequest() twice is a session_invalid_call and does not disturb the handshake", async () => {
  const client = session({}, alice);
  const server = session({}, bob);
  const ch = await client.connectRequest();
  await rejectsWith(client.connectRequest(), "session_invalid_call", SessionStateError);
  assert.equal(client.state, "negotiating");
  const sh = await server.negotiate(ch);
  const cf = await client.negotiate(sh!);
  await server.negotiate(cf!);
  assertSameSession(client, server);
  await rejectsWith(client.connectRequest(), "session_invalid_call", SessionStateError);
});

Deno.test("connectRequest() on a session that already acts as server is a session_invalid_call", async () => {
  const client = session({}, alice);
  const server = session({}, bob);
  await server.negotiate(await client.connectRequest());
  await rejectsWith(server.connectRequest(), "session_invalid_call", SessionStateError);
  assert.equal(server.role, "server");
});

Deno.test("a new session refuses wrap, unwrap, save and rekey with session_not_established", async () => {
  const s = session({}, alice);
  await rejectsWith(s.wrap(bytes("x")), "session_not_established", SessionStateError);
  await rejectsWith(s.unwrap(new Uint8Array(40)), "session_not_established", SessionStateError);
  await rejectsWith(s.save(new Uint8Array(32)), "session_not_established", SessionStateError);
  throwsWith(() => s.rekey(), "session_not_established");
  assert.equal(s.state, "idle");
  await s.connectRequest();
  await rejectsWith(s.wrap(bytes("x")), "session_not_established", SessionStateError);
});

Deno.test("the constructor refuses a private key that is not an ECDSA P-256 signing key", async () => {
  const ecdh = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  for (const privateKey of [ecdh.privateKey, alice.keys.publicKey]) {
    throwsWith(
      () => new SecureSession({ id: "x", privateKey, getPublicKeyForId: () => null }),
      "key_unsupported",
    );
  }
});

Deno.test("the constructor refuses a bad id or a missing lookup with TypeError and RangeError", () => {
  const privateKey = alice.keys.privateKey;
  const getPublicKeyForId = (): null => null;
  assert.throws(() => new SecureSession({ id: "", privateKey, getPublicKeyForId }), RangeError);
  assert.throws(
    () => new SecureSession({ id: new Uint8Array(1025), privateKey, getPublicKeyForId }),
    RangeError,
  );
  assert.throws(
    () => new SecureSession({ id: 5 as unknown as string, privateKey, getPublicKeyForId }),
    TypeError,
  );
  assert.throws(
    () =>
      new SecureSession({
        id: "x",
        privateKey,
        getPublicKeyForId: undefined as unknown as PublicKeyLookup,
      }),
    TypeError,
  );
});

Deno.test("a handshake transcript reveals neither id in clear", async () => {
  const { transcript } = await bufferPair();
  const hex = toHex(new Uint8Array([...transcript.ch, ...transcript.sh, ...transcript.cf]));
  assert.ok(!hex.includes(toHex(bytes("alice"))));
  assert.ok(!hex.includes(toHex(bytes("bob"))));
});

Deno.test("a ClientFinished from another handshake is refused with handshake_decrypt_failed", async () => {
  const { transcript } = await bufferPair();
  const other = session({}, bob);
  const sh = await other.negotiate(transcript.ch);
  assert.ok(sh);
  await rejectsWith(other.negotiate(transcript.cf), "handshake_decrypt_failed", HandshakeError);
  assert.equal(other.isEstablished(), false);
});
