// What a server operator watches: a handshake event with its duration and whether it resumed,
// key update events in both directions, one close event saying whether the end was clean, and
// traffic counters on the session. Listeners are typed by event name (no casts: `deno check`).

import assert from "node:assert/strict";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { alice, bob, bufferPair, bytes, callbackPair, handshake, session } from "./_helpers.ts";

function record(s: SecureSession) {
  const log: string[] = [];
  s.addEventListener("handshake", (e) => log.push(`handshake ${e.role} resumed=${e.resumed}`));
  s.addEventListener("keyupdate", (e) => log.push(`keyupdate ${e.direction} ${e.epoch}`));
  s.addEventListener("close", (e) => log.push(`close ${e.clean ? "clean" : e.error?.code}`));
  s.addEventListener("error", (e) => log.push(`error ${e.error.code}`));
  return log;
}

Deno.test("the handshake event says how long it took and whether it resumed, once per side", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const pair = () => ({
    client: session({ expectedPeer: "bob", resumption: { cache, endpoint: "e" } }, alice),
    server: session({ resumption: { store } }, bob),
  });
  const first = pair();
  const durations: number[] = [];
  first.server.addEventListener("handshake", (e) => durations.push(e.durationMs));
  const logs = [record(first.client), record(first.server)];
  await handshake(first.client, first.server);
  assert.deepEqual(logs, [["handshake client resumed=false"], ["handshake server resumed=false"]]);
  assert.equal(durations.length, 1);
  assert.ok(durations[0]! > 0 && durations[0]! < 60_000, `${durations[0]} ms`);

  const second = pair();
  const again = [record(second.client), record(second.server)];
  let peer = "";
  second.server.addEventListener("handshake", (e) => peer = new TextDecoder().decode(e.peerId));
  await handshake(second.client, second.server);
  assert.deepEqual(again, [["handshake client resumed=true"], ["handshake server resumed=true"]]);
  assert.equal(peer, "alice");
});

Deno.test("key updates are reported on the side that sends and the side that receives", async () => {
  const { client, server } = await bufferPair();
  const [c, s] = [record(client), record(server)];
  client.rekey({ requestPeer: true });
  await server.unwrap(await client.wrap(bytes("a")));
  await client.unwrap(await server.wrap(bytes("b"))); // the server updated on request
  client.rekey();
  await server.unwrap(await client.wrap(bytes("c")));
  assert.deepEqual(c, ["keyupdate send 1", "keyupdate receive 1", "keyupdate send 2"]);
  assert.deepEqual(s, ["keyupdate receive 1", "keyupdate send 1", "keyupdate receive 2"]);
  assert.equal(client.stats.keyUpdates, 3);
  assert.equal(server.stats.keyUpdates, 3);
});

Deno.test("close is reported once: clean for close() and the peer's close, not for a failure", async () => {
  const { client, server } = await callbackPair();
  const [c, s] = [record(client), record(server)];
  await client.close();
  assert.equal(await server.receive(), null, "the peer's authenticated close");
  await client.close();
  assert.deepEqual(c, ["close clean"], "once");
  assert.deepEqual(s, ["close clean"]);

  // On a stream a forged record ends the session: an error event, then an unclean close.
  const broken = await callbackPair();
  const log = record(broken.server);
  const junk = new Uint8Array(40);
  junk[0] = 0x17;
  await broken.clientEnd.inner.send(junk);
  await assert.rejects(broken.server.receive());
  assert.equal(log.length, 2, log.join());
  assert.match(log[0]!, /^error record_/);
  assert.equal(log[1], `close ${log[0]!.slice("error ".length)}`);
  await broken.client.close();
});

Deno.test("counters count application records and plaintext bytes each way", async () => {
  const { client, server } = await bufferPair();
  for (const size of [0, 1, 1000]) await server.unwrap(await client.wrap(new Uint8Array(size)));
  await client.unwrap(await server.wrap(new Uint8Array(7)));
  await assert.rejects(server.unwrap(
    await client.wrap(new Uint8Array(5)).then((r) => {
      r[r.length - 1]! ^= 1;
      return r;
    }),
  ));
  assert.deepEqual(client.stats, {
    recordsSent: 4,
    recordsReceived: 1,
    bytesSent: 1006,
    bytesReceived: 7,
    keyUpdates: 0,
  });
  assert.deepEqual(server.stats, {
    recordsSent: 1,
    recordsReceived: 3,
    bytesSent: 7,
    bytesReceived: 1001,
    keyUpdates: 0,
  });
  const snapshot = client.stats;
  await server.unwrap(await client.wrap(new Uint8Array(1)));
  assert.equal(snapshot.recordsSent, 4, "a snapshot does not move");
});
