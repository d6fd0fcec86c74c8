import assert from "node:assert/strict";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import {
  bufferPair,
  bytes,
  callbackPair,
  keyIdOf,
  rejectsWith,
  seqOf,
  shuffled,
  text,
} from "./_helpers.ts";

/** Wraps `count` messages `prefix0..`, calling rekey() before the indexes in `rekeyAt`. */
async function wrapWithRekeys(
  sender: SecureSession,
  prefix: string,
  count: number,
  rekeyAt: ReadonlySet<number>,
): Promise<Uint8Array[]> {
  const pending: Promise<Uint8Array>[] = [];
  for (let i = 0; i < count; i++) {
    if (rekeyAt.has(i)) sender.rekey();
    // Not awaited: records of the old key are still being sealed when the key changes.
    pending.push(sender.wrap(bytes(`${prefix}${i}`)));
  }
  return await Promise.all(pending);
}

/** Delivers `records` in a shuffled order and checks every one is accepted exactly once. */
async function deliverReordered(
  receiver: SecureSession,
  records: Uint8Array[],
  prefix: string,
  seed: number,
): Promise<void> {
  for (const i of shuffled(records.map((_, i) => i), seed)) {
    assert.equal(text(await receiver.unwrap(records[i]!)), `${prefix}${i}`);
  }
  for (const i of shuffled(records.map((_, i) => i), seed + 1)) {
    await rejectsWith(receiver.unwrap(records[i]!), "record_replayed");
  }
}

Deno.test("rekey() moves to a new key id and keeps counting sequence numbers", async () => {
  const { client, server } = await bufferPair();
  const before = await client.wrap(bytes("before"));
  client.rekey();
  const after = await client.wrap(bytes("after"));
  assert.notEqual(keyIdOf(before), keyIdOf(after));
  assert.equal(seqOf(before), 0n);
  assert.equal(seqOf(after), 1n);
  assert.equal(text(await server.unwrap(after)), "after");
  assert.equal(text(await server.unwrap(before)), "before");
});

Deno.test("rekey() under traffic in both directions: interleaved, reordered records are all accepted exactly once", async () => {
  const { client, server } = await bufferPair();
  const [fromClient, fromServer] = await Promise.all([
    wrapWithRekeys(client, "c", 60, new Set([5, 17, 18, 40])),
    wrapWithRekeys(server, "s", 60, new Set([1, 30, 59])),
  ]);
  assert.equal(new Set(fromClient.map(keyIdOf)).size, 5);
  assert.equal(new Set(fromServer.map(keyIdOf)).size, 4);
  assert.deepEqual(fromClient.map(seqOf), fromClient.map((_, i) => BigInt(i)));
  // Records of one key keep their key id even when rekey() ran while they were being sealed.
  assert.equal(keyIdOf(fromClient[4]!), keyIdOf(fromClient[0]!));
  assert.notEqual(keyIdOf(fromClient[5]!), keyIdOf(fromClient[4]!));
  await Promise.all([
    deliverReordered(server, fromClient, "c", 3),
    deliverReordered(client, fromServer, "s", 9),
  ]);
});

Deno.test("a receiver follows more key updates than it caches, in any order", async () => {
  // recordsPerKey 1: every record has its own key, far more than the receiver keeps.
  const { client, server } = await bufferPair({ recordsPerKey: 1 });
  const records = await wrapWithRekeys(client, "k", 20, new Set());
  assert.equal(new Set(records.map(keyIdOf)).size, 20);
  for (let i = records.length - 1; i >= 0; i--) {
    assert.equal(text(await server.unwrap(records[i]!)), `k${i}`);
  }
  for (const r of records) await rejectsWith(server.unwrap(r), "record_replayed");
});

Deno.test("automatic rekey with recordsPerKey 3 changes the key id every 3 records and the peer accepts all", async () => {
  const { client, server } = await bufferPair({ recordsPerKey: 3 }, { recordsPerKey: 3 });
  const records: Uint8Array[] = [];
  for (let i = 0; i < 10; i++) records.push(await client.wrap(bytes(`r${i}`)));
  const ids = records.map(keyIdOf);
  for (let i = 0; i < ids.length; i++) {
    if (i % 3 === 0) {
      if (i > 0) assert.notEqual(ids[i], ids[i - 1], `a new key id at record ${i}`);
    } else {
      assert.equal(ids[i], ids[i - 1], `the same key id at record ${i}`);
    }
  }
  assert.equal(new Set(ids).size, 4);
  await deliverReordered(server, records, "r", 11);
  // The other direction too, and through the callback path.
  const back: Uint8Array[] = [];
  for (let i = 0; i < 7; i++) back.push(await server.wrap(bytes(`b${i}`)));
  assert.equal(new Set(back.map(keyIdOf)).size, 3);
  for (let i = 0; i < 7; i++) assert.equal(text(await client.unwrap(back[i]!)), `b${i}`);
});

Deno.test("automatic rekey counts concurrent wraps: no key seals more than recordsPerKey records", async () => {
  const { client, server } = await bufferPair({ recordsPerKey: 3 });
  const records = await Promise.all(
    Array.from({ length: 30 }, (_, i) => client.wrap(bytes(`x${i}`))),
  );
  const perKey = new Map<string, number>();
  for (const r of records) perKey.set(keyIdOf(r), (perKey.get(keyIdOf(r)) ?? 0) + 1);
  assert.equal(perKey.size, 10);
  for (const count of perKey.values()) assert.equal(count, 3);
  await deliverReordered(server, records, "x", 2);
});

Deno.test("rekey() on the callback path keeps a stream in order", async () => {
  const { client, server } = await callbackPair({ recordsPerKey: 2 });
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 12; i++) {
    if (i === 5) client.rekey();
    sends.push(client.send(bytes(`s${i}`)));
  }
  await Promise.all(sends);
  for (let i = 0; i < 12; i++) assert.equal(text(await server.receive()), `s${i}`);
});
