// The behaviours of _behaviours.ts, and the server and client helpers, over a Unix socket. Run by
// transport_behaviours_test.ts in a child process allowed exactly the socket path
// TESSERA_TEST_SOCKET (one socket at a time: every test removes it when done).

import assert from "node:assert/strict";
import { connectSecure, serveSecure } from "../../lib/stream/mod.ts";
import { registerBehaviours } from "./_behaviours.ts";
import { clientSession, readAll, serverSession, text } from "./_helpers.ts";

const path = Deno.env.get("TESSERA_TEST_SOCKET");
if (!path) throw new Error("TESSERA_TEST_SOCKET names the socket path");

async function removeSocket(): Promise<void> {
  await Deno.remove(path!).catch(() => {});
}

async function unixPair(): Promise<[Deno.Conn, Deno.Conn]> {
  await removeSocket();
  const listener = Deno.listen({ transport: "unix", path: path! });
  try {
    return await Promise.all([Deno.connect({ transport: "unix", path: path! }), listener.accept()]);
  } finally {
    listener.close();
    await removeSocket();
  }
}

registerBehaviours("a Unix socket", unixPair);

Deno.test("serveSecure({ path }) and connectSecure({ path }) talk over a Unix socket", async () => {
  await removeSocket();
  const server = serveSecure({ path: path!, session: serverSession() }, async (stream) => {
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode(`hello ${text(stream.peerId)}`));
    await writer.close();
  });
  try {
    assert.equal(server.addr.transport, "unix");
    const stream = await connectSecure({ path: path!, session: clientSession() });
    assert.equal(text(await readAll(stream.readable)), "hello client");
    await stream.closed;
  } finally {
    await server.shutdown();
    await removeSocket();
  }
});
