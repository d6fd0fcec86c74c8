// The resumed ServerHello is sealed before the ticket is redeemed; it must be sent only if this
// server's redeem won. Here the race is lost deterministically: the store lets a rival redeem the
// ticket (with another binder, a copied secret; or with the same one, a replay) just before this
// server's own redeem. The server must then answer with a full handshake, never the sealed
// resumed reply, revoke the family for a copy and not for a replay, and leave nothing running.

import assert from "node:assert/strict";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { KvTicketStore } from "../../lib/resume/kv_ticket_store.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import type { TicketEvent } from "../../lib/session/session_events.ts";
import type { TicketStore } from "../../lib/session/resumption.ts";
import { alice, bob, handshake, lookupOf, session } from "./_helpers.ts";

const lookup = lookupOf(alice, bob);

/** A store whose every redeem is preceded by a rival's, with `rival(binderHash)` as its binder hash. */
function racedStore(inner: TicketStore, rival: (binderHash: Uint8Array) => Uint8Array) {
  let raced = 0;
  const store: TicketStore = {
    issue: (t, now) => inner.issue(t, now),
    find: (id, now) => inner.find(id, now),
    async redeem(id, found, binderHash, successor, now) {
      raced++;
      assert.equal(await inner.redeem(id, found, rival(binderHash), null, now), true);
      return await inner.redeem(id, found, binderHash, successor, now);
    },
    revokeFamily: (f, now) => inner.revokeFamily(f, now),
    revokePeer: (p, now) => inner.revokePeer(p, now),
  };
  return { store, raced: () => raced };
}

async function lostRace(inner: TicketStore, rival: (h: Uint8Array) => Uint8Array) {
  const cache = new ClientSessionCache();
  const client = () =>
    session({
      getPublicKeyForId: lookup,
      expectedPeer: "bob",
      resumption: { cache, endpoint: "e" },
    });
  await handshake(client(), session({ resumption: { store: inner } }, bob));
  const { store, raced } = racedStore(inner, rival);
  const events: string[] = [];
  const server = session({ resumption: { store } }, bob);
  server.addEventListener("ticket", (e) => {
    const t = e as TicketEvent;
    events.push(`${t.kind} ${t.reason}`);
  });
  const c = client();
  await handshake(c, server);
  assert.equal(raced(), 1);
  assert.equal(c.resumed, false, "a resumed reply was sent after a lost redeem");
  assert.equal(server.resumed, false);
  assert.equal(server.isEstablished(), true);
  return events;
}

const other = (h: Uint8Array) => h.map((b) => b ^ 0xff);
const same = (h: Uint8Array) => h.slice();

for (
  const [name, open] of [
    ["MemoryTicketStore", () => Promise.resolve({ store: new MemoryTicketStore(), close() {} })],
    ["KvTicketStore", async () => {
      const kv = await Deno.openKv(":memory:");
      return {
        store: new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) }),
        close: () => kv.close(),
      };
    }],
  ] as const
) {
  Deno.test(`${name}: a redeem lost to another binder answers with a full handshake and revokes the family`, async () => {
    const { store, close } = await open();
    try {
      const events = await lostRace(store, other);
      assert.ok(events.includes("declined reused"), events.join());
    } finally {
      close();
    }
  });

  Deno.test(`${name}: a redeem lost to the same binder (a replay) answers with a full handshake and revokes nothing`, async () => {
    const { store, close } = await open();
    try {
      const events = await lostRace(store, same);
      assert.ok(events.includes("declined replayed"), events.join());
      assert.ok(!events.includes("declined reused"), events.join());
    } finally {
      close();
    }
  });
}
