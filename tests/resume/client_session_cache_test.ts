import assert from "node:assert/strict";
import { KeyError, SavedStateError } from "../../lib/errors.ts";
import { ClientSessionCache } from "../../lib/resume/client_session_cache.ts";
import type { ClientTicket } from "../../lib/session/resumption.ts";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

/** A valid ticket whose id is filled with `n`, so that tests can name tickets by number. */
function ticket(n: number, fields: Partial<ClientTicket> = {}): ClientTicket {
  return {
    id: new Uint8Array(16).fill(n),
    secret: new Uint8Array(32).fill(n),
    serverId: new TextEncoder().encode(`server ${n}`),
    serverKeyFingerprint: new Uint8Array(32).fill(255 - n),
    issuedAt: NOW,
    expiresAt: NOW + HOUR,
    ...fields,
  };
}

/** The number a ticket from `ticket(n)` carries, or null. */
function numberOf(taken: ClientTicket | null): number | null {
  return taken === null ? null : taken.id[0]!;
}

/** Takes every ticket of a namespace, newest first, and returns their numbers. */
function drain(cache: ClientSessionCache, namespace: string, now = NOW): number[] {
  const out: number[] = [];
  for (let t = cache.take(namespace, now); t !== null; t = cache.take(namespace, now)) {
    out.push(numberOf(t)!);
  }
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SavedStateError, `expected a SavedStateError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  });
}

const rawKey = crypto.getRandomValues(new Uint8Array(32));
const aesKey = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, [
  "encrypt",
  "decrypt",
]);

Deno.test("take() returns the newest ticket of a namespace first, then older ones, then null", () => {
  const cache = new ClientSessionCache();
  cache.add("api:443 api", [ticket(1), ticket(2)], NOW);
  cache.add("api:443 api", [ticket(3)], NOW);
  assert.deepEqual(drain(cache, "api:443 api"), [3, 2, 1]);
  assert.equal(cache.take("api:443 api", NOW), null);
  assert.equal(cache.size, 0);
});

Deno.test("take() hands each ticket out once, also to concurrent callers", async () => {
  const cache = new ClientSessionCache({ maxSize: 100 });
  cache.add("api:443 api", Array.from({ length: 50 }, (_, i) => ticket(i)), NOW);
  const taken = await Promise.all(
    Array.from({ length: 80 }, async () => {
      await Promise.resolve();
      return numberOf(await cache.take("api:443 api", NOW));
    }),
  );
  const got = taken.filter((n) => n !== null);
  assert.equal(got.length, 50);
  assert.equal(new Set(got).size, 50, "a ticket was handed out twice");
  assert.equal(taken.filter((n) => n === null).length, 30);
});

Deno.test("two concurrent takes of a namespace holding one ticket: one gets it, the other null", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1)], NOW);
  const [x, y] = await Promise.all([
    Promise.resolve().then(() => cache.take("a", NOW)),
    Promise.resolve().then(() => cache.take("a", NOW)),
  ]);
  assert.deepEqual([numberOf(x), numberOf(y)].sort(), [1, null]);
});

Deno.test("a ticket added twice is still handed out once", () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("a", [ticket(1)], NOW);
  assert.equal(cache.size, 2);
  assert.deepEqual(drain(cache, "a"), [1, 2]); // the second add made it the newest
});

Deno.test("namespaces are kept apart: a ticket added under one is never taken under another", () => {
  const cache = new ClientSessionCache();
  cache.add("host:443 alpha", [ticket(1)], NOW);
  cache.add("host:443 beta", [ticket(2)], NOW);
  cache.add("other:443 alpha", [ticket(3)], NOW);
  assert.equal(cache.take("host:443", NOW), null);
  assert.equal(cache.take("host:443 gamma", NOW), null);
  assert.deepEqual(drain(cache, "host:443 beta"), [2]);
  assert.deepEqual(drain(cache, "host:443 alpha"), [1]);
  assert.deepEqual(drain(cache, "other:443 alpha"), [3]);
});

Deno.test("add() beyond maxSize evicts the oldest ticket of the least recently used namespace", () => {
  const cache = new ClientSessionCache({ maxSize: 4 });
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("b", [ticket(3)], NOW);
  cache.add("c", [ticket(4)], NOW);
  // Order, least to most recently used: a[1, 2], b[3], c[4].
  cache.add("c", [ticket(5)], NOW); // evicts 1, the oldest of "a"
  assert.equal(cache.size, 4);
  cache.add("d", [ticket(6)], NOW); // evicts 2: "a" empties and is forgotten
  cache.add("d", [ticket(7)], NOW); // evicts 3: "b" is now the least recently used
  assert.equal(cache.size, 4);
  assert.deepEqual(drain(cache, "a"), []);
  assert.deepEqual(drain(cache, "b"), []);
  assert.deepEqual(drain(cache, "c"), [5, 4]);
  assert.deepEqual(drain(cache, "d"), [7, 6]);
});

Deno.test("adding to a namespace makes it the most recently used", () => {
  const cache = new ClientSessionCache({ maxSize: 3 });
  cache.add("a", [ticket(1)], NOW);
  cache.add("b", [ticket(2)], NOW);
  cache.add("a", [ticket(3)], NOW); // order: b[2], a[1, 3]
  cache.add("c", [ticket(4)], NOW); // evicts 2
  assert.deepEqual(drain(cache, "b"), []);
  assert.deepEqual(drain(cache, "a"), [3, 1]);
  assert.deepEqual(drain(cache, "c"), [4]);
});

Deno.test("take() of a ticket makes its namespace the most recently used", () => {
  const cache = new ClientSessionCache({ maxSize: 4 });
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("b", [ticket(3)], NOW);
  assert.equal(numberOf(cache.take("a", NOW)), 2); // order: b[3], a[1]
  cache.add("c", [ticket(4), ticket(5)], NOW); // 4 tickets: nothing evicted yet
  assert.equal(cache.size, 4);
  cache.add("c", [ticket(6)], NOW); // evicts 3, not 1
  assert.deepEqual(drain(cache, "b"), []);
  assert.deepEqual(drain(cache, "a"), [1]);
});

Deno.test("a take() that finds nothing does not refresh its namespace", () => {
  const cache = new ClientSessionCache({ maxSize: 2 });
  cache.add("a", [ticket(1)], NOW);
  cache.add("b", [ticket(2)], NOW);
  assert.equal(cache.take("c", NOW), null);
  cache.add("c", [ticket(3)], NOW); // evicts 1: "a" is still the least recently used
  assert.deepEqual(drain(cache, "a"), []);
  assert.deepEqual(drain(cache, "b"), [2]);
});

Deno.test("one add() of more than maxSize tickets keeps only its newest", () => {
  const cache = new ClientSessionCache({ maxSize: 3 });
  cache.add("old", [ticket(9)], NOW);
  cache.add("a", [1, 2, 3, 4, 5].map((n) => ticket(n)), NOW);
  assert.equal(cache.size, 3);
  assert.deepEqual(drain(cache, "old"), []);
  assert.deepEqual(drain(cache, "a"), [5, 4, 3]);
});

Deno.test("add() at maxSize drops expired tickets before it evicts live ones", () => {
  const cache = new ClientSessionCache({ maxSize: 3 });
  cache.add("a", [ticket(1)], NOW);
  cache.add("b", [ticket(2, { expiresAt: NOW + 10 })], NOW);
  cache.add("c", [ticket(3)], NOW);
  cache.add("d", [ticket(4)], NOW + 10); // 2 has expired: dropped, and 1 stays
  assert.equal(cache.size, 3);
  assert.deepEqual(drain(cache, "a", NOW + 10), [1]);
  assert.deepEqual(drain(cache, "b", NOW + 10), []);
});

Deno.test("a ticket is never returned once ttl has passed since it was added, and is dropped", () => {
  const cache = new ClientSessionCache({ ttl: 1000 });
  cache.add("a", [ticket(1), ticket(2)], NOW + 500); // issued at NOW, added 500 ms later
  assert.equal(numberOf(cache.take("a", NOW + 1499)), 2);
  assert.equal(cache.take("a", NOW + 1500), null);
  assert.equal(cache.size, 0);
});

Deno.test("a ticket is never returned at or after its own expiresAt, and is dropped", () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1, { expiresAt: NOW + 2000 }), ticket(2, { expiresAt: NOW + 1000 })], NOW);
  assert.equal(cache.size, 2);
  // The newest (2) has expired: take() skips it and returns the older live one.
  assert.equal(numberOf(cache.take("a", NOW + 1000)), 1);
  assert.equal(cache.size, 0);
  cache.add("b", [ticket(3, { expiresAt: NOW + 1000 })], NOW);
  assert.equal(cache.take("b", NOW + 1000), null);
  assert.equal(cache.size, 0);
});

Deno.test("add() does not keep tickets that are already expired", () => {
  const cache = new ClientSessionCache({ maxSize: 2 });
  cache.add("a", [ticket(1)], NOW);
  cache.add("b", [ticket(2, { expiresAt: NOW + 5 })], NOW + 5);
  assert.equal(cache.size, 1);
  cache.add("c", [ticket(3)], NOW); // "a" is still the least recently used: nothing evicted
  assert.deepEqual(drain(cache, "a"), [1]);
});

Deno.test("add() rejects malformed tickets with TypeError or RangeError and keeps none of the batch", () => {
  const cache = new ClientSessionCache();
  const bad: [Partial<Record<keyof ClientTicket, unknown>>, ErrorConstructor][] = [
    [{ id: new Uint8Array(15) }, RangeError],
    [{ id: new Uint8Array(65) }, RangeError],
    [{ id: [...new Uint8Array(16)] }, TypeError],
    [{ secret: new Uint8Array(31) }, RangeError],
    [{ secret: new Uint8Array(33) }, RangeError],
    [{ secret: "x".repeat(32) }, TypeError],
    [{ serverKeyFingerprint: new Uint8Array(16) }, RangeError],
    [{ serverId: new Uint8Array(0) }, RangeError],
    [{ serverId: new Uint8Array(1025) }, RangeError],
    [{ serverId: "api" }, TypeError],
    [{ expiresAt: NOW }, RangeError],
    [{ expiresAt: NOW - 1 }, RangeError],
    [{ issuedAt: -1 }, RangeError],
    [{ issuedAt: NOW + 0.5 }, RangeError],
    [{ expiresAt: Number.POSITIVE_INFINITY }, RangeError],
    [{ expiresAt: `${NOW + HOUR}` }, TypeError],
  ];
  for (const [fields, type] of bad) {
    const broken = { ...ticket(2), ...fields } as unknown as ClientTicket;
    assert.throws(() => cache.add("a", [ticket(1), broken], NOW), type, JSON.stringify(fields));
  }
  assert.throws(() => cache.add("a", [null as unknown as ClientTicket], NOW), TypeError);
  assert.throws(() => cache.add("a", ticket(1) as unknown as ClientTicket[], NOW), TypeError);
  assert.equal(cache.size, 0);
  // The bounds themselves are accepted.
  cache.add("a", [ticket(1, { id: new Uint8Array(64), serverId: new Uint8Array(1024) })], NOW);
  cache.add("a", [ticket(2, { serverId: new Uint8Array(1) })], NOW);
  assert.equal(cache.size, 2);
});

Deno.test("add() and take() reject bad namespaces and times", () => {
  const cache = new ClientSessionCache();
  assert.throws(() => cache.add("", [ticket(1)], NOW), RangeError);
  assert.throws(() => cache.add("x".repeat(4097), [ticket(1)], NOW), RangeError);
  assert.throws(() => cache.add("\ud800", [ticket(1)], NOW), TypeError);
  assert.throws(() => cache.add(1 as unknown as string, [ticket(1)], NOW), TypeError);
  assert.throws(() => cache.add("a", [ticket(1)], Number.NaN), RangeError);
  assert.throws(() => cache.take("a", -1), RangeError);
  assert.throws(() => cache.take("a", "now" as unknown as number), TypeError);
  assert.throws(() => cache.clear(1 as unknown as string), TypeError);
  cache.add("x".repeat(4096), [ticket(1)], NOW);
  assert.equal(cache.size, 1);
});

Deno.test("options out of range throw RangeError, of the wrong type TypeError", () => {
  for (const maxSize of [0, -1, 10_001, 1.5, Number.NaN]) {
    assert.throws(() => new ClientSessionCache({ maxSize }), RangeError, `maxSize ${maxSize}`);
  }
  for (const ttl of [0, 7 * 24 * HOUR + 1, 0.5]) {
    assert.throws(() => new ClientSessionCache({ ttl }), RangeError, `ttl ${ttl}`);
  }
  assert.throws(() => new ClientSessionCache({ maxSize: "10" as unknown as number }), TypeError);
  assert.throws(() => new ClientSessionCache(null as unknown as object), TypeError);
  const cache = new ClientSessionCache({ maxSize: 10_000, ttl: 7 * 24 * HOUR });
  assert.equal(cache.maxSize, 10_000);
  assert.equal(cache.ttl, 7 * 24 * HOUR);
  assert.equal(new ClientSessionCache().maxSize, 10);
  assert.equal(new ClientSessionCache().ttl, 24 * HOUR);
});

Deno.test("add() copies the bytes: the caller's arrays and the cache's never alias", () => {
  const cache = new ClientSessionCache();
  const given = ticket(1);
  cache.add("a", [given], NOW);
  given.id.fill(0xee);
  given.secret.fill(0xee);
  given.serverId.fill(0xee);
  given.serverKeyFingerprint.fill(0xee);
  const taken = cache.take("a", NOW)!;
  assert.deepEqual(taken, ticket(1));
  for (const field of ["id", "secret", "serverId", "serverKeyFingerprint"] as const) {
    assert.notEqual(taken[field], given[field]);
    assert.notEqual(taken[field].buffer, given[field].buffer);
  }
});

Deno.test("add() copies only the view it is given, not the whole underlying buffer", () => {
  const cache = new ClientSessionCache();
  const backing = new Uint8Array(100).fill(7);
  cache.add("a", [ticket(1, { secret: backing.subarray(10, 42) })], NOW);
  const taken = cache.take("a", NOW)!;
  assert.equal(taken.secret.length, 32);
  assert.equal(taken.secret.buffer.byteLength, 32);
});

Deno.test("clear(namespace) forgets one namespace and clear() every one", () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("b", [ticket(3)], NOW);
  cache.clear("missing");
  assert.equal(cache.size, 3);
  cache.clear("a");
  assert.equal(cache.size, 1);
  assert.equal(cache.take("a", NOW), null);
  cache.add("a", [ticket(4)], NOW);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.take("a", NOW), null);
  assert.equal(cache.take("b", NOW), null);
});

Deno.test("export() and import() round-trip the tickets, their order and the eviction order", async () => {
  const build = () => {
    const cache = new ClientSessionCache({ maxSize: 5, ttl: 2 * HOUR });
    cache.add("a", [ticket(1), ticket(2, { id: new Uint8Array(64).fill(2) })], NOW);
    cache.add("b", [ticket(3, { serverId: new Uint8Array(1024).fill(3) })], NOW + 1);
    cache.add("Zürich:443 ☃", [ticket(4), ticket(5)], NOW + 2);
    cache.take("a", NOW + 3); // takes 2; order now b[3], Zürich[4, 5], a[1]
    return cache;
  };
  for (const key of [rawKey, aesKey]) {
    const original = build();
    const sealed = await original.export(key, NOW + 4);
    assert.equal(original.size, 4, "export() leaves the cache as it was");
    const restored = await ClientSessionCache.import(sealed, key, { maxSize: 5, ttl: 2 * HOUR });
    assert.equal(restored.size, 4);
    // The same eviction order: three more tickets evict 3, then 4.
    for (const cache of [original, restored]) {
      cache.add("c", [ticket(6), ticket(7), ticket(8)], NOW + 5);
      assert.equal(cache.size, 5);
    }
    const reference = build();
    for (const cache of [original, restored]) {
      assert.deepEqual(drain(cache, "b", NOW + 5), []);
      assert.deepEqual(drain(cache, "Zürich:443 ☃", NOW + 5), [5]);
      assert.deepEqual(drain(cache, "c", NOW + 5), [8, 7, 6]);
    }
    // Same ticket contents.
    const fromRestored = restored.take("a", NOW + 5);
    assert.deepEqual(fromRestored, original.take("a", NOW + 5));
    assert.deepEqual(fromRestored, reference.take("a", NOW + 5));
    assert.equal(restored.size, 0);
  }
});

Deno.test("an imported cache keeps each ticket's ttl from when it was first added", async () => {
  const cache = new ClientSessionCache({ ttl: 1000 });
  cache.add("a", [ticket(1)], NOW);
  const sealed = await cache.export(rawKey, NOW + 10);
  const restored = await ClientSessionCache.import(sealed, rawKey, { ttl: 1000 });
  assert.equal(restored.take("a", NOW + 1000), null);
  const again = await ClientSessionCache.import(sealed, rawKey, { ttl: 1000 });
  assert.equal(numberOf(again.take("a", NOW + 999)), 1);
});

Deno.test("export() leaves out expired tickets", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1), ticket(2, { expiresAt: NOW + 10 })], NOW);
  cache.add("b", [ticket(3, { expiresAt: NOW + 10 })], NOW);
  const restored = await ClientSessionCache.import(await cache.export(rawKey, NOW + 10), rawKey);
  assert.equal(restored.size, 1);
  assert.deepEqual(drain(restored, "a", NOW), [1]);
});

Deno.test("import() into a smaller cache keeps the most recently used tickets", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("b", [ticket(3)], NOW);
  const restored = await ClientSessionCache.import(await cache.export(rawKey, NOW), rawKey, {
    maxSize: 2,
  });
  assert.equal(restored.size, 2);
  assert.deepEqual(drain(restored, "a"), [2]);
  assert.deepEqual(drain(restored, "b"), [3]);
});

Deno.test("an empty cache exports and imports as an empty cache", async () => {
  const restored = await ClientSessionCache.import(
    await new ClientSessionCache().export(aesKey, NOW),
    aesKey,
  );
  assert.equal(restored.size, 0);
});

Deno.test("two exports of the same cache differ (a fresh nonce each time)", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1)], NOW);
  assert.notDeepEqual(await cache.export(rawKey, NOW), await cache.export(rawKey, NOW));
});

Deno.test("import() with a wrong key fails with state_auth_failed", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1)], NOW);
  const sealed = await cache.export(rawKey, NOW);
  await rejectsWith(
    ClientSessionCache.import(sealed, crypto.getRandomValues(new Uint8Array(32))),
    "state_auth_failed",
  );
  const otherAes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  await rejectsWith(ClientSessionCache.import(sealed, otherAes), "state_auth_failed");
});

Deno.test("import() refuses an export with any one byte flipped", async () => {
  const cache = new ClientSessionCache();
  cache.add("api:443 api", [ticket(1), ticket(2)], NOW);
  cache.add("db:5432 db", [ticket(3)], NOW);
  const sealed = await cache.export(aesKey, NOW);
  for (let i = 0; i < sealed.length; i++) {
    const flipped = sealed.slice();
    flipped[i]! ^= 0x01;
    // Magic and length: not an export; version: another format; nonce, ciphertext, tag: auth.
    const code = i === 3
      ? "state_unsupported_version"
      : i < 8
      ? "state_malformed"
      : "state_auth_failed";
    await rejectsWith(ClientSessionCache.import(flipped, aesKey), code);
  }
});

Deno.test("import() refuses a truncated or extended export with state_malformed", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1)], NOW);
  const sealed = await cache.export(aesKey, NOW);
  for (let length = 0; length < sealed.length; length++) {
    await rejectsWith(
      ClientSessionCache.import(sealed.subarray(0, length), aesKey),
      "state_malformed",
    );
  }
  const extended = new Uint8Array(sealed.length + 1);
  extended.set(sealed);
  await rejectsWith(ClientSessionCache.import(extended, aesKey), "state_malformed");
});

Deno.test("import() refuses another format version with state_unsupported_version", async () => {
  const sealed = await new ClientSessionCache().export(aesKey, NOW);
  for (const version of [0, 2, 255]) {
    const other = sealed.slice();
    other[3] = version;
    await rejectsWith(ClientSessionCache.import(other, aesKey), "state_unsupported_version");
  }
});

Deno.test("import() refuses garbage and oversized input as state_malformed", async () => {
  const garbage = new TextEncoder().encode("this is not an export of a client session cache");
  await rejectsWith(ClientSessionCache.import(garbage, aesKey), "state_malformed");
  // A valid header that announces its own length, far beyond any possible export.
  const huge = new Uint8Array(60_000_000);
  huge.set([0x54, 0x53, 0x43, 0x01]);
  new DataView(huge.buffer).setUint32(4, huge.length);
  await rejectsWith(ClientSessionCache.import(huge, aesKey), "state_malformed");
});

Deno.test("import() reports misuse of its arguments as TypeError, RangeError or KeyError", async () => {
  const sealed = await new ClientSessionCache().export(aesKey, NOW);
  await assert.rejects(ClientSessionCache.import(sealed, new Uint8Array(16)), RangeError);
  await assert.rejects(
    ClientSessionCache.import([...sealed] as unknown as Uint8Array, aesKey),
    TypeError,
  );
  await assert.rejects(ClientSessionCache.import(sealed, aesKey, { maxSize: 0 }), RangeError);
  const hmacKey = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  await assert.rejects(ClientSessionCache.import(sealed, hmacKey), (err: unknown) => {
    assert.ok(err instanceof KeyError);
    assert.equal(err.code, "key_unsupported");
    return true;
  });
  await assert.rejects(new ClientSessionCache().export(new Uint8Array(31), NOW), RangeError);
  await assert.rejects(new ClientSessionCache().export(rawKey, -1), RangeError);
});

Deno.test("errors of export() and import() never contain key or secret bytes", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1)], NOW);
  const sealed = await cache.export(rawKey, NOW);
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  const forbidden = [hex(rawKey), rawKey.join(","), hex(ticket(1).secret)];
  const wrongKey = new Uint8Array(32).fill(0xab);
  const failures = await Promise.all([
    ClientSessionCache.import(sealed, wrongKey).catch((e: unknown) => e),
    ClientSessionCache.import(sealed.subarray(0, 30), rawKey).catch((e: unknown) => e),
    ClientSessionCache.import(sealed, new Uint8Array(31)).catch((e: unknown) => e),
  ]);
  for (const err of failures) {
    assert.ok(err instanceof Error);
    const text = `${err.message} ${String(err.cause ?? "")}`;
    for (const f of [...forbidden, hex(wrongKey)]) assert.ok(!text.includes(f), err.message);
  }
});

/** Seals `inner` as an export would, so that tests can write authenticated content by hand. */
async function seal(inner: Uint8Array<ArrayBuffer>, version = 1): Promise<Uint8Array> {
  const total = 8 + 12 + inner.length + 16;
  const header = new Uint8Array([0x54, 0x53, 0x43, version, 0, 0, 0, 0]);
  new DataView(header.buffer).setUint32(4, total);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const params = { name: "AES-GCM", iv: nonce, additionalData: header };
  const sealed = new Uint8Array(await crypto.subtle.encrypt(params, aesKey, inner));
  const out = new Uint8Array(total);
  out.set(header);
  out.set(nonce, 8);
  out.set(sealed, 20);
  return out;
}

/** Big-endian bytes of `value` in `length` bytes. */
function be(value: number | bigint, length: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  for (let i = 0; i < length; i++) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** The inner record of `ticket(n)` as format version 1 writes it, added at `addedAt`. */
function ticketRecord(n: number, addedAt = NOW, fields: Partial<ClientTicket> = {}): number[] {
  const t = ticket(n, fields);
  return [
    t.id.length,
    ...t.id,
    ...t.secret,
    ...be(t.serverId.length, 2),
    ...t.serverId,
    ...t.serverKeyFingerprint,
    ...be(t.issuedAt, 8),
    ...be(t.expiresAt, 8),
    ...be(addedAt, 8),
  ];
}

function namespaceRecord(name: string, tickets: number[][]): number[] {
  const bytes = new TextEncoder().encode(name);
  return [...be(bytes.length, 2), ...bytes, ...be(tickets.length, 4), ...tickets.flat()];
}

Deno.test("export() writes format version 1: header, nonce, then the sealed namespaces in order", async () => {
  const cache = new ClientSessionCache();
  cache.add("a", [ticket(1), ticket(2)], NOW);
  cache.add("b", [ticket(3)], NOW + 1);
  const sealed = await cache.export(aesKey, NOW + 2);
  assert.deepEqual([...sealed.subarray(0, 4)], [0x54, 0x53, 0x43, 0x01]);
  assert.deepEqual([...sealed.subarray(4, 8)], be(sealed.length, 4));
  const params = {
    name: "AES-GCM",
    iv: sealed.subarray(8, 20),
    additionalData: sealed.subarray(0, 8),
  };
  const inner = new Uint8Array(
    await crypto.subtle.decrypt(params, aesKey, new Uint8Array(sealed.subarray(20))),
  );
  const expected = [
    ...be(2, 4),
    ...namespaceRecord("a", [ticketRecord(1), ticketRecord(2)]),
    ...namespaceRecord("b", [ticketRecord(3, NOW + 1)]),
  ];
  assert.deepEqual([...inner], expected);
  // And a hand-written export of the same content imports as that cache.
  const restored = await ClientSessionCache.import(await seal(new Uint8Array(expected)), aesKey);
  assert.deepEqual(drain(restored, "a", NOW + 2), [2, 1]);
  assert.deepEqual(drain(restored, "b", NOW + 2), [3]);
});

Deno.test("import() refuses authenticated content that breaks the format with state_malformed", async () => {
  const good = ticketRecord(1);
  const cases: Record<string, number[]> = {
    "empty content": [],
    "trailing byte": [...be(1, 4), ...namespaceRecord("a", [good]), 0],
    "missing namespace": [...be(2, 4), ...namespaceRecord("a", [good])],
    "namespace without tickets": [...be(1, 4), ...namespaceRecord("a", [])],
    "empty namespace": [...be(1, 4), ...namespaceRecord("", [good])],
    "namespace not UTF-8": [...be(1, 4), 0, 1, 0xff, ...be(1, 4), ...good],
    "namespace twice": [
      ...be(2, 4),
      ...namespaceRecord("a", [good]),
      ...namespaceRecord("a", [good]),
    ],
    "short id": [...be(1, 4), ...namespaceRecord("a", [[15, ...good.slice(17)]])],
    "empty server id": [
      ...be(1, 4),
      ...namespaceRecord("a", [ticketRecord(1, NOW, { serverId: new Uint8Array(0) })]),
    ],
    "expiry before issue": [
      ...be(1, 4),
      ...namespaceRecord("a", [ticketRecord(1, NOW, { expiresAt: NOW - 1 })]),
    ],
    "time beyond 2^53": [
      ...be(1, 4),
      ...namespaceRecord("a", [[...good.slice(0, -8), ...be(2n ** 53n, 8)]]),
    ],
    "truncated ticket": [...be(1, 4), ...namespaceRecord("a", [good.slice(0, -1)])],
    "more than 10,000 tickets": [...be(1, 4), ...be(1, 2), 0x61, ...be(10_001, 4)],
  };
  for (const [name, inner] of Object.entries(cases)) {
    await assert.rejects(ClientSessionCache.import(await seal(new Uint8Array(inner)), aesKey), {
      code: "state_malformed",
    }, name);
  }
  await rejectsWith(
    ClientSessionCache.import(await seal(new Uint8Array(be(0, 4)), 2), aesKey),
    "state_unsupported_version",
  );
});
