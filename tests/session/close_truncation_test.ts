import assert from "node:assert/strict";
import { SessionStateError } from "../../lib/errors.ts";
import type { SessionErrorEvent } from "../../lib/session/session_events.ts";
import { bufferPair, bytes, callbackPair, rejectsWith, seqOf, text } from "./_helpers.ts";

Deno.test("a close delivered ahead of earlier records is session_truncated, not a clean close", async () => {
  const { client, server } = await bufferPair();
  const records = [];
  for (let i = 0; i < 3; i++) records.push(await client.wrap(bytes(`m${i}`)));
  const close = (await client.close())!;
  // The close says what it closes: its sequence number counts the records before it.
  assert.equal(seqOf(close), 3n);
  const errors: string[] = [];
  server.addEventListener("error", (e) => errors.push((e as SessionErrorEvent).error.code));
  assert.equal(text(await server.unwrap(records[0]!)), "m0");
  await rejectsWith(server.unwrap(close), "session_truncated", SessionStateError);
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "session_truncated");
  assert.deepEqual(errors, ["session_truncated"]);
  // The late records are refused, and the application was told there was a gap.
  await rejectsWith(server.unwrap(records[1]!), "session_failed", SessionStateError);
});

Deno.test("a close after every record it closes, in any order, is clean", async () => {
  const { client, server } = await bufferPair();
  const records = [];
  for (let i = 0; i < 5; i++) records.push(await client.wrap(bytes(`m${i}`)));
  const close = (await client.close())!;
  for (const i of [3, 0, 4, 2, 1]) assert.equal(text(await server.unwrap(records[i]!)), `m${i}`);
  assert.equal(await server.unwrap(close), null);
  assert.equal(server.state, "closed");
  assert.equal(server.error, null);
});

Deno.test("a close with nothing before it is clean", async () => {
  const { client, server } = await bufferPair();
  assert.equal(await server.unwrap((await client.close())!), null);
  assert.equal(server.error, null);
});

Deno.test("records dropped before a close make it unclean even when later ones arrived", async () => {
  const { client, server } = await bufferPair();
  const records = [];
  for (let i = 0; i < 4; i++) records.push(await client.wrap(bytes(`m${i}`)));
  const close = (await client.close())!;
  for (const i of [0, 1, 3]) await server.unwrap(records[i]!); // 2 is lost
  await rejectsWith(server.unwrap(close), "session_truncated");
});

Deno.test("the count of accepted records survives save and restore on the receiving side", async () => {
  const { client, server } = await bufferPair();
  const key = crypto.getRandomValues(new Uint8Array(32));
  await server.unwrap(await client.wrap(bytes("a")));
  const { SecureSession } = await import("../../lib/session/secure_session.ts");
  const restored = await SecureSession.restore(await server.save(key), key);
  await restored.unwrap(await client.wrap(bytes("b")));
  assert.equal(await restored.unwrap((await client.close())!), null);
  assert.equal(restored.error, null);
});

Deno.test("on a stream the close is accepted only in order, so a clean close there means nothing was lost", async () => {
  const { client, server } = await callbackPair();
  await client.wrap(bytes("withheld"));
  await client.close(); // writes the close record, which follows the withheld one
  await rejectsWith(server.receive(), "record_out_of_order");
  assert.equal(server.state, "closed");
  assert.notEqual(server.error, null);
});
