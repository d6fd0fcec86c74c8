import assert from "node:assert/strict";
import { concat, u32, u64 } from "../../lib/crypto/_bytes.ts";
import { aesGcmEncrypt } from "../../lib/crypto/aes_gcm.ts";
import { deriveEpochKeys, nextTrafficSecret } from "../../lib/session/_tessera1_schedule.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { Tessera1Channel } from "../../lib/session/tessera1_channel.ts";
import { channelConfig, channelPair } from "./_channels.ts";
import {
  bufferPair,
  bytes,
  callbackPair,
  epochOf,
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
    // Not awaited: records of the old epoch are still being sealed when the epoch changes.
    pending.push(sender.wrap(bytes(`${prefix}${i}`)));
  }
  return await Promise.all(pending);
}

/** Delivers records epoch by epoch, each epoch's records shuffled, and checks each once. */
async function deliverReordered(
  receiver: SecureSession,
  records: Uint8Array[],
  prefix: string,
  seed: number,
): Promise<void> {
  const indexes = records.map((_, i) => i);
  const epochs = [...new Set(records.map(epochOf))];
  for (const epoch of epochs) {
    const mine = indexes.filter((i) => epochOf(records[i]!) === epoch);
    for (const i of shuffled(mine, seed + epoch)) {
      assert.equal(text(await receiver.unwrap(records[i]!)), `${prefix}${i}`);
    }
  }
  for (const i of shuffled(indexes, seed + 100)) {
    await assert.rejects(receiver.unwrap(records[i]!), (err: { code?: string }) => {
      assert.ok(err.code === "record_replayed" || err.code === "record_too_old", err.code);
      return true;
    });
  }
}

/** Counts key derivations (HKDF deriveBits and deriveKey) while `fn` runs. */
async function countDerivations(fn: () => Promise<void>): Promise<number> {
  const subtle = crypto.subtle;
  const deriveBits = subtle.deriveBits;
  const deriveKey = subtle.deriveKey;
  let count = 0;
  subtle.deriveBits = function (...args: Parameters<typeof deriveBits>) {
    count++;
    return deriveBits.apply(this, args);
  };
  subtle.deriveKey = function (...args: Parameters<typeof deriveKey>) {
    count++;
    return deriveKey.apply(this, args);
  };
  try {
    await fn();
  } finally {
    subtle.deriveBits = deriveBits;
    subtle.deriveKey = deriveKey;
  }
  return count;
}

/** A record sealed with epoch keys the test derived itself: what a key thief can make. */
async function forge(
  secret: Uint8Array,
  epoch: number,
  seq: bigint,
  data: Uint8Array,
): Promise<Uint8Array> {
  const { key, iv } = await deriveEpochKeys(secret);
  const header = concat(new Uint8Array([0x17, 0]), u32(epoch), u64(seq));
  const nonce = iv.slice();
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= header[6 + i]!;
  return concat(
    header,
    await aesGcmEncrypt(key, nonce, concat(data, new Uint8Array([0x17])), header),
  );
}

Deno.test("rekey() moves to the next epoch before the next record and keeps counting sequence numbers", async () => {
  const { client, server } = await bufferPair();
  const before = await client.wrap(bytes("before"));
  client.rekey();
  client.rekey(); // two calls before a record are one update
  const after = await client.wrap(bytes("after"));
  assert.equal(epochOf(before), 0);
  assert.equal(epochOf(after), 1);
  assert.equal(seqOf(before), 0n);
  assert.equal(seqOf(after), 1n);
  assert.equal(text(await server.unwrap(after)), "after");
  // The previous epoch is kept for reordered datagrams while it can still be in the window.
  assert.equal(text(await server.unwrap(before)), "before");
});

Deno.test("rekey() under traffic in both directions: records of each epoch, reordered, are all accepted once", async () => {
  const { client, server } = await bufferPair();
  const [fromClient, fromServer] = await Promise.all([
    wrapWithRekeys(client, "c", 60, new Set([5, 17, 18, 40])),
    wrapWithRekeys(server, "s", 60, new Set([1, 30, 59])),
  ]);
  assert.deepEqual([...new Set(fromClient.map(epochOf))], [0, 1, 2, 3, 4]);
  assert.deepEqual([...new Set(fromServer.map(epochOf))], [0, 1, 2, 3]);
  assert.deepEqual(fromClient.map(seqOf), fromClient.map((_, i) => BigInt(i)));
  // Records keep the epoch they were started in even when rekey() ran while they were sealed.
  assert.equal(epochOf(fromClient[4]!), 0);
  assert.equal(epochOf(fromClient[5]!), 1);
  await Promise.all([
    deliverReordered(server, fromClient, "c", 3),
    deliverReordered(client, fromServer, "s", 9),
  ]);
});

Deno.test("a datagram receiver accepts the previous epoch only while it can still be in the window", async () => {
  const { sender, receiver } = channelPair();
  const old = await sender.seal(bytes("old"));
  sender.rekey();
  const fresh: Uint8Array[] = [];
  for (let i = 0; i < 130; i++) fresh.push(await sender.seal(bytes(`n${i}`)));
  await receiver.open(fresh[0]!, false);
  // Grace: epoch 0 is still held, and its record is below the first of epoch 1.
  assert.equal(text((await receiver.open(old, false)).data), "old");
  for (const r of fresh.slice(1)) await receiver.open(r, false);
  // 129 records later the window has moved past epoch 1's start: epoch 0 is erased.
  const late = await forge(new Uint8Array(32).fill(1), 0, 0n, bytes("late"));
  await rejectsWith(receiver.open(late, false), "record_too_old");
});

Deno.test("a record key leaked before two updates no longer opens or forges anything", async () => {
  const { sender, receiver } = channelPair();
  const leaked = new Uint8Array(32).fill(1); // the sender's ts_0, as a thief would have it
  for (let epoch = 0; epoch < 3; epoch++) {
    if (epoch > 0) sender.rekey();
    await receiver.open(await sender.seal(bytes(`e${epoch}`)), true);
  }
  assert.equal(receiver.receiveEpoch, 2);
  // A forgery under epoch 0 with a fresh sequence number is refused without decryption.
  await rejectsWith(
    receiver.open(await forge(leaked, 0, 10n, bytes("evil")), false),
    "record_too_old",
  );
  // Under epoch 1 (what a thief could derive forward from ts_0 by the public update rule): on a
  // stream the previous epoch is erased at once.
  const ts1 = await nextTrafficSecret(leaked, 1);
  const { receiver: datagram, sender: other } = channelPair();
  for (let epoch = 0; epoch < 3; epoch++) {
    if (epoch > 0) other.rekey();
    await datagram.open(await other.seal(bytes(`e${epoch}`)), false);
  }
  // In datagram use epoch 1 is still in its grace, but only below epoch 2's first number.
  await rejectsWith(
    datagram.open(await forge(ts1, 1, 20n, bytes("evil")), false),
    "record_malformed",
  );
});

Deno.test("the update ratchet erases: the receiver's saved state does not open records of earlier epochs", async () => {
  const { client, server } = await bufferPair();
  const early = await client.wrap(bytes("early"));
  assert.equal(text(await server.unwrap(early)), "early");
  const captured = await client.wrap(bytes("captured")); // seen on the wire, not delivered
  client.rekey();
  await server.unwrap(await client.wrap(bytes("e1")));
  client.rekey();
  await server.unwrap(await client.wrap(bytes("e2")));
  const key = crypto.getRandomValues(new Uint8Array(32));
  const restored = await (await import("../../lib/session/secure_session.ts")).SecureSession
    .restore(await server.save(key), key);
  await rejectsWith(restored.unwrap(captured), "record_too_old");
});

Deno.test("forged records under fresh epochs or forks cost the receiver no key derivation after the first", async () => {
  const { sender, receiver } = channelPair({ maxAuthFailures: 10_000 });
  await receiver.open(await sender.seal(bytes("warm")), false);
  const garbage = (epoch: number, seq: number) =>
    concat(new Uint8Array([0x17, 0]), u32(epoch), u64(BigInt(seq)), new Uint8Array(40));
  const forgedFork = (seq: number) =>
    concat(
      new Uint8Array([0x17, 1]),
      u32(1),
      u64(BigInt(seq)),
      crypto.getRandomValues(new Uint8Array(48)),
      new Uint8Array(40),
    );
  // The next epoch's keys are derived once, by the first record that names it, and the current
  // epoch's fork-proof key once, by the first fork record.
  await rejectsWith(receiver.open(garbage(1, 1), false), "record_auth_failed");
  await rejectsWith(receiver.open(forgedFork(999), false), "record_auth_failed");
  const derivations = await countDerivations(async () => {
    for (let i = 2; i < 200; i++) {
      await rejectsWith(receiver.open(garbage(1, i), false), "record_auth_failed");
      await rejectsWith(receiver.open(garbage(7 + i, i), false), "record_malformed");
      await rejectsWith(receiver.open(forgedFork(i + 1000), false), "record_auth_failed");
    }
  });
  assert.equal(derivations, 0);
  // And the session still works.
  assert.equal(text((await receiver.open(await sender.seal(bytes("ok")), false)).data), "ok");
});

Deno.test("rekey({ requestPeer: true }) makes the peer update its own sending direction", async () => {
  const { client, server } = await bufferPair();
  assert.equal(epochOf(await server.wrap(bytes("s0"))), 0);
  client.rekey({ requestPeer: true });
  const request = await client.wrap(bytes("please"));
  assert.equal(epochOf(request), 1);
  assert.equal(text(await server.unwrap(request)), "please");
  const answer = await server.wrap(bytes("s1"));
  assert.equal(epochOf(answer), 1);
  // The answer does not ask back: the client's next record stays in its epoch.
  assert.equal(text(await client.unwrap(answer)), "s1");
  assert.equal(epochOf(await client.wrap(bytes("c"))), 1);
});

Deno.test("automatic update every recordsPerKey records, and the peer accepts all", async () => {
  const { client, server } = await bufferPair({ recordsPerKey: 3 }, { recordsPerKey: 3 });
  const records: Uint8Array[] = [];
  for (let i = 0; i < 10; i++) records.push(await client.wrap(bytes(`r${i}`)));
  assert.deepEqual(records.map(epochOf), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
  await deliverReordered(server, records, "r", 11);
  const back: Uint8Array[] = [];
  for (let i = 0; i < 7; i++) back.push(await server.wrap(bytes(`b${i}`)));
  assert.deepEqual(back.map(epochOf), [0, 0, 0, 1, 1, 1, 2]);
  for (let i = 0; i < 7; i++) assert.equal(text(await client.unwrap(back[i]!)), `b${i}`);
});

Deno.test("automatic update every bytesPerKey bytes of record plaintext", async () => {
  const { client, server } = await bufferPair({ bytesPerKey: 1000 });
  const sizes = [400, 400, 400, 900, 10, 2000, 1];
  const records: Uint8Array[] = [];
  for (const n of sizes) records.push(await client.wrap(new Uint8Array(n)));
  // 401 + 401 fit in 1000; the third starts epoch 1; 901 would overflow it; a record larger
  // than the budget gets an epoch of its own.
  assert.deepEqual(records.map(epochOf), [0, 0, 1, 2, 2, 3, 4]);
  for (const r of records) await server.unwrap(r);
});

Deno.test("automatic update counts concurrent wraps: no epoch seals more than recordsPerKey records", async () => {
  const { client, server } = await bufferPair({ recordsPerKey: 3 });
  const records = await Promise.all(
    Array.from({ length: 30 }, (_, i) => client.wrap(bytes(`x${i}`))),
  );
  const perEpoch = new Map<number, number>();
  for (const r of records) perEpoch.set(epochOf(r), (perEpoch.get(epochOf(r)) ?? 0) + 1);
  assert.equal(perEpoch.size, 10);
  for (const count of perEpoch.values()) assert.equal(count, 3);
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

Deno.test("a record two epochs ahead is refused: the receiver follows one epoch at a time", async () => {
  const { sender, receiver } = channelPair();
  sender.rekey();
  await sender.seal(bytes("lost"));
  sender.rekey();
  await rejectsWith(receiver.open(await sender.seal(bytes("e2")), false), "record_malformed");
  assert.equal(receiver.receiveEpoch, 0);
  assert.ok(Tessera1Channel.import(await receiver.exportState(), channelConfig()));
});

Deno.test("concurrent forged records naming the next epoch derive its keys once between them", async () => {
  const { sender, receiver } = channelPair({ maxAuthFailures: 100_000 });
  await receiver.open(await sender.seal(bytes("warm")), false);
  const forged = (seq: number) =>
    concat(new Uint8Array([0x17, 0]), u32(1), u64(BigInt(seq)), new Uint8Array(40));
  const derivations = await countDerivations(async () => {
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => receiver.open(forged(10 + i), false).catch(() => {})),
    );
  });
  assert.ok(derivations <= 4, `${derivations} derivations for one next epoch`);
});

Deno.test("unwrap() calls in flight across two key updates are all accepted, in order", async () => {
  const { client, server } = await bufferPair();
  const records = [await client.wrap(bytes("e0"))];
  client.rekey();
  records.push(await client.wrap(bytes("e1")));
  client.rekey();
  records.push(await client.wrap(bytes("e2")), (await client.close())!);
  const outcomes = await Promise.all(
    records.map((r) => server.unwrap(r).then((d) => d === null ? "close" : text(d))),
  );
  assert.deepEqual(outcomes, ["e0", "e1", "e2", "close"]);
});
