// Mistakes are caught where they are made, with a message that says what was expected and, for
// size limits, the limit and the actual size.

import assert from "node:assert/strict";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { framedStreamTransport } from "../../lib/transport/framed_stream.ts";
import { webSocketTransport } from "../../lib/transport/websocket.ts";
import { alice, lookupOf } from "../session/_helpers.ts";

Deno.test("framedStreamTransport() names what it takes when given something else", () => {
  for (const bad of [{}, null, "tcp://x", { readable: {}, writable: {} }]) {
    assert.throws(() => framedStreamTransport(bad as never), {
      name: "TypeError",
      message: /takes a \{ readable, writable \} byte stream pair/,
    });
  }
  assert.throws(
    () => framedStreamTransport(new TransformStream(), { maxFrameSzie: 5 } as never),
    /no option "maxFrameSzie" \(did you mean "maxFrameSize"\?\)/,
  );
});

Deno.test("webSocketTransport() given a URL says to pass a WebSocket or use connectWebSocket", () => {
  assert.throws(() => webSocketTransport("ws://127.0.0.1:1/" as never), {
    name: "TypeError",
    message: /not a URL: pass new WebSocket\(url\), or use connectWebSocket\(url, options\)/,
  });
  assert.throws(() => webSocketTransport({} as never), /takes a WebSocket/);
});

Deno.test("SecureSession refuses unknown option names, naming the one meant", () => {
  const base = {
    id: alice.id,
    privateKey: alice.keys.privateKey,
    getPublicKeyForId: lookupOf(alice),
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ timeout: 5000 }, /SecureSession has no option "timeout" \(did you mean "a deadline around/],
    [{ maxRecordSzie: 1 }, /did you mean "maxRecordSize"/],
    [{ expectedpeer: "bob" }, /did you mean "expectedPeer"/],
    [{ lookup: () => null }, /did you mean "getPublicKeyForId"/],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => new SecureSession({ ...base, ...extra } as never), {
      name: "TypeError",
      message,
    });
  }
});

Deno.test("a byte stream passed as transport is refused, pointing at framedStreamTransport", () => {
  const base = {
    id: alice.id,
    privateKey: alice.keys.privateKey,
    getPublicKeyForId: lookupOf(alice),
  };
  assert.throws(
    () => new SecureSession({ ...base, transport: new TransformStream() as never }),
    { name: "TypeError", message: /byte stream .*wrap it with framedStreamTransport\(stream\)/ },
  );
});

Deno.test("SecureSession.restore() refuses unknown option names before it reads the state", async () => {
  await assert.rejects(
    SecureSession.restore(new Uint8Array(10), new Uint8Array(32), { minGenration: 1 } as never),
    /restore\(\) has no option "minGenration" \(did you mean "minGeneration"\?\)/,
  );
});

Deno.test("a frame over the bound says the bound, which one, and the actual size", async () => {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const transport = framedStreamTransport(pipe, { maxFrameSize: 10_000 });
  await assert.rejects(transport.send(new Uint8Array(10_001)), {
    code: "transport_frame_too_large",
    message: "a message of 10001 bytes exceeds maxFrameSize (10000 bytes)",
  });
  transport.limit(4096); // as a session does during its handshake
  const sent = transport.send(new Uint8Array(5000));
  await assert.rejects(transport.receive(), {
    code: "transport_frame_too_large",
    message:
      /^a frame of 5000 bytes exceeds the bound the session set for its next message .*: 4096 bytes$/,
  });
  await sent.catch(() => {});
});

Deno.test("an oversized handshake message names its size and the bound", async () => {
  const server = new SecureSession({
    id: alice.id,
    privateKey: alice.keys.privateKey,
    getPublicKeyForId: lookupOf(alice),
  });
  const hello = new Uint8Array(5000);
  hello[0] = 1;
  await assert.rejects(server.negotiate(hello), {
    code: "handshake_malformed",
    message: "a handshake message of 5000 bytes exceeds the bound of 4096",
  });
});
