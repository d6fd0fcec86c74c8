// Data messages replayed, reordered inside and beyond the ±8 sequence window, and stamped at
// ±86,400 and ±86,401 seconds from the receiver's clock, against tessera and WasmThemis peers.

import assert from "node:assert/strict";
import type { SecureSession, SessionTransport } from "../../lib/session/secure_session.ts";
import {
  atTime,
  client,
  data,
  rejectsWith,
  server,
  tesseraPair,
  tesseraSession,
  tesseraToWasm,
  type WasmSession,
  wasmSession,
  wasmStatus,
  wasmToTessera,
} from "./_wasm_themis.ts";

/** A tessera server established with a WasmThemis client; the client wraps for it. */
async function fromWasm(
  now?: () => number,
): Promise<{ tessera: SecureSession; wasm: WasmSession }> {
  const tessera = tesseraSession(server, now ? { now } : {});
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  return { tessera, wasm };
}

Deno.test("unwrap() accepts a message at most once, where WasmThemis accepts its replay", async () => {
  const { tessera, wasm } = await fromWasm();
  const message = wasm.wrap(data(20));
  assert.deepEqual(await tessera.unwrap(message), data(20));
  await rejectsWith(tessera.unwrap(message), "record_replayed");
  await rejectsWith(tessera.unwrap(message.slice()), "record_replayed");
  // The session stays usable.
  assert.deepEqual(await tessera.unwrap(wasm.wrap(data(3))), data(3));
  await rejectsWith(tessera.unwrap(message), "record_replayed");

  // WasmThemis, receiving from tessera, accepts the same replay (its window is its only check).
  const back = await tessera.wrap(data(7));
  assert.equal(wasmStatus(() => wasm.unwrap(back)), "ok");
  assert.equal(wasmStatus(() => wasm.unwrap(back)), "ok");
  wasm.destroy();
});

Deno.test("messages reordered within 8 of the newest are each accepted once", async () => {
  const { tessera, wasm } = await fromWasm();
  const w = Array.from({ length: 10 }, (_, i) => wasm.wrap(data(4, i)));
  // Newest first (8 ahead of the first expected), then the rest backwards, then the next.
  for (const i of [8, 0, 7, 1, 6, 2, 5, 3, 4, 9]) {
    assert.deepEqual(await tessera.unwrap(w[i]!), data(4, i), `w${i}`);
  }
  for (const i of [1, 4, 8, 9]) await rejectsWith(tessera.unwrap(w[i]!), "record_replayed");
  await rejectsWith(tessera.unwrap(w[0]!), "themis_out_of_window"); // 9 behind w9 by now
  wasm.destroy();
});

Deno.test("a message 9 ahead of the newest accepted is themis_out_of_window; 8 ahead is accepted", async () => {
  const { tessera, wasm } = await fromWasm();
  const w = Array.from({ length: 18 }, (_, i) => wasm.wrap(data(4, i)));
  assert.ok(await tessera.unwrap(w[0]!));
  await rejectsWith(tessera.unwrap(w[9]!), "themis_out_of_window");
  assert.ok(await tessera.unwrap(w[8]!));
  await rejectsWith(tessera.unwrap(w[17]!), "themis_out_of_window");
  assert.ok(await tessera.unwrap(w[16]!));
  // Before anything is accepted, the window is centred on the peer's first sequence number.
  const fresh = await fromWasm();
  const v = Array.from({ length: 10 }, (_, i) => fresh.wasm.wrap(data(4, i)));
  await rejectsWith(fresh.tessera.unwrap(v[9]!), "themis_out_of_window");
  assert.ok(await fresh.tessera.unwrap(v[8]!));
  wasm.destroy();
  fresh.wasm.destroy();
});

Deno.test("a message 9 behind the newest accepted is themis_out_of_window; 8 behind is accepted", async () => {
  const { tessera, wasm } = await fromWasm();
  const w = Array.from({ length: 11 }, (_, i) => wasm.wrap(data(4, i)));
  assert.ok(await tessera.unwrap(w[1]!));
  assert.ok(await tessera.unwrap(w[9]!));
  await rejectsWith(tessera.unwrap(w[0]!), "themis_out_of_window");
  assert.ok(await tessera.unwrap(w[2]!)); // 7 behind
  assert.ok(await tessera.unwrap(w[10]!));
  await rejectsWith(tessera.unwrap(w[1]!), "themis_out_of_window"); // now 9 behind
  assert.ok(await tessera.unwrap(w[3]!)); // 7 behind
  wasm.destroy();
});

Deno.test("the window follows the newest message accepted, not the last: a late one does not pull it back as in Themis", async () => {
  // tessera as receiver: w8, then w0 (late), then w10 is still within 8 of the newest (w8).
  const { tessera, wasm } = await fromWasm();
  const w = Array.from({ length: 11 }, (_, i) => wasm.wrap(data(4, i)));
  for (const i of [8, 0, 10]) assert.ok(await tessera.unwrap(w[i]!), `w${i}`);
  // WasmThemis as receiver moves its window back to w0 and refuses w10 (status 12).
  const c = tesseraSession(client);
  const s = wasmSession(server);
  await tesseraToWasm(c, s);
  const t = await Promise.all(Array.from({ length: 11 }, (_, i) => c.wrap(data(4, i))));
  assert.equal(wasmStatus(() => s.unwrap(t[8]!)), "ok");
  assert.equal(wasmStatus(() => s.unwrap(t[0]!)), "ok");
  assert.equal(wasmStatus(() => s.unwrap(t[10]!)), 12);
  wasm.destroy();
  s.destroy();
});

Deno.test("sequence numbers wrap around 2^32 without closing the window", async () => {
  // Two tessera peers, the receiver's window placed just below 2^32 by a saved state.
  const { ThemisChannel } = await import("../../lib/themis/_channel.ts");
  const limits = {
    random: (b: Uint8Array<ArrayBuffer>) => crypto.getRandomValues(b),
    recordsPerKey: 1000,
    bytesPerKey: 2 ** 30,
    maxRecordSize: 1024,
    maxAuthFailures: 10,
    padding: "none" as const,
  };
  const key = crypto.getRandomValues(new Uint8Array(32));
  const start = 2 ** 32 - 3;
  const base = {
    peerId: new Uint8Array([1]),
    sessionId: new Uint8Array([1, 2, 3, 4]),
    sendKey: key,
    receiveKey: key,
    receiveSeen: 0,
    recordsSent: 0,
    bytesSent: 0,
    authFailures: 0,
  };
  const sender = await ThemisChannel.create(
    { ...base, role: "client", sendSeq: start, receiveTop: 0 },
    limits,
  );
  const receiver = await ThemisChannel.create(
    { ...base, role: "server", sendSeq: 0, receiveTop: start },
    limits,
  );
  const sealed = await Promise.all(Array.from({ length: 8 }, (_, i) => sender.seal(data(2, i))));
  for (const i of [1, 0, 5, 2, 3, 4, 7, 6]) {
    assert.deepEqual((await receiver.open(sealed[i]!, false)).data, data(2, i), `w${i}`);
  }
  await rejectsWith(receiver.open(sealed[3]!, false), "record_replayed");
});

const DAY = 86_400;
const T = 1_795_449_130; // a fixed "now", in seconds

for (const offset of [-DAY, DAY]) {
  Deno.test(`a message stamped ${offset > 0 ? "+" : ""}${offset} s from the receiver's clock is accepted; one second more is themis_out_of_window`, async () => {
    // tessera to tessera, each with its own injected clock.
    for (const [skew, accepted] of [[offset, true], [offset + Math.sign(offset), false]] as const) {
      const c = tesseraSession(client, { now: () => (T + skew) * 1000 });
      const s = tesseraSession(server, { now: () => T * 1000 + 999 });
      await tesseraPair(c, s);
      const message = await c.wrap(data(9));
      if (accepted) assert.deepEqual(await s.unwrap(message), data(9));
      else await rejectsWith(s.unwrap(message), "themis_out_of_window");
    }
    // WasmThemis sender (its clock fixed at T + skew) to a tessera receiver at T.
    const { tessera, wasm } = await fromWasm(() => T * 1000);
    for (const [skew, accepted] of [[offset, true], [offset + Math.sign(offset), false]] as const) {
      const message = await atTime((T + skew) * 1000, () => wasm.wrap(data(5)));
      if (accepted) assert.deepEqual(await tessera.unwrap(message), data(5));
      else await rejectsWith(tessera.unwrap(message), "themis_out_of_window");
    }
    // A refused message moves nothing: the next one, in time, is accepted.
    assert.deepEqual(
      await tessera.unwrap(await atTime(T * 1000, () => wasm.wrap(data(6)))),
      data(6),
    );
    wasm.destroy();
    // tessera sender at T + skew to a WasmThemis receiver at T: the same bounds (status 12).
    for (const [skew, status] of [[offset, "ok"], [offset + Math.sign(offset), 12]] as const) {
      const c = tesseraSession(client, { now: () => (T + skew) * 1000 });
      const s = wasmSession(server);
      await tesseraToWasm(c, s);
      const message = await c.wrap(data(4));
      assert.equal(await atTime(T * 1000, () => wasmStatus(() => s.unwrap(message))), status);
      s.destroy();
    }
  });
}

Deno.test("on a stream, receive() refuses a message older than the newest and the session fails", async () => {
  const queue: Uint8Array[] = [];
  const transport: SessionTransport = {
    send() {},
    receive: () => Promise.resolve(queue.shift() ?? null),
  };
  const { tessera, wasm } = await (async () => {
    const tessera = tesseraSession(server, { transport });
    const wasm = wasmSession(client);
    await wasmToTessera(wasm, tessera);
    return { tessera, wasm };
  })();
  const w = [wasm.wrap(data(1, 0)), wasm.wrap(data(1, 1)), wasm.wrap(data(1, 2))];
  queue.push(w[0]!, w[2]!, w[1]!);
  assert.deepEqual(await tessera.receive(), data(1, 0));
  assert.deepEqual(await tessera.receive(), data(1, 2)); // a gap, as Themis allows
  await rejectsWith(tessera.receive(), "record_out_of_order");
  assert.equal(tessera.state, "closed");
  assert.equal(tessera.error?.code, "record_out_of_order");
  wasm.destroy();
});
