import assert from "node:assert/strict";
import { generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import { framedStreamTransport } from "../../lib/transport/mod.ts";
import { settledWithin } from "../_settled.ts";

/** A stream pair whose readable side yields `chunks` and whose writable side collects. */
function scripted(chunks: Uint8Array[]): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  written: Uint8Array[];
} {
  const written: Uint8Array[] = [];
  return {
    readable: new ReadableStream({
      start(controller) {
        for (const c of chunks) controller.enqueue(c);
        controller.close();
      },
    }),
    writable: new WritableStream({ write: (c) => void written.push(c) }),
    written,
  };
}

function frame(payload: number[]): number[] {
  const n = payload.length;
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...payload];
}

Deno.test("framedStreamTransport() reassembles frames delivered one byte at a time", async () => {
  const bytes = [...frame([1, 2, 3]), ...frame([]), ...frame([9])];
  const t = framedStreamTransport(scripted(bytes.map((b) => new Uint8Array([b]))));
  assert.deepEqual(await t.receive(), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await t.receive(), new Uint8Array([]));
  assert.deepEqual(await t.receive(), new Uint8Array([9]));
  assert.equal(await t.receive(), null);
});

Deno.test("framedStreamTransport() splits several frames that arrive in one chunk", async () => {
  const t = framedStreamTransport(scripted([new Uint8Array([...frame([1]), ...frame([2, 2])])]));
  const [a, b] = await Promise.all([t.receive(), t.receive()]);
  assert.deepEqual(a, new Uint8Array([1]));
  assert.deepEqual(b, new Uint8Array([2, 2]));
});

Deno.test("framedStreamTransport() reports a stream that ends inside a frame", async () => {
  const inBody = framedStreamTransport(scripted([new Uint8Array(frame([1, 2, 3]).slice(0, 6))]));
  await assert.rejects(inBody.receive(), { code: "transport_closed" });
  const inHeader = framedStreamTransport(scripted([new Uint8Array([0, 0])]));
  await assert.rejects(inHeader.receive(), { code: "transport_closed" });
});

Deno.test("framedStreamTransport() refuses a frame above the bound before buffering it", async () => {
  const t = framedStreamTransport(scripted([new Uint8Array([0xff, 0xff, 0xff, 0xff])]), {
    maxFrameSize: 1024,
  });
  await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  const small = framedStreamTransport(scripted([]), { maxFrameSize: 2 });
  await assert.rejects(small.send(new Uint8Array(3)), { code: "transport_frame_too_large" });
  assert.throws(() => framedStreamTransport(scripted([]), { maxFrameSize: 0 }), RangeError);
});

Deno.test("framedStreamTransport() writes a length prefix before each message", async () => {
  const s = scripted([]);
  const t = framedStreamTransport(s);
  await t.send(new Uint8Array([7, 8]));
  assert.deepEqual(s.written, [new Uint8Array([0, 0, 0, 2, 7, 8])]);
});

Deno.test("a SecureSession runs over TCP on 127.0.0.1 with the callback API", async () => {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const lookup = (id: Uint8Array): CryptoKey => (id[0] === 0x63 ? a.publicKey : b.publicKey);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const serverSide = (async (): Promise<string[]> => {
      const conn = await listener.accept();
      const transport = framedStreamTransport(conn);
      const server = new SecureSession({
        id: "server",
        privateKey: b.privateKey,
        getPublicKeyForId: lookup,
        transport,
      });
      const got: string[] = [];
      // Bounded: at most 10 messages, stops at the client's close.
      for (let i = 0; i < 10; i++) {
        const message = await server.receive();
        if (message === null) break;
        got.push(new TextDecoder().decode(message));
        await server.send(message.slice().reverse());
      }
      await transport.close();
      return got;
    })();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const transport = framedStreamTransport(conn);
    const client = new SecureSession({
      id: "client",
      privateKey: a.privateKey,
      getPublicKeyForId: lookup,
      transport,
    });
    await client.connect();
    const replies: string[] = [];
    for (const word of ["abc", "tessera"]) {
      await client.send(new TextEncoder().encode(word));
      replies.push(new TextDecoder().decode((await client.receive())!));
    }
    await client.close();
    assert.deepEqual(await serverSide, ["abc", "tessera"]);
    assert.deepEqual(replies, ["cba", "aresset"]);
    await transport.close();
  } finally {
    listener.close();
  }
});

Deno.test("receive() reports a transport that ends before the peer closed", async () => {
  const a = await generateIdentityKeyPair();
  const session = new SecureSession({
    id: "s",
    privateKey: a.privateKey,
    getPublicKeyForId: () => a.publicKey,
    transport: framedStreamTransport(scripted([])),
  });
  await assert.rejects(session.receive(), { code: "transport_closed" });
  assert.equal(session.state, "closed");
  assert.equal(session.error?.code, "transport_closed");
});

Deno.test("a SecureSession server refuses an oversized first frame without waiting for its body", async () => {
  const a = await generateIdentityKeyPair();
  // The peer announces a 1 000 000-byte frame and then sends nothing more, ever.
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([0x00, 0x0f, 0x42, 0x40]));
    },
  });
  const session = new SecureSession({
    id: "server",
    privateKey: a.privateKey,
    getPublicKeyForId: () => null,
    transport: framedStreamTransport({ readable, writable: new WritableStream() }),
  });
  // Without the bound the transport would wait for the body forever: "pending".
  assert.equal(await settledWithin(session.accept(), 2000), "rejected:transport_frame_too_large");
});

Deno.test("once established, a session bounds frames by its record size", async () => {
  const a = await generateIdentityKeyPair();
  const b = await generateIdentityKeyPair();
  const keys = new Map([["c", a.publicKey], ["s", b.publicKey]]);
  const lookup = (id: Uint8Array): CryptoKey | null =>
    keys.get(new TextDecoder().decode(id)) ?? null;
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const clientEnd = framedStreamTransport({
    readable: toClient.readable,
    writable: toServer.writable,
  });
  const serverEnd = framedStreamTransport({
    readable: toServer.readable,
    writable: toClient.writable,
  });
  const limits = { maxRecordSize: 100 };
  const client = new SecureSession({
    id: "c",
    privateKey: a.privateKey,
    getPublicKeyForId: lookup,
    transport: clientEnd,
    ...limits,
  });
  const server = new SecureSession({
    id: "s",
    privateKey: b.privateKey,
    getPublicKeyForId: lookup,
    transport: serverEnd,
    ...limits,
  });
  await Promise.all([client.connect(), server.accept()]);
  // (A TransformStream hands a write over only when it is read: receive first.)
  const first = server.receive();
  await client.send(new Uint8Array(100));
  assert.equal((await first)!.length, 100);
  // A frame far above maxRecordSize + slack is refused before its body is read.
  const pending = server.receive();
  await clientEnd.send(new Uint8Array(5000)).catch(() => {});
  await assert.rejects(pending, { code: "transport_frame_too_large" });
});
