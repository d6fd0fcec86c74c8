// Attacks on resumption found by review, each pinned: a ClientHello duplicated in flight, a
// server policy bypassed by a ticket, identities sharing a client cache, server identities
// sharing a ticket store, a revocation that fails, and client caches that fail.

import assert from "node:assert/strict";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import type { TicketEvent } from "../../lib/session/session_events.ts";
import type { ClientTicketCache, TicketStore } from "../../lib/session/resumption.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { alice, bob, bytes, handshake, identity, lookupOf, session } from "./_helpers.ts";

const carl = await identity("carl");
const lookup = lookupOf(alice, bob, carl);

function listen(s: SecureSession, events: string[]): SecureSession {
  s.addEventListener("ticket", (e) => {
    const t = e as TicketEvent;
    events.push(`${t.kind} ${t.reason}`);
  });
  return s;
}

function serverOf(
  store: TicketStore,
  events: string[],
  extra: Parameters<typeof session>[0] = {},
  self = bob,
): SecureSession {
  return listen(
    session({ getPublicKeyForId: lookup, resumption: { store }, ...extra }, self),
    events,
  );
}

function clientOf(cache: ClientTicketCache, self = alice, expectedPeer = "bob"): SecureSession {
  return session({
    getPublicKeyForId: lookup,
    expectedPeer,
    resumption: { cache, endpoint: "api:443" },
  }, self);
}

Deno.test("the same ClientHello delivered twice at once is a replay: nothing is revoked", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const events: string[] = [];
  await handshake(clientOf(cache), serverOf(store, events));
  const client = clientOf(cache);
  const hello = await client.connectRequest();
  const [s1, s2] = [serverOf(store, events), serverOf(store, events)];
  events.length = 0;
  const [r1, r2] = await Promise.all([s1.negotiate(hello), s2.negotiate(hello.slice())]);
  assert.ok(events.includes("declined replayed"), events.join());
  assert.ok(!events.includes("declined reused"), events.join());
  const [winner, reply] = r1![102] === 4 ? [s1, r1!] : [s2, r2!];
  await winner.negotiate((await client.negotiate(reply))!);
  assert.equal(client.resumed, true);
  // The family lives on: the successor resumes.
  const next = serverOf(store, events);
  await handshake(clientOf(cache), next);
  assert.equal(next.resumed, true);
});

Deno.test("a server's expectedPeer also refuses a resuming client it no longer accepts", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const events: string[] = [];
  const banned = new Set<string>();
  const policy = (id: Uint8Array) => !banned.has(new TextDecoder().decode(id));
  await handshake(clientOf(cache), serverOf(store, events, { expectedPeer: policy }));
  banned.add("alice");
  const server = serverOf(store, events, { expectedPeer: policy });
  const client = clientOf(cache);
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  assert.ok(events.includes("declined peer_rejected"), events.join());
  // The fallback full handshake then refuses the client as it would without a ticket.
  await assert.rejects(server.negotiate(finished!), { code: "handshake_peer_rejected" });
});

Deno.test("identities sharing a client cache never use each other's tickets", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const events: string[] = [];
  await handshake(clientOf(cache, alice), serverOf(store, events));
  const other = clientOf(cache, carl);
  const server = serverOf(store, events);
  await handshake(other, server);
  assert.equal(other.resumed, false);
  assert.deepEqual(server.peerId, bytes("carl"));
  // Alice's ticket is still hers.
  const mine = serverOf(store, events);
  await handshake(clientOf(cache, alice), mine);
  assert.equal(mine.resumed, true);
  assert.deepEqual(mine.peerId, bytes("alice"));
});

Deno.test("a ticket resumes only with the server identity that issued it, even from a shared store", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const events: string[] = [];
  await handshake(clientOf(cache), serverOf(store, events));
  // carl serves from the same store and presents bob's ticket back to a client meant for bob.
  const stranger = serverOf(store, events, {}, carl);
  const client = clientOf(cache);
  const reply = await stranger.negotiate(await client.connectRequest());
  assert.ok(events.includes("declined binder_invalid"), events.join());
  await assert.rejects(client.negotiate(reply!), { code: "handshake_peer_rejected" });
});

Deno.test("a reuse whose family cannot be revoked is reported as a failed revocation", async () => {
  const inner = new MemoryTicketStore();
  const store: TicketStore = {
    issue: (t, now) => inner.issue(t, now),
    find: (id, now) => inner.find(id, now),
    redeem: (...args) => inner.redeem(...args),
    revokeFamily: () => Promise.reject(new Error("database is locked")),
    revokePeer: (p, now) => inner.revokePeer(p, now),
  };
  const cache = new ClientSessionCache();
  const events: string[] = [];
  await handshake(clientOf(cache), serverOf(store, events));
  const ns = `api:443\u0000626f62\u0000616c696365`;
  const ticket = (await cache.take(ns, Date.now()))!;
  const copy = new ClientSessionCache();
  await copy.add(ns, [ticket], Date.now());
  await cache.add(ns, [ticket], Date.now());
  await handshake(clientOf(cache), serverOf(store, events));
  events.length = 0;
  await handshake(clientOf(copy), serverOf(store, events)).catch(() => {});
  assert.ok(events.includes("revoke_failed store_unavailable"), events.join());
  assert.ok(events.includes("declined reused"), events.join());
});

Deno.test("a client cache that fails costs the resumption, never the handshake", async () => {
  const failing: ClientTicketCache = {
    take: () => {
      throw new Error("storage unavailable");
    },
    add: () => Promise.reject(new Error("storage unavailable")),
  };
  const events: string[] = [];
  const client = listen(clientOf(failing), events);
  const server = serverOf(new MemoryTicketStore(), []);
  await handshake(client, server);
  assert.equal(client.isEstablished(), true);
  assert.deepEqual(events, ["declined store_unavailable", "issue_failed store_unavailable"]);
});

Deno.test("a fractional clock does not break the client cache", async () => {
  const cache = new ClientSessionCache();
  const now = () => Date.now() + 0.5;
  const store = new MemoryTicketStore();
  await handshake(
    session({ getPublicKeyForId: lookup, now, resumption: { cache, endpoint: "e" } }, alice),
    serverOf(store, []),
  );
  const server = serverOf(store, []);
  const client = session(
    { getPublicKeyForId: lookup, now, resumption: { cache, endpoint: "e" } },
    alice,
  );
  await handshake(client, server);
  assert.equal(client.resumed, true);
});

Deno.test("an attributes hook that throws or returns no object fails the issue, not the handshake", async () => {
  for (
    const attributes of [
      () => {
        throw new Error("no");
      },
      () => null,
      () => [1],
      () => ({ big: 1n }),
    ]
  ) {
    const events: string[] = [];
    const server = serverOf(new MemoryTicketStore(), events, {
      resumption: {
        store: new MemoryTicketStore(),
        attributes: attributes as unknown as () => Record<string, never>,
      },
    });
    await handshake(clientOf(new ClientSessionCache()), server);
    assert.equal(server.isEstablished(), true);
    assert.ok(events.includes("issue_failed attributes_invalid"), events.join());
  }
});

Deno.test("a client endpoint that is too long or not well formed is refused at construction", () => {
  const cache = new ClientSessionCache();
  assert.throws(() => session({ resumption: { cache, endpoint: "x".repeat(1025) } }), RangeError);
  assert.throws(() => session({ resumption: { cache, endpoint: "a\uD800b" } }), RangeError);
});

Deno.test("an offer with a bad binder never gets the ticket's client looked up", async () => {
  const store = new MemoryTicketStore();
  const cache = new ClientSessionCache();
  await handshake(clientOf(cache), serverOf(store, []));
  const looked: string[] = [];
  const watching = (id: Uint8Array) => {
    looked.push(new TextDecoder().decode(id));
    return lookup(id);
  };
  const hello = await clientOf(cache).connectRequest();
  const forged = hello.slice();
  crypto.getRandomValues(forged.subarray(forged.length - 32));
  const events: string[] = [];
  await serverOf(store, events, { getPublicKeyForId: watching }).negotiate(forged);
  assert.deepEqual(events, ["declined binder_invalid"]);
  assert.deepEqual(looked, []);
});

Deno.test("a custom client cache that hands back something other than a ticket costs only the resumption", async () => {
  for (const bad of [42, null, { expiresAt: 1e15, serverId: null }, { id: new Uint8Array(3) }]) {
    const cache = { take: () => bad, add() {} } as unknown as ClientTicketCache;
    const events: string[] = [];
    const client = listen(clientOf(cache), events);
    await handshake(client, serverOf(new MemoryTicketStore(), []));
    assert.equal(client.isEstablished(), true);
    if (bad !== null) assert.deepEqual(events.slice(0, 1), ["declined store_unavailable"]);
  }
});
