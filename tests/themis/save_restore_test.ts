// Saving and restoring a Themis session in tessera's sealed format: the restored session goes on
// talking to the same WasmThemis peer, keeps its window and budgets, and needs its profile.

import assert from "node:assert/strict";
import { implementationOf } from "../../lib/session/profile.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { tessera1 } from "../../lib/session/tessera1.ts";
import { themis } from "../../lib/themis/mod.ts";
import {
  client,
  data,
  rejectsWith,
  server,
  tesseraPair,
  tesseraSession,
  wasmSession,
  wasmToTessera,
} from "./_wasm_themis.ts";

const wrappingKey = crypto.getRandomValues(new Uint8Array(32));

Deno.test("a saved Themis session restores and goes on talking to its WasmThemis peer", async () => {
  const tessera = tesseraSession(server);
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  const first = wasm.wrap(data(10, 1));
  assert.deepEqual(await tessera.unwrap(first), data(10, 1));
  assert.deepEqual(new Uint8Array(wasm.unwrap(await tessera.wrap(data(10, 2)))), data(10, 2));

  const sessionId = tessera.sessionId;
  const saved = await tessera.save(wrappingKey, { context: "client 1" });
  assert.equal(tessera.state, "closed");
  const restored = await SecureSession.restore(saved, wrappingKey, {
    profiles: [tessera1, themis],
    context: "client 1",
  });
  assert.equal(restored.profile, "themis");
  assert.equal(restored.role, "server");
  assert.equal(restored.generation, 1);
  assert.deepEqual(restored.peerId, client.id);
  assert.deepEqual(restored.sessionId, sessionId);
  // The replay window came along: the message accepted before the save is still a replay.
  await rejectsWith(restored.unwrap(first), "record_replayed");
  // Both directions go on where they were: the next sequence numbers, the same keys.
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await restored.unwrap(wasm.wrap(data(100, i))), data(100, i));
    assert.deepEqual(new Uint8Array(wasm.unwrap(await restored.wrap(data(50, i)))), data(50, i));
  }
  wasm.destroy();
});

Deno.test("a saved Themis session restores only when the themis profile is allowed", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  const saved = await c.save(wrappingKey);
  await rejectsWith(SecureSession.restore(saved, wrappingKey), "state_malformed");
  await rejectsWith(
    SecureSession.restore(saved, wrappingKey, { profiles: [tessera1] }),
    "state_malformed",
  );
  const restored = await SecureSession.restore(saved, wrappingKey, { profiles: [themis] });
  assert.deepEqual(await s.unwrap(await restored.wrap(data(3))), data(3));
  assert.deepEqual(await restored.unwrap(await s.wrap(data(4))), data(4));
});

Deno.test("a restored Themis session keeps its clock, limits and key budget", async () => {
  const T = Date.now();
  const c = tesseraSession(client, { recordsPerKey: 3 });
  const s = tesseraSession(server, { now: () => T });
  await tesseraPair(c, s);
  await s.unwrap(await c.wrap(data(1)));
  const saved = await c.save(wrappingKey);
  const restored = await SecureSession.restore(saved, wrappingKey, {
    profiles: [themis],
    recordsPerKey: 3,
    maxRecordSize: 64,
    now: () => T + 86_401_000, // a day and a second ahead of the server's clock
  });
  await rejectsWith(s.unwrap(await restored.wrap(data(1))), "themis_out_of_window");
  await rejectsWith(restored.wrap(data(65)), "record_too_large");
  await restored.wrap(data(1)); // the third record of the budget
  await rejectsWith(restored.wrap(data(1)), "record_sequence_exhausted");
});

Deno.test("tampered or truncated Themis saved state is refused with a typed error", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  const saved = await c.save(wrappingKey);
  for (let i = 0; i < saved.length; i += 7) {
    const tampered = saved.slice();
    tampered[i]! ^= 1;
    await rejectsWith(
      SecureSession.restore(tampered, wrappingKey, { profiles: [themis] }),
      "state_malformed",
      "state_auth_failed",
      "state_unsupported_version",
    );
  }
  await rejectsWith(
    SecureSession.restore(saved.slice(0, -1), wrappingKey, { profiles: [themis] }),
    "state_auth_failed",
  );
});

Deno.test("the Themis channel state inside the seal is checked field by field", async () => {
  const limits = {
    random: (b: Uint8Array<ArrayBuffer>) => crypto.getRandomValues(b),
    recordsPerKey: 10,
    bytesPerKey: 1000,
    maxRecordSize: 100,
    maxAuthFailures: 1,
    padding: "none" as const,
  };
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  // The channel state is what follows the facade's role byte and id in the sealed inner bytes.
  const { ThemisChannel } = await import("../../lib/themis/_channel.ts");
  const key = new Uint8Array(32);
  const channel = await ThemisChannel.create({
    role: "client",
    peerId: server.id,
    sessionId: new Uint8Array(4),
    sendKey: key,
    receiveKey: key,
    sendSeq: 7,
    receiveTop: 9,
    receiveSeen: 0x101,
    recordsSent: 2,
    bytesSent: 20,
    authFailures: 0,
  }, limits);
  const state = await channel.exportState();
  const again = await implementationOf(themis, "profile").importChannel(state, limits);
  assert.deepEqual(await again.exportState(), state);
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(state.slice(0, -1), limits),
    "state_malformed",
  );
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(new Uint8Array([...state, 0]), limits),
    "state_malformed",
  );
  const version = state.slice();
  version[0] = 9;
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(version, limits),
    "state_unsupported_version",
  );
  const role = state.slice();
  role[1] = 2;
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(role, limits),
    "state_malformed",
  );
  const seen = state.slice();
  seen[state.length - 6] = 0xff; // the window bits: only 9 exist
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(seen, limits),
    "state_malformed",
  );
  await rejectsWith(
    implementationOf(themis, "profile").importChannel(new Uint8Array(0), limits),
    "state_malformed",
  );
});
