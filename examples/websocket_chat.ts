/**
 * A chat room over Secure Sessions on WebSocket: a `Deno.serve` endpoint
 * (`secureWebSocketHandler`) and two clients (`connectWebSocket`) that join,
 * talk through the server and leave. Each line the server relays is named by
 * the sender's authenticated id, not by anything the sender wrote. It starts,
 * exchanges and stops by itself:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 examples/websocket_chat.ts
 * ```
 *
 * @module
 */

import { directoryLookup, generateIdentityKeyPair, type SecureSession } from "../mod.ts";
import { connectWebSocket, secureWebSocketHandler } from "../lib/transport/mod.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array | null): string =>
  bytes === null ? "(end)" : new TextDecoder().decode(bytes);

/**
 * Starts the chat server on 127.0.0.1 (ephemeral port), lets alice and bob
 * talk through it, and stops it.
 *
 * @returns What each client read, one line per message, and the end.
 */
export async function websocketChat(): Promise<string[]> {
  const lines: string[] = [];
  const keys = {
    chat: await generateIdentityKeyPair(),
    alice: await generateIdentityKeyPair(),
    bob: await generateIdentityKeyPair(),
  };
  const getPublicKeyForId = directoryLookup({
    chat: keys.chat.publicKey,
    alice: keys.alice.publicKey,
    bob: keys.bob.publicKey,
  });

  // The server: everyone in the room hears what anyone else says.
  const room = new Map<SecureSession, string>();
  const relay = (from: SecureSession | null, text: string): Promise<unknown> =>
    Promise.all(
      [...room.keys()].filter((s) => s !== from).map((s) => s.send(encode(text)).catch(() => {})),
    );
  const handler = secureWebSocketHandler(
    {
      id: "chat",
      privateKey: keys.chat.privateKey,
      getPublicKeyForId,
      maxRecordSize: 64 * 1024, // chat lines are short; a proxy in front would bound messages near it
      handshakeTimeout: 5_000,
    },
    async (session) => {
      const name = decode(session.peerId);
      await relay(null, `${name} joined`);
      room.set(session, name);
      await session.send(encode(`welcome, ${name}: ${room.size} here`));
      try {
        for (let m = await session.receive(); m !== null; m = await session.receive()) {
          await relay(session, `${name}: ${decode(m)}`);
        }
      } finally {
        room.delete(session);
        await relay(null, `${name} left`);
      }
    },
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const url = `ws://127.0.0.1:${server.addr.port}/chat`;

  // The clients: each names the server it expects, so it shows its id to no other.
  const join = (id: "alice" | "bob"): Promise<SecureSession> =>
    connectWebSocket(url, {
      id,
      privateKey: keys[id].privateKey,
      getPublicKeyForId,
      expectedPeer: "chat",
      timeout: 5_000,
    });
  const read = async (who: string, session: SecureSession): Promise<void> => {
    lines.push(`${who} reads: ${decode(await session.receive())}`);
  };
  try {
    const alice = await join("alice");
    await read("alice", alice); // welcome
    const bob = await join("bob");
    await read("bob", bob); // welcome
    await read("alice", alice); // bob joined
    await alice.send(encode("hi bob"));
    await read("bob", bob);
    await bob.send(encode("hi alice, got to go"));
    await read("alice", alice);
    await bob.close(); // the close record, then the socket closes
    await read("alice", alice); // bob left
    await alice.close();
    await read("alice", alice); // the end: alice closed her own session
  } finally {
    await server.shutdown();
  }
  lines.push("server stopped");
  return lines;
}

if (import.meta.main) {
  for (const line of await websocketChat()) console.log(line);
}
