import assert from "node:assert/strict";
import { HandshakeError } from "../../lib/errors.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { SessionErrorEvent, SessionStateEvent } from "../../lib/session/session_events.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { bob, bufferPair, bytes, handshake, lookupOf, rejectsWith, session } from "./_helpers.ts";

/** Records every event a session dispatches, as "statechange:prev>next" or "error:code". */
function watch(s: SecureSession): string[] {
  const log: string[] = [];
  s.addEventListener("statechange", (e) => {
    assert.ok(e instanceof SessionStateEvent);
    assert.equal(s.state, e.state, "the state is updated before listeners run");
    log.push(`statechange:${e.previous}>${e.state}`);
  });
  s.addEventListener("error", (e) => {
    assert.ok(e instanceof SessionErrorEvent);
    log.push(`error:${e.error.code}`);
  });
  return log;
}

const LIFE = [
  "statechange:idle>negotiating",
  "statechange:negotiating>established",
  "statechange:established>closed",
];

Deno.test("statechange goes idle, negotiating, established, closed on both sides of a buffer session", async () => {
  const client = session();
  const server = session({ self: bob });
  const clientLog = watch(client);
  const serverLog = watch(server);
  await handshake(client, server);
  assert.deepEqual(clientLog, LIFE.slice(0, 2));
  assert.deepEqual(serverLog, LIFE.slice(0, 2));
  const close = await client.close();
  assert.equal(await server.unwrap(close!), null);
  assert.deepEqual(clientLog, LIFE);
  assert.deepEqual(serverLog, LIFE);
  // Closing again changes nothing and dispatches nothing.
  await client.close();
  await server.close();
  assert.deepEqual(clientLog, LIFE);
  assert.deepEqual(serverLog, LIFE);
});

Deno.test("statechange goes idle, negotiating, established, closed on both sides of a callback session", async () => {
  const [a, b] = memoryTransportPair();
  const client = session({ transport: a });
  const server = session({ self: bob, transport: b });
  const clientLog = watch(client);
  const serverLog = watch(server);
  await Promise.all([client.connect(), server.accept()]);
  await server.close();
  assert.equal(await client.receive(), null);
  assert.deepEqual(clientLog, LIFE);
  assert.deepEqual(serverLog, LIFE);
});

Deno.test("the states are observable at each step of a buffer handshake", async () => {
  const client = session();
  const server = session({ self: bob });
  assert.equal(client.state, "idle");
  const ch = await client.connectRequest();
  assert.equal(client.state, "negotiating");
  const sh = await server.negotiate(ch);
  assert.equal(server.state, "negotiating");
  const cf = await client.negotiate(sh!);
  assert.equal(client.state, "established");
  assert.equal(server.state, "negotiating");
  await server.negotiate(cf!);
  assert.equal(server.state, "established");
});

Deno.test("a handshake failure dispatches one error event with the HandshakeError, then closed", async () => {
  const client = session({ getPublicKeyForId: lookupOf() });
  const server = session({ self: bob });
  const log = watch(client);
  const errors: unknown[] = [];
  client.addEventListener("error", (e) => errors.push((e as SessionErrorEvent).error));
  const sh = await server.negotiate(await client.connectRequest());
  const thrown = await rejectsWith(client.negotiate(sh!), "handshake_unknown_peer", HandshakeError);
  assert.deepEqual(log, [
    "statechange:idle>negotiating",
    "error:handshake_unknown_peer",
    "statechange:negotiating>closed",
  ]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0], thrown);
  assert.equal(client.error, thrown);
  // Later refused calls dispatch nothing more.
  await rejectsWith(client.negotiate(sh!), "session_failed");
  assert.equal(log.length, 3);
});

Deno.test("a server failing on the first message goes idle, negotiating, error, closed", async () => {
  const server = session({ self: bob });
  const log = watch(server);
  await rejectsWith(server.negotiate(new Uint8Array([0x01])), "handshake_malformed");
  assert.deepEqual(log, [
    "statechange:idle>negotiating",
    "error:handshake_malformed",
    "statechange:negotiating>closed",
  ]);
});

Deno.test("refused records dispatch no event and change no state", async () => {
  const { client, server } = await bufferPair();
  const log = watch(server);
  const record = await client.wrap(bytes("x"));
  await server.unwrap(record);
  await rejectsWith(server.unwrap(record), "record_replayed");
  await rejectsWith(server.unwrap(new Uint8Array(10)), "record_malformed");
  assert.deepEqual(log, []);
  assert.equal(server.state, "established");
});

Deno.test("closing a session before its handshake completes goes to closed without an error", async () => {
  const client = session();
  const log = watch(client);
  await client.connectRequest();
  assert.equal(await client.close(), null);
  assert.deepEqual(log, ["statechange:idle>negotiating", "statechange:negotiating>closed"]);
  assert.equal(client.error, null);
  await rejectsWith(client.connectRequest(), "session_closed");
});

Deno.test("a restored session starts established and reports established to closed", async () => {
  const { client } = await bufferPair();
  const key = crypto.getRandomValues(new Uint8Array(32));
  const restored = await SecureSession.restore(await client.save(key), key);
  const log = watch(restored);
  await restored.close();
  assert.deepEqual(log, ["statechange:established>closed"]);
});
