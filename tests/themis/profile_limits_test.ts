// What the Themis wire format lacks (key update, close, exporter, resumption, padding, empty
// messages), the limits the profile keeps without them, and who it accepts as a peer.

import assert from "node:assert/strict";
import { HandshakeError } from "../../lib/errors.ts";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import {
  bytes,
  client,
  data,
  rejectsWith,
  server,
  tesseraPair,
  tesseraSession,
  type ThemisIdentity,
  themisMadeIdentity,
  wasmSession,
  wasmToTessera,
} from "./_wasm_themis.ts";

Deno.test("rekey() and exportKeyingMaterial() are session_unsupported: Themis has neither", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  assert.throws(() => c.rekey(), { code: "session_unsupported" });
  assert.throws(() => c.rekey({ requestPeer: true }), { code: "session_unsupported" });
  await rejectsWith(c.exportKeyingMaterial("label", "context", 32), "session_unsupported");
  // The session is unharmed.
  assert.deepEqual(await s.unwrap(await c.wrap(data(4))), data(4));
  assert.equal(c.peerMaxRecordSize, null);
  assert.equal(c.resumed, false);
  assert.equal(s.attributes, null);
  assert.equal(c.ticketExpiresAt, null);
});

Deno.test("the session id is the 4 bytes data messages start with, the same on both sides", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  assert.equal(c.sessionId!.length, 4);
  assert.deepEqual(c.sessionId, s.sessionId);
  assert.deepEqual((await c.wrap(data(1))).subarray(0, 4), c.sessionId);
});

Deno.test("an empty message is a RangeError to wrap (Themis refuses to send one); a padding option is a TypeError", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  await assert.rejects(c.wrap(new Uint8Array(0)), RangeError);
  assert.deepEqual(await s.unwrap(await c.wrap(data(1))), data(1));

  const padded = tesseraSession(client, { padding: { blockSize: 16 } });
  await assert.rejects(padded.connectRequest(), TypeError);
  const paddedServer = tesseraSession(server, { padding: "none" });
  assert.ok(await paddedServer.negotiate(await tesseraSession(client).connectRequest()));
});

Deno.test("resumption options are ignored: Themis handshakes are always full, and no ticket is issued", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const { SecureSession } = await import("../../lib/session/secure_session.ts");
  const { themis } = await import("../../lib/themis/mod.ts");
  const { lookupOf } = await import("./_wasm_themis.ts");
  const resumingServer = new SecureSession({
    id: server.id,
    privateKey: server.privateKey,
    getPublicKeyForId: lookupOf(client, server),
    profile: themis,
    resumption: { store, tickets: 2 },
  });
  const resumingClient = new SecureSession({
    id: client.id,
    privateKey: client.privateKey,
    getPublicKeyForId: lookupOf(client, server),
    profile: themis,
    resumption: { cache, endpoint: "127.0.0.1:1" },
  });
  let tickets = 0;
  resumingServer.addEventListener("ticket", () => tickets++);
  resumingClient.addEventListener("ticket", () => tickets++);
  await tesseraPair(resumingClient, resumingServer);
  assert.equal(tickets, 0);
  assert.equal(resumingClient.resumed, false);
});

Deno.test("maxRecordSize bounds what is wrapped and unwrapped", async () => {
  const c = tesseraSession(client, { maxRecordSize: 100 });
  const s = tesseraSession(server, { maxRecordSize: 50 });
  await tesseraPair(c, s);
  const error = await rejectsWith(c.wrap(data(101)), "record_too_large");
  assert.match(error.message, /101 bytes exceeds maxRecordSize of 100/);
  await rejectsWith(s.unwrap(await c.wrap(data(51))), "record_too_large");
  assert.deepEqual(await s.unwrap(await c.wrap(data(50))), data(50));
});

Deno.test("a session stops sending at its key's budget: Themis cannot update keys", async () => {
  const c = tesseraSession(client, { recordsPerKey: 3 });
  const s = tesseraSession(server, { bytesPerKey: 10 });
  await tesseraPair(c, s);
  for (let i = 0; i < 3; i++) await s.unwrap(await c.wrap(data(1)));
  const error = await rejectsWith(c.wrap(data(1)), "record_sequence_exhausted");
  assert.match(error.message, /start a new session/);
  await c.unwrap(await s.wrap(data(6)));
  await rejectsWith(s.wrap(data(5)), "record_sequence_exhausted"); // 6 + 5 > 10
  await c.unwrap(await s.wrap(data(4))); // 6 + 4 = 10
});

Deno.test("messages failing authentication end a datagram session past maxAuthFailures", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server, { maxAuthFailures: 2 });
  await tesseraPair(c, s);
  const forged = await c.wrap(data(10));
  forged[30]! ^= 1;
  await rejectsWith(s.unwrap(forged), "record_auth_failed");
  await rejectsWith(s.unwrap(forged), "record_auth_failed");
  assert.equal(s.isEstablished(), true);
  await rejectsWith(s.unwrap(forged), "record_auth_failed");
  assert.equal(s.state, "closed");
  await rejectsWith(s.unwrap(await c.wrap(data(1))), "session_failed");
});

async function handshakeError(
  self: ThemisIdentity,
  peer: ThemisIdentity,
  options: Parameters<typeof tesseraSession>[1] = {},
  side: "client" | "server" = "server",
): Promise<HandshakeError> {
  const tessera = tesseraSession(self, options);
  const wasm = wasmSession(peer, [client, server, peer]);
  try {
    if (side === "server") await wasmToTessera(wasm, tessera);
    else {
      const m3 = await tessera.negotiate(wasm.negotiateReply(await tessera.connectRequest()));
      await tessera.negotiate(wasm.negotiateReply(m3!));
    }
  } catch (err) {
    assert.ok(err instanceof HandshakeError, String(err));
    assert.equal(tessera.isEstablished(), false);
    return err;
  } finally {
    wasm.destroy();
  }
  assert.fail("the handshake completed");
}

Deno.test("an unknown peer, a failing lookup and an unexpected peer fail the handshake on either side", async () => {
  const stranger = await themisMadeIdentity("stranger");
  assert.equal((await handshakeError(server, stranger)).code, "handshake_unknown_peer");
  const throwing = { getPublicKeyForId: () => Promise.reject(new Error("directory down")) };
  assert.equal((await handshakeError(server, client, throwing)).code, "handshake_lookup_failed");
  const garbage = { getPublicKeyForId: () => bytes("not a key") };
  assert.equal((await handshakeError(server, client, garbage)).code, "handshake_lookup_failed");
  const expectOther = { expectedPeer: "someone else" };
  assert.equal((await handshakeError(server, client, expectOther)).code, "handshake_peer_rejected");
  assert.equal(
    (await handshakeError(client, server, expectOther, "client")).code,
    "handshake_peer_rejected",
  );
  const unknownServer = { getPublicKeyForId: () => null };
  assert.equal(
    (await handshakeError(client, server, unknownServer, "client")).code,
    "handshake_unknown_peer",
  );
  // A peer presenting this side's own id is refused by default.
  const twin = await themisMadeIdentity("server");
  const twinLookup = { getPublicKeyForId: () => twin.publicKey };
  assert.equal((await handshakeError(server, twin, twinLookup)).code, "handshake_peer_rejected");
});

Deno.test("peer ids of up to 4096 bytes are accepted; longer ones are handshake_malformed", async () => {
  for (const [length, ok] of [[4096, true], [4097, false]] as const) {
    const long = await themisMadeIdentity("x".repeat(length));
    const tessera = tesseraSession(server, {
      getPublicKeyForId: (id) => id.length === length ? long.publicKey : null,
    });
    const wasm = wasmSession(long, [long, server]);
    if (ok) {
      await wasmToTessera(wasm, tessera);
      assert.equal(tessera.peerId!.length, 4096);
    } else await rejectsWith(wasmToTessera(wasm, tessera), "handshake_malformed");
    wasm.destroy();
  }
});
