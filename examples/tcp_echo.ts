/**
 * A secure echo server and its client over TCP, in one process: the server
 * is three lines, the client one call; they exchange a few messages and a
 * megabyte, close, and stop.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 examples/tcp_echo.ts
 * ```
 *
 * @module
 */

import { directoryLookup, generateIdentityKeyPair } from "../mod.ts";
import { connectSecure, type SecureStream, serveSecure } from "../lib/stream/mod.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Reads exactly `n` bytes from `reader`. */
async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended after ${got} of ${n} bytes`);
    out.set(value, got);
    got += value.length;
  }
  return out;
}

/**
 * Runs the echo server and a client on 127.0.0.1 (an ephemeral port), then
 * stops both.
 *
 * @returns Short human-readable report lines.
 */
export async function tcpEcho(): Promise<string[]> {
  const lines: string[] = [];
  // Long-term identities; a real deployment loads them (see "Keys in files" in the README).
  const serverKeys = await generateIdentityKeyPair();
  const clientKeys = await generateIdentityKeyPair();
  const getPublicKeyForId = directoryLookup({
    "echo.example": serverKeys.publicKey,
    "alice": clientKeys.publicKey,
  });

  // The server, in three lines: every connection runs its handshake (10 s deadline), then echoes.
  const echo = (stream: SecureStream) => stream.readable.pipeTo(stream.writable);
  const session = { id: "echo.example", privateKey: serverKeys.privateKey, getPublicKeyForId };
  const server = serveSecure({ hostname: "127.0.0.1", port: 0, session }, echo);
  lines.push(`server listening on 127.0.0.1:${server.addr.port}`);

  // The client names the server it expects; connecting and the handshake share one deadline.
  const stream = await connectSecure({
    hostname: "127.0.0.1",
    port: server.addr.port,
    session: {
      id: "alice",
      privateKey: clientKeys.privateKey,
      getPublicKeyForId,
      expectedPeer: "echo.example",
    },
    timeout: 5_000,
  });
  lines.push(`client connected to ${decode(stream.peerId)}`);

  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const echoed: string[] = [];
  for (const message of ["hello", "secure", "world"]) {
    await writer.write(encode(message));
    echoed.push(decode(await readExactly(reader, message.length)));
  }
  lines.push(`echoed: ${echoed.join(" ")}`);

  // A megabyte in one write, read back while it is being written.
  const bulk = crypto.getRandomValues(new Uint8Array(64 * 1024)).slice();
  const megabyte = new Uint8Array(1024 * 1024).map((_, i) => bulk[i % bulk.length]!);
  const [, back] = await Promise.all([
    writer.write(megabyte),
    readExactly(reader, megabyte.length),
  ]);
  lines.push(`1 MiB echoed intact: ${back.every((b, i) => b === megabyte[i])}`);

  // The authenticated close: the server's readable ends, its handler returns, and the
  // connection closes; this side's readable ends cleanly too.
  await writer.close();
  lines.push(`client closed; its readable ended: ${(await reader.read()).done}`);
  await stream.closed;
  await server.shutdown();
  lines.push("server stopped");
  return lines;
}

if (import.meta.main) {
  for (const line of await tcpEcho()) console.log(line);
}
