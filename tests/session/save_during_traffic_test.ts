// save() hands a session over while records are still being opened. Every record is then either
// delivered before the hand-over or left for the restored session, and the peer's close is clean
// only when nothing was lost.

import assert from "node:assert/strict";
import { SecureSession } from "../../lib/session/secure_session.ts";
import type { SessionErrorEvent } from "../../lib/session/session_events.ts";
import { bufferPair, bytes, text } from "./_helpers.ts";

const key = crypto.getRandomValues(new Uint8Array(32));

Deno.test("save() in the middle of concurrent unwraps loses no record and forges no clean close", async () => {
  for (let run = 0; run < 30; run++) {
    const { client, server } = await bufferPair();
    const records = [];
    for (const m of ["m1", "m2", "m3"]) records.push(await client.wrap(bytes(m)));
    const delivered: string[] = [];
    let saving: Promise<Uint8Array> | null = null;
    await Promise.all(records.map((r) =>
      server.unwrap(r).then((d) => {
        delivered.push(text(d));
        saving ??= server.save(key); // the application saves as soon as data arrives
      }, () => {})
    ));
    const restored = await SecureSession.restore(await saving!, key);
    for (const r of records) {
      await restored.unwrap(r).then((d) => delivered.push(text(d)), () => {});
    }
    const close = await restored.unwrap((await client.close())!).then(
      (v) => v === null ? "clean" : "data",
      (e) => e.code,
    );
    assert.deepEqual(delivered.sort(), ["m1", "m2", "m3"], `run ${run}: ${close}`);
    assert.equal(close, "clean");
  }
});

Deno.test("an unwrap() racing save() delivers its record exactly once, whatever the timing", async () => {
  const outcomes = new Set<string>();
  // Microtask ticks reach every step before decryption starts; timers let it start or finish.
  const waits = [
    ...Array.from({ length: 40 }, (_, ticks) => async () => {
      for (let i = 0; i < ticks; i++) await Promise.resolve();
    }),
    ...[1, 2, 4, 8].map((timers) => async () => {
      for (let i = 0; i < timers; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    }),
  ];
  for (const [ticks, wait] of waits.entries()) {
    const { client, server } = await bufferPair();
    const record = await client.wrap(bytes("in flight"));
    const original = server.unwrap(record).then(text, (e) => e.code as string);
    await wait();
    const restored = await SecureSession.restore(await server.save(key), key);
    const first = await original;
    const second = await restored.unwrap(record).then(text, (e) => e.code as string);
    // Either the original delivered it (and the restored session knows it was accepted) or the
    // original refused it as closed (and the restored session delivers it).
    assert.ok(
      (first === "in flight" && second === "record_replayed") ||
        (first === "session_closed" && second === "in flight"),
      `ticks ${ticks}: original ${first}, restored ${second}`,
    );
    outcomes.add(first);
  }
  // The sweep reaches both sides of the hand-over, so both branches above were checked.
  assert.deepEqual([...outcomes].sort(), ["in flight", "session_closed"]);
});

Deno.test("a truncated close racing save() fails the session: save() refuses, the error is reported", async () => {
  for (let run = 0; run < 20; run++) {
    const { client, server } = await bufferPair();
    await client.wrap(bytes("withheld")); // never delivered
    const close = (await client.close())!;
    const errors: string[] = [];
    server.addEventListener("error", (e) => errors.push((e as SessionErrorEvent).error.code));
    const unwrapping = server.unwrap(close).then(() => "clean", (e) => e.code);
    const saving = server.save(key).then(() => "saved", (e) => e.code);
    const [outcome, saved] = await Promise.all([unwrapping, saving]);
    if (outcome === "session_truncated") {
      // The close was decided first: the session failed and there is nothing to save.
      assert.equal(saved, "session_truncated");
      assert.deepEqual(errors, ["session_truncated"]);
    } else {
      // The hand-over came first: the close is left to the restored session, which still sees
      // the gap.
      assert.equal(outcome, "session_closed");
      assert.equal(saved, "saved");
    }
  }
});

Deno.test("a record accepted just before close() is still delivered", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(bytes("last"));
  const opening = server.unwrap(record);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const closing = server.close();
  const got = await opening.then(text, (e) => e.code);
  await closing;
  assert.ok(got === "last" || got === "session_closed", got);
});

Deno.test("once the peer's close is accepted there is nothing to save", async () => {
  for (let run = 0; run < 10; run++) {
    const { client, server } = await bufferPair();
    const close = (await client.close())!;
    const closing = server.unwrap(close).then((v) => v === null ? "clean" : "data", (e) => e.code);
    const saving = server.save(key).then(() => "saved", (e) => e.code);
    const [closed, saved] = await Promise.all([closing, saving]);
    // Either the close was decided first (and nothing is saved), or the hand-over was, and the
    // close is left to the restored session: never both.
    assert.ok(
      (closed === "clean" && saved === "session_closed") ||
        (closed === "session_closed" && saved === "saved"),
      `close ${closed}, save ${saved}`,
    );
    assert.equal(server.error, null);
  }
});

Deno.test("an update request made before save() is sent by the restored session", async () => {
  const { client, server } = await bufferPair();
  client.rekey({ requestPeer: true });
  const restored = await SecureSession.restore(await client.save(key), key);
  await server.unwrap(await restored.wrap(bytes("please update")));
  const reply = await server.wrap(bytes("updated"));
  assert.equal(new DataView(reply.buffer).getUint32(2), 1);
  assert.equal(text(await restored.unwrap(reply)), "updated");
});
