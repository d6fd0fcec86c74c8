// Where the Themis profile is stricter than Themis itself, each beside what WasmThemis does with
// the same input: none of these inputs comes from an honest Themis peer.

import assert from "node:assert/strict";
import { concat, u32 } from "../../lib/crypto/_bytes.ts";
import { aesGcmEncrypt, importAesGcmKey } from "../../lib/crypto/aes_gcm.ts";
import { ThemisChannel } from "../../lib/themis/_channel.ts";
import { encodeContainer, TAG_TSID, TAG_TSPM, TAG_UEC2 } from "../../lib/themis/_container.ts";
import { HandshakeError, ThemisError } from "../../lib/errors.ts";
import {
  bytes,
  client,
  data,
  rejectsWith,
  server,
  tesseraSession,
  tesseraToWasm,
  wasmSession,
  wasmStatus,
  wasmToTessera,
} from "./_wasm_themis.ts";

Deno.test("message 4 must carry the whole 32-byte MAC, where WasmThemis accepts none or a prefix", async () => {
  for (const kept of [0, 16, 31]) {
    // tessera client, message 4 from a WasmThemis server cut to `kept` MAC bytes.
    const c = tesseraSession(client);
    const s = wasmSession(server);
    const m3 = (await c.negotiate(s.negotiateReply(await c.connectRequest())))!;
    const m4 = s.negotiateReply(m3);
    const short = encodeContainer(TAG_TSPM, m4.subarray(12, 12 + kept));
    const error = await rejectsWith(c.negotiate(short), "handshake_malformed");
    assert.match(error.message, /32-byte MAC/);
    assert.equal(c.isEstablished(), false);
    s.destroy();

    // The same cut, given to a WasmThemis client by a tessera server: WasmThemis is established.
    const wasm = wasmSession(client);
    const tessera = tesseraSession(server);
    const w3 = wasm.negotiateReply((await tessera.negotiate(wasm.connectionRequest()))!);
    const w4 = (await tessera.negotiate(w3))!;
    assert.equal(
      wasm.negotiateReply(encodeContainer(TAG_TSPM, w4.subarray(12, 12 + kept))).length,
      0,
    );
    assert.equal(wasm.established(), true, `WasmThemis accepts a MAC of ${kept} bytes`);
    wasm.destroy();
  }
});

Deno.test("wrap() and unwrap() are refused before the handshake completes, where WasmThemis wraps under a zero key", async () => {
  const fresh = tesseraSession(client);
  await rejectsWith(fresh.wrap(data(5)), "session_not_established");
  await rejectsWith(fresh.unwrap(new Uint8Array(60)), "session_not_established");
  await fresh.connectRequest();
  await rejectsWith(fresh.wrap(data(5)), "session_not_established");
  await rejectsWith(fresh.unwrap(new Uint8Array(60)), "session_not_established");
  assert.equal(fresh.state, "negotiating"); // refused, not failed

  const wasm = wasmSession(client);
  assert.equal(wasmStatus(() => wasm.wrap(data(5))), "ok");
  wasm.destroy();
});

Deno.test("an inner container that runs past the one around it is refused", async () => {
  const s = tesseraSession(server);
  // A UEC2 header announcing 1000 bytes inside a message of 150.
  const key = new Uint8Array(12 + 33);
  key.set(encodeContainer(TAG_UEC2, new Uint8Array(33)).subarray(0, 12));
  new DataView(key.buffer).setUint32(4, 1000);
  const message = encodeContainer(
    TAG_TSPM,
    encodeContainer(TAG_TSID, bytes("client")),
    key,
    new Uint8Array(70),
  );
  const error = await rejectsWith(s.negotiate(message), "handshake_malformed");
  assert.ok(error.cause instanceof ThemisError);
  assert.equal(error.cause.code, "themis_container_invalid");
  assert.match(error.message, /overruns/);

  // An id container that claims the whole message and more.
  const id = encodeContainer(TAG_TSID, bytes("client"));
  new DataView(id.buffer).setUint32(4, 200);
  const other = tesseraSession(server);
  const refused = await rejectsWith(
    other.negotiate(encodeContainer(TAG_TSPM, id)),
    "handshake_malformed",
  );
  assert.ok(refused instanceof HandshakeError);
});

Deno.test("bytes after a data message's tag are refused, where WasmThemis ignores them", async () => {
  const tessera = tesseraSession(server);
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  const message = wasm.wrap(data(30));
  for (const extra of [1, 16, 100]) {
    await rejectsWith(tessera.unwrap(concat(message, new Uint8Array(extra))), "record_auth_failed");
  }
  assert.deepEqual(await tessera.unwrap(message), data(30)); // the untouched one still opens

  const back = await tessera.wrap(data(8));
  assert.equal(wasmStatus(() => wasm.unwrap(concat(back, new Uint8Array(16)))), "ok");
  wasm.destroy();
});

Deno.test("a length field that does not match the message is refused, below 12 included", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const receiver = await ThemisChannel.create({
    role: "server",
    peerId: bytes("client"),
    sessionId: new Uint8Array([9, 9, 9, 9]),
    sendKey: key,
    receiveKey: key,
    sendSeq: 0,
    receiveTop: 100,
    receiveSeen: 0,
    recordsSent: 0,
    bytesSent: 0,
    authFailures: 0,
  }, {
    random: (b) => crypto.getRandomValues(b),
    recordsPerKey: 100,
    bytesPerKey: 2 ** 20,
    maxRecordSize: 1024,
    maxAuthFailures: 100,
    padding: "none",
  });
  const aes = await importAesGcmKey(key);
  const now = Math.floor(Date.now() / 1000);
  async function forge(lengthField: number, message: Uint8Array, seq = 100): Promise<Uint8Array> {
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const inner = concat(u32(lengthField), u32(seq), u32(0), u32(now), message);
    const sealed = await aesGcmEncrypt(aes, nonce, inner, new Uint8Array(0));
    return concat(new Uint8Array([9, 9, 9, 9]), nonce, new Uint8Array(4), sealed);
  }
  for (const length of [0, 11, 12 + 4, 12 + 6, 0xffffffff]) {
    await rejectsWith(receiver.open(await forge(length, data(5)), false), "record_malformed");
  }
  assert.deepEqual((await receiver.open(await forge(17, data(5)), false)).data, data(5));
  // An empty message (length 12) is accepted, as WasmThemis accepts it.
  assert.equal(
    (await receiver.open(await forge(12, new Uint8Array(0), 101), false)).data.length,
    0,
  );
});

Deno.test("every byte of a data message flipped is refused, but for the four unused IV bytes, as WasmThemis does", async () => {
  const tessera = tesseraSession(server);
  const wasm = wasmSession(client);
  await wasmToTessera(wasm, tessera);
  const tesseraClient = tesseraSession(client);
  const wasmServer = wasmSession(server);
  await tesseraToWasm(tesseraClient, wasmServer);
  for (let i = 0; i < 12 + 52; i++) {
    const filler = i >= 16 && i < 20;
    // tessera receiving from WasmThemis.
    const message = wasm.wrap(data(12, i));
    message[i]! ^= 0x01;
    if (filler) assert.deepEqual(await tessera.unwrap(message), data(12, i), `byte ${i}`);
    else {
      const code = i < 4 ? "record_malformed" : "record_auth_failed";
      await rejectsWith(tessera.unwrap(message), code);
      await tessera.unwrap(wasm.wrap(data(1))); // keep the window moving
    }
    // WasmThemis receiving from tessera: the same bytes accepted.
    const back = await tesseraClient.wrap(data(12, i));
    back[i]! ^= 0x01;
    const status = wasmStatus(() => wasmServer.unwrap(back));
    assert.equal(status === "ok", filler, `WasmThemis, byte ${i}: ${status}`);
    // Keep WasmThemis's window moving: a message it accepts after each refusal.
    if (!filler) wasmServer.unwrap(await tesseraClient.wrap(data(1)));
  }
  assert.equal(tessera.isEstablished(), true);
  wasm.destroy();
  wasmServer.destroy();
});
