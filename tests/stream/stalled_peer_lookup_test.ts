// A peer lookup (getPublicKeyForId, acceptPeer) that never settles, for an id the client chose:
// the handshake deadline still holds, so the connection is dropped with handshake_timeout, its
// handshake slot is freed for the next client, and the server can be stopped.

import assert from "node:assert/strict";
import { connectSecure, serveSecure } from "../../lib/stream/mod.ts";
import type { StreamSessionOptions } from "../../lib/stream/mod.ts";
import { settledWithin } from "../_settled.ts";
import { clientSession, readAll, serverSession, sleep, strangerSession, text } from "./_helpers.ts";

/** Lookups that wait until `release()`, then answer "unknown". */
function stalled() {
  const waiting: (() => void)[] = [];
  return {
    wait: (): Promise<null> => new Promise((resolve) => waiting.push(() => resolve(null))),
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

async function greet(stream: import("../../lib/stream/mod.ts").SecureStream): Promise<void> {
  const writer = stream.writable.getWriter();
  await writer.write(new TextEncoder().encode(`hello ${text(stream.peerId)}`));
  await writer.close();
}

Deno.test("a getPublicKeyForId that never settles is dropped at handshakeTimeout, freeing its slot, and close() returns", async () => {
  const lookups = stalled();
  const own = serverSession();
  const lookup: StreamSessionOptions["getPublicKeyForId"] = (id) =>
    text(id as Uint8Array) === "stranger" ? lookups.wait() : own.getPublicKeyForId(id);
  const errors: unknown[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: { ...own, getPublicKeyForId: lookup },
    handshakeTimeout: 200,
    maxConcurrentHandshakes: 1,
    onError: (err) => errors.push(err),
  }, greet);
  try {
    // The stranger's id makes the server's lookup hang.
    const stranger = await connectSecure({
      port: server.addr.port,
      session: strangerSession(),
      timeout: 1_000,
    }).catch(() => null);
    await sleep(800); // four deadlines
    assert.deepEqual(
      errors.map((e) => (e as { code?: string }).code),
      ["handshake_timeout"],
      "the stalled handshake is dropped at its deadline",
    );
    // The slot is free again: an honest client is served.
    const honest = connectSecure({
      port: server.addr.port,
      session: clientSession(),
      timeout: 1_500,
    })
      .then((stream) => readAll(stream.readable)).then(text);
    assert.equal(await settledWithin(honest, 2_000), "hello client");
    await stranger?.abort();
    assert.equal(await settledWithin(server.close(), 1_000), undefined, "close() returns");
  } finally {
    lookups.release();
    await server.close();
  }
});

Deno.test("an acceptPeer that never settles is dropped at handshakeTimeout, freeing its slot, and shutdown() returns", async () => {
  const decisions = stalled();
  const errors: unknown[] = [];
  const server = serveSecure({
    hostname: "127.0.0.1",
    port: 0,
    session: serverSession(),
    handshakeTimeout: 200,
    maxConcurrentHandshakes: 1,
    acceptPeer: (id) => text(id) === "client" ? decisions.wait().then(() => false) : true,
    onError: (err) => errors.push(err),
  }, greet);
  try {
    const first = await connectSecure({
      port: server.addr.port,
      session: clientSession(),
      timeout: 1_000,
    }).catch(() => null);
    await sleep(800);
    assert.deepEqual(errors.map((e) => (e as { code?: string }).code), ["handshake_timeout"]);
    await first?.abort();
    assert.equal(await settledWithin(server.shutdown(), 1_000), undefined, "shutdown() returns");
  } finally {
    decisions.release();
    await server.close();
  }
});
