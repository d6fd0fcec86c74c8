// Clients the server will not talk to learn it with a typed error instead of waiting, and the
// server reports why; clients it accepts are served all the while.

import assert from "node:assert/strict";
import { HandshakeError } from "../../lib/errors.ts";
import { connectSecure, serveSecure } from "../../lib/stream/mod.ts";
import {
  clientSession,
  otherSession,
  readAll,
  serverSession,
  strangerSession,
  text,
} from "./_helpers.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function greeter(options: { acceptPeer?: (id: Uint8Array) => boolean | Promise<boolean> }) {
  const errors: string[] = [];
  const seen: string[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    onError: (err) => errors.push((err as HandshakeError).code),
    ...options,
  }, async (stream) => {
    seen.push(text(stream.peerId));
    const writer = stream.writable.getWriter();
    await writer.write(bytes(`hello ${text(stream.peerId)}`));
    await writer.close();
  });
  return { server, errors, seen };
}

Deno.test("a client acceptPeer refuses learns handshake_refused from its first read; another client is served", async () => {
  const asked: string[] = [];
  const { server, errors, seen } = greeter({
    acceptPeer: async (id) => {
      asked.push(text(id));
      await Promise.resolve();
      return text(id) !== "client";
    },
  });
  try {
    const [refused, accepted] = await Promise.all([
      connectSecure({ port: server.addr.port, session: clientSession() }),
      connectSecure({ port: server.addr.port, session: otherSession() }),
    ]);
    // tessera/1's client is established after its second message; the refusal follows.
    await assert.rejects(readAll(refused.readable), (err) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.code, "handshake_refused");
      return true;
    });
    await assert.rejects(refused.closed, { code: "handshake_refused" });
    await assert.rejects(refused.writable.getWriter().write(bytes("x")), {
      code: "handshake_refused",
    });
    assert.equal(text(await readAll(accepted.readable)), "hello other");
    assert.deepEqual(asked.sort(), ["client", "other"]);
    assert.deepEqual(seen, ["other"]);
    assert.deepEqual(errors, ["handshake_peer_rejected"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a client whose id the server does not know learns handshake_refused; the server reports handshake_unknown_peer", async () => {
  const { server, errors, seen } = greeter({});
  try {
    const stranger = await connectSecure({ port: server.addr.port, session: strangerSession() });
    await assert.rejects(readAll(stranger.readable), { code: "handshake_refused" });
    await assert.rejects(stranger.closed, { code: "handshake_refused" });
    assert.deepEqual(errors, ["handshake_unknown_peer"]);
    assert.deepEqual(seen, []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a client that expects another server refuses it in connectSecure() with handshake_peer_rejected", async () => {
  const { server, errors } = greeter({});
  try {
    await assert.rejects(
      connectSecure({
        port: server.addr.port,
        session: clientSession({ expectedPeer: "somebody else" }),
      }),
      { code: "handshake_peer_rejected" },
    );
    // The server heard the client's alert.
    while (errors.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(errors, ["handshake_refused"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("acceptPeer cannot let in a client presenting the server's own id", async () => {
  const { server, errors } = greeter({ acceptPeer: () => true });
  try {
    const impostor = await connectSecure({
      port: server.addr.port,
      session: serverSession({ expectedPeer: "server" }),
    });
    await assert.rejects(readAll(impostor.readable), { code: "handshake_refused" });
    assert.deepEqual(errors, ["handshake_peer_rejected"]);
  } finally {
    await server.shutdown();
  }
});
