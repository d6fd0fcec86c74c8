// Adversarial checks of the transports: what happens after a refused frame, and sockets that
// are already closed when they are adapted.

import assert from "node:assert/strict";
import { framedStreamTransport } from "../../lib/transport/framed_stream.ts";
import { webSocketTransport } from "../../lib/transport/websocket.ts";
import { settledWithin } from "../_settled.ts";

Deno.test("after a frame above the bound, framedStreamTransport() delivers no message cut from that frame's body", async () => {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const writer = pipe.writable.getWriter();
  const t = framedStreamTransport({ readable: pipe.readable, writable: new WritableStream() }, {
    maxFrameSize: 16,
  });
  // A 100-byte frame: its header arrives first and is refused.
  writer.write(new Uint8Array([0, 0, 0, 100])).catch(() => {});
  await assert.rejects(t.receive(), { code: "transport_frame_too_large" });
  // The rest of its body, chosen by the peer to look like a frame of its own.
  writer.write(new Uint8Array([0, 0, 0, 3, 9, 9, 9])).catch(() => {});
  const next = await settledWithin(t.receive(), 200);
  writer.close().catch(() => {});
  await t.close();
  assert.ok(
    typeof next === "string" && next.startsWith("rejected:"),
    `expected the transport to stay failed, got ${String(next)}`,
  );
});

Deno.test("webSocketTransport() of a socket that is already closed ends receive() and refuses send()", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => socket.close();
    return response;
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}`);
    await new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    assert.equal(ws.readyState, WebSocket.CLOSED);
    const t = webSocketTransport(ws);
    assert.equal(await settledWithin(t.receive(), 300), null);
    assert.equal(
      await settledWithin(t.send(new Uint8Array([1])), 300),
      "rejected:transport_closed",
    );
  } finally {
    await server.shutdown();
  }
});
