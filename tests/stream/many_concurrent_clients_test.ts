// One server, many clients at once: every byte comes back to the client that sent it, none lost,
// duplicated or mixed up with another connection's.

import assert from "node:assert/strict";
import { connectSecure, serveSecure } from "../../lib/stream/mod.ts";
import { clientSession, randomBytes, readExactly, serverSession, sha256 } from "./_helpers.ts";

Deno.test("200 concurrent clients each get back exactly the random bytes they sent (SHA-256)", async () => {
  const sessionIds = new Set<string>();
  const server = serveSecure(
    // 200 handshakes at once take a while on a loaded machine: deadlines well above that.
    { hostname: "127.0.0.1", port: 0, session: serverSession(), handshakeTimeout: 60_000 },
    async (stream) => {
      sessionIds.add(stream.sessionId.join(","));
      await stream.readable.pipeTo(stream.writable);
    },
  );
  try {
    const clients = Array.from({ length: 200 }, async () => {
      const data = randomBytes(Math.floor(Math.random() * 96 * 1024));
      const stream = await connectSecure({
        port: server.addr.port,
        session: clientSession(),
        timeout: 60_000,
      });
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      const sending = (async () => {
        // Random pieces, some empty.
        for (let offset = 0; offset < data.length;) {
          const size = Math.floor(Math.random() * 9000);
          await writer.write(data.subarray(offset, offset + size));
          offset += size;
        }
      })();
      const [, echoed] = await Promise.all([sending, readExactly(reader, data.length)]);
      await writer.close();
      assert.equal((await reader.read()).done, true);
      await stream.closed;
      assert.equal(await sha256(echoed), await sha256(data));
      return data.length;
    });
    const sizes = await Promise.all(clients);
    assert.equal(sizes.length, 200);
    assert.equal(sessionIds.size, 200);
  } finally {
    await server.shutdown();
  }
});
