import assert from "node:assert/strict";
import { fromUtf8, toBase64Url, toHex } from "../../lib/crypto/_bytes.ts";
import { sha256 } from "../../lib/crypto/sha256.ts";
import { KeyError, TicketError } from "../../lib/errors.ts";
import {
  KvTicketStore,
  type KvTicketStoreOptions,
  type TicketKv,
  type TicketKvAtomicOperation,
  type TicketKvKey,
} from "../../lib/resume/kv_ticket_store.ts";
import { MAX_TICKET_LIFETIME, type ServerTicket } from "../../lib/session/resumption.ts";
import {
  assertDead,
  binder,
  findLive,
  HOUR,
  makeTicket,
  successorOf,
  T0,
  ticketStoreContract,
} from "./ticket_store_contract.ts";
import { withKv } from "../_kv.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));

ticketStoreContract("KvTicketStore", async () => {
  const kv = await Deno.openKv(":memory:");
  return { store: new KvTicketStore(kv, { key: KEY }), close: () => kv.close() };
});

/** Runs `fn` with an in-memory KV, closed afterwards. */
/** Every entry of a KV database. */
async function dump(kv: Deno.Kv): Promise<Deno.KvEntry<unknown>[]> {
  return await Array.fromAsync(kv.list({ prefix: [] }));
}

type CommitResult = { readonly ok: true; readonly versionstamp: string } | { readonly ok: false };

/** An atomic operation that records what it was asked to do. */
class RecordedAtomic implements TicketKvAtomicOperation {
  readonly checks: { key: TicketKvKey; versionstamp: string | null }[] = [];
  readonly sets: { key: TicketKvKey; value: Uint8Array; expireIn: number | undefined }[] = [];
  readonly deletes: TicketKvKey[] = [];
  constructor(
    readonly inner: Deno.AtomicOperation,
    readonly onCommit: (op: RecordedAtomic) => Promise<CommitResult>,
  ) {}
  check(...checks: { readonly key: TicketKvKey; readonly versionstamp: string | null }[]): this {
    this.checks.push(...checks);
    this.inner.check(...checks);
    return this;
  }
  set(key: TicketKvKey, value: Uint8Array, options?: { readonly expireIn?: number }): this {
    this.sets.push({ key, value, expireIn: options?.expireIn });
    this.inner.set(key, value, options?.expireIn === undefined ? {} : { ...options });
    return this;
  }
  delete(key: TicketKvKey): this {
    this.deletes.push(key);
    this.inner.delete(key);
    return this;
  }
  commit(): Promise<CommitResult> {
    return this.onCommit(this);
  }
  /** Whether this commit redeems a ticket: it checks a record's versionstamp. */
  get redeems(): boolean {
    return this.checks.some((c) => c.key.at(-2) === "t");
  }
}

interface Hooks {
  get?: (key: TicketKvKey) => void;
  list?: () => Promise<void>;
  commit?: (op: RecordedAtomic, run: () => Promise<CommitResult>) => Promise<CommitResult>;
}

/** A KV handle over `kv` that lets a test fail, delay or watch its calls. */
function wrap(kv: Deno.Kv, hooks: Hooks): TicketKv & { readonly commits: RecordedAtomic[] } {
  const commits: RecordedAtomic[] = [];
  return {
    commits,
    get: (key) => {
      try {
        hooks.get?.(key);
      } catch (error) {
        return Promise.reject(error);
      }
      return kv.get(key);
    },
    list: (selector) =>
      hooks.list === undefined ? kv.list(selector) : (async function* () {
        await hooks.list!();
        yield* kv.list(selector);
      })(),
    atomic: () =>
      new RecordedAtomic(kv.atomic(), (op) => {
        commits.push(op);
        const run = () => op.inner.commit();
        return hooks.commit ? hooks.commit(op, run) : run();
      }),
  };
}

const locked = () => new TypeError("database is locked");

async function rejectsUnavailable(promise: Promise<unknown>, cause: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TicketError, `expected a TicketError, got ${error}`);
    assert.equal(error.code, "ticket_store_unavailable");
    assert.match(String((error.cause as Error)?.message), cause);
    for (const secret of [toHex(KEY), toBase64Url(KEY)]) assert.ok(!error.message.includes(secret));
    return true;
  });
}

Deno.test("KvTicketStore keys records by the hash of the id: a KV dump holds no id and no secret", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const tickets = Array.from({ length: 5 }, () => makeTicket());
    await store.issue(tickets, T0);
    const found = await findLive(store, tickets[0]!.id);
    const next = successorOf(tickets[0]!);
    assert.ok(await store.redeem(tickets[0]!.id, found, binder(1), next, T0));
    await store.revokeFamily(tickets[1]!.family, T0);

    const entries = await dump(kv);
    const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
    const haystack = entries.flatMap((entry) =>
      [...entry.key, entry.value].map((part) =>
        part instanceof Uint8Array ? latin1(part) : String(part)
      )
    ).join("\n");
    for (const ticket of [...tickets, next]) {
      for (const bytes of [ticket.id, ticket.secret]) {
        const base64 = btoa(latin1(bytes)).replace(/=+$/, "");
        for (const needle of [latin1(bytes), toHex(bytes), toBase64Url(bytes), base64]) {
          assert.ok(!haystack.includes(needle), "a ticket id or secret is in the KV dump");
        }
      }
    }
    // What is there instead: the hex SHA-256 of each id.
    const hashes = new Set(entries.filter((e) => e.key[2] === "t").map((e) => e.key[3]));
    for (const ticket of [tickets[0]!, ...tickets.slice(2), next]) {
      assert.ok(hashes.has(toHex(await sha256(ticket.id))));
    }
  });
});

Deno.test("KvTicketStore finds nothing with another store key, and redeems nothing", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const thief = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
    assert.deepEqual(await thief.find(ticket.id, T0), { status: "unknown" });
    assert.equal(await thief.redeem(ticket.id, found, binder(1), null, T0), false);
    await findLive(store, ticket.id);
  });
});

Deno.test("KvTicketStore finds a record moved to another id, tampered or malformed unknown", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const [a, b, c, d] = [makeTicket(), makeTicket(), makeTicket(), makeTicket()];
    await store.issue([a, b, c, d], T0);
    const key = async (t: ServerTicket) => ["tessera", "tickets", "t", toHex(await sha256(t.id))];
    // Moved: a's record under b's key.
    await kv.set(await key(b), (await kv.get(await key(a))).value);
    assert.deepEqual(await store.find(b.id, T0), { status: "unknown" });
    // Tampered: one bit of the sealed body flipped.
    const record = JSON.parse(fromUtf8((await kv.get<Uint8Array>(await key(c))).value!));
    const sealed = record.s as string;
    const flipped = sealed.slice(0, 20) + (sealed[20] === "A" ? "B" : "A") + sealed.slice(21);
    await kv.set(await key(c), new TextEncoder().encode(JSON.stringify({ ...record, s: flipped })));
    assert.deepEqual(await store.find(c.id, T0), { status: "unknown" });
    // Malformed: not a record at all.
    for (const value of ["text", new Uint8Array([1, 2, 3]), new TextEncoder().encode("{}")]) {
      await kv.set(await key(d), value);
      assert.deepEqual(await store.find(d.id, T0), { status: "unknown" });
    }
    await findLive(store, a.id);
  });
});

Deno.test("KvTicketStore writes only Uint8Array values, which Deno KV and npm:@deno/kv both read", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const tickets = [makeTicket(), makeTicket(), makeTicket()];
    await store.issue(tickets, T0);
    const found = await findLive(store, tickets[0]!.id);
    assert.ok(await store.redeem(tickets[0]!.id, found, binder(1), successorOf(tickets[0]!), T0));
    await store.revokeFamily(tickets[1]!.family, T0);
    await store.revokePeer(new TextEncoder().encode("dave"), T0);
    const entries = await dump(kv);
    assert.ok(entries.length >= 10);
    for (const entry of entries) {
      assert.ok(entry.value instanceof Uint8Array, `${entry.key.join("/")} holds a non-byte value`);
    }
  });
});

Deno.test("KvTicketStore lays out records, indexes and markers under its prefix with expireIn", async () => {
  await withKv(async (kv) => {
    const handle = wrap(kv, {});
    const prefix = ["app", 1];
    const store = new KvTicketStore(handle, { key: KEY, prefix });
    const ticket = makeTicket({ expiresAt: T0 + HOUR });
    await store.issue([ticket], T0);
    const idHash = toHex(await sha256(ticket.id));
    const family = toHex(ticket.family);
    const peer = toHex(await sha256(ticket.peerId));
    const sets = handle.commits.flatMap((op) => op.sets);
    assert.deepEqual(sets.map((s) => s.key), [
      [...prefix, "t", idHash],
      [...prefix, "family", family, idHash],
      [...prefix, "peer", peer, idHash],
    ]);
    for (const set of sets) assert.equal(set.expireIn, HOUR + 60_000);
    // A family capped by its 7 days expires with the cap.
    const capped = makeTicket({ authenticatedAt: T0 - MAX_TICKET_LIFETIME + 1000 });
    await store.issue([capped], T0);
    assert.equal(handle.commits.at(-1)!.sets[0]!.expireIn, 1000 + 60_000);

    await store.revokeFamily(ticket.family, T0);
    await store.revokePeer(ticket.peerId, T0 + 5);
    const markers = handle.commits.flatMap((op) => op.sets).filter((s) =>
      String(s.key[2]).startsWith("revoked")
    );
    assert.deepEqual(markers.map((s) => [s.key, fromUtf8(s.value)]), [
      [[...prefix, "revoked-family", family], String(T0)],
      [[...prefix, "revoked-peer", peer], String(T0 + 5)],
    ]);
    for (const marker of markers) assert.ok(marker.expireIn! >= MAX_TICKET_LIFETIME);
    // Nothing outside the prefix; the default prefix sees nothing of it.
    for (const entry of await dump(kv)) assert.deepEqual(entry.key.slice(0, 2), prefix);
    const other = new KvTicketStore(kv, { key: KEY });
    assert.deepEqual(await other.find(capped.id, T0), { status: "unknown" });
    // The revocation deleted the ticket with both its index entries.
    assert.equal((await kv.get([...prefix, "t", idHash])).versionstamp, null);
    assert.equal((await kv.get([...prefix, "family", family, idHash])).versionstamp, null);
    assert.equal((await kv.get([...prefix, "peer", peer, idHash])).versionstamp, null);
  });
});

Deno.test("KvTicketStore treats a revocation marker it cannot read as a revocation", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const peer = toHex(await sha256(ticket.peerId));
    await kv.set(["tessera", "tickets", "revoked-peer", peer], new Uint8Array([0xff]));
    assert.deepEqual(await store.find(ticket.id, T0), { status: "revoked" });
    await kv.set(["tessera", "tickets", "revoked-peer", peer], String(T0 - 5000)); // older: no effect
    await findLive(store, ticket.id);
  });
});

Deno.test("KvTicketStore lets exactly one of 1,000 concurrent redeems win on a KV file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-tickets-" });
  const kv = await Deno.openKv(`${dir}/tickets.sqlite`);
  try {
    const store = new KvTicketStore(kv, { key: KEY });
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    const successors = Array.from({ length: 1000 }, () => successorOf(ticket));
    const results = await Promise.all(
      successors.map((next, i) => store.redeem(ticket.id, found, binder(i), next, T0)),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    await findLive(store, successors[winner]!.id);
    assert.equal(
      (await Promise.all(successors.map((s) => store.find(s.id, T0))))
        .filter((f) => f.status !== "unknown").length,
      1,
    );
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvTicketStore retries a redeem commit that failed with 'database is locked'", async () => {
  await withKv(async (kv) => {
    let failures = 3;
    const handle = wrap(kv, {
      commit: (op, run) => op.redeems && failures-- > 0 ? Promise.reject(locked()) : run(),
    });
    const store = new KvTicketStore(handle, { key: KEY, retry: { attempts: 5, baseDelay: 1 } });
    const ticket = makeTicket();
    const next = successorOf(ticket);
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, found, binder(1), next, T0), true);
    assert.equal(handle.commits.filter((op) => op.redeems).length, 4);
    assert.equal(await store.redeem(ticket.id, found, binder(2), null, T0), false);
    await findLive(store, next.id);
  });
});

Deno.test("KvTicketStore recognises its own commit that landed although it reported 'database is locked'", async () => {
  await withKv(async (kv) => {
    // The worst case of a lock error: the write happened, the caller hears it did not.
    const handle = wrap(kv, {
      commit: async (op, run) => {
        const result = await run();
        if (op.redeems) throw locked();
        return result;
      },
    });
    const store = new KvTicketStore(handle, { key: KEY, retry: { attempts: 4, baseDelay: 1 } });
    const ticket = makeTicket();
    const next = successorOf(ticket);
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.equal(await store.redeem(ticket.id, found, binder(9), next, T0), true);
    assert.equal(handle.commits.filter((op) => op.redeems).length, 1, "no second commit");
    const after = await store.find(ticket.id, T0);
    assert.deepEqual(after.status === "redeemed" && after.ticket.redeemedWith, binder(9));
    await findLive(store, next.id);
    // Another caller holding the same found ticket, and the same binder, does not win.
    assert.equal(await store.redeem(ticket.id, found, binder(9), null, T0), false);
  });
});

Deno.test("KvTicketStore redeems exactly once among 200 concurrent calls through a KV that keeps locking", async () => {
  await withKv(async (kv) => {
    let n = 0;
    const handle = wrap(kv, {
      get: () => {
        if (++n % 7 === 0) throw locked();
      },
      commit: async (op, run) => {
        const k = ++n;
        if (k % 3 === 0) throw locked(); // failed before writing
        const result = await run();
        if (k % 3 === 1 && op.redeems) throw locked(); // written, reported as failed
        return result;
      },
    });
    const store = new KvTicketStore(handle, { key: KEY, retry: { attempts: 20, baseDelay: 1 } });
    for (let round = 0; round < 5; round++) {
      const ticket = makeTicket();
      await store.issue([ticket], T0);
      const found = await findLive(new KvTicketStore(kv, { key: KEY }), ticket.id);
      const successors = Array.from({ length: 200 }, () => successorOf(ticket));
      const results = await Promise.allSettled(
        successors.map((next, i) => store.redeem(ticket.id, found, binder(i), next, T0)),
      );
      const winners = results.flatMap((r, i) => r.status === "fulfilled" && r.value ? [i] : []);
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      const after = await new KvTicketStore(kv, { key: KEY }).find(ticket.id, T0);
      assert.deepEqual(
        after.status === "redeemed" && after.ticket.redeemedWith,
        binder(winners[0]!),
      );
      const live = await Promise.all(successors.map((s) => store.find(s.id, T0)));
      assert.deepEqual(live.flatMap((f, i) => f.status === "live" ? [i] : []), winners);
    }
  });
});

Deno.test("KvTicketStore gives ticket_store_unavailable when KV stays locked through every attempt", async () => {
  await withKv(async (kv) => {
    const good = new KvTicketStore(kv, { key: KEY });
    const ticket = makeTicket();
    await good.issue([ticket], T0);
    const found = await findLive(good, ticket.id);
    let gets = 0;
    let commits = 0;
    const handle = wrap(kv, {
      get: () => {
        gets++;
        throw locked();
      },
      commit: () => {
        commits++;
        return Promise.reject(locked());
      },
    });
    const store = new KvTicketStore(handle, { key: KEY, retry: { attempts: 3, baseDelay: 1 } });
    await rejectsUnavailable(store.find(ticket.id, T0), /database is locked/);
    assert.equal(gets, 3);
    await rejectsUnavailable(store.redeem(ticket.id, found, binder(1), null, T0), /locked/);
    await rejectsUnavailable(store.issue([makeTicket()], T0), /locked/);
    assert.equal(commits, 3);
    await rejectsUnavailable(store.revokeFamily(ticket.family, T0), /locked/);
    await rejectsUnavailable(store.revokePeer(ticket.peerId, T0), /locked/);
    await findLive(good, ticket.id); // nothing happened to it
  });
});

Deno.test("KvTicketStore does not retry an error that is not transient", async () => {
  await withKv(async (kv) => {
    let gets = 0;
    const handle = wrap(kv, {
      get: () => {
        gets++;
        throw new Error("connection reset by peer");
      },
    });
    const store = new KvTicketStore(handle, { key: KEY, retry: { attempts: 5, baseDelay: 1 } });
    await rejectsUnavailable(store.find(makeTicket().id, T0), /connection reset/);
    assert.equal(gets, 1);
  });
});

Deno.test("KvTicketStore refuses a redeem when a revocation marker lands between its read and its commit", async () => {
  for (const revoke of ["family", "peer"] as const) {
    await withKv(async (kv) => {
      const plain = new KvTicketStore(kv, { key: KEY });
      const ticket = makeTicket();
      const next = successorOf(ticket);
      await plain.issue([ticket], T0);
      const found = await findLive(plain, ticket.id);
      // The revocation writes its marker, then waits to list and delete until the redeem committed.
      let markerWritten!: () => void;
      const marker = new Promise<void>((resolve) => markerWritten = resolve);
      let releaseList!: () => void;
      const listing = new Promise<void>((resolve) => releaseList = resolve);
      const revoker = new KvTicketStore(
        wrap(kv, {
          list: () => listing,
          commit: async (_, run) => {
            const result = await run();
            markerWritten();
            return result;
          },
        }),
        { key: KEY },
      );
      let revocation: Promise<void> | undefined;
      const handle = wrap(kv, {
        commit: async (op, run) => {
          if (!op.redeems || revocation !== undefined) return run();
          revocation = revoke === "family"
            ? revoker.revokeFamily(ticket.family, T0)
            : revoker.revokePeer(ticket.peerId, T0);
          await marker;
          try {
            return await run(); // the record is still there: only the marker check stops this
          } finally {
            releaseList();
          }
        },
      });
      const store = new KvTicketStore(handle, { key: KEY });
      assert.equal(await store.redeem(ticket.id, found, binder(1), next, T0), false, revoke);
      await revocation;
      await assertDead(plain, next.id);
      await assertDead(plain, ticket.id);
    });
  }
});

Deno.test("KvTicketStore takes peer ids up to 1,024 bytes, too long for a KV key in hex", async () => {
  await withKv(async (kv) => {
    const store = new KvTicketStore(kv, { key: KEY });
    const peerId = new Uint8Array(1024).fill(0x61);
    const ticket = makeTicket({ peerId });
    await store.issue([ticket], T0);
    const found = await findLive(store, ticket.id);
    assert.deepEqual(found.peerId, peerId);
    await store.revokePeer(peerId, T0);
    await assertDead(store, ticket.id);
  });
});

Deno.test("KvTicketStore checks its KV handle, key, prefix and retry options", async () => {
  await withKv(async (kv) => {
    const make = (options: unknown, handle: unknown = kv) => () =>
      new KvTicketStore(handle as TicketKv, options as KvTicketStoreOptions);
    assert.throws(make({ key: KEY }, null), TypeError);
    assert.throws(make({ key: KEY }, {}), TypeError);
    assert.throws(make(undefined), TypeError);
    assert.throws(make({}), TypeError);
    assert.throws(make({ key: "secret" }), TypeError);
    assert.throws(make({ key: new Uint8Array(16) }), RangeError);
    const gcm = (length: number, usages: KeyUsage[]) =>
      crypto.subtle.generateKey({ name: "AES-GCM", length }, false, usages) as Promise<CryptoKey>;
    const unsupported = [
      await gcm(128, ["encrypt", "decrypt"]),
      await gcm(256, ["encrypt"]),
      await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
    ];
    for (const key of unsupported) {
      assert.throws(
        make({ key }),
        (e: unknown) => e instanceof KeyError && e.code === "key_unsupported",
      );
    }
    const key = await gcm(256, ["encrypt", "decrypt"]);
    const store = make({ key })();
    const ticket = makeTicket();
    await store.issue([ticket], T0);
    await findLive(store, ticket.id);
    assert.throws(make({ key: KEY, prefix: "tickets" }), TypeError);
    assert.throws(make({ key: KEY, prefix: [{}] }), TypeError);
    assert.throws(make({ key: KEY, retry: { attempts: 0 } }), RangeError);
    assert.throws(make({ key: KEY, retry: { attempts: 21 } }), RangeError);
    assert.throws(make({ key: KEY, retry: { baseDelay: -1 } }), RangeError);
  });
});
