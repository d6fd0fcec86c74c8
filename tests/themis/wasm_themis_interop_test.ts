// Live interop with WasmThemis 0.15.0 in both roles, with keys made on either side, and
// messages of 1 B, 100 B and 70,000 B both ways.

import assert from "node:assert/strict";
import {
  client,
  data,
  server,
  tesseraMadeIdentity,
  tesseraSession,
  tesseraToWasm,
  type ThemisIdentity,
  themisMadeIdentity,
  wasmSession,
  wasmToTessera,
} from "./_wasm_themis.ts";

const SIZES = [1, 100, 70_000];

type Maker = (name: string) => Promise<ThemisIdentity>;
const makers: [string, Maker][] = [
  ["WasmThemis", themisMadeIdentity],
  ["tessera", tesseraMadeIdentity],
];

for (const [clientMaker, makeClient] of makers) {
  for (const [serverMaker, makeServer] of makers) {
    const keys = `client keys made by ${clientMaker}, server keys by ${serverMaker}`;

    Deno.test(`a tessera client and a WasmThemis server exchange 1 B, 100 B and 70,000 B both ways (${keys})`, async () => {
      const c = await makeClient("client");
      const s = await makeServer("server");
      const tessera = tesseraSession(c, { getPublicKeyForId: (id) => lookup(id, s) });
      const wasm = wasmSession(s, [c, s]);
      assert.equal(await tesseraToWasm(tessera, wasm), 4);
      assert.deepEqual(tessera.peerId, s.id);
      for (const size of SIZES) {
        const up = data(size, 1);
        const wrapped = await tessera.wrap(up);
        assert.equal(wrapped.length, size + 52);
        assert.deepEqual(new Uint8Array(wasm.unwrap(wrapped)), up);
        const down = data(size, 2);
        assert.deepEqual(await tessera.unwrap(wasm.wrap(down)), down);
      }
      wasm.destroy();
    });

    Deno.test(`a WasmThemis client and a tessera server exchange 1 B, 100 B and 70,000 B both ways (${keys})`, async () => {
      const c = await makeClient("client");
      const s = await makeServer("server");
      const tessera = tesseraSession(s, { getPublicKeyForId: (id) => lookup(id, c) });
      const wasm = wasmSession(c, [c, s]);
      assert.equal(await wasmToTessera(wasm, tessera), 4);
      assert.deepEqual(tessera.peerId, c.id);
      assert.equal(tessera.role, "server");
      for (const size of SIZES) {
        const up = data(size, 3);
        assert.deepEqual(await tessera.unwrap(wasm.wrap(up)), up);
        const down = data(size, 4);
        assert.deepEqual(new Uint8Array(wasm.unwrap(await tessera.wrap(down))), down);
      }
      wasm.destroy();
    });
  }
}

/** A lookup that knows exactly one identity. */
function lookup(id: Uint8Array, known: ThemisIdentity): CryptoKey | null {
  return new TextDecoder().decode(id) === known.name ? known.publicKey : null;
}

Deno.test("a lookup may return the peer's UEC2 container, as a Themis app's callback does", async () => {
  const tessera = tesseraSession(server, {
    getPublicKeyForId: (id) =>
      new TextDecoder().decode(id) === "client" ? client.publicContainer : null,
  });
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  assert.deepEqual(await tessera.unwrap(wasm.wrap(data(10))), data(10));
  wasm.destroy();
});

Deno.test("many messages in a row both ways keep the sequence numbers in step with WasmThemis", async () => {
  const tessera = tesseraSession(client);
  const wasm = wasmSession(server);
  await tesseraToWasm(tessera, wasm);
  for (let i = 0; i < 300; i++) {
    const payload = data(1 + (i % 50), i);
    assert.deepEqual(new Uint8Array(wasm.unwrap(await tessera.wrap(payload))), payload);
    assert.deepEqual(await tessera.unwrap(wasm.wrap(payload)), payload);
  }
  // Wrapped concurrently, resolved in order: WasmThemis reads them one after another.
  const wrapped = await Promise.all(Array.from({ length: 8 }, (_, i) => tessera.wrap(data(5, i))));
  for (let i = 0; i < 8; i++) {
    assert.deepEqual(new Uint8Array(wasm.unwrap(wrapped[i]!)), data(5, i));
  }
  wasm.destroy();
});

Deno.test("a long-term key given as an uncompressed (77-byte) UEC2 container is accepted", async () => {
  const { exportThemisPublicKey } = await import("../../lib/themis/mod.ts");
  const uncompressed = await exportThemisPublicKey(client.publicKey, { compressed: false });
  assert.equal(uncompressed.length, 77);
  const tessera = tesseraSession(server, {
    getPublicKeyForId: (id) => new TextDecoder().decode(id) === "client" ? uncompressed : null,
  });
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  wasm.destroy();
});
