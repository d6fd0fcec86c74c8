import assert from "node:assert/strict";
import { RecordError } from "../../lib/errors.ts";
import { bufferPair, bytes, callbackPair, flip, rejectsWith, text } from "./_helpers.ts";

Deno.test("on a stream the first forged record fails the session and ends the transport", async () => {
  const { client, server, clientEnd } = await callbackPair();
  const record = await client.wrap(bytes("real"));
  await clientEnd.inner.send(flip(record, record.length - 1, 0x01));
  await rejectsWith(server.receive(), "record_auth_failed", RecordError);
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "record_auth_failed");
  // The server ended its side of the transport: the client reads the end.
  assert.equal(await clientEnd.inner.receive(), null);
});

Deno.test("in datagram use forged records are refused one by one until maxAuthFailures, then the session fails", async () => {
  const { client, server } = await bufferPair({}, { maxAuthFailures: 5 });
  const record = await client.wrap(bytes("real"));
  for (let i = 0; i < 5; i++) {
    await rejectsWith(
      server.unwrap(flip(record, record.length - 1 - i, 0x01)),
      "record_auth_failed",
    );
    assert.equal(server.state, "established");
  }
  await rejectsWith(server.unwrap(flip(record, 20, 0x01)), "record_auth_failed");
  assert.equal(server.state, "closed");
  assert.equal(server.error?.code, "record_auth_failed");
  await rejectsWith(server.unwrap(record), "session_failed");
});

Deno.test("the failure budget is per key: a new epoch starts it again", async () => {
  const { client, server } = await bufferPair({}, { maxAuthFailures: 3 });
  const first = await client.wrap(bytes("e0"));
  for (let i = 0; i < 3; i++) {
    await rejectsWith(server.unwrap(flip(first, 20 + i, 0x01)), "record_auth_failed");
  }
  client.rekey();
  const next = await client.wrap(bytes("e1"));
  const later = await client.wrap(bytes("later"));
  assert.equal(text(await server.unwrap(next)), "e1");
  for (let i = 0; i < 3; i++) {
    await rejectsWith(server.unwrap(flip(later, 20 + i, 0x01)), "record_auth_failed");
  }
  assert.equal(server.state, "established");
});

Deno.test("forged records past the default budget of 1000 leave a datagram session failed, not wedged", async () => {
  const { client, server } = await bufferPair();
  const record = await client.wrap(bytes("real"));
  let refused = 0;
  for (let i = 0; i < 1001; i++) {
    const forged = flip(record, 14 + (i % 20), 1 + (i >> 5));
    await server.unwrap(forged).catch((err) => {
      assert.ok(err instanceof RecordError);
      refused++;
    });
  }
  assert.equal(refused, 1001);
  assert.equal(server.state, "closed");
  assert.throws(() => server.rekey(), { code: "session_failed" });
});

Deno.test("maxAuthFailures is checked at construction", async () => {
  await assert.rejects(bufferPair({}, { maxAuthFailures: -1 }), RangeError);
  await assert.rejects(bufferPair({}, { maxAuthFailures: 1.5 }), RangeError);
});
