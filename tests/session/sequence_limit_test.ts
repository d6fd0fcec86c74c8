import assert from "node:assert/strict";
import { RecordError } from "../../lib/errors.ts";
import { Tessera1Channel } from "../../lib/session/tessera1_channel.ts";
import { channelConfig, channelPair } from "./_channels.ts";

const LAST = (1n << 64n) - 2n;
Deno.test("the last sequence number 2^64-2 is sealed once, then sealing is refused", async () => {
  const { sender, receiver } = channelPair({}, { sendSeq: LAST });
  const record = await sender.seal(new Uint8Array([1]));
  assert.deepEqual((await receiver.open(record, false)).data, new Uint8Array([1]));
  await assert.rejects(sender.seal(new Uint8Array([2])), (err: unknown) => {
    assert.ok(err instanceof RecordError);
    assert.equal(err.code, "record_sequence_exhausted");
    return true;
  });
  await assert.rejects(sender.sealClose(), { code: "record_sequence_exhausted" });
});

Deno.test("a record numbered 2^64-1 is refused as malformed before any decryption", async () => {
  const { sender, receiver } = channelPair({}, { sendSeq: LAST });
  const record = await sender.seal(new Uint8Array([1]));
  record.fill(0xff, 6, 14);
  await assert.rejects(receiver.open(record, false), { code: "record_malformed" });
});

Deno.test("a window that accepted the last number survives export and import", async () => {
  const { sender, receiver } = channelPair({}, { sendSeq: LAST });
  const record = await sender.seal(new Uint8Array([1]));
  await receiver.open(record, false);
  const restored = Tessera1Channel.import(await receiver.exportState(), channelConfig());
  await assert.rejects(restored.open(record, false), { code: "record_replayed" });
});
