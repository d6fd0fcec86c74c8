import assert from "node:assert/strict";
import { MemoryTicketStore } from "../../lib/resume/memory_ticket_store.ts";
import { MAX_TICKET_LIFETIME } from "../../lib/session/resumption.ts";
import {
  binder,
  findLive,
  HOUR,
  makeTicket,
  T0,
  ticketStoreContract,
} from "./ticket_store_contract.ts";

ticketStoreContract(
  "MemoryTicketStore",
  () => Promise.resolve({ store: new MemoryTicketStore(), close: () => {} }),
);

Deno.test("MemoryTicketStore forgets ended tickets as it grows, and keeps live ones", async () => {
  const store = new MemoryTicketStore();
  const old = Array.from({ length: 1100 }, () => makeTicket());
  await store.issue(old, T0);
  const found = await findLive(store, old[0]!.id);
  const later = T0 + 2 * HOUR;
  assert.deepEqual(await store.find(old[0]!.id, later), { status: "expired" });
  const fresh = Array.from(
    { length: 10 },
    () => makeTicket({ issuedAt: later, expiresAt: later + HOUR, authenticatedAt: later }),
  );
  await store.issue(fresh, later); // past 1,024 records: a sweep
  assert.deepEqual(await store.find(old[0]!.id, later), { status: "unknown" });
  assert.equal(await store.redeem(old[0]!.id, found, binder(1), null, later), false);
  for (const ticket of fresh) await findLive(store, ticket.id, later);
});

Deno.test("MemoryTicketStore keeps a revocation until every ticket it covers has ended", async () => {
  const store = new MemoryTicketStore();
  const ticket = makeTicket();
  await store.issue([ticket], T0);
  await store.revokeFamily(ticket.family, T0);
  // A straggler of the family, issued near the end of the family's 7 days, after many sweeps.
  const end = ticket.authenticatedAt + MAX_TICKET_LIFETIME;
  const filler = (n: number) =>
    Array.from(
      { length: n },
      () => makeTicket({ issuedAt: end - 10, expiresAt: end + HOUR, authenticatedAt: end - 10 }),
    );
  await store.issue(filler(2000), end - 10);
  const straggler = makeTicket({
    family: ticket.family,
    authenticatedAt: ticket.authenticatedAt,
    issuedAt: end - 10,
    expiresAt: end + HOUR,
  });
  await store.issue([straggler, ...filler(2000)], end - 10);
  assert.deepEqual(await store.find(straggler.id, end - 5), { status: "revoked" });
});
