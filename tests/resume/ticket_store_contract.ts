// The behaviour every TicketStore must show, run against each implementation
// (memory_ticket_store_test.ts, kv_ticket_store_test.ts).

import assert from "node:assert/strict";
import {
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketLookup,
  type TicketStore,
} from "../../lib/session/resumption.ts";

/** A fixed clock: every test injects `now`, none waits. */
export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;

/** A valid ticket with fresh random id, secret and family; `fields` override. */
export function makeTicket(fields: Partial<ServerTicket> = {}): ServerTicket {
  return {
    id: crypto.getRandomValues(new Uint8Array(16)),
    secret: crypto.getRandomValues(new Uint8Array(32)),
    peerId: new TextEncoder().encode("alice"),
    peerKeyFingerprint: crypto.getRandomValues(new Uint8Array(32)),
    attributes: { authLevel: 2, permissions: ["read", "write"], profile: { name: "A", n: null } },
    issuedAt: T0,
    expiresAt: T0 + HOUR,
    family: crypto.getRandomValues(new Uint8Array(16)),
    authenticatedAt: T0 - 1000,
    ...fields,
  };
}

/** The ticket that replaces `ticket` on redemption: same family, peer and handshake time. */
export function successorOf(ticket: ServerTicket, now = T0): ServerTicket {
  return makeTicket({
    peerId: ticket.peerId,
    peerKeyFingerprint: ticket.peerKeyFingerprint,
    attributes: ticket.attributes,
    family: ticket.family,
    authenticatedAt: ticket.authenticatedAt,
    issuedAt: now,
    expiresAt: now + HOUR,
  });
}

/** A binder hash filled with `n`, so that tests can tell redeemers apart. */
export function binder(n: number): Uint8Array {
  return new Uint8Array(32).fill(n & 0xff);
}

/** Finds a ticket and asserts it is live. */
export async function findLive(
  store: TicketStore,
  id: Uint8Array,
  now = T0,
): Promise<StoredTicket> {
  const found = await store.find(id, now);
  assert.equal(found.status, "live", `expected a live ticket, found ${found.status}`);
  return (found as Extract<TicketLookup, { ticket: StoredTicket }>).ticket;
}

/** Asserts that a ticket cannot be used: revoked, or forgotten. */
export async function assertDead(store: TicketStore, id: Uint8Array, now = T0): Promise<void> {
  const { status } = await store.find(id, now);
  assert.ok(status === "revoked" || status === "unknown", `expected no usable ticket: ${status}`);
}

/** What a contract run needs: a fresh, empty store, and how to dispose of it. */
export interface StoreFixture {
  readonly store: TicketStore;
  close(): void | Promise<void>;
}

/** Registers the contract tests for one store implementation. */
export function ticketStoreContract(label: string, open: () => Promise<StoreFixture>): void {
  const test = (name: string, fn: (store: TicketStore) => Promise<void>): void => {
    Deno.test(`${label} ${name}`, async () => {
      const fixture = await open();
      try {
        await fn(fixture.store);
      } finally {
        await fixture.close();
      }
    });
  };

  test("finds an issued ticket live with every field it was issued with", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const { id: _, ...fields } = ticket;
    const { redeemedWith, version, ...stored } = found;
    assert.deepEqual(stored, fields);
    assert.equal(redeemedWith, null);
    assert.equal(typeof version, "string");
  });

  test("keeps its own copies of what it is given and of what it returns", async (store) => {
    const ticket = makeTicket();
    const secret = ticket.secret.slice();
    await store.issue([ticket], T0);
    ticket.secret.fill(0);
    (ticket.attributes as { authLevel: number }).authLevel = 99;
    const found = await findLive(store, ticket.id);
    assert.deepEqual(found.secret, secret);
    assert.equal(found.attributes.authLevel, 2);
    found.secret.fill(1);
    (found.attributes as { authLevel: number }).authLevel = 98;
    const again = await findLive(store, ticket.id);
    assert.deepEqual(again.secret, secret);
    assert.equal(again.attributes.authLevel, 2);
  });

  test("finds an id never issued unknown, and so an id of an impossible length", async (store) => {
    await store.issue([makeTicket()], T0);
    assert.deepEqual(await store.find(crypto.getRandomValues(new Uint8Array(16)), T0), {
      status: "unknown",
    });
    assert.deepEqual(await store.find(new Uint8Array(3), T0), { status: "unknown" });
    assert.deepEqual(await store.find(new Uint8Array(65), T0), { status: "unknown" });
    await assert.rejects(store.find("id" as unknown as Uint8Array, T0), TypeError);
  });

  test("finds a ticket expired from its expiresAt on by the injected clock", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    await findLive(store, ticket.id, ticket.expiresAt - 1);
    assert.deepEqual(await store.find(ticket.id, ticket.expiresAt), { status: "expired" });
    assert.deepEqual(await store.find(ticket.id, ticket.expiresAt + 10 * HOUR), {
      status: "expired",
    });
  });

  test("caps a family at 7 days after its full handshake whatever expiresAt says", async (store) => {
    const ticket = makeTicket({ authenticatedAt: T0 - MAX_TICKET_LIFETIME + 1000 });
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id, T0 + 999);
    assert.deepEqual(await store.find(ticket.id, T0 + 1000), { status: "expired" });
    assert.equal(await store.redeem(ticket.id, found, binder(1), null, T0 + 1000), false);
  });

  test("refuses to redeem a ticket that ended between find and redeem", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, found, binder(1), null, ticket.expiresAt), false);
    await findLive(store, ticket.id);
  });

  test("reports a redeemed ticket as redeemed with the binder hash that redeemed it", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, found, binder(7), null, T0), true);
    const after = await store.find(ticket.id, T0 + 1);
    assert.equal(after.status, "redeemed");
    if (after.status !== "redeemed") return;
    assert.deepEqual(after.ticket.redeemedWith, binder(7));
    assert.notEqual(after.ticket.version, found.version);
    assert.deepEqual(after.ticket.secret, ticket.secret);
    assert.deepEqual(await store.find(ticket.id, ticket.expiresAt), { status: "expired" });
  });

  test("refuses a redeem whose version is no longer the record's", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(
      await store.redeem(
        ticket.id,
        { ...found, version: `${found.version}x` },
        binder(1),
        null,
        T0,
      ),
      false,
    );
    await store.issue([ticket], T0); // issued again: a new version
    assert.equal(await store.redeem(ticket.id, found, binder(1), null, T0), false);
    const fresh = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, fresh, binder(1), null, T0), true);
    assert.equal(await store.redeem(ticket.id, fresh, binder(1), null, T0), false);
  });

  test("refuses to redeem an unknown ticket or one redeemed through another found copy", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const other = makeTicket();
    assert.equal(await store.redeem(other.id, found, binder(1), null, T0), false);
    const copy = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, copy, binder(2), null, T0), true);
    assert.equal(await store.redeem(ticket.id, found, binder(3), null, T0), false);
  });

  test("lets exactly one of 1,000 concurrent redeems of a ticket win, and writes only the winner's successor", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const successors = Array.from({ length: 1000 }, () => successorOf(ticket));
    const results = await Promise.all(
      successors.map((next, i) => store.redeem(ticket.id, found, binder(i), next, T0)),
    );
    const winners = results.flatMap((won, i) => won ? [i] : []);
    assert.equal(winners.length, 1);
    const winner = winners[0]!;
    const after = await store.find(ticket.id, T0);
    assert.equal(after.status, "redeemed");
    assert.deepEqual(after.status === "redeemed" && after.ticket.redeemedWith, binder(winner));
    const live = await findLive(store, successors[winner]!.id);
    assert.deepEqual(live.family, ticket.family);
    assert.deepEqual(live.peerId, ticket.peerId);
    assert.equal(live.authenticatedAt, ticket.authenticatedAt);
    assert.deepEqual(live.secret, successors[winner]!.secret);
    for (const [i, next] of successors.entries()) {
      if (i !== winner) assert.deepEqual(await store.find(next.id, T0), { status: "unknown" });
    }
  });

  test("redeems with no successor and then keeps nothing new", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, found, binder(1), null, T0), true);
    assert.equal((await store.find(ticket.id, T0)).status, "redeemed");
  });

  test("revokes every ticket of a family and no other", async (store) => {
    const first = makeTicket();
    const second = successorOf(first);
    const other = makeTicket();
    await store.issue([first, second, other], T0);
    const found = await findLive(store, first.id);
    await store.revokeFamily(first.family, T0 + 1);
    await assertDead(store, first.id, T0 + 2);
    await assertDead(store, second.id, T0 + 2);
    await findLive(store, other.id, T0 + 2);
    assert.equal(await store.redeem(first.id, found, binder(1), null, T0 + 2), false);
    // A ticket of the family that appears later (a straggler successor) is revoked too.
    const late = successorOf(first);
    await store.issue([late], T0 + 3);
    assert.deepEqual(await store.find(late.id, T0 + 3), { status: "revoked" });
  });

  test("revokes a peer's tickets authenticated until then but not a later handshake's", async (store) => {
    const peerId = new TextEncoder().encode("bob");
    const before = makeTicket({ peerId, authenticatedAt: T0 - 1000 });
    const sameFamily = successorOf(before);
    const later = makeTicket({ peerId, authenticatedAt: T0 + 10, issuedAt: T0 + 10 });
    const otherPeer = makeTicket({ peerId: new TextEncoder().encode("carol") });
    await store.issue([before, sameFamily, later, otherPeer], T0 + 10);
    const found = await findLive(store, before.id, T0 + 10);
    await store.revokePeer(peerId, T0);
    await assertDead(store, before.id, T0 + 20);
    await assertDead(store, sameFamily.id, T0 + 20);
    await findLive(store, later.id, T0 + 20);
    await findLive(store, otherPeer.id, T0 + 20);
    assert.equal(await store.redeem(before.id, found, binder(1), null, T0 + 20), false);
    // An earlier revocation time does not undo a later one.
    await store.revokePeer(peerId, T0 - 5000);
    const straggler = successorOf(before);
    await store.issue([straggler], T0 + 30);
    assert.deepEqual(await store.find(straggler.id, T0 + 30), { status: "revoked" });
    await findLive(store, later.id, T0 + 30);
  });

  test("leaves no live successor when a redeem races revokeFamily", async (store) => {
    for (let round = 0; round < 40; round++) {
      const ticket = makeTicket();
      const next = successorOf(ticket);
      await store.issue([ticket], T0);
      const found = await findLive(store, ticket.id);
      const racing = [
        store.redeem(ticket.id, found, binder(round), next, T0),
        store.revokeFamily(ticket.family, T0),
      ];
      if (round % 2 === 1) racing.reverse();
      await Promise.all(racing);
      await assertDead(store, next.id);
      await assertDead(store, ticket.id);
    }
  });

  test("leaves no live successor when a redeem races revokePeer", async (store) => {
    for (let round = 0; round < 40; round++) {
      const peerId = crypto.getRandomValues(new Uint8Array(8));
      const ticket = makeTicket({ peerId });
      const next = successorOf(ticket);
      await store.issue([ticket], T0);
      const found = await findLive(store, ticket.id);
      const racing = [
        store.redeem(ticket.id, found, binder(round), next, T0),
        store.revokePeer(peerId, T0),
      ];
      if (round % 2 === 1) racing.reverse();
      await Promise.all(racing);
      await assertDead(store, next.id);
      await assertDead(store, ticket.id);
    }
  });

  test("refuses a redeem whose successor belongs to a revoked peer", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const stranger = new TextEncoder().encode("mallory");
    await store.revokePeer(stranger, T0);
    const next = makeTicket({ peerId: stranger, authenticatedAt: T0 - 1 });
    assert.equal(await store.redeem(ticket.id, found, binder(1), next, T0), false);
    await findLive(store, ticket.id);
  });

  test("issues a large batch, and an empty one", async (store) => {
    await store.issue([], T0);
    const tickets = Array.from({ length: 150 }, () => makeTicket());
    await store.issue(tickets, T0);
    for (const ticket of tickets) await findLive(store, ticket.id);
  });

  test("rejects an invalid ticket with TypeError or RangeError and keeps none of its batch", async (store) => {
    const cases: [Partial<Record<keyof ServerTicket, unknown>>, ErrorConstructor][] = [
      [{ id: new Uint8Array(15) }, RangeError],
      [{ id: new Uint8Array(65) }, RangeError],
      [{ id: "abc" }, TypeError],
      [{ secret: new Uint8Array(31) }, RangeError],
      [{ secret: undefined }, TypeError],
      [{ peerKeyFingerprint: new Uint8Array(33) }, RangeError],
      [{ family: new Uint8Array(15) }, RangeError],
      [{ peerId: new Uint8Array(0) }, RangeError],
      [{ peerId: new Uint8Array(1025) }, RangeError],
      [{ expiresAt: T0 }, RangeError],
      [{ expiresAt: T0 - 1 }, RangeError],
      [{ expiresAt: T0 + MAX_TICKET_LIFETIME + 1 }, RangeError],
      [{ issuedAt: Number.NaN }, TypeError],
      [{ authenticatedAt: "yesterday" }, TypeError],
      [{ attributes: null }, TypeError],
      [{ attributes: { when: new Date(0) } }, TypeError],
      [{ attributes: { n: Number.POSITIVE_INFINITY } }, TypeError],
      [{ attributes: { f: undefined } }, TypeError],
      [{ attributes: { big: "x".repeat(33 * 1024) } }, RangeError],
    ];
    for (const [fields, error] of cases) {
      const good = makeTicket();
      const bad = makeTicket(fields as Partial<ServerTicket>);
      await assert.rejects(
        store.issue([good, bad], T0),
        error,
        JSON.stringify(Object.keys(fields)),
      );
      assert.deepEqual(await store.find(good.id, T0), { status: "unknown" });
    }
    await store.issue([makeTicket({ expiresAt: T0 + MAX_TICKET_LIFETIME })], T0);
    await assert.rejects(store.issue([makeTicket()], Number.NaN), TypeError);
    await assert.rejects(store.issue(null as unknown as ServerTicket[], T0), TypeError);
  });

  test("rejects a malformed binder hash, successor or found ticket", async (store) => {
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    await assert.rejects(store.redeem(ticket.id, found, new Uint8Array(31), null, T0), RangeError);
    await assert.rejects(
      store.redeem(ticket.id, found, binder(1), makeTicket({ secret: new Uint8Array(1) }), T0),
      RangeError,
    );
    await assert.rejects(
      store.redeem(ticket.id, found, binder(1), { ...successorOf(ticket), id: ticket.id }, T0),
      RangeError,
    );
    await assert.rejects(
      store.redeem(ticket.id, null as unknown as StoredTicket, binder(1), null, T0),
      TypeError,
    );
    await assert.rejects(store.revokeFamily(new Uint8Array(8), T0), RangeError);
    await assert.rejects(store.revokePeer(new Uint8Array(0), T0), RangeError);
    await findLive(store, ticket.id); // none of it touched the ticket
  });
}
