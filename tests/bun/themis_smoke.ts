// Bun smoke test of the Themis profile against WasmThemis. npx -y bun@1.4.4 tests/bun/themis_smoke.ts
// Bun installs `wasm-themis` from npm on first import (auto-install; Deno maps it to
// npm:wasm-themis@0.15.0 in deno.json). Also runs under Deno. Exits non-zero on any failure;
// the last line is "N passed, M failed".

import assert from "node:assert/strict";
import { generateIdentityKeyPair, SecureSession } from "../../mod.ts";
import {
  exportThemisPrivateKey,
  exportThemisPublicKey,
  importThemisPrivateKey,
  importThemisPublicKey,
  themis,
} from "../../lib/themis/mod.ts";
import { memoryTransportPair } from "../../lib/transport/mod.ts";
import { run, test } from "./_harness.ts";

const runtime = "Bun" in globalThis ? "Bun" : "Deno" in globalThis ? "Deno" : "unknown";
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const name = (id: Uint8Array): string => new TextDecoder().decode(id);

// WasmThemis reads its .wasm from disk when there is no fetch.
const savedFetch = globalThis.fetch;
(globalThis as { fetch?: typeof fetch }).fetch = undefined;
const wasm = await import("wasm-themis@0.15.0");
await wasm.initialized;
globalThis.fetch = savedFetch;

// The app's keys from WasmThemis; the service's from tessera.
const appKeys = new wasm.KeyPair();
const service = await generateIdentityKeyPair({ extractable: true });
const serviceUec2 = await exportThemisPublicKey(service.publicKey);
const appPublic = await importThemisPublicKey(appKeys.publicKey);
const servicePublic = await importThemisPublicKey(serviceUec2);
const lookup = (id: Uint8Array) =>
  name(id) === "app" ? appPublic : name(id) === "service" ? servicePublic : null;

function wasmApp() {
  const serviceKey = new wasm.PublicKey(serviceUec2);
  return new wasm.SecureSession(
    text("app"),
    appKeys.privateKey,
    (id: Uint8Array) => name(id) === "service" ? serviceKey : (null as never),
  );
}

function tesseraService(): SecureSession {
  return new SecureSession({
    id: "service",
    privateKey: service.privateKey,
    getPublicKeyForId: lookup,
    profile: themis,
  });
}

test("a WasmThemis app completes the handshake with a tessera service and both exchange data", async () => {
  const app = wasmApp();
  const server = tesseraService();
  let message = app.connectionRequest();
  for (;;) {
    const reply = await server.negotiate(message);
    if (reply === null) break;
    message = app.negotiateReply(reply);
    if (message.length === 0) break;
  }
  assert.ok(app.established() && server.isEstablished());
  for (const size of [1, 100, 70_000]) {
    const data = new Uint8Array(size).map((_, i) => i & 0xff);
    assert.deepEqual(await server.unwrap(app.wrap(data)), data);
    assert.deepEqual(new Uint8Array(app.unwrap(await server.wrap(data))), data);
  }
  app.destroy();
});

test("a tessera client with keys from Themis containers completes the handshake with a WasmThemis server", async () => {
  const appPrivate = await importThemisPrivateKey(appKeys.privateKey);
  const client = new SecureSession({
    id: "app",
    privateKey: appPrivate,
    getPublicKeyForId: lookup,
    profile: themis,
  });
  const serverKeys = new wasm.KeyPair(
    new wasm.PrivateKey(await exportThemisPrivateKey(service.privateKey)),
    new wasm.PublicKey(serviceUec2),
  );
  const appKey = new wasm.PublicKey(appKeys.publicKey);
  const server = new wasm.SecureSession(
    text("service"),
    serverKeys.privateKey,
    (id: Uint8Array) => name(id) === "app" ? appKey : (null as never),
  );
  let message: Uint8Array | null = await client.connectRequest();
  while (message) message = await client.negotiate(server.negotiateReply(message));
  assert.ok(client.isEstablished() && server.established());
  const wrapped = await client.wrap(text("hello"));
  assert.deepEqual(new Uint8Array(server.unwrap(wrapped)), text("hello"));
  const back = server.wrap(text("back"));
  assert.deepEqual(await client.unwrap(back), text("back"));
  await assert.rejects(client.unwrap(back), { code: "record_replayed" });
  server.destroy();
});

test("two tessera peers with the Themis profile run the callback API over an in-memory transport", async () => {
  const [a, b] = memoryTransportPair();
  const appPrivate = await importThemisPrivateKey(appKeys.privateKey);
  const client = new SecureSession({
    id: "app",
    privateKey: appPrivate,
    getPublicKeyForId: lookup,
    profile: themis,
    transport: a,
  });
  const server = new SecureSession({
    id: "service",
    privateKey: service.privateKey,
    getPublicKeyForId: lookup,
    profile: themis,
    transport: b,
  });
  await Promise.all([client.connect(), server.accept()]);
  await client.send(text("ping"));
  assert.deepEqual(await server.receive(), text("ping"));
  assert.equal(await client.close(), null); // Themis has no close message
});

await run(`Themis profile on ${runtime}`);
