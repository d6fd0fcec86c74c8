// A resuming ClientHello whose ephemeral share is not a P-256 point, but whose binder is valid
// (its sender holds the ticket's secret and bound the bad share): docs/protocol.md §3.2 has the
// server check the share (`handshake_bad_key_share`) and only *then* decide on resumption (§3.5).
// Such a hello must fail without the store changing, without the ticket's family being revoked,
// and without the application's getPublicKeyForId or peer policy being consulted for it: the
// resumption decision (steps 2–6 of §3.5) belongs to a handshake that can go on.

import assert from "node:assert/strict";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import { hmacSign } from "../../lib/crypto/hmac.ts";
import { derivePskKeys } from "../../lib/session/_tessera1_schedule.ts";
import type { ServerTicket, TicketStore } from "../../lib/session/resumption.ts";
import type { PublicKeyLookup } from "../../lib/session/profile.ts";
import { HandshakeError } from "../../lib/errors.ts";
import { alice, bob, handshake, lookupOf, session } from "./_helpers.ts";

/** Where the client's share lies in a ClientHello with one suite: type, version, count, suite, random. */
const SHARE_AT = 3 + 2 + 32;
const SHARE_LENGTH = 65;

/** A MemoryTicketStore that remembers the tickets it was given (their ids and secrets). */
class RecordingStore extends MemoryTicketStore {
  issued: ServerTicket[] = [];
  redeems = 0;
  revocations = 0;
  successors: ServerTicket[] = [];
  override async issue(tickets: readonly ServerTicket[], now: number): Promise<void> {
    this.issued.push(...tickets.map((t) => ({ ...t, secret: t.secret.slice() })));
    await super.issue(tickets, now);
  }
  override redeem(...args: Parameters<TicketStore["redeem"]>): Promise<boolean> {
    this.redeems++;
    if (args[3]) this.successors.push(args[3]);
    return super.redeem(...args);
  }
  override revokeFamily(family: Uint8Array, now: number): Promise<void> {
    this.revocations++;
    return super.revokeFamily(family, now);
  }
}

/** Replaces the share of a resuming ClientHello and binds the result again with the secret. */
async function withShare(hello: Uint8Array, share: Uint8Array, secret: Uint8Array) {
  const out = hello.slice();
  assert.equal(out[SHARE_AT], 0x04, "the share starts where expected");
  out.set(share, SHARE_AT);
  const { binderKey } = await derivePskKeys(secret, bob.id);
  out.set(await hmacSign(binderKey, out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

/** Invalid shares of the right length: off the curve, the all-zero "point", x above p. */
function badShares(valid: Uint8Array): [string, Uint8Array][] {
  const offCurve = valid.slice();
  offCurve[64] = offCurve[64]! ^ 1;
  const zero = new Uint8Array(SHARE_LENGTH);
  zero[0] = 0x04;
  const big = new Uint8Array(SHARE_LENGTH).fill(0xff);
  big[0] = 0x04;
  return [["off the curve", offCurve], ["zero", zero], ["x above p", big]];
}

async function setUp() {
  const store = new RecordingStore();
  const cache = new ClientSessionCache();
  const base = lookupOf(alice, bob);
  const clientOf = () =>
    session({
      getPublicKeyForId: base,
      expectedPeer: "bob",
      resumption: { cache, endpoint: "api:443" },
    }, alice);
  await handshake(clientOf(), session({ resumption: { store } }, bob));
  assert.equal(store.issued.length >= 1, true);
  return { store, clientOf, base };
}

/** A server whose lookup and policy count their calls. */
function countingServer(store: TicketStore, base: PublicKeyLookup) {
  const calls = { lookup: 0, policy: 0 };
  const server = session({
    getPublicKeyForId: (id) => {
      calls.lookup++;
      return base(id);
    },
    expectedPeer: () => {
      calls.policy++;
      return true;
    },
    resumption: { store },
  }, bob);
  return { server, calls };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HandshakeError, String(err));
    return err.code;
  }
  assert.fail("the ClientHello was answered");
}

Deno.test("a resuming ClientHello with a valid binder and an invalid share fails before the resumption decision: no lookup, no policy call", async () => {
  const { store, clientOf, base } = await setUp();
  const hello = await clientOf().connectRequest();
  const secret = store.issued[0]!.secret;
  for (const [what, share] of badShares(hello.subarray(SHARE_AT, SHARE_AT + SHARE_LENGTH))) {
    const { server, calls } = countingServer(store, base);
    const tampered = await withShare(hello, share, secret);
    assert.equal(await refusal(server.negotiate(tampered)), "handshake_bad_key_share", what);
    assert.deepEqual(calls, { lookup: 0, policy: 0 }, `${what}: the app was consulted`);
  }
});

Deno.test("a resuming ClientHello with a valid binder and an invalid share changes nothing in the store", async () => {
  const { store, clientOf } = await setUp();
  const client = clientOf();
  const hello = await client.connectRequest();
  const ticket = store.issued[0]!;
  for (const [what, share] of badShares(hello.subarray(SHARE_AT, SHARE_AT + SHARE_LENGTH))) {
    const server = session({ resumption: { store } }, bob);
    const tampered = await withShare(hello, share, ticket.secret);
    assert.equal(await refusal(server.negotiate(tampered)), "handshake_bad_key_share", what);
    assert.equal((await store.find(ticket.id, Date.now())).status, "live", what);
  }
  assert.deepEqual([store.redeems, store.revocations], [0, 0]);
  // The genuine hello still resumes with the untouched ticket.
  const server = session({ resumption: { store } }, bob);
  await server.negotiate((await client.negotiate((await server.negotiate(hello))!))!);
  assert.equal(server.resumed, true);
});

Deno.test("a copied ticket secret offered again with an invalid share fails on the share: its family is not revoked", async () => {
  const { store, clientOf } = await setUp();
  const ticket = store.issued[0]!;
  // The genuine client resumes, consuming the ticket.
  const client = clientOf();
  const hello = await client.connectRequest();
  const first = session({ resumption: { store } }, bob);
  await first.negotiate((await client.negotiate((await first.negotiate(hello))!))!);
  assert.equal(first.resumed, true);
  assert.equal((await store.find(ticket.id, Date.now())).status, "redeemed");
  // The copy: another valid binder (the share differs), but the share is no point.
  const [, share] = badShares(hello.subarray(SHARE_AT, SHARE_AT + SHARE_LENGTH))[0]!;
  const server = session({ resumption: { store } }, bob);
  const tampered = await withShare(hello, share, ticket.secret);
  assert.equal(await refusal(server.negotiate(tampered)), "handshake_bad_key_share");
  assert.equal(store.revocations, 0);
  const successor = store.successors[0]!;
  assert.equal((await store.find(successor.id, Date.now())).status, "live");
});
