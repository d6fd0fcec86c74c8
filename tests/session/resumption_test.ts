import assert from "node:assert/strict";
import type { TicketEvent } from "../../lib/session/session_events.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import type { ClientTicket } from "../../lib/session/resumption.ts";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { KvTicketStore } from "../../lib/resume/kv_ticket_store.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import type { TicketStore } from "../../lib/session/resumption.ts";
import {
  alice,
  bob,
  bytes,
  handshake,
  identity,
  lookupOf,
  rejectsWith,
  session,
  text,
} from "./_helpers.ts";

const HOUR = 3_600_000;
/** The client cache namespace: endpoint, expected server id, own id (hex). */
const NS = `127.0.0.1:4433\u0000${hexOf("bob")}\u0000${hexOf("alice")}`;

function hexOf(id: string): string {
  return [...bytes(id)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A clock the test moves. */
function clock(start = Date.UTC(2026, 10, 30)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A server (bob) with a store and a client (alice) with a cache, sharing one clock. */
function world(options: { store?: TicketStore; lookup?: ReturnType<typeof lookupOf> } = {}) {
  const time = clock();
  const store = options.store ?? new MemoryTicketStore();
  const cache = new ClientSessionCache();
  const events: { side: string; kind: string; reason: string | null }[] = [];
  const listen = (s: SecureSession, side: string) =>
    s.addEventListener("ticket", (e) => {
      const t = e as TicketEvent;
      events.push({ side, kind: t.kind, reason: t.reason });
    });
  const server = (extra: Parameters<typeof session>[0] = {}) => {
    const s = session({
      now: time.now,
      getPublicKeyForId: options.lookup ?? lookupOf(alice, bob),
      resumption: { store, attributes: (id) => ({ user: new TextDecoder().decode(id), level: 2 }) },
      ...extra,
    }, bob);
    listen(s, "server");
    return s;
  };
  const client = (extra: Parameters<typeof session>[0] = {}) => {
    const s = session({
      now: time.now,
      expectedPeer: "bob",
      resumption: { cache, endpoint: "127.0.0.1:4433" },
      ...extra,
    }, alice);
    listen(s, "client");
    return s;
  };
  return { time, store, cache, events, server, client };
}

/** Runs a handshake and returns how many messages it took and the two sessions. */
async function connect(client: SecureSession, server: SecureSession) {
  const started = performance.now();
  const t = await handshake(client, server);
  return { ...t, ms: performance.now() - started };
}

Deno.test("a full handshake issues a ticket; the next connection resumes in one round trip with no signatures", async () => {
  const w = world();
  const first = [w.client(), w.server()] as const;
  await connect(...first);
  assert.equal(first[0].resumed, false);
  assert.deepEqual(w.events.map((e) => `${e.side} ${e.kind}`), ["client issued", "server issued"]);
  const [client, server] = [w.client(), w.server()];
  let signs = 0;
  const sign = crypto.subtle.sign;
  crypto.subtle.sign = function (...args: Parameters<typeof sign>) {
    const alg = args[0];
    if ((typeof alg === "string" ? alg : alg.name) === "ECDSA") signs++;
    return sign.apply(this, args);
  };
  try {
    await connect(client, server);
  } finally {
    crypto.subtle.sign = sign;
  }
  assert.equal(signs, 0);
  assert.equal(client.resumed, true);
  assert.equal(server.resumed, true);
  assert.deepEqual(server.peerId, bytes("alice"));
  assert.deepEqual(client.peerId, bytes("bob"));
  assert.deepEqual(server.attributes, { user: "alice", level: 2 });
  assert.equal(server.ticketExpiresAt, w.time.now() + 24 * HOUR);
  assert.equal(text(await server.unwrap(await client.wrap(bytes("resumed")))), "resumed");
  assert.equal(text(await client.unwrap(await server.wrap(bytes("both ways")))), "both ways");
  assert.deepEqual(
    await client.exportKeyingMaterial("x", "", 8),
    await server.exportKeyingMaterial("x", "", 8),
  );
});

Deno.test("tickets rotate: each resume consumes its ticket and delivers a successor with the same attributes", async () => {
  const w = world();
  await connect(w.client(), w.server());
  for (let i = 0; i < 5; i++) {
    const [client, server] = [w.client(), w.server()];
    await connect(client, server);
    assert.equal(server.resumed, true, `resume ${i}`);
    assert.deepEqual(server.attributes, { user: "alice", level: 2 });
    assert.equal(w.cache.size, 1); // the used ticket is gone, its successor is kept
  }
});

Deno.test("a server may issue several tickets for a client that opens several connections", async () => {
  const w = world();
  await connect(w.client(), w.server({ resumption: { store: w.store, tickets: 3 } }));
  assert.equal(w.cache.size, 3);
  const pairs = Array.from({ length: 3 }, () => [w.client(), w.server()] as const);
  await Promise.all(pairs.map(([c, s]) => connect(c, s)));
  assert.deepEqual(pairs.map(([c]) => c.resumed), [true, true, true]);
});

/** Takes the client's ticket out of the cache (a thief's copy), and puts it back. */
async function copyTicket(w: ReturnType<typeof world>): Promise<ClientTicket> {
  const namespace = NS;
  const ticket = (await w.cache.take(namespace, w.time.now()))!;
  assert.ok(ticket, "the client holds a ticket");
  await w.cache.add(namespace, [ticket], w.time.now());
  return ticket;
}

Deno.test("a copied ticket secret used twice is detected: the family is revoked and the reuse reported", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const stolen = await copyTicket(w);
  // The legitimate client resumes first and receives a successor.
  const [client, server] = [w.client(), w.server()];
  await connect(client, server);
  assert.equal(server.resumed, true);
  // The thief presents the consumed ticket with a valid binder (it has the secret).
  const thiefCache = new ClientSessionCache();
  await thiefCache.add(NS, [stolen], w.time.now());
  w.events.length = 0;
  const thief = w.client({ resumption: { cache: thiefCache, endpoint: "127.0.0.1:4433" } });
  const victimServer = w.server();
  await connect(thief, victimServer).catch(() => {}); // falls back to a full handshake
  assert.equal(victimServer.resumed, false);
  assert.ok(
    w.events.some((e) => e.side === "server" && e.kind === "declined" && e.reason === "reused"),
  );
  // The whole family is revoked: the successor the legitimate client holds no longer resumes.
  w.events.length = 0;
  const [again, againServer] = [w.client(), w.server()];
  await connect(again, againServer);
  assert.equal(againServer.resumed, false);
  // (A store that deleted the family's records may report them unknown rather than revoked.)
  assert.ok(
    w.events.some((e) =>
      e.kind === "declined" && (e.reason === "revoked" || e.reason === "unknown")
    ),
  );
});

Deno.test("the same ClientHello replayed is declined as a replay without revoking anything", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const client = w.client();
  const hello = await client.connectRequest();
  const first = w.server();
  const reply = await first.negotiate(hello);
  await first.negotiate((await client.negotiate(reply!))!);
  assert.equal(first.resumed, true);
  w.events.length = 0;
  const replayed = w.server();
  await replayed.negotiate(hello); // the attacker cannot finish: it has no ephemeral key
  assert.deepEqual(w.events, [{ side: "server", kind: "declined", reason: "replayed" }]);
  // The family lives on: the successor still resumes.
  const [c, s] = [w.client(), w.server()];
  await connect(c, s);
  assert.equal(s.resumed, true);
});

Deno.test("of 1,000 concurrent attempts with one ticket, exactly one resumes", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const ticket = await copyTicket(w);
  const hellos = await Promise.all(Array.from({ length: 1000 }, async () => {
    const cache = new ClientSessionCache();
    await cache.add(NS, [ticket], w.time.now());
    return await w.client({ resumption: { cache, endpoint: "127.0.0.1:4433" } }).connectRequest();
  }));
  const replies = await Promise.all(hellos.map((h) => w.server().negotiate(h)));
  // A resumed ServerHello carries extension 0001 in its plain part: a 4-byte extensions block.
  const resumed = replies.filter((r) => r![101] === 0x00 && r![102] === 0x04);
  assert.equal(resumed.length, 1);
  const declined = w.events.filter((e) => e.kind === "declined");
  assert.equal(declined.length, 999);
});

Deno.test("an expired ticket is declined on the server, and the client does not offer one past its expiry", async () => {
  const w = world();
  await connect(w.client(), w.server({ resumption: { store: w.store, lifetime: HOUR } }));
  w.time.advance(HOUR + 1);
  // The client's cache drops it: no offer at all, a plain full handshake.
  const [c, s] = [w.client(), w.server()];
  w.events.length = 0;
  await connect(c, s);
  assert.equal(s.resumed, false);
  assert.ok(!w.events.some((e) => e.kind === "declined"));
  // A client with a lax clock offers it anyway: the server checks expiry itself.
  const w2 = world();
  await connect(w2.client(), w2.server({ resumption: { store: w2.store, lifetime: HOUR } }));
  const ticket = await copyTicket(w2);
  const lax = new ClientSessionCache();
  await lax.add(NS, [{
    ...ticket,
    expiresAt: ticket.expiresAt + 10 * HOUR,
  }], w2.time.now());
  w2.time.advance(HOUR + 1);
  w2.events.length = 0;
  const server = w2.server();
  await connect(
    w2.client({
      resumption: { cache: lax, endpoint: "127.0.0.1:4433" },
      now: () => w2.time.now() - 2 * HOUR,
    }),
    server,
  );
  assert.equal(server.resumed, false);
  assert.ok(w2.events.some((e) => e.side === "server" && e.reason === "expired"));
});

Deno.test("a family never outlives seven days since its full handshake, however often it rotates", async () => {
  const w = world();
  await connect(w.client(), w.server());
  for (let day = 0; day < 6; day++) {
    w.time.advance(20 * HOUR);
    const s = w.server();
    await connect(w.client(), s);
    assert.equal(s.resumed, true, `day ${day}`);
  }
  w.time.advance(20 * HOUR); // 140 hours after the full handshake
  const s = w.server();
  await connect(w.client(), s);
  assert.equal(s.resumed, true);
  assert.ok(s.ticketExpiresAt! <= Date.UTC(2026, 10, 30) + 7 * 24 * HOUR);
  w.time.advance(28 * HOUR + 1);
  const late = w.server();
  await connect(w.client(), late);
  assert.equal(late.resumed, false);
});

Deno.test("revoking a peer's tickets makes its next connection a full handshake", async () => {
  const w = world();
  await connect(w.client(), w.server());
  await w.store.revokePeer(bytes("alice"), w.time.now());
  w.time.advance(1); // a full handshake in the very millisecond of the revocation counts as revoked
  const s = w.server();
  await connect(w.client(), s);
  assert.equal(s.resumed, false);
  assert.ok(w.events.some((e) => e.reason === "revoked" || e.reason === "unknown"));
  // And the new full handshake starts a new family that resumes.
  const again = w.server();
  await connect(w.client(), again);
  assert.equal(again.resumed, true);
});

Deno.test("a binder copied from another handshake, a tampered ticket id, or an id without its secret resume nothing and burn nothing", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const ticket = await copyTicket(w);
  const wrongSecret = { ...ticket, secret: crypto.getRandomValues(new Uint8Array(32)) };
  const tamperedId = { ...ticket, id: ticket.id.map((b, i) => (i === 0 ? b ^ 1 : b)) };
  for (
    const [forged, reason] of [[wrongSecret, "binder_invalid"], [tamperedId, "unknown"]] as const
  ) {
    const cache = new ClientSessionCache();
    await cache.add(NS, [forged], w.time.now());
    w.events.length = 0;
    const s = w.server();
    await connect(w.client({ resumption: { cache, endpoint: "127.0.0.1:4433" } }), s);
    assert.equal(s.resumed, false);
    assert.ok(w.events.some((e) => e.side === "server" && e.reason === reason), reason);
  }
  // A binder moved onto another ClientHello (another random and share) does not verify.
  const a = w.client();
  const helloA = await a.connectRequest();
  const spliced = helloA.slice();
  spliced[10]! ^= 1; // the client random changes; the binder still covers the old one
  w.events.length = 0;
  await w.server().negotiate(spliced);
  assert.ok(w.events.some((e) => e.reason === "binder_invalid"));
  // None of this used the ticket up: it still resumes.
  const cache = new ClientSessionCache();
  await cache.add(NS, [ticket], w.time.now());
  const s = w.server();
  await connect(w.client({ resumption: { cache, endpoint: "127.0.0.1:4433" } }), s);
  assert.equal(s.resumed, true);
});

Deno.test("a client key removed from getPublicKeyForId, or changed, after issue does not resume", async () => {
  for (
    const lookup of [
      lookupOf(bob),
      lookupOf(bob, { id: bytes("alice"), keys: (await identity("alice")).keys }),
    ]
  ) {
    const w = world();
    await connect(w.client(), w.server());
    const s = session({
      now: w.time.now,
      getPublicKeyForId: lookup,
      resumption: { store: w.store },
    }, bob);
    const events: string[] = [];
    s.addEventListener(
      "ticket",
      (e) => events.push(`${(e as TicketEvent).kind} ${(e as TicketEvent).reason}`),
    );
    const c = w.client();
    const reply = await s.negotiate(await c.connectRequest());
    assert.ok(events.includes("declined peer_key_changed"), events.join());
    // The fallback full handshake then refuses the client whose key is gone or changed.
    await assert.rejects(async () => {
      const finished = await c.negotiate(reply!);
      await s.negotiate(finished!);
    });
  }
});

Deno.test("a client does not offer a ticket when its lookup no longer gives the server key it was issued under", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const newBob = await identity("bob");
  const c = w.client({ getPublicKeyForId: lookupOf(alice, newBob) });
  const hello = await c.connectRequest();
  assert.equal(hello.length, 3 + 2 + 32 + 65 + 2 + 6 + 8); // versions, record size limit, no offer
});

Deno.test("fallback to a full handshake happens in the same round trip", async () => {
  const w = world();
  await connect(w.client(), w.server());
  await w.store.revokePeer(bytes("alice"), w.time.now());
  const client = w.client();
  const server = w.server();
  const t = await connect(client, server); // three messages, as asserted by handshake()
  assert.equal(t.ch.length, 118 + 4 + 1 + 16 + 32, "the hello carried the offer");
  assert.equal(client.resumed, false);
  assert.equal(client.isEstablished(), true);
  assert.ok(w.events.some((e) => e.side === "client" && e.reason === "declined"));
});

Deno.test("resume: false makes a full handshake and keeps the ticket; a server without a store ignores offers", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const c = w.client({ resumption: { cache: w.cache, endpoint: "127.0.0.1:4433", resume: false } });
  const s = w.server();
  await connect(c, s);
  assert.equal(s.resumed, false);
  assert.equal(w.cache.size, 2);
  const plain = session({ now: w.time.now }, bob);
  const c2 = w.client();
  await connect(c2, plain);
  assert.equal(c2.resumed, false);
});

Deno.test("a KV dump resumes nothing; a server with another store key declines", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const w = world({ store: new KvTicketStore(kv, { key }) });
    await connect(w.client(), w.server());
    const ticket = await copyTicket(w);
    const dump: Uint8Array[] = [];
    for await (const entry of kv.list({ prefix: [] })) {
      const v = entry.value;
      dump.push(typeof v === "string" ? bytes(v) : v as Uint8Array);
    }
    const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    const all = dump.map(hex).join("|") + dump.map((d) => new TextDecoder().decode(d)).join("|");
    assert.ok(!all.includes(hex(ticket.secret)), "the secret is not in the KV");
    assert.ok(!all.includes(hex(ticket.id)), "the ticket id is not in the KV");
    // Another instance with another sealing key cannot use the records: it declines.
    const other = world({
      store: new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) }),
    });
    const cache = new ClientSessionCache();
    await cache.add(NS, [ticket], w.time.now());
    const s = other.server();
    await connect(w.client({ resumption: { cache, endpoint: "127.0.0.1:4433" } }), s);
    assert.equal(s.resumed, false);
    // The right key resumes on a second instance sharing the KV.
    const sibling = world({ store: new KvTicketStore(kv, { key }) });
    const cache2 = new ClientSessionCache();
    await cache2.add(NS, [ticket], w.time.now());
    const s2 = sibling.server();
    await connect(w.client({ resumption: { cache: cache2, endpoint: "127.0.0.1:4433" } }), s2);
    assert.equal(s2.resumed, true);
  } finally {
    kv.close();
  }
});

Deno.test("the client namespace keeps endpoints and expected servers apart", async () => {
  const w = world();
  await connect(w.client(), w.server());
  const elsewhere = w.client({ resumption: { cache: w.cache, endpoint: "10.0.0.1:4433" } });
  const s = w.server();
  await connect(elsewhere, s);
  assert.equal(s.resumed, false);
  const otherPeer = w.client({ expectedPeer: (id) => id.length === 3 });
  const s2 = w.server();
  await connect(otherPeer, s2);
  assert.equal(s2.resumed, false);
});

Deno.test("resumption options are checked at construction", () => {
  const store = new MemoryTicketStore();
  assert.throws(() => session({ resumption: { store, tickets: 17 } }), RangeError);
  assert.throws(() => session({ resumption: { store, lifetime: 8 * 24 * HOUR } }), RangeError);
  assert.throws(() => session({ resumption: { cache: new ClientSessionCache() } }), TypeError);
  assert.throws(() => session({ resumption: { store: {} as TicketStore } }), TypeError);
  void rejectsWith;
});
