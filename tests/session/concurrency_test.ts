import assert from "node:assert/strict";
import { RecordError } from "../../lib/errors.ts";
import {
  bob,
  bufferPair,
  bytes,
  callbackPair,
  handshake,
  rejectsWith,
  seqOf,
  session,
  shuffled,
  text,
} from "./_helpers.ts";

const TASKS = 20;
const PER_TASK = 10;

/** Lets other tasks run between two steps of one task. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("200 concurrent send() calls from 20 tasks are delivered exactly once, in call order", async () => {
  const { client, server } = await callbackPair({ recordsPerKey: 7 });
  const callOrder: string[] = [];
  const task = async (t: number): Promise<void> => {
    for (let i = 0; i < PER_TASK; i++) {
      if ((t + i) % 3 === 0) await yieldTurn();
      const message = `t${t}-m${i}`;
      callOrder.push(message);
      // Not awaited one by one: every task keeps several sends in flight.
      void client.send(bytes(message));
    }
  };
  const receiving = Promise.all(
    Array.from({ length: TASKS * PER_TASK }, () => server.receive()),
  );
  await Promise.all(Array.from({ length: TASKS }, (_, t) => task(t)));
  const received = (await receiving).map(text);
  assert.equal(received.length, TASKS * PER_TASK);
  assert.deepEqual(received, callOrder);
  assert.equal(new Set(received).size, received.length);
});

Deno.test("concurrent receive() calls each get the next message, in order", async () => {
  const { client, server } = await callbackPair();
  const receives = Array.from({ length: 200 }, () => client.receive());
  for (let i = 0; i < 200; i++) await server.send(bytes(`n${i}`));
  const received = (await Promise.all(receives)).map(text);
  assert.deepEqual(received, Array.from({ length: 200 }, (_, i) => `n${i}`));
});

Deno.test("200 concurrent wrap() calls from many tasks get distinct sequence numbers and all unwrap once", async () => {
  const { client, server } = await bufferPair();
  const tasks = Array.from({ length: TASKS }, async (_, t) => {
    const out: { message: string; record: Uint8Array }[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < PER_TASK; i++) {
      if (i % 4 === 0) await yieldTurn();
      const message = `t${t}-${i}`;
      pending.push(
        client.wrap(bytes(message)).then((record) => void out.push({ message, record })),
      );
    }
    await Promise.all(pending);
    return out;
  });
  const all = (await Promise.all(tasks)).flat();
  const seqs = all.map((x) => seqOf(x.record)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => BigInt(i)));
  // Delivered concurrently and reordered, but within the window of 128.
  const bySeq = all.slice().sort((a, b) => Number(seqOf(a.record) - seqOf(b.record)));
  const opened: string[] = [];
  for (const chunk of [bySeq.slice(0, 100), bySeq.slice(100)]) {
    opened.push(
      ...await Promise.all(
        shuffled(chunk, 4).map(async (x) => {
          assert.equal(text(await server.unwrap(x.record)), x.message);
          return x.message;
        }),
      ),
    );
  }
  assert.equal(new Set(opened).size, 200);
});

Deno.test("concurrent unwrap() of the same record: exactly one succeeds, the other is record_replayed", async () => {
  const { client, server } = await bufferPair();
  for (let round = 0; round < 20; round++) {
    const record = await client.wrap(bytes(`r${round}`));
    const results = await Promise.allSettled([
      server.unwrap(record),
      server.unwrap(record),
      server.unwrap(record),
    ]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    assert.equal(ok.length, 1, `round ${round}`);
    assert.equal(text((ok[0] as PromiseFulfilledResult<Uint8Array>).value), `r${round}`);
    for (const r of refused) {
      assert.ok(r.reason instanceof RecordError);
      assert.equal(r.reason.code, "record_replayed");
    }
  }
});

Deno.test("concurrent negotiate() calls with the same ServerHello: one answers, the other is session_invalid_call", async () => {
  const client = session();
  const serverSide = session({ self: bob });
  const ch = await client.connectRequest();
  const sh = await serverSide.negotiate(ch);
  const results = await Promise.allSettled([client.negotiate(sh!), client.negotiate(sh!)]);
  assert.equal(results[0].status, "fulfilled");
  assert.equal(results[1].status, "rejected");
  assert.equal((results[1] as PromiseRejectedResult).reason.code, "session_invalid_call");
  assert.equal(client.state, "established");
  assert.equal(client.error, null);
  const cf = (results[0] as PromiseFulfilledResult<Uint8Array | null>).value;
  assert.equal(await serverSide.negotiate(cf!), null);
  assert.deepEqual(client.sessionId, serverSide.sessionId);
});

Deno.test("concurrent negotiate() calls on a server run one after the other: a duplicate hello fails cleanly", async () => {
  const client = session();
  const server = session({ self: bob });
  const ch = await client.connectRequest();
  const results = await Promise.allSettled([server.negotiate(ch), server.negotiate(ch)]);
  assert.equal(results[0].status, "fulfilled");
  assert.equal(results[1].status, "rejected");
  assert.equal((results[1] as PromiseRejectedResult).reason.code, "handshake_unexpected");
  assert.equal(server.state, "closed");
  assert.equal(server.isEstablished(), false);
});

Deno.test("concurrent connectRequest() calls: one hello, the others session_invalid_call", async () => {
  const client = session();
  const results = await Promise.allSettled([
    client.connectRequest(),
    client.connectRequest(),
    client.connectRequest(),
  ]);
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results.slice(1)) {
    assert.equal((r as PromiseRejectedResult).reason.code, "session_invalid_call");
  }
  assert.equal(client.state, "negotiating");
});

Deno.test("many handshakes at once between fresh pairs all succeed with distinct session ids", async () => {
  const pairs = await Promise.all(Array.from({ length: 20 }, async () => {
    const c = session();
    const s = session({ self: bob });
    await handshake(c, s);
    return { c, s };
  }));
  const ids = new Set(pairs.map(({ c, s }) => {
    assert.deepEqual(c.sessionId, s.sessionId);
    return c.sessionId!.join();
  }));
  assert.equal(ids.size, 20);
});

Deno.test("send() and wrap() mixed concurrently on one session share one sequence", async () => {
  const { client, server, serverEnd } = await callbackPair();
  const wraps: Promise<Uint8Array>[] = [];
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    if (i % 2) sends.push(client.send(bytes(`s${i}`)));
    else wraps.push(client.wrap(bytes(`w${i}`)));
  }
  const wrapped = await Promise.all(wraps);
  await Promise.all(sends);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < sends.length; i++) sent.push((await serverEnd.inner.receive())!);
  const seqs = [...wrapped, ...sent].map(seqOf).sort((a, b) => Number(a - b));
  assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => BigInt(i)));
  for (const r of shuffled([...wrapped, ...sent], 9)) await server.unwrap(r);
  await rejectsWith(server.unwrap(sent[0]!), "record_replayed");
});

Deno.test("concurrent wrap() calls resolve in sequence order", async () => {
  const { client } = await bufferPair();
  const resolved: bigint[] = [];
  await Promise.all(
    Array.from(
      { length: 300 },
      (_, i) => client.wrap(bytes(`m${i}`)).then((r) => resolved.push(seqOf(r))),
    ),
  );
  assert.deepEqual(resolved, Array.from({ length: 300 }, (_, i) => BigInt(i)));
});

Deno.test("300 concurrent wrap-then-unwrap pairs all deliver, whatever finishes first", async () => {
  const { client, server } = await bufferPair();
  const got = await Promise.all(
    Array.from(
      { length: 300 },
      async (_, i) => text(await server.unwrap(await client.wrap(bytes(`m${i}`)))),
    ),
  );
  assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => `m${i}`));
});

Deno.test("more unwrap() calls in flight than the window still accept every record", async () => {
  const { client, server } = await bufferPair();
  const records = await Promise.all(
    Array.from({ length: 400 }, (_, i) => client.wrap(bytes(`m${i}`))),
  );
  const got = await Promise.all(records.map(async (r) => text(await server.unwrap(r))));
  assert.deepEqual(got, Array.from({ length: 400 }, (_, i) => `m${i}`));
});
