/**
 * The secure echo of `tcp_echo.ts` under Bun (or Node): sockets from
 * `node:net`, adapted to Web streams with `Duplex.toWeb()`, secured with
 * `SecureStream`. Server and client run in one process, exchange, and stop.
 *
 * ```sh
 * bunx bun@1.4.4 examples/bun_tcp.ts    # also runs under Deno
 * ```
 *
 * @module
 */

import net from "node:net";
import { Duplex } from "node:stream";
import { directoryLookup, generateIdentityKeyPair } from "../mod.ts";
import { SecureStream } from "../lib/stream/mod.ts";
import type { ByteStreamPair } from "../lib/transport/mod.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** A `node:net` socket as the `{ readable, writable }` byte stream a SecureStream takes. */
function webStreams(socket: net.Socket): ByteStreamPair {
  return Duplex.toWeb(socket) as unknown as ByteStreamPair;
}

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
 * Runs a `node:net` echo server secured with `SecureStream.accept`, and a
 * client with `SecureStream.connect`, on 127.0.0.1; then stops both.
 *
 * @returns Short human-readable report lines.
 */
export async function bunTcpEcho(): Promise<string[]> {
  const lines: string[] = [];
  const runtime = "Bun" in globalThis ? "Bun" : "Deno" in globalThis ? "Deno" : "Node";
  const serverKeys = await generateIdentityKeyPair();
  const clientKeys = await generateIdentityKeyPair();
  const getPublicKeyForId = directoryLookup({
    "echo.example": serverKeys.publicKey,
    "alice": clientKeys.publicKey,
  });

  const session = { id: "echo.example", privateKey: serverKeys.privateKey, getPublicKeyForId };
  const served: Promise<void>[] = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    served.push((async () => {
      const stream = await SecureStream.accept(webStreams(socket), { session });
      await stream.readable.pipeTo(stream.writable);
      await stream.closed;
    })());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  lines.push(`${runtime}: server listening on 127.0.0.1:${port}`);

  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.setNoDelay(true);
  const stream = await SecureStream.connect(webStreams(socket), {
    session: {
      id: "alice",
      privateKey: clientKeys.privateKey,
      getPublicKeyForId,
      expectedPeer: "echo.example",
    },
  });
  lines.push(`${runtime}: client connected to ${decode(stream.peerId)}`);

  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const echoed: string[] = [];
  for (const message of ["hello", "from", runtime]) {
    await writer.write(encode(message));
    echoed.push(decode(await readExactly(reader, message.length)));
  }
  lines.push(`${runtime}: echoed: ${echoed.join(" ")}`);
  const megabyte = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff);
  const [, back] = await Promise.all([
    writer.write(megabyte),
    readExactly(reader, megabyte.length),
  ]);
  const intact = back.every((b, i) => b === megabyte[i]);
  lines.push(`${runtime}: 1 MiB echoed intact: ${intact}`);

  await writer.close();
  const ended = (await reader.read()).done;
  await stream.closed;
  await Promise.all(served);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  lines.push(`${runtime}: closed cleanly: ${ended}; server stopped`);
  if (echoed.join(" ") !== `hello from ${runtime}` || !intact || !ended) {
    throw new Error("the secure echo did not round-trip");
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await bunTcpEcho()) console.log(line);
}
