/**
 * A tessera server for Themis apps: a `Deno.serve` WebSocket endpoint with
 * the Themis profile, and a client app written with WasmThemis 0.15.0 (as a
 * web or mobile Themis app would be) that connects to it, sends two lines and
 * reads the answers. The app's keys are made by WasmThemis and reach the
 * server as Themis containers; the server's keys are made by tessera and
 * reach the app the same way. It starts, exchanges and stops by itself:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-read --allow-env examples/themis_interop.ts
 * ```
 *
 * (`--allow-read` and `--allow-env` are for WasmThemis, which reads its
 * `.wasm` file from disk.)
 *
 * @module
 */

import { generateIdentityKeyPair, type SecureSession } from "../mod.ts";
import {
  exportThemisPrivateKey,
  exportThemisPublicKey,
  importThemisPublicKey,
  themis,
} from "../lib/themis/mod.ts";
import { secureWebSocketHandler } from "../lib/transport/mod.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** WasmThemis, loaded from disk: `fetch` is hidden while it initializes. */
async function loadWasmThemis() {
  const savedFetch = globalThis.fetch;
  (globalThis as { fetch?: typeof fetch }).fetch = undefined;
  try {
    const wasmThemis = await import("npm:wasm-themis@0.15.0");
    await wasmThemis.initialized;
    return wasmThemis;
  } finally {
    globalThis.fetch = savedFetch;
  }
}

/** Messages of a WebSocket, one promise at a time. */
function inbox(socket: WebSocket): () => Promise<Uint8Array> {
  const queue: Uint8Array[] = [];
  const waiting: ((m: Uint8Array) => void)[] = [];
  socket.addEventListener("message", (event) => {
    const message = new Uint8Array(event.data as ArrayBuffer);
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return () => {
    const next = queue.shift();
    return next ? Promise.resolve(next) : new Promise((resolve) => waiting.push(resolve));
  };
}

/**
 * Starts the server on 127.0.0.1 (ephemeral port), runs the WasmThemis app
 * against it, and stops it.
 *
 * @returns What each side saw, one line per event.
 */
export async function themisInterop(): Promise<string[]> {
  const lines: string[] = [];
  const wasmThemis = await loadWasmThemis();

  // Keys. The app's pair comes from WasmThemis; the server stores its public key container.
  const appKeys = new wasmThemis.KeyPair();
  const registered = new Map([["mobile-app-7", await importThemisPublicKey(appKeys.publicKey)]]);
  // The server's pair comes from tessera; the app ships with its public key container.
  const serverKeys = await generateIdentityKeyPair({ extractable: true });
  const serverContainer = await exportThemisPublicKey(serverKeys.publicKey);
  lines.push(
    `server key as a Themis container: ${decode(serverContainer.subarray(0, 4))}, ` +
      `${serverContainer.length} bytes`,
  );
  // One key pair serves both profiles; the private key could be stored as REC2 as well.
  const privateContainer = await exportThemisPrivateKey(serverKeys.privateKey);
  lines.push(`server private key as REC2: ${privateContainer.length} bytes`);

  // The server: answers each line with its length, naming the authenticated app.
  const served = Promise.withResolvers<void>();
  const handler = secureWebSocketHandler(
    {
      id: "server",
      privateKey: serverKeys.privateKey,
      getPublicKeyForId: (id) => registered.get(decode(id)),
      profile: themis,
      handshakeTimeout: 5_000,
    },
    async (session: SecureSession) => {
      const app = decode(session.peerId!);
      lines.push(`server: ${app} connected (profile ${session.profile})`);
      try {
        for (;;) {
          const line = decode((await session.receive())!);
          lines.push(`server reads from ${app}: ${line}`);
          await session.send(encode(`${line.length} characters, ${app}`));
        }
      } catch (err) {
        // Themis has no close message: the end of the socket is how the app leaves.
        lines.push(`server: ${app} left (${(err as { code?: string }).code})`);
      } finally {
        served.resolve();
      }
    },
  );
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);

  // The app: WasmThemis's buffer API over a WebSocket, one Themis message per WebSocket message.
  const serverPublic = new wasmThemis.PublicKey(serverContainer);
  const app = new wasmThemis.SecureSession(
    encode("mobile-app-7"),
    appKeys.privateKey,
    (id: Uint8Array) => decode(id) === "server" ? serverPublic : (null as never),
  );
  const socket = new WebSocket(`ws://127.0.0.1:${http.addr.port}`);
  socket.binaryType = "arraybuffer";
  const next = inbox(socket);
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  socket.send(app.connectionRequest());
  while (!app.established()) {
    const reply = app.negotiateReply(await next());
    if (reply.length > 0) socket.send(reply);
  }
  lines.push("app: established with server");
  for (const line of ["hello from WasmThemis", "bye"]) {
    socket.send(app.wrap(encode(line)));
    lines.push(`app reads: ${decode(app.unwrap(await next()))}`);
  }
  socket.close();
  await served.promise;
  app.destroy();
  await http.shutdown();
  lines.push("server stopped");
  return lines;
}

if (import.meta.main) {
  for (const line of await themisInterop()) console.log(line);
}
