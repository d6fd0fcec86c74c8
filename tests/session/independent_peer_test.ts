/**
 * Interoperability tests: a second, minimal implementation of both tessera/1
 * roles, written from docs/protocol.md alone on plain `crypto.subtle`
 * (`_independent_peer.ts`), talks to the library through its public API only.
 */
import assert from "node:assert/strict";
import {
  generateIdentityKeyPair,
  SecureSession,
  type SecureSessionOptions,
  type TicketEvent,
} from "../../mod.ts";
import { ClientSessionCache, MemoryTicketStore } from "../../lib/resume/mod.ts";
import {
  ALERT_PROTOCOL,
  ALERT_REFUSED,
  ALERT_UNSUPPORTED,
  type Channel,
  type ClientTicket,
  CLOSE,
  concat,
  DATA,
  DEFAULT_RECORD_LIMIT,
  entries,
  equalBytes,
  EXT_RECORD_SIZE_LIMIT,
  EXT_RESUMPTION,
  EXT_VERSIONS,
  type Extension,
  gcmOpen,
  gcmSeal,
  type HelloOptions,
  IndependentClient,
  IndependentServer,
  type Lookup,
  nonce,
  parseExtensions,
  type PeerError,
  plainAlert,
  protectedAlert,
  random,
  Reader,
  type ServerOptions,
  ServerTicketStore,
  te,
  u32,
  u64,
  u8,
  UPDATE_REQUEST,
  vec16,
} from "./_independent_peer.ts";

// ---------------------------------------------------------------------------
// Fixtures

interface Party {
  id: Uint8Array;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function independentParty(name: string): Promise<Party> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
    "verify",
  ]);
  return { id: te.encode(name), privateKey: pair.privateKey, publicKey: pair.publicKey };
}

async function tesseraParty(name: string): Promise<Party> {
  const pair = await generateIdentityKeyPair();
  return { id: te.encode(name), privateKey: pair.privateKey, publicKey: pair.publicKey };
}

function directory(...parties: Party[]): Lookup {
  return (id) => parties.find((p) => equalBytes(p.id, id))?.publicKey ?? null;
}

function tessera(
  me: Party,
  lookup: Lookup,
  options: Partial<SecureSessionOptions> = {},
): SecureSession {
  return new SecureSession({
    id: me.id,
    privateKey: me.privateKey,
    getPublicKeyForId: lookup,
    ...options,
  });
}

const bytes = (text: string): Uint8Array => te.encode(text);

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<PeerError> {
  let caught: unknown;
  await assert.rejects(promise, (e: unknown) => {
    caught = e;
    assert.equal((e as { code?: string }).code, code);
    return true;
  });
  return caught as PeerError;
}

function ticketEvents(session: SecureSession): string[] {
  const seen: string[] = [];
  session.addEventListener("ticket", (e) => {
    const t = e as TicketEvent;
    seen.push(t.kind === "issued" ? `issued ${t.count}` : `${t.kind} ${t.reason ?? ""}`.trim());
  });
  return seen;
}

/** The header fields of a record (§5). */
function header(record: Uint8Array) {
  const view = new DataView(record.buffer, record.byteOffset, record.length);
  return { flags: record[1]!, epoch: view.getUint32(2), seq: view.getBigUint64(6) };
}

/** A ClientHello split at its extensions block (the last field, §3.2). */
function splitHello(ch: Uint8Array): { head: Uint8Array; ext: Extension[] } {
  const at = 3 + 2 * ch[2]! + 32 + 65;
  const r = new Reader(ch.subarray(at));
  const ext = parseExtensions(r.vec16(0, 2048));
  r.end();
  return { head: ch.subarray(0, at), ext };
}

const joinHello = (head: Uint8Array, block: Uint8Array) => concat(head, vec16(block));

/** Offset of the ServerHello's plain extensions block (§3.3). */
const SH_EXT = 1 + 1 + 2 + 32 + 65;

/** Independent client, tessera server, handshake done. */
async function independentClientPair(
  server: Partial<SecureSessionOptions> = {},
  hello: HelloOptions = {},
) {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob.example");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const tsServer = tessera(bob, lookup, server);
  const hs = await client.hello(hello);
  const sh = await tsServer.negotiate(hs.message);
  assert.ok(sh);
  const result = await hs.finish(sh);
  assert.equal(await tsServer.negotiate(result.clientFinished), null);
  return { client, hs, result, channel: result.channel, server: tsServer, alice, bob, lookup };
}

/** Tessera client, independent server, handshake done. */
async function independentServerPair(
  client: Partial<SecureSessionOptions> = {},
  server: ServerOptions = {},
) {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const tsClient = tessera(carol, lookup, client);
  const peer = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup }, server);
  const hs = await peer.accept(await tsClient.connectRequest());
  const cf = await tsClient.negotiate(hs.message);
  assert.ok(cf);
  const result = await hs.finish(cf);
  return { client: tsClient, hs, result, channel: result.channel, server: peer, carol, dave };
}

/** The two directions of every pair: a tessera session and the independent channel facing it. */
const pairs = [
  ["independent client ↔ tessera server", async () => {
    const p = await independentClientPair();
    return { ts: p.server, mine: p.channel };
  }],
  ["tessera client ↔ independent server", async () => {
    const p = await independentServerPair();
    return { ts: p.client, mine: p.channel };
  }],
] as const;

async function exchange(ts: SecureSession, mine: Channel, text: string): Promise<void> {
  assert.deepEqual(await ts.unwrap(await mine.wrap(bytes(`${text} →`))), bytes(`${text} →`));
  const opened = await mine.open(await ts.wrap(bytes(`${text} ←`)));
  assert.equal(opened.type, DATA);
  assert.deepEqual(opened.data, bytes(`${text} ←`));
}

// ---------------------------------------------------------------------------
// Handshake, exporter, data

Deno.test("independent client ↔ tessera server: session id, peer ids and the exporter agree", async () => {
  const { hs, result, channel, server, alice, bob } = await independentClientPair();
  // The ClientHello offered versions {01} and declared the default record size limit (§3.1).
  const { ext } = splitHello(hs.message);
  assert.deepEqual(ext, [
    { type: EXT_VERSIONS, data: new Uint8Array([1, 1]) },
    { type: EXT_RECORD_SIZE_LIMIT, data: u32(DEFAULT_RECORD_LIMIT) },
  ]);
  assert.deepEqual(server.sessionId, channel.sessionId);
  assert.equal(channel.sessionId.length, 16);
  assert.deepEqual(server.peerId, alice.id);
  assert.deepEqual(result.peerId, bob.id);
  assert.equal(server.resumed, false);
  assert.equal(result.resumed, false);
  for (
    const [name, context, length] of [
      ["EXPORTER-token-binding", bytes("token 17"), 32],
      ["x", new Uint8Array(0), 1],
      ["another label", random(100), 8160],
    ] as const
  ) {
    const mine = await channel.exportKeyingMaterial(name, context, length);
    assert.equal(mine.length, length);
    assert.deepEqual(await server.exportKeyingMaterial(name, context, length), mine);
  }
  assert.notDeepEqual(
    await server.exportKeyingMaterial("EXPORTER-token-binding", "token 18", 32),
    await channel.exportKeyingMaterial("EXPORTER-token-binding", bytes("token 17"), 32),
  );
});

Deno.test("tessera client ↔ independent server: session id, peer ids and the exporter agree", async () => {
  const { client, hs, result, channel, carol, dave } = await independentServerPair();
  // A tessera/1 client sends 0002 with the single version 01, then its record size limit 0004
  // (16 MiB by default), and nothing else (§3.1).
  const { head, ext } = splitHello(hs.clientHello);
  assert.deepEqual(Array.from(head.subarray(0, 5)), [0x01, 0x01, 0x01, 0x00, 0x01]);
  assert.deepEqual(ext, [
    { type: EXT_VERSIONS, data: new Uint8Array([1, 1]) },
    { type: EXT_RECORD_SIZE_LIMIT, data: new Uint8Array([0x01, 0, 0, 0]) },
  ]);
  assert.deepEqual(client.sessionId, channel.sessionId);
  assert.deepEqual(client.peerId, dave.id);
  assert.deepEqual(result.peerId, carol.id);
  assert.equal(client.resumed, false);
  const mine = await channel.exportKeyingMaterial("EXPORTER-x", bytes("c"), 48);
  assert.deepEqual(await client.exportKeyingMaterial("EXPORTER-x", "c", 48), mine);
  assert.deepEqual(
    await client.exportKeyingMaterial(bytes("EXPORTER-x"), new Uint8Array(0), 20),
    await channel.exportKeyingMaterial("EXPORTER-x", new Uint8Array(0), 20),
  );
});

for (const [name, pair] of pairs) {
  Deno.test(`${name}: data flows both ways`, async () => {
    const { ts, mine } = await pair();
    for (let i = 0; i < 3; i++) {
      const record = await ts.wrap(bytes(`reply ${i}`));
      assert.equal(record.length, 31 + `reply ${i}`.length);
      assert.deepEqual(header(record), { flags: 0, epoch: 0, seq: BigInt(i) });
      const opened = await mine.open(record);
      assert.deepEqual(opened.data, bytes(`reply ${i}`));
      assert.equal(opened.padding, 0);
    }
    assert.deepEqual(await ts.unwrap(await mine.wrap(new Uint8Array(0))), new Uint8Array(0));
    const big = random(60_000);
    assert.deepEqual(await ts.unwrap(await mine.wrap(big)), big);
    assert.deepEqual((await mine.open(await ts.wrap(big))).data, big);
    assert.deepEqual((await mine.open(await ts.wrap(new Uint8Array(0)))).data, new Uint8Array(0));
  });

  Deno.test(`${name}: rekey() and rekey({ requestPeer: true }) are followed by both receivers`, async () => {
    const { ts, mine } = await pair();
    assert.equal((await mine.open(await ts.wrap(bytes("e0")))).epoch, 0);
    // Several rekey() calls between two records are one update (§4.2).
    ts.rekey();
    ts.rekey();
    const e1 = await mine.open(await ts.wrap(bytes("e1")));
    assert.deepEqual([e1.epoch, e1.seq, e1.type], [1, 1n, DATA]);
    assert.equal(mine.receiveEpoch, 1);
    // Grace for c−1 on a datagram receiver: a late record of the old epoch still opens.
    const late = await ts.wrap(bytes("late"));
    ts.rekey();
    const e2 = await ts.wrap(bytes("e2"));
    assert.equal((await mine.open(e2)).epoch, 2);
    assert.deepEqual((await mine.open(late)).data, bytes("late"));
    assert.equal(header(late).epoch, 1);

    // Our update; tessera follows without a message.
    await exchange(ts, mine, "before");
    mine.rekey();
    const ours = await mine.wrap(bytes("ours"));
    assert.equal(header(ours).epoch, 1);
    assert.deepEqual(await ts.unwrap(ours), bytes("ours"));

    // tessera asks us to update (content type 18); we update before our next record.
    ts.rekey({ requestPeer: true });
    const request = await mine.open(await ts.wrap(bytes("please")));
    assert.deepEqual([request.type, request.epoch], [UPDATE_REQUEST, 3]);
    assert.deepEqual(request.data, bytes("please"));
    const answer = await mine.wrap(bytes("updated"));
    assert.equal(header(answer).epoch, 2);
    assert.deepEqual(await ts.unwrap(answer), bytes("updated"));
    const after = await mine.open(await ts.wrap(bytes("plain")));
    assert.deepEqual([after.type, after.epoch], [DATA, 3]);

    // We ask tessera; its next record is in its next epoch, and not a request of its own.
    mine.rekey({ requestPeer: true });
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("your turn"))), bytes("your turn"));
    const answered = await mine.open(await ts.wrap(bytes("done")));
    assert.deepEqual([answered.type, answered.epoch], [DATA, 4]);
    assert.equal(header(await mine.wrap(bytes("x"))).epoch, 3);
  });

  Deno.test(`${name}: a record of epoch c−1 numbered after the first of c is refused`, async () => {
    const { ts, mine } = await pair();
    const old = await mine.wrap(bytes("old"), { seq: 10n });
    mine.rekey();
    const fresh = await mine.wrap(bytes("fresh"), { seq: 3n });
    assert.deepEqual(await ts.unwrap(fresh), bytes("fresh"));
    await rejectsWithCode(ts.unwrap(old), "record_malformed");
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("usable"))), bytes("usable"));
  });

  Deno.test(`${name}: close from the independent side ends the tessera session cleanly`, async () => {
    const { ts, mine } = await pair();
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("x"))), bytes("x"));
    const close = await mine.close();
    assert.equal(close.length, 31);
    assert.deepEqual(header(close), { flags: 0, epoch: 0, seq: 1n });
    assert.equal(await ts.unwrap(close), null);
    assert.equal(ts.state, "closed");
    // It refuses records, seals nothing, and does not answer with a close of its own (§5).
    await rejectsWithCode(ts.unwrap(close), "session_closed");
    await rejectsWithCode(ts.wrap(bytes("late")), "session_closed");
    assert.equal(await ts.close(), null);
    await rejectsWithCode(mine.wrap(bytes("after")), "session_closed");
  });

  Deno.test(`${name}: close from the tessera side is clean on the independent side`, async () => {
    const { ts, mine } = await pair();
    assert.equal((await mine.open(await ts.wrap(bytes("x")))).seq, 0n);
    ts.rekey();
    const close = await ts.close();
    assert.ok(close);
    const opened = await mine.open(close);
    assert.deepEqual([opened.type, opened.seq, opened.data.length], [CLOSE, 1n, 0]);
    assert.ok(mine.closed);
    await rejectsWithCode(mine.open(close), "session_closed");
    await rejectsWithCode(ts.wrap(bytes("after close")), "session_closed");
    await rejectsWithCode(ts.unwrap(close), "session_closed");
  });

  Deno.test(`${name}: a close delivered before a data record is session_truncated`, async () => {
    const { ts, mine } = await pair();
    // tessera → independent.
    const lost = await ts.wrap(bytes("lost"));
    const close = await ts.close();
    assert.ok(close);
    await rejectsWithCode(mine.open(close), "session_truncated");
    await rejectsWithCode(mine.open(lost), "session_closed");
    // independent → tessera.
    const p = await pair();
    await p.ts.unwrap(await p.mine.wrap(bytes("seen")));
    const withheld = await p.mine.wrap(bytes("withheld"));
    const myClose = await p.mine.close();
    await rejectsWithCode(p.ts.unwrap(myClose), "session_truncated");
    assert.equal(p.ts.state, "closed");
    await assert.rejects(p.ts.unwrap(withheld));
    await assert.rejects(p.ts.wrap(bytes("x")));
  });

  Deno.test(`${name}: after a truncated close tessera refuses records with session_failed`, async () => {
    const { ts, mine } = await pair();
    const withheld = await mine.wrap(bytes("withheld"));
    await rejectsWithCode(ts.unwrap(await mine.close()), "session_truncated");
    // §5: "after a truncated one with `session_failed` (whose cause is the `session_truncated`
    // error)", and it seals nothing more.
    await rejectsWithCode(ts.unwrap(withheld), "session_failed");
    await rejectsWithCode(ts.wrap(bytes("x")), "session_failed");
    assert.equal(ts.error?.code, "session_truncated");
    assert.equal(await ts.close(), null);
  });

  Deno.test(`${name}: padding is stripped by both receivers`, async () => {
    const { ts, mine } = await pair();
    // Our sender pads with 100 and 256 zero bytes; tessera reads the data.
    const padded = await mine.wrap(bytes("hello"), { padding: 100 });
    assert.equal(padded.length, 31 + 5 + 100);
    assert.deepEqual(await ts.unwrap(padded), bytes("hello"));
    // Trailing zero bytes of the data itself are data, kept before the content type.
    const zeros = new Uint8Array([7, 0, 0]);
    assert.deepEqual(await ts.unwrap(await mine.wrap(zeros, { padding: 256 })), zeros);
    const empty = new Uint8Array(0);
    assert.deepEqual(await ts.unwrap(await mine.wrap(empty, { padding: 9 })), empty);
    // A padded close is still a close.
    mine.padding = () => 30;
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("x"))), bytes("x"));
    const close = await mine.close();
    assert.equal(close.length, 31 + 30);
    assert.equal(await ts.unwrap(close), null);
  });
}

Deno.test("padding: tessera with { blockSize: 64 } pads, the independent receiver strips", async () => {
  const padding = { blockSize: 64 };
  const a = await independentClientPair({ padding });
  const b = await independentServerPair({ padding });
  for (const [ts, mine] of [[a.server, a.channel], [b.client, b.channel]] as const) {
    for (const [size, inner] of [[5, 64], [63, 64], [64, 128], [0, 64], [200, 256]] as const) {
      const data = random(size);
      const record = await ts.wrap(data);
      assert.equal(record.length, 14 + inner + 16, `content ${size}`);
      const opened = await mine.open(record);
      assert.deepEqual(opened.data, data);
      assert.equal(opened.padding, inner - size - 1);
    }
    const close = await ts.close();
    assert.ok(close);
    assert.equal(close.length, 14 + 64 + 16);
    assert.equal((await mine.open(close)).type, CLOSE);
  }
});

// ---------------------------------------------------------------------------
// Resumption (§3.5)

Deno.test("resumption: the independent client resumes with tickets of a tessera server", async () => {
  const store = new MemoryTicketStore();
  const resumption = {
    store,
    tickets: 2,
    attributes: (id: Uint8Array) => ({ user: new TextDecoder().decode(id), tier: 2 }),
  };
  const { client, result, server, alice, bob, lookup } = await independentClientPair({
    resumption,
  });
  assert.equal(result.tickets.length, 2);
  const older = result.tickets[0]!;
  for (const t of result.tickets) assert.equal(t.id.length, 16);
  assert.equal(server.attributes, null);

  const connect = async (hello: HelloOptions) => {
    const ts = tessera(bob, lookup, { resumption });
    const events = ticketEvents(ts);
    const hs = await client.hello(hello);
    const sh = await ts.negotiate(hs.message);
    assert.ok(sh);
    const done = await hs.finish(sh);
    assert.equal(await ts.negotiate(done.clientFinished), null);
    assert.deepEqual(ts.sessionId, done.channel.sessionId);
    await exchange(ts, done.channel, "resumed?");
    return { ts, hs, sh, done, events };
  };

  // Resume with the newest ticket: ServerHello carries 0001, ClientFinished is Finished only.
  const first = await client.takeTicket();
  assert.ok(first);
  const one = await connect({ ticket: first });
  assert.deepEqual(
    Array.from(one.sh.subarray(SH_EXT, SH_EXT + 6)),
    [0x00, 0x04, 0x00, 0x01, 0x00, 0x00],
  );
  assert.equal(one.done.resumed, true);
  assert.equal(one.done.clientFinished.length, 2 + 32 + 16);
  assert.deepEqual(one.done.peerId, bob.id);
  assert.equal(one.ts.resumed, true);
  assert.deepEqual(one.ts.peerId, alice.id);
  assert.deepEqual(one.ts.attributes, { user: "alice", tier: 2 });
  assert.ok(one.events.includes("resumed"), one.events.join());
  assert.ok(!one.events.some((e) => e.startsWith("declined")), one.events.join());
  assert.equal(one.done.tickets.length, 1, "the successor");
  assert.deepEqual(
    await one.ts.exportKeyingMaterial("EXPORTER-r", "", 32),
    await one.done.channel.exportKeyingMaterial("EXPORTER-r", new Uint8Array(0), 32),
  );

  // The successor resumes too, with the same attributes.
  const successor = await client.takeTicket();
  assert.ok(successor);
  assert.deepEqual(successor.id, one.done.tickets[0]!.id);
  const two = await connect({ ticket: successor });
  assert.equal(two.done.resumed, true);
  assert.equal(two.ts.resumed, true);
  assert.deepEqual(two.ts.attributes, { user: "alice", tier: 2 });

  // The first ClientHello replayed verbatim: declined `replayed`, full handshake, same round trip.
  const replay = tessera(bob, lookup, { resumption });
  const replayEvents = ticketEvents(replay);
  const full = await replay.negotiate(one.hs.message);
  assert.ok(full);
  assert.deepEqual(Array.from(full.subarray(SH_EXT, SH_EXT + 2)), [0, 0]);
  const fallback = await one.hs.finish(full);
  assert.equal(fallback.resumed, false);
  assert.equal(await replay.negotiate(fallback.clientFinished), null);
  assert.equal(replay.resumed, false);
  assert.deepEqual(replayEvents.filter((e) => e.startsWith("declined")), ["declined replayed"]);

  // The first ticket again, in a new ClientHello: a copied secret, declined `reused`, full
  // handshake in the same round trip; the family is revoked.
  const reused = await connect({ ticket: first });
  assert.equal(reused.done.resumed, false);
  assert.equal(reused.ts.resumed, false);
  assert.deepEqual(reused.ts.peerId, alice.id);
  assert.ok(reused.events.includes("declined reused"), reused.events.join());
  // Every other ticket of the family is refused now: the successor, and the older sibling.
  for (const ticket of [two.done.tickets[0]!, older]) {
    const revoked = await connect({ ticket });
    assert.equal(revoked.done.resumed, false);
    assert.equal(revoked.ts.resumed, false);
    assert.ok(revoked.events.some((e) => e.startsWith("declined")), revoked.events.join());
  }
});

Deno.test("resumption: after a reuse, the family's other tickets are declined as revoked", async () => {
  const resumption = { store: new MemoryTicketStore(), tickets: 2 };
  const { client, result, bob, lookup } = await independentClientPair({ resumption });
  const attempt = async (ticket: ClientTicket) => {
    const ts = tessera(bob, lookup, { resumption });
    const events = ticketEvents(ts);
    const hs = await client.hello({ ticket });
    const done = await hs.finish((await ts.negotiate(hs.message))!);
    assert.equal(await ts.negotiate(done.clientFinished), null);
    return { done, events };
  };
  const [sibling, ticket] = result.tickets as [ClientTicket, ClientTicket];
  assert.equal((await attempt(ticket)).done.resumed, true);
  assert.ok((await attempt(ticket)).events.includes("declined reused"));
  // §3.5, 2: "or revoked: decline (`unknown`, `expired`, `revoked`; a store that deletes revoked
  // tickets reports them `unknown`)".
  const { events, done } = await attempt(sibling);
  assert.equal(done.resumed, false);
  assert.ok(
    events.includes("declined revoked") || events.includes("declined unknown"),
    events.join(),
  );
});

Deno.test("resumption: a ticket offered with a wrong binder is declined and stays usable", async () => {
  const resumption = { store: new MemoryTicketStore() };
  const { client, bob, lookup } = await independentClientPair({ resumption });
  const ticket = await client.takeTicket();
  assert.ok(ticket);
  const ts = tessera(bob, lookup, { resumption });
  const events = ticketEvents(ts);
  const hs = await client.hello({ ticket: { ...ticket, secret: random(32) } });
  const sh = await ts.negotiate(hs.message);
  assert.ok(sh);
  const done = await hs.finish(sh);
  assert.equal(done.resumed, false);
  assert.equal(await ts.negotiate(done.clientFinished), null);
  assert.ok(events.includes("declined binder_invalid"), events.join());

  const again = tessera(bob, lookup, { resumption });
  const hs2 = await client.hello({ ticket });
  const done2 = await hs2.finish((await again.negotiate(hs2.message))!);
  assert.equal(done2.resumed, true);
  assert.equal(await again.negotiate(done2.clientFinished), null);
  assert.equal(again.resumed, true);
});

Deno.test("resumption: a tessera client resumes with tickets of the independent server", async () => {
  const store = new ServerTicketStore();
  const cache = new ClientSessionCache();
  const resumption = { cache, endpoint: "dave.example:443" };
  const first = await independentServerPair(
    { resumption, expectedPeer: "dave.server" },
    { store, tickets: 2, lifetime: 3600 },
  );
  assert.equal(splitHello(first.hs.clientHello).ext.length, 2, "no offer: nothing cached yet");
  assert.equal(first.hs.resumed, false);
  await exchange(first.client, first.channel, "full");
  assert.equal(store.tickets.size, 2);
  const { carol, dave } = first;
  const lookup = directory(carol, dave);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup }, {
    store,
    lifetime: 3600,
  });

  const resume = async () => {
    const ts = tessera(carol, lookup, { resumption, expectedPeer: "dave.server" });
    const ch = await ts.connectRequest();
    const hs = await server.accept(ch);
    const cf = await ts.negotiate(hs.message);
    assert.ok(cf);
    const done = await hs.finish(cf);
    assert.deepEqual(ts.sessionId, done.channel.sessionId);
    await exchange(ts, done.channel, "resumed?");
    return { ts, ch, hs, cf, done };
  };
  for (let i = 0; i < 2; i++) {
    const r = await resume();
    // The offer is the last extension and the binder the last 32 bytes (verified by our server).
    assert.equal(splitHello(r.ch).ext.at(-1)!.type, EXT_RESUMPTION);
    assert.equal(r.hs.resumed, true, `resume ${i}: ${store.reports.join()}`);
    assert.equal(r.cf.length, 50);
    assert.equal(r.ts.resumed, true);
    assert.deepEqual(r.ts.peerId, dave.id);
    assert.deepEqual(r.done.peerId, carol.id);
  }
  assert.deepEqual(store.reports, ["resumed", "resumed"]);

  // Our server declines (it lost its tickets): the client completes a full handshake.
  store.tickets.clear();
  const declined = await resume();
  assert.equal(declined.hs.resumed, false);
  assert.equal(declined.ts.resumed, false);
  assert.deepEqual(store.reports.at(-1), "declined unknown");
});

// ---------------------------------------------------------------------------
// Alerts (§3.6)

Deno.test("alerts: the independent server refusing ClientFinished fails the tessera client with handshake_refused", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const client = tessera(carol, directory(carol, dave));
  const server = new IndependentServer({
    id: dave.id,
    privateKey: dave.privateKey,
    lookup: directory(dave),
  });
  const hs = await server.accept(await client.connectRequest());
  const cf = await client.negotiate(hs.message);
  assert.ok(cf);
  assert.equal(client.state, "established");
  const err = await rejectsWithCode(hs.finish(cf), "handshake_unknown_peer");
  assert.ok(err.alert);
  assert.equal(err.alert.length, 20);
  assert.deepEqual(Array.from(err.alert.subarray(0, 3)), [0x15, 0x01, 0x01]);
  // An alert that does not authenticate is a refused record afterwards; the session stays.
  const forged = err.alert.slice();
  forged[19]! ^= 1;
  await rejectsWithCode(client.unwrap(forged), "record_auth_failed");
  assert.equal(client.state, "established");
  await rejectsWithCode(client.unwrap(err.alert), "handshake_refused");
  assert.equal(client.state, "closed");
  assert.equal(client.error?.code, "handshake_refused");
  await assert.rejects(client.wrap(bytes("x")));
});

Deno.test("alerts: once the client accepted a record, a server alert is no longer accepted", async () => {
  const { client, hs, channel } = await independentServerPair();
  assert.deepEqual(await client.unwrap(await channel.wrap(bytes("hi"))), bytes("hi"));
  const alert = await protectedAlert(hs.secrets.sHsKey, hs.secrets.sHsIv, ALERT_REFUSED);
  // "any other alert is handshake_unexpected or a malformed record" (§3.6).
  await rejectsWithCode(client.unwrap(alert), "record_malformed");
  assert.equal(client.state, "established");
});

Deno.test("alerts: the tessera server refusing the independent client sends an alert under s_hs", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const client = new IndependentClient({
    id: alice.id,
    privateKey: alice.privateKey,
    lookup: directory(alice, bob),
  });
  const server = tessera(bob, directory(bob));
  const hs = await client.hello();
  const done = await hs.finish((await server.negotiate(hs.message))!);
  const err = await rejectsWithCode(
    server.negotiate(done.clientFinished),
    "handshake_unknown_peer",
  );
  assert.ok(err.alert);
  assert.equal(err.alert.length, 20);
  // Our client decrypts it with s_hs_key and nonce(s_hs_iv, 1): class 01, refused.
  const refused = await rejectsWithCode(done.channel.open(err.alert), "handshake_refused");
  assert.equal(refused.alertClass, ALERT_REFUSED);
  assert.ok(done.channel.closed);
  // Computed independently, the same bytes.
  const keys = hs.secrets!;
  const expected = concat(
    new Uint8Array([0x15, 0x01, 0x01]),
    await gcmSeal(keys.sHsKey, nonce(keys.sHsIv, 1n), new Uint8Array([0x15, 0x01, 0x01]), u8(1)),
  );
  assert.deepEqual(err.alert, expected);
});

Deno.test("alerts: a ClientHello refused by tessera gets a plain alert our client accepts", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const hs = await client.hello({ suites: [0x0002] });
  const err = await rejectsWithCode(
    tessera(bob, lookup).negotiate(hs.message),
    "handshake_unsupported_suite",
  );
  assert.deepEqual(err.alert, new Uint8Array([0x15, 0x01, 0x00, ALERT_UNSUPPORTED]));
  const refused = await rejectsWithCode(hs.finish(err.alert!), "handshake_refused");
  assert.equal(refused.alertClass, ALERT_UNSUPPORTED);
});

Deno.test("alerts: each tessera role accepts the independent peer's alert while it waits", async () => {
  // Our server refuses the tessera ClientHello (plain alert); the client fails handshake_refused.
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup });
  const client = tessera(carol, lookup);
  const { head } = splitHello(await client.connectRequest());
  const offer02 = joinHello(head, entries([{ type: EXT_VERSIONS, data: new Uint8Array([1, 2]) }]));
  const err = await rejectsWithCode(server.accept(offer02), "handshake_unsupported_version");
  assert.deepEqual(err.alert, new Uint8Array([0x15, 0x01, 0x00, ALERT_UNSUPPORTED]));
  await rejectsWithCode(client.negotiate(err.alert!), "handshake_refused");
  assert.equal(client.state, "closed");

  // Our client refuses the tessera ServerHello (unknown server): protected under c_hs.
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const me = new IndependentClient({
    id: alice.id,
    privateKey: alice.privateKey,
    lookup: directory(alice),
  });
  const ts = tessera(bob, directory(alice, bob));
  const hs = await me.hello();
  const failed = await rejectsWithCode(
    hs.finish((await ts.negotiate(hs.message))!),
    "handshake_unknown_peer",
  );
  assert.equal(failed.alert?.length, 20);
  await rejectsWithCode(ts.negotiate(failed.alert!), "handshake_refused");
  assert.equal(ts.state, "closed");
});

Deno.test("alerts: the tessera client refusing our ServerHello sends an alert under c_hs", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const client = tessera(carol, directory(carol));
  const server = new IndependentServer({
    id: dave.id,
    privateKey: dave.privateKey,
    lookup: directory(carol, dave),
  });
  const hs = await server.accept(await client.connectRequest());
  const err = await rejectsWithCode(client.negotiate(hs.message), "handshake_unknown_peer");
  assert.ok(err.alert);
  const refused = await rejectsWithCode(hs.finish(err.alert), "handshake_refused");
  assert.equal(refused.alertClass, ALERT_REFUSED);
});

// ---------------------------------------------------------------------------
// Saved sessions fork their sending direction (§4.2, §6)

Deno.test("restore fork: the independent receiver verifies the proof and follows a restored tessera session", async () => {
  const { channel, server } = await independentClientPair();
  await exchange(server, channel, "before save");
  const key = random(32);
  const saved = await server.save(key);
  assert.equal(server.state, "closed");
  const restored = await SecureSession.restore(saved, key);
  const copy = await SecureSession.restore(saved, key);
  assert.equal(restored.generation, 1);

  const record = await restored.wrap(bytes("after restore"));
  assert.deepEqual(header(record), { flags: 1, epoch: 1, seq: 1n });
  assert.equal(record.length, 62 + 13 + 1 + 16);
  // A forged proof is refused before anything else; the genuine record then opens.
  const forged = record.slice();
  forged[40]! ^= 1;
  await rejectsWithCode(channel.open(forged), "record_auth_failed");
  const opened = await channel.open(record);
  assert.deepEqual(opened.data, bytes("after restore"));
  assert.deepEqual(opened.fork, record.subarray(14, 30));
  assert.equal(channel.receiveEpoch, 1);
  // Every record of the forked epoch carries the same R and proof.
  const next = await restored.wrap(bytes("more"));
  assert.deepEqual(next.subarray(0, 2), new Uint8Array([0x17, 0x01]));
  assert.deepEqual(next.subarray(14, 62), record.subarray(14, 62));
  assert.deepEqual((await channel.open(next)).data, bytes("more"));
  // The other copy forked with another R: refused once we follow the first (its first two
  // sequence numbers are taken, so its third record passes the window).
  await copy.wrap(bytes("copy 1"));
  await copy.wrap(bytes("copy 2"));
  const other = await copy.wrap(bytes("copy"));
  assert.equal(header(other).seq, 3n);
  assert.equal(header(other).epoch, 1);
  assert.notDeepEqual(other.subarray(14, 30), record.subarray(14, 30));
  await rejectsWithCode(channel.open(other), "record_auth_failed");

  // The restored session receives, exports and updates as before.
  const toRestored = await channel.wrap(bytes("to restored"));
  assert.deepEqual(await restored.unwrap(toRestored), bytes("to restored"));
  assert.deepEqual(
    await restored.exportKeyingMaterial("EXPORTER-x", "", 16),
    await channel.exportKeyingMaterial("EXPORTER-x", new Uint8Array(0), 16),
  );
  restored.rekey();
  const updated = await restored.wrap(bytes("epoch 2"));
  assert.deepEqual([header(updated).flags, header(updated).epoch], [0, 2]);
  assert.deepEqual((await channel.open(updated)).data, bytes("epoch 2"));
});

Deno.test("restore fork: tessera's receiver refuses a forged fork proof and follows a genuine fork", async () => {
  for (const { ts, mine } of [await pairs[0][1](), await pairs[1][1]()]) {
    await exchange(ts, mine, "before fork");
    await mine.fork();
    // Sealed with the fork's real keys, but a proof that does not verify.
    const forged = await mine.wrap(bytes("forged"), { proof: random(32) });
    await rejectsWithCode(ts.unwrap(forged), "record_auth_failed");
    const genuine = await mine.wrap(bytes("genuine"));
    assert.deepEqual([header(genuine).flags, header(genuine).epoch], [1, 1]);
    assert.deepEqual(await ts.unwrap(genuine), bytes("genuine"));
    // A record of the forked epoch without its R is refused.
    const bare = await mine.wrap(bytes("bare"), { omitFork: true });
    await rejectsWithCode(ts.unwrap(bare), "record_auth_failed");
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("still"))), bytes("still"));
    mine.rekey();
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("epoch 2"))), bytes("epoch 2"));
    await exchange(ts, mine, "after fork");
  }
});

// ---------------------------------------------------------------------------
// Versions and downgrade (§3.1)

Deno.test("versions: tessera answers an offer [03, 01] with version 01 and refuses [02]", async () => {
  const { hs, result, server } = await independentClientPair({}, { versions: [0x03, 0x01] });
  assert.deepEqual(splitHello(hs.message).ext[0]!.data, new Uint8Array([2, 3, 1]));
  assert.equal(server.state, "established");
  assert.equal(result.resumed, false);
  // Without 0002 the offer is {01}.
  await independentClientPair({}, { versions: null });

  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const refuse = async (hello: HelloOptions, code: string) =>
    await rejectsWithCode(
      tessera(bob, lookup).negotiate((await client.hello(hello)).message),
      code,
    );
  await refuse({ versions: [0x02] }, "handshake_unsupported_version");
  await refuse({ versions: [] }, "handshake_malformed");
  await refuse({ versions: new Array(17).fill(1) }, "handshake_malformed");
  const ch = (await client.hello({ versions: null })).message;
  const { head } = splitHello(ch);
  const trailing = joinHello(
    head,
    entries([{ type: EXT_VERSIONS, data: new Uint8Array([1, 1, 0]) }]),
  );
  await rejectsWithCode(tessera(bob, lookup).negotiate(trailing), "handshake_malformed");
});

Deno.test("versions: stripping the client's 0002 in transit fails the tessera client (downgrade detection)", async () => {
  for (const serverKind of ["tessera", "independent"] as const) {
    const carol = await tesseraParty("carol");
    const bob = await tesseraParty("bob");
    const lookup = directory(carol, bob);
    const client = tessera(carol, lookup);
    const { head, ext } = splitHello(await client.connectRequest());
    const stripped = joinHello(head, entries(ext.filter((e) => e.type !== EXT_VERSIONS)));
    let sh: Uint8Array | null;
    let deliver: (alert: Uint8Array) => Promise<unknown>;
    if (serverKind === "tessera") {
      const server = tessera(bob, lookup);
      sh = await server.negotiate(stripped);
      deliver = (alert) => server.negotiate(alert);
    } else {
      const peer = new IndependentServer({ id: bob.id, privateKey: bob.privateKey, lookup });
      const hs = await peer.accept(stripped);
      sh = hs.message;
      deliver = (alert) => hs.finish(alert);
    }
    assert.ok(sh);
    const err = await rejectsWithCode(client.negotiate(sh), "handshake_decrypt_failed");
    // Its alert is protected under the client's c_hs keys, which the server does not share.
    assert.equal(err.alert?.length, 20, serverKind);
    await rejectsWithCode(deliver(err.alert!), "handshake_decrypt_failed");
  }
});

Deno.test("versions: the tessera client refuses a ServerHello of a version it did not offer", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const client = tessera(carol, lookup);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup });
  const sh = (await server.accept(await client.connectRequest())).message.slice();
  sh[1] = 0x02;
  await rejectsWithCode(client.negotiate(sh), "handshake_unsupported_version");
});

Deno.test("extensions: unknown types are ignored; order and the offer's place are enforced", async () => {
  const grease = [
    { type: 0x0a0a, data: bytes("grease") },
    { type: 0x7f00, data: new Uint8Array(0) },
  ];
  await independentClientPair({}, { extra: grease, suites: [0x1234, 0x0001] });

  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const { head } = splitHello((await client.hello({ versions: null })).message);
  const v = { type: EXT_VERSIONS, data: new Uint8Array([1, 1]) };
  const offer = { type: EXT_RESUMPTION, data: concat(u8(16), random(16), random(32)) };
  const raw = (list: Extension[]) => joinHello(head, entries(list));
  for (
    const list of [
      [{ type: 5, data: new Uint8Array(0) }, { type: 4, data: new Uint8Array(0) }],
      [v, v],
      [offer, v],
      [offer, offer],
    ]
  ) {
    await rejectsWithCode(tessera(bob, lookup).negotiate(raw(list)), "handshake_malformed");
  }
  // The offer last, after 0002, is well formed (an unknown ticket: a full handshake).
  const sh = await tessera(bob, lookup, { resumption: { store: new MemoryTicketStore() } })
    .negotiate(raw([v, offer]));
  assert.ok(sh);
  assert.deepEqual(Array.from(sh.subarray(SH_EXT, SH_EXT + 2)), [0, 0]);
});

// ---------------------------------------------------------------------------
// Records (§5)

for (const [name, pair] of pairs) {
  Deno.test(`${name}: malformed records are refused by both sides`, async () => {
    const { ts, mine } = await pair();
    const mutants = (record: Uint8Array): [string, Uint8Array][] => {
      const set = (at: number, value: number) => {
        const out = record.slice();
        out[at] = value;
        return out;
      };
      const lastSeq = record.slice();
      lastSeq.set(u64((1n << 64n) - 1n), 6);
      return [
        ["short", record.subarray(0, 30)],
        ["bad marker", set(0, 0x16)],
        ["alert marker", set(0, 0x15)],
        ["unknown flags 02", set(1, 0x02)],
        ["unknown flags 80", set(1, 0x80)],
        ["fork extension that does not fit", set(1, 0x01)],
        ["sequence 2^64 − 1", lastSeq],
      ];
    };
    const theirs = await mine.wrap(bytes("hi"));
    for (const [what, bad] of mutants(theirs)) {
      await rejectsWithCode(ts.unwrap(bad), "record_malformed").catch((e) => {
        throw new Error(`tessera on ${what}: ${e}`);
      });
    }
    assert.deepEqual(await ts.unwrap(theirs), bytes("hi"));
    const ours = await ts.wrap(bytes("ok"));
    for (const [what, bad] of mutants(ours)) {
      await rejectsWithCode(mine.open(bad), "record_malformed").catch((e) => {
        throw new Error(`independent on ${what}: ${e}`);
      });
    }
    assert.deepEqual((await mine.open(ours)).data, bytes("ok"));

    // Inner plaintexts tessera must refuse: no content type, an unknown one, a close with data.
    const inner = [[0x00, new Uint8Array(0)], [0x16, bytes("x")], [CLOSE, bytes("!")]] as const;
    for (const [type, content] of inner) {
      await rejectsWithCode(ts.unwrap(await mine.seal(type, content)), "record_malformed");
    }
    // Replays and tampering.
    const once = await mine.wrap(bytes("once"));
    assert.deepEqual(await ts.unwrap(once), bytes("once"));
    await rejectsWithCode(ts.unwrap(once), "record_replayed");
    const tampered = await mine.wrap(bytes("t"));
    tampered[tampered.length - 1]! ^= 1;
    await rejectsWithCode(ts.unwrap(tampered), "record_auth_failed");
    assert.deepEqual(await ts.unwrap(await mine.wrap(bytes("usable"))), bytes("usable"));
  });

  Deno.test(`${name}: epochs c+2 and c−2 are refused by both sides`, async () => {
    const { ts, mine } = await pair();
    // Ours: records of epochs 0, 1, 2 (c = 0 at tessera).
    const e0 = await mine.wrap(bytes("e0"));
    mine.rekey();
    const e1 = await mine.wrap(bytes("e1"));
    mine.rekey();
    const e2 = await mine.wrap(bytes("e2"));
    await rejectsWithCode(ts.unwrap(e2), "record_malformed");
    assert.deepEqual(await ts.unwrap(e1), bytes("e1"));
    assert.deepEqual(await ts.unwrap(e2), bytes("e2"));
    await rejectsWithCode(ts.unwrap(e0), "record_too_old");
    // A header epoch rewritten to c+2 is refused before authentication.
    const far = await mine.wrap(bytes("far"));
    far.set(u32(4), 2);
    await rejectsWithCode(ts.unwrap(far), "record_malformed");

    // tessera's records of epochs 0, 1, 2 at our receiver.
    const t0 = await ts.wrap(bytes("t0"));
    ts.rekey();
    const t1 = await ts.wrap(bytes("t1"));
    ts.rekey();
    const t2 = await ts.wrap(bytes("t2"));
    await rejectsWithCode(mine.open(t2), "record_malformed");
    assert.deepEqual((await mine.open(t1)).data, bytes("t1"));
    assert.deepEqual((await mine.open(t2)).data, bytes("t2"));
    await rejectsWithCode(mine.open(t0), "record_too_old");
  });
}

Deno.test("records: the size bound is maxRecordSize + 1 + 256 of inner plaintext", async () => {
  const { server, channel } = await independentClientPair({ maxRecordSize: 1024 });
  const full = await channel.wrap(new Uint8Array(1024), { padding: 256 });
  assert.equal(full.length, 14 + 1024 + 1 + 256 + 16);
  assert.deepEqual(await server.unwrap(full), new Uint8Array(1024));
  await rejectsWithCode(
    server.unwrap(await channel.wrap(new Uint8Array(1024), { padding: 257 })),
    "record_too_large",
  );
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("ok"))), bytes("ok"));
});

// ---------------------------------------------------------------------------
// Record size limit (§3.1, §5)

/** The data of the ClientHello's `0004`, if any. */
const declaredInHello = (ch: Uint8Array) =>
  splitHello(ch).ext.find((e) => e.type === EXT_RECORD_SIZE_LIMIT)?.data;

Deno.test("record size limit: each side sends at most what the other declared, and accepts at most its own", async () => {
  // Independent client (declares 1024) ↔ tessera server (declares 2048).
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const me = { id: alice.id, privateKey: alice.privateKey, lookup, maxRecordSize: 1024 };
  const hs = await new IndependentClient(me).hello();
  assert.deepEqual(declaredInHello(hs.message), u32(1024));
  const server = tessera(bob, lookup, { maxRecordSize: 2048 });
  const done = await hs.finish((await server.negotiate(hs.message))!);
  assert.equal(await server.negotiate(done.clientFinished), null);
  assert.equal(server.peerMaxRecordSize, 1024);
  assert.equal(done.channel.limits.peer, 2048);
  await rejectsWithCode(server.wrap(new Uint8Array(1025)), "record_too_large");
  assert.equal(
    (await done.channel.open(await server.wrap(new Uint8Array(1024)))).data.length,
    1024,
  );
  await rejectsWithCode(done.channel.wrap(new Uint8Array(2049)), "record_too_large");
  assert.equal((await server.unwrap(await done.channel.wrap(new Uint8Array(2048))))!.length, 2048);
  // A sender that ignores the declaration is refused by the receiver's own limit, both ways.
  const over = await done.channel.wrap(new Uint8Array(2049), { ignorePeerLimit: true });
  await rejectsWithCode(server.unwrap(over), "record_too_large");
  assert.equal(server.state, "established");

  // Tessera client (declares 1024) ↔ independent server (declares 4096).
  const p = await independentServerPair({ maxRecordSize: 1024 }, {
    recordSizeLimit: u32(4096),
  });
  assert.deepEqual(declaredInHello(p.hs.clientHello), u32(1024));
  assert.equal(p.hs.clientLimit, 1024);
  assert.equal(p.channel.limits.peer, 1024);
  assert.equal(p.client.peerMaxRecordSize, 4096);
  // The tessera client's own 1024 binds before the 4096 our server declared.
  await rejectsWithCode(p.client.wrap(new Uint8Array(1025)), "record_too_large");
  await rejectsWithCode(p.channel.wrap(new Uint8Array(1025)), "record_too_large");
  const tooLong = await p.channel.wrap(new Uint8Array(1025), { ignorePeerLimit: true });
  await rejectsWithCode(p.client.unwrap(tooLong), "record_too_large");
  await exchange(p.client, p.channel, "within the limits");
});

Deno.test("record size limit: the tessera server refuses a declaration of 0, 2^30 + 1 or another length; absent, it takes 16 MiB", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  for (const data of [u32(0), u32(2 ** 30 + 1), new Uint8Array(3), new Uint8Array(5)]) {
    const hs = await client.hello({ recordSizeLimit: data });
    const err = await rejectsWithCode(
      tessera(bob, lookup).negotiate(hs.message),
      "handshake_malformed",
    );
    assert.deepEqual(err.alert, plainAlert(ALERT_PROTOCOL));
  }
  for (const [data, learned] of [[u32(1), 1], [u32(2 ** 30), 2 ** 30], [null, 2 ** 24]] as const) {
    const hs = await client.hello({ recordSizeLimit: data });
    const server = tessera(bob, lookup);
    const done = await hs.finish((await server.negotiate(hs.message))!);
    assert.equal(await server.negotiate(done.clientFinished), null);
    assert.equal(server.peerMaxRecordSize, learned);
  }
});

Deno.test("record size limit: the tessera client refuses a declaration of 0, 2^30 + 1 or another length in EE, full or resumed", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const identity = { id: dave.id, privateKey: dave.privateKey, lookup };
  const store = new ServerTicketStore();
  const resumption = { cache: new ClientSessionCache(), endpoint: "dave.example:443" };
  const connect = async (recordSizeLimit: Uint8Array | null) => {
    const client = tessera(carol, lookup, { resumption, expectedPeer: "dave.server" });
    const server = new IndependentServer(identity, { store, recordSizeLimit });
    const hs = await server.accept(await client.connectRequest());
    return { client, hs };
  };
  const bad = [u32(0), u32(2 ** 30 + 1), new Uint8Array(3), new Uint8Array(5)];
  for (const data of bad) {
    const { client, hs } = await connect(data);
    assert.equal(hs.resumed, false);
    const err = await rejectsWithCode(client.negotiate(hs.message), "handshake_malformed");
    assert.equal(err.alert?.length, 20, "protected under c_hs");
  }
  // Absent, the server accepts 16 MiB; and a full handshake leaves a ticket.
  const full = await connect(null);
  const cf = await full.client.negotiate(full.hs.message);
  await full.hs.finish(cf!);
  assert.equal(full.client.peerMaxRecordSize, 2 ** 24);
  for (const data of bad) {
    const { client, hs } = await connect(data);
    assert.equal(hs.resumed, true, "the ticket is accepted, the resumed EE is not");
    await rejectsWithCode(client.negotiate(hs.message), "handshake_malformed");
    // Our server redeemed the ticket: the client needs another one, from a full handshake.
    const again = await connect(null);
    await again.hs.finish((await again.client.negotiate(again.hs.message))!);
  }
  // A resumed handshake learns the limit its own EE declares.
  const resumed = await connect(u32(3000));
  assert.equal(resumed.hs.resumed, true);
  await resumed.hs.finish((await resumed.client.negotiate(resumed.hs.message))!);
  assert.equal(resumed.client.resumed, true);
  assert.equal(resumed.client.peerMaxRecordSize, 3000);
});

Deno.test("record size limit: the independent client resuming declares afresh to a tessera server", async () => {
  const resumption = { store: new MemoryTicketStore() };
  const { client, bob, lookup, server } = await independentClientPair({ resumption });
  assert.equal(server.peerMaxRecordSize, 2 ** 24);
  const resuming = tessera(bob, lookup, { resumption, maxRecordSize: 500 });
  const hs = await client.hello({ ticket: await client.takeTicket(), recordSizeLimit: u32(777) });
  const done = await hs.finish((await resuming.negotiate(hs.message))!);
  assert.equal(await resuming.negotiate(done.clientFinished), null);
  assert.equal(done.resumed, true);
  assert.equal(resuming.peerMaxRecordSize, 777);
  assert.equal(done.channel.limits.peer, 500);
});

// ---------------------------------------------------------------------------
// Handshake checks (§3.2 to §3.4)

Deno.test("handshake: the tessera client checks the ServerHello in the spec's order", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup });
  const attempt = async (
    mutate: (sh: Uint8Array) => Uint8Array,
    code: string,
    options: Partial<SecureSessionOptions> = {},
    peer = server,
  ) => {
    const client = tessera(carol, lookup, options);
    const sh = (await peer.accept(await client.connectRequest())).message.slice();
    await rejectsWithCode(client.negotiate(mutate(sh)), code);
  };
  const set = (at: number, value: number) => (sh: Uint8Array) => ((sh[at] = value), sh);
  const both = (f: (sh: Uint8Array) => Uint8Array, g: (sh: Uint8Array) => Uint8Array) =>
  (
    sh: Uint8Array,
  ) => g(f(sh));
  const resumedExt = (sh: Uint8Array) =>
    concat(
      sh.subarray(0, SH_EXT),
      vec16(entries([{ type: EXT_RESUMPTION, data: new Uint8Array(0) }])),
      sh.subarray(SH_EXT + 2),
    );
  const short = (sh: Uint8Array) => sh.subarray(0, SH_EXT + 2 + 116);
  const badShare = (sh: Uint8Array) => ((sh[36 + 1 + 10]! ^= 1), sh);
  const badTag = (sh: Uint8Array) => ((sh[sh.length - 1]! ^= 1), sh);
  await attempt(() => new Uint8Array(0), "handshake_malformed");
  await attempt((sh) => concat(sh, new Uint8Array(4097 - sh.length)), "handshake_malformed");
  await attempt(both(set(0, 0x03), set(1, 0x02)), "handshake_unexpected");
  await attempt(both(set(1, 0x02), set(3, 0x02)), "handshake_unsupported_version");
  await attempt(both(set(3, 0x02), resumedExt), "handshake_unsupported_suite");
  await attempt(both(resumedExt, short), "handshake_unexpected");
  await attempt(both(short, badShare), "handshake_malformed");
  await attempt(both(badShare, badTag), "handshake_bad_key_share");
  await attempt(badTag, "handshake_decrypt_failed");
  // Peer policy: another server than the expected one, or one presenting the client's own id.
  await attempt((sh) => sh, "handshake_peer_rejected", { expectedPeer: "someone.else" });
  const mirror = new IndependentServer({ id: carol.id, privateKey: carol.privateKey, lookup });
  await attempt((sh) => sh, "handshake_peer_rejected", {}, mirror);
  await attempt((sh) => sh, "handshake_unknown_peer", { getPublicKeyForId: directory(carol) });
});

Deno.test("handshake: the tessera server checks ClientFinished", async () => {
  const attempt = async (mutate: (cf: Uint8Array) => Uint8Array, code: string) => {
    const alice = await independentParty("alice");
    const bob = await tesseraParty("bob");
    const lookup = directory(alice, bob);
    const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
    const server = tessera(bob, lookup);
    const hs = await client.hello();
    const done = await hs.finish((await server.negotiate(hs.message))!);
    const err = await rejectsWithCode(server.negotiate(mutate(done.clientFinished.slice())), code);
    // Refused after its keys exist: the alert is protected (under s_hs).
    assert.equal(err.alert?.length, 20);
  };
  await attempt((cf) => ((cf[0] = 0x02), cf), "handshake_unexpected");
  await attempt((cf) => ((cf[1] = 0x02), cf), "handshake_unsupported_version");
  await attempt((cf) => cf.subarray(0, 2 + 114), "handshake_malformed");
  await attempt((cf) => ((cf[10]! ^= 1), cf), "handshake_decrypt_failed");
  await attempt((cf) => concat(cf, new Uint8Array(1)), "handshake_decrypt_failed");
});

Deno.test("handshake: ClientHello bounds (4096 bytes, extensions 2048, suites 1 to 16)", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const refuse = async (hello: Uint8Array) =>
    await rejectsWithCode(tessera(bob, lookup).negotiate(hello), "handshake_malformed");
  const ch = (await client.hello()).message;
  await refuse(concat(ch, new Uint8Array(4097 - ch.length)));
  await refuse(concat(ch, new Uint8Array(1)));
  await refuse(new Uint8Array(0));
  await refuse((await client.hello({ suites: [] })).message);
  await refuse((await client.hello({ suites: new Array(17).fill(1) })).message);
  await refuse((await client.hello({ extra: [{ type: 9, data: new Uint8Array(2045) }] })).message);
  // 16 suites and a 2048-byte extensions block (0004, then type 9) are within bounds.
  const hs = await client.hello({
    suites: new Array(16).fill(1),
    versions: null,
    extra: [{ type: 9, data: new Uint8Array(2048 - 8 - 4) }],
  });
  assert.equal(splitHello(hs.message).ext.length, 2);
  const server = tessera(bob, lookup);
  const done = await hs.finish((await server.negotiate(hs.message))!);
  assert.equal(await server.negotiate(done.clientFinished), null);
});

Deno.test("resumption: the resumed ClientFinished is exactly 48 encrypted bytes", async () => {
  const resumption = { store: new MemoryTicketStore() };
  const { client, bob, lookup } = await independentClientPair({ resumption });
  const server = tessera(bob, lookup, { resumption });
  const hs = await client.hello({ ticket: await client.takeTicket() });
  const done = await hs.finish((await server.negotiate(hs.message))!);
  assert.equal(done.resumed, true);
  await rejectsWithCode(
    server.negotiate(concat(done.clientFinished, new Uint8Array(1))),
    "handshake_malformed",
  );
});

Deno.test("resumption: our server verifies the tessera client's binder over its ClientHello", async () => {
  const store = new ServerTicketStore();
  const cache = new ClientSessionCache();
  const resumption = { cache, endpoint: "dave.example:443" };
  const { carol, dave } = await independentServerPair({ resumption }, { store, tickets: 2 });
  const lookup = directory(carol, dave);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup }, {
    store,
  });
  const client = tessera(carol, lookup, { resumption });
  const ch = (await client.connectRequest()).slice();
  ch[3 + 2 + 5]! ^= 1; // the client random, covered by the binder
  const hs = await server.accept(ch);
  assert.equal(hs.resumed, false);
  assert.deepEqual(store.reports, ["declined binder_invalid"]);
});

// ---------------------------------------------------------------------------
// Saved state (§6), decoded independently

Deno.test("saved state: a tessera session's saved bytes decode as §6 describes", async () => {
  const { server, channel, alice, bob } = await independentClientPair({ maxAuthFailures: 10 });
  await server.unwrap(await channel.wrap(bytes("r0")));
  await server.unwrap(await channel.wrap(bytes("r1")));
  channel.rekey();
  await server.unwrap(await channel.wrap(bytes("r2")));
  await server.unwrap(await channel.wrap(bytes("r3")));
  const forged = await channel.wrap(bytes("forged"));
  forged[forged.length - 1]! ^= 1;
  await rejectsWithCode(server.unwrap(forged), "record_auth_failed");
  await channel.open(await server.wrap(bytes("s0")));
  server.rekey();
  await channel.open(await server.wrap(bytes("s1")));

  const key = random(32);
  const saved = await server.save(key, { context: "slot 7" });
  assert.deepEqual(Array.from(saved.subarray(0, 5)), [0x54, 0x53, 0x53, 0x02, 0x01]);
  assert.deepEqual(saved.subarray(5, 13), u64(1n));
  const aad = concat(saved.subarray(0, 13), bytes("slot 7"));
  const state = await gcmOpen(key, saved.subarray(13, 25), aad, saved.subarray(25));
  assert.ok(state, "the seal opens with the wrapping key, the nonce and bytes 0..13 ‖ context");
  const r = new Reader(state);
  assert.equal(r.u8(), 0x01);
  assert.deepEqual(r.vec16(1, 1024), bob.id);
  assert.equal(r.u8(), 0x03, "channel state version");
  assert.equal(r.u8(), 0x01);
  assert.deepEqual(r.vec16(1, 1024), alice.id);
  assert.deepEqual(r.take(16), channel.sessionId);
  assert.deepEqual(r.take(32), channel.exp);
  assert.equal(r.u32(), DEFAULT_RECORD_LIMIT, "the record size limit our client declared");
  assert.equal(r.u32(), 1, "send epoch");
  assert.deepEqual(r.take(32), channel.secrets.receive);
  assert.deepEqual(r.take(8), u64(2n), "next send sequence number");
  assert.equal(r.u32(), 1, "receive epoch");
  assert.equal(r.u8(), 0x00, "no receive fork");
  assert.deepEqual(r.take(32), channel.secrets.send);
  assert.deepEqual(r.take(8), u64(3n), "first sequence number accepted in the epoch + 1");
  assert.deepEqual(r.take(8), u64(4n), "highest received + 1");
  const bitmap = r.take(16);
  assert.deepEqual(r.take(8), u64(4n), "data records accepted");
  assert.equal(r.u32(), 1, "authentication failures in the receive epoch");
  assert.equal(r.u8(), 0x00, "flags: no update request pending");
  r.end();
  // Bit i = highest − i accepted: 3, 2, 1, 0 are, as a big-endian 128-bit number 0x0f.
  assert.deepEqual(bitmap, concat(new Uint8Array(15), u8(0x0f)));
});

Deno.test("records: maxAuthFailures counts failed records per receive epoch, forged fork proofs included", async () => {
  const { server, channel } = await independentClientPair({ maxAuthFailures: 3 });
  const forge = async () => {
    const record = await channel.wrap(bytes("forged"));
    record[record.length - 1]! ^= 1;
    await rejectsWithCode(server.unwrap(record), "record_auth_failed");
  };
  // Three failures in epoch 0: the session stays usable ("may fail ... before the session fails").
  for (let i = 0; i < 3; i++) await forge();
  assert.equal(server.state, "established");
  // A new receive epoch starts a new count.
  channel.rekey();
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("epoch 1"))), bytes("epoch 1"));
  await forge();
  await forge();
  // A forged fork proof is a failure under the current epoch too (§6).
  const fork = await independentClientPair({ maxAuthFailures: 0 });
  await fork.channel.fork();
  await rejectsWithCode(
    fork.server.unwrap(await fork.channel.wrap(bytes("x"), { proof: random(32) })),
    "record_auth_failed",
  );
  assert.equal(fork.server.state, "closed");
  await forge();
  assert.equal(server.state, "established");
  // The fourth in one epoch fails the session.
  await forge();
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "record_auth_failed");
});
