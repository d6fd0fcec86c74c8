import assert from "node:assert/strict";
import { systemRandom } from "../../lib/crypto/random.ts";
import { RecordError } from "../../lib/errors.ts";
import { ReplayWindow } from "../../lib/session/replay_window.ts";
import { type ChannelSecrets, Tessera1Channel } from "../../lib/session/tessera1_channel.ts";

const LAST = (1n << 64n) - 2n;
const config = { random: systemRandom, recordsPerKey: 1000, maxRecordSize: 1024 };

function secrets(role: "client" | "server", sendSeq: bigint): ChannelSecrets {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  return {
    role,
    peerId: new Uint8Array([role === "client" ? 0x73 : 0x63]),
    sessionId: new Uint8Array(16),
    sendSecret: role === "client" ? a : b,
    receiveSecret: role === "client" ? b : a,
    resumptionSecret: new Uint8Array(32),
    sendSeq,
    window: new ReplayWindow(),
  };
}

Deno.test("the last sequence number 2^64-2 is sealed once, then sealing is refused", async () => {
  const sender = await Tessera1Channel.create(secrets("client", LAST), config);
  const receiver = await Tessera1Channel.create(secrets("server", 0n), config);
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
  const sender = await Tessera1Channel.create(secrets("client", LAST), config);
  const receiver = await Tessera1Channel.create(secrets("server", 0n), config);
  const record = await sender.seal(new Uint8Array([1]));
  record.fill(0xff, 9, 17);
  await assert.rejects(receiver.open(record, false), { code: "record_malformed" });
});

Deno.test("a window that accepted the last number survives export and import", async () => {
  const sender = await Tessera1Channel.create(secrets("client", LAST), config);
  const receiver = await Tessera1Channel.create(secrets("server", 0n), config);
  const record = await sender.seal(new Uint8Array([1]));
  await receiver.open(record, false);
  const restored = await Tessera1Channel.import(receiver.exportState(), config);
  await assert.rejects(restored.open(record, false), { code: "record_replayed" });
});
