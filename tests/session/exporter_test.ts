import assert from "node:assert/strict";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { bufferPair, bytes, rejectsWith, session } from "./_helpers.ts";

Deno.test("both peers export the same keying material; label, context and length each change it", async () => {
  const { client, server } = await bufferPair();
  const a = await client.exportKeyingMaterial("EXPORTER-test", "ctx", 32);
  assert.deepEqual(await server.exportKeyingMaterial("EXPORTER-test", bytes("ctx"), 32), a);
  assert.equal(a.length, 32);
  const variants = [
    await client.exportKeyingMaterial("EXPORTER-other", "ctx", 32),
    await client.exportKeyingMaterial("EXPORTER-test", "", 32),
    await client.exportKeyingMaterial("EXPORTER-test", "ctx2", 32),
  ];
  for (const v of variants) assert.notDeepEqual(v, a);
  // Another length is not a prefix of the same material.
  const longer = await client.exportKeyingMaterial("EXPORTER-test", "ctx", 64);
  assert.notDeepEqual(longer.subarray(0, 32), a);
});

Deno.test("the exporter is bound to the session and distinct from the public session id", async () => {
  const one = await bufferPair();
  const two = await bufferPair();
  const x = await one.client.exportKeyingMaterial("binding", "", 16);
  assert.notDeepEqual(x, await two.client.exportKeyingMaterial("binding", "", 16));
  assert.notDeepEqual(x, one.client.sessionId);
});

Deno.test("the exporter survives save and restore", async () => {
  const { client, server } = await bufferPair();
  const before = await server.exportKeyingMaterial("binding", "t", 32);
  const key = crypto.getRandomValues(new Uint8Array(32));
  const restored = await SecureSession.restore(await client.save(key), key);
  assert.deepEqual(await restored.exportKeyingMaterial("binding", "t", 32), before);
});

Deno.test("exportKeyingMaterial() refuses bad arguments and unestablished sessions", async () => {
  const { client } = await bufferPair();
  await assert.rejects(client.exportKeyingMaterial("", "", 32), RangeError);
  await assert.rejects(client.exportKeyingMaterial("x".repeat(256), "", 32), RangeError);
  await assert.rejects(client.exportKeyingMaterial("l", "", 0), RangeError);
  await assert.rejects(client.exportKeyingMaterial("l", "", 8161), RangeError);
  await assert.rejects(client.exportKeyingMaterial(7 as unknown as string, "", 8), TypeError);
  await assert.rejects(client.exportKeyingMaterial("l", null as unknown as string, 8), TypeError);
  assert.equal((await client.exportKeyingMaterial("l", "", 8160)).length, 8160);
  await rejectsWith(session().exportKeyingMaterial("l", "", 8), "session_not_established");
});
