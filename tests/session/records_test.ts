import assert from "node:assert/strict";
import { concat, u64 } from "../../lib/crypto/_bytes.ts";
import { aesGcmEncrypt } from "../../lib/crypto/aes_gcm.ts";

import { RecordError, SessionStateError } from "../../lib/errors.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { deriveEpochKeys } from "../../lib/session/_tessera1_schedule.ts";
import { channelPair } from "./_channels.ts";

import { memoryTransportPair } from "../../lib/transport/memory.ts";

/** Seals an inner plaintext (content ‖ type ‖ padding) as the record layer would. */
async function sealInner(secret: Uint8Array, seq: bigint, inner: Uint8Array): Promise<Uint8Array> {
  const { key, iv } = await deriveEpochKeys(secret);
  const header = concat(new Uint8Array([0x17, 0, 0, 0, 0, 0]), u64(seq));
  const nonce = iv.slice();
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= header[6 + i]!;
  return concat(header, await aesGcmEncrypt(key, nonce, inner, header));
}
import {
  bufferPair,
  bytes,
  callbackPair,
  epochOf,
  flip,
  rejectsWith,
  seqOf,
  session,
  shuffled,
  text,
} from "./_helpers.ts";

Deno.test("a record has the documented header: marker, flags, epoch, sequence number", async () => {
  const { client } = await bufferPair();
  const first = await client.wrap(bytes("abc"));
  const second = await client.wrap(bytes("abcd"));
  assert.equal(first[0], 0x17);
  assert.equal(first[1], 0x00);
  assert.equal(first.length, 14 + 3 + 1 + 16);
  assert.equal(second.length, 14 + 4 + 1 + 16);
  assert.deepEqual(first.subarray(2, 6), new Uint8Array(4));
  assert.equal(seqOf(first), 0n);
  assert.equal(seqOf(second), 1n);
});

Deno.test("unwrap() rejects a record replayed inside the window", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(bytes("once"));
  assert.equal(text(await server.unwrap(record)), "once");
  await rejectsWith(server.unwrap(record), "record_replayed", RecordError);
  await rejectsWith(server.unwrap(record), "record_replayed", RecordError);
  assert.equal(server.isEstablished(), true);
});

Deno.test("unwrap() accepts records reordered inside the window exactly once", async () => {
  const { client, server } = await bufferPair();
  const records: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) records.push(await client.wrap(bytes(`m${i}`)));
  const order = shuffled(records.map((_, i) => i), 7);
  for (const i of order) assert.equal(text(await server.unwrap(records[i]!)), `m${i}`);
  for (const i of order) await rejectsWith(server.unwrap(records[i]!), "record_replayed");
});

Deno.test("unwrap() rejects a record 128 behind the highest with record_too_old and accepts 127 behind", async () => {
  const { client, server } = await bufferPair();
  const records: Uint8Array[] = [];
  for (let i = 0; i <= 129; i++) records.push(await client.wrap(bytes(`m${i}`)));
  assert.equal(text(await server.unwrap(records[129]!)), "m129");
  await rejectsWith(server.unwrap(records[0]!), "record_too_old", RecordError);
  await rejectsWith(server.unwrap(records[1]!), "record_too_old", RecordError);
  assert.equal(text(await server.unwrap(records[2]!)), "m2");
  await rejectsWith(server.unwrap(records[2]!), "record_replayed", RecordError);
});

Deno.test("the content type travels encrypted: a close looks like empty data on the wire", async () => {
  const { client, server } = await bufferPair();
  const empty = await client.wrap(new Uint8Array(0));
  const close = (await client.close())!;
  assert.equal(close.length, empty.length);
  assert.deepEqual(close.subarray(0, 6), empty.subarray(0, 6));
  assert.deepEqual(await server.unwrap(empty), new Uint8Array(0));
  assert.equal(await server.unwrap(close), null);
});

Deno.test("a record with another first byte or unknown flags is record_malformed", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(bytes("x"));
  for (const flags of [0x02, 0x80, 0xff]) {
    await rejectsWith(server.unwrap(flip(record, 1, flags)), "record_malformed", RecordError);
  }
  for (const type of [0x00, 0x14, 0x15, 0x16, 0x18, 0xff]) {
    const changed = record.slice();
    changed[0] = type;
    await rejectsWith(server.unwrap(changed), "record_malformed", RecordError);
  }
  assert.equal(text(await server.unwrap(record)), "x");
});

Deno.test("every byte of a record XORed with 0x01 or 0x80 is refused and changes nothing", async () => {
  const { client, server } = await bufferPair();
  await server.unwrap(await client.wrap(bytes("warm up")));
  const record = await client.wrap(bytes("the body of a record"));
  for (const mask of [0x01, 0x80]) {
    for (let i = 0; i < record.length; i++) {
      const tampered = flip(record, i, mask);
      // The marker and flags are checked first; an epoch other than the next one is refused
      // before any key is derived; a sequence number changed into the already accepted 0 is
      // caught by the window before decryption.
      const expected = i < 2
        ? "record_malformed"
        : i < 6 && epochOf(tampered) !== 1
        ? "record_malformed"
        : seqOf(tampered) === 0n
        ? "record_replayed"
        : "record_auth_failed";
      await rejectsWith(server.unwrap(tampered), expected, RecordError);
    }
  }
  // Sequence-number bytes pointing at an accepted number are caught by the window first.
  const pointingAtZero = record.slice();
  pointingAtZero.set(u64(0n), 6);
  await rejectsWith(server.unwrap(pointingAtZero), "record_replayed", RecordError);
  assert.equal(text(await server.unwrap(record)), "the body of a record");
});

Deno.test("a record truncated at every length is record_malformed below 31 bytes and record_auth_failed above", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(bytes("truncate me"));
  for (let n = 0; n < record.length; n++) {
    const expected = n < 31 ? "record_malformed" : "record_auth_failed";
    await rejectsWith(server.unwrap(record.slice(0, n)), expected, RecordError);
  }
  assert.equal(text(await server.unwrap(record)), "truncate me");
});

Deno.test("a record from another session is record_auth_failed", async () => {
  const one = await bufferPair();
  const two = await bufferPair();
  const record = await one.client.wrap(bytes("for one"));
  await rejectsWith(two.server.unwrap(record), "record_auth_failed", RecordError);
  // Nor does a session accept its own records back (directions have their own keys).
  await rejectsWith(one.client.unwrap(record), "record_auth_failed", RecordError);
  assert.equal(text(await one.server.unwrap(record)), "for one");
});

Deno.test("close() returns an authenticated close record; the peer's unwrap returns null and closes", async () => {
  const { client, server } = await bufferPair();
  const data = await client.wrap(bytes("last words"));
  const close = await client.close();
  assert.ok(close);
  assert.equal(close[0], 0x17);
  assert.equal(close.length, 31);
  assert.equal(seqOf(close), 1n);
  assert.equal(client.state, "closed");
  assert.equal(client.error, null);
  assert.equal(await client.close(), null);
  assert.equal(text(await server.unwrap(data)), "last words");
  assert.equal(await server.unwrap(close), null);
  assert.equal(server.state, "closed");
  assert.equal(server.error, null);
});

Deno.test("a tampered close record is refused and the session stays established", async () => {
  const { client, server } = await bufferPair();
  const close = await client.close();
  assert.ok(close);
  for (let i = 6; i < close.length; i++) {
    await rejectsWith(server.unwrap(flip(close, i, 0x01)), "record_auth_failed", RecordError);
  }
  assert.equal(server.state, "established");
  assert.equal(await server.unwrap(close), null);
  assert.equal(server.state, "closed");
});

Deno.test("records after close are refused with session_closed on both sides", async () => {
  const { client, server } = await bufferPair();
  const late = await client.wrap(bytes("late"));
  const fromServer = await server.wrap(bytes("to a closed client"));
  const close = await client.close();
  await rejectsWith(client.unwrap(fromServer), "session_closed", SessionStateError);
  await rejectsWith(client.wrap(bytes("x")), "session_closed", SessionStateError);
  assert.equal(text(await server.unwrap(late)), "late");
  assert.equal(await server.unwrap(close!), null);
  await rejectsWith(server.unwrap(late), "session_closed", SessionStateError);
  await rejectsWith(server.wrap(bytes("x")), "session_closed", SessionStateError);
  assert.throws(() => server.rekey(), { code: "session_closed" });
});

Deno.test("wrap() called while close() is sealing is refused: nothing is sealed after the close record", async () => {
  const { client, server } = await bufferPair();
  const closing = client.close();
  const late = client.wrap(bytes("after close"));
  const [closed, wrapped] = await Promise.allSettled([closing, late]);
  assert.equal(closed.status, "fulfilled");
  assert.equal(wrapped.status, "rejected", "a data record was sealed after the close record");
  assert.equal((wrapped as PromiseRejectedResult).reason.code, "session_closed");
  assert.equal(await server.unwrap((closed as PromiseFulfilledResult<Uint8Array>).value), null);
});

Deno.test("two concurrent close() calls produce one close record", async () => {
  const { client } = await bufferPair();
  const [a, b] = await Promise.all([client.close(), client.close()]);
  assert.equal([a, b].filter((r) => r !== null).length, 1);
});

Deno.test("receive() returns null after the peer's close over the transport", async () => {
  const { client, server } = await callbackPair();
  await client.send(bytes("bye"));
  await client.close();
  assert.equal(text(await server.receive()), "bye");
  assert.equal(await server.receive(), null);
  assert.equal(server.state, "closed");
});

Deno.test("receive() on a session this side closed resolves to null without reading the transport", async () => {
  const { client, server, serverEnd } = await callbackPair();
  await server.close();
  await client.send(bytes("left on the transport"));
  const before = serverEnd.receives;
  assert.equal(await server.receive(), null);
  assert.equal(await server.receive(), null);
  assert.equal(serverEnd.receives, before);
  await rejectsWith(server.send(bytes("x")), "session_closed", SessionStateError);
});

Deno.test("callback receive() refuses a record out of order with record_out_of_order, fatally", async () => {
  const { client, server, clientEnd } = await callbackPair();
  await client.wrap(bytes("zero"));
  const r1 = await client.wrap(bytes("one"));
  await clientEnd.inner.send(r1);
  await rejectsWith(server.receive(), "record_out_of_order", RecordError);
  // A stream that delivered a record out of order can no longer be trusted (as in TLS).
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "record_out_of_order");
  await rejectsWith(server.receive(), "session_failed", SessionStateError);
});

Deno.test("callback receive() refuses a replayed record with record_replayed, fatally", async () => {
  const { client, server, clientEnd } = await callbackPair();
  const r0 = await client.wrap(bytes("zero"));
  await clientEnd.inner.send(r0);
  assert.equal(text(await server.receive()), "zero");
  await clientEnd.inner.send(r0);
  await rejectsWith(server.receive(), "record_replayed", RecordError);
  assert.equal(server.error?.code, "record_replayed");
});

Deno.test("wrap() refuses a plaintext above maxRecordSize with record_too_large", async () => {
  const { client, server } = await bufferPair({ maxRecordSize: 64 }, { maxRecordSize: 64 });
  const err = await rejectsWith(client.wrap(new Uint8Array(65)), "record_too_large", RecordError);
  assert.equal(err.message, "plaintext of 65 bytes exceeds maxRecordSize of 64 bytes");
  const full = await client.wrap(new Uint8Array(64).fill(7));
  assert.deepEqual(await server.unwrap(full), new Uint8Array(64).fill(7));
  await rejectsWith(
    (async () => {
      const s = session({ transport: memoryTransportPair()[0], maxRecordSize: 1 });
      await s.send(new Uint8Array(2));
    })(),
    "session_not_established",
  );
});

Deno.test("unwrap() refuses a record above its own maxRecordSize with record_too_large", async () => {
  // The server declared the default in the handshake, then is restored with a lower limit: the
  // client still sends up to what was declared, and the server refuses what exceeds its own.
  const { client, server } = await bufferPair();
  const key = new Uint8Array(32).fill(9);
  const restored = await SecureSession.restore(await server.save(key), key, { maxRecordSize: 16 });
  const big = await client.wrap(new Uint8Array(17));
  const err = await rejectsWith(restored.unwrap(big), "record_too_large", RecordError);
  assert.equal(err.message, "record content of 17 bytes exceeds maxRecordSize of 16 bytes");
  assert.deepEqual(
    await restored.unwrap(await client.wrap(new Uint8Array(16))),
    new Uint8Array(16),
  );
  // A record longer than any inner plaintext the limit allows is refused before decryption.
  const huge = await client.wrap(new Uint8Array(300));
  const early = await rejectsWith(restored.unwrap(huge), "record_too_large", RecordError);
  assert.equal(
    early.message,
    "record of 331 bytes exceeds 303 bytes, the most a record may take with maxRecordSize of " +
      "16 bytes",
  );
});

Deno.test("send() refuses an oversized plaintext with record_too_large and sends nothing", async () => {
  const { client, clientEnd } = await callbackPair({ maxRecordSize: 8 });
  const before = clientEnd.sent.length;
  await rejectsWith(client.send(new Uint8Array(9)), "record_too_large", RecordError);
  assert.equal(clientEnd.sent.length, before);
});

Deno.test("an empty plaintext round-trips as an empty array, not as a close", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(new Uint8Array(0));
  assert.equal(record.length, 31);
  const opened = await server.unwrap(record);
  assert.ok(opened instanceof Uint8Array);
  assert.equal(opened.length, 0);
  assert.equal(server.state, "established");
});

Deno.test("wrap() and unwrap() refuse arguments that are not bytes with TypeError", async () => {
  const { client } = await bufferPair();
  await assert.rejects(client.wrap("text" as unknown as Uint8Array), TypeError);
  await assert.rejects(client.unwrap([1, 2] as unknown as Uint8Array), TypeError);
});

Deno.test("a close record with content, or an unknown content type, is record_malformed and its sequence number stays free", async () => {
  // A channel built from known secrets seals what tessera never seals.
  const { receiver } = channelPair();
  const secret = new Uint8Array(32).fill(1);
  for (const inner of [concat(bytes("body"), new Uint8Array([0x15])), new Uint8Array([0x42])]) {
    const forged = await sealInner(secret, 0n, inner);
    await rejectsWith(receiver.open(forged, false), "record_malformed", RecordError);
  }
  // Only padding and no content type at all.
  await rejectsWith(
    receiver.open(await sealInner(secret, 0n, new Uint8Array(8)), false),
    "record_malformed",
  );
  // A refused record changes nothing (docs/protocol.md §5): sequence number 0 is still free.
  const ok = await sealInner(secret, 0n, concat(bytes("zero"), new Uint8Array([0x17, 0, 0])));
  assert.equal(text((await receiver.open(ok, false)).data), "zero");
});

Deno.test("tampered records never yield data through receive() either, and end the stream", async () => {
  for (const i of [0, 1, 5, 6, 13, 14, 36]) {
    const { client, server, clientEnd } = await callbackPair();
    const record = await client.wrap(bytes("secret"));
    await clientEnd.inner.send(flip(record, i, 0x01));
    // On a stream a changed sequence number is out of order before it is inauthentic; and
    // any refused record ends the stream.
    const code = i < 2
      ? "record_malformed"
      : i >= 6 && i < 14
      ? "record_out_of_order"
      : "record_auth_failed";
    await rejectsWith(server.receive(), code, RecordError);
    assert.equal(server.error?.code, code);
  }
});
