// The worked example of themis-wire.md §6 as a fixed vector: a real exchange between a
// WasmThemis client and a server, replayed against tessera's server with the server's
// ephemeral key and the clock injected, and every derived value recomputed.

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { scalarToPkcs8 } from "../../lib/crypto/_sec1.ts";
import { hmacSign } from "../../lib/crypto/hmac.ts";
import { systemRandom } from "../../lib/crypto/random.ts";
import { withEntropy } from "../../lib/session/_entropy.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { ThemisChannel } from "../../lib/themis/_channel.ts";
import { crc32c, encodeContainer, TAG_TSID } from "../../lib/themis/_container.ts";
import {
  deriveMaster,
  deriveMessageKeys,
  deriveSessionId,
  implicitKey,
} from "../../lib/themis/_kdf.ts";
import { verifyDer } from "../../lib/themis/_signature.ts";
import {
  exportThemisPrivateKey,
  exportThemisPublicKey,
  importThemisPrivateKey,
  importThemisPublicKey,
  themis,
} from "../../lib/themis/mod.ts";

const vector = JSON.parse(
  await Deno.readTextFile(new URL("../vectors/themis/worked_example.json", import.meta.url)),
);
const hex = (h: string): Uint8Array<ArrayBuffer> => fromHex(h) as Uint8Array<ArrayBuffer>;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const subtle = crypto.subtle;
const ECDH = { name: "ECDH", namedCurve: "P-256" } as const;

const clientId = text(vector.clientId);
const serverId = text(vector.serverId);
const CE = hex(vector.message1Parts.clientEphemeral);
const SE = hex(vector.message2Parts.serverEphemeral);
const d = vector.derived;

/** The server's ephemeral ECDH key pair from its scalar. */
async function serverEphemeral(): Promise<CryptoKeyPair> {
  const privateKey = await subtle.importKey(
    "pkcs8",
    scalarToPkcs8(hex(d.serverEphemeralScalar)),
    ECDH,
    true,
    ["deriveBits"],
  );
  const { x, y } = await subtle.exportKey("jwk", privateKey);
  const publicKey = await subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x, y },
    ECDH,
    true,
    [],
  );
  return { privateKey, publicKey };
}

Deno.test("CRC-32C has the check value E3069283 and containers store it little-endian", () => {
  assert.equal(crc32c(text("123456789")), 0xe3069283);
  // themis-wire.md §1.1: the TSID container of the id "client".
  assert.equal(toHex(encodeContainer(TAG_TSID, text("client"))), vector.message1Parts.tsid);
});

Deno.test("the worked example's keys import from their containers and export to the same bytes", async () => {
  const keys = vector.keys;
  for (const name of ["client", "server"]) {
    const publicKey = await importThemisPublicKey(hex(keys[`${name}Public`]));
    assert.equal(toHex(await exportThemisPublicKey(publicKey)), keys[`${name}Public`]);
    const privateKey = await importThemisPrivateKey(hex(keys[`${name}Private`]), {
      extractable: true,
    });
    assert.equal(toHex(await exportThemisPrivateKey(privateKey)), keys[`${name}Private`]);
  }
});

Deno.test("the worked example's session id, shared secret, master key, message keys and first sequence numbers recompute", async () => {
  assert.equal(toHex(implicitKey([CE, SE, clientId, serverId])), d.implicitKey);
  const sid4 = await deriveSessionId(CE, SE, clientId, serverId);
  assert.equal(toHex(sid4), d.sid4);
  const pair = await serverEphemeral();
  const clientPoint = await subtle.importKey("raw", CE.subarray(12), ECDH, true, []);
  const shared = new Uint8Array(
    await subtle.deriveBits({ name: "ECDH", public: clientPoint }, pair.privateKey, 256),
  );
  assert.equal(toHex(shared), d.sharedSecret);
  const master = await deriveMaster(shared, sid4);
  assert.equal(toHex(master.bytes), d.master);
  const keys = await deriveMessageKeys(master.key, sid4);
  assert.equal(toHex(keys.clientKey), d.clientKey);
  assert.equal(toHex(keys.serverKey), d.serverKey);
  assert.equal(keys.clientSeq, d.clientSeq);
  assert.equal(keys.serverSeq, d.serverSeq);
  // Message 3's MAC, made by WasmThemis, is HMAC(M, SE ‖ sid4).
  const mac3 = await hmacSign(master.key, new Uint8Array([...SE, ...sid4]));
  assert.equal(toHex(mac3), vector.message3.slice(-64));
});

Deno.test("the worked example's signatures verify over what themis-wire.md says they cover", async () => {
  const clientKey = await importThemisPublicKey(hex(vector.keys.clientPublic));
  const serverKey = await importThemisPublicKey(hex(vector.keys.serverPublic));
  const sig1 = hex(vector.message1Parts.signature);
  const sig2 = hex(vector.message2Parts.signature);
  const m3 = hex(vector.message3);
  const sig3 = m3.subarray(12, m3.length - 32);
  const cat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));
  assert.equal(await verifyDer(clientKey, sig1, CE), "valid");
  assert.equal(await verifyDer(serverKey, sig2, cat(SE, CE, serverId, clientId)), "valid");
  assert.equal(await verifyDer(clientKey, sig3, cat(CE, SE, clientId, serverId)), "valid");
});

Deno.test("tessera's server replays the worked example: message 2 as recorded but its signature, message 4 byte for byte, then the client's data", async () => {
  const serverPrivate = await importThemisPrivateKey(hex(vector.keys.serverPrivate));
  const clientPublic = await importThemisPublicKey(hex(vector.keys.clientPublic));
  const serverPublic = await importThemisPublicKey(hex(vector.keys.serverPublic));
  const clock = vector.dataMessage.timestamp * 1000 + 500;
  const server = new SecureSession({
    id: serverId,
    privateKey: serverPrivate,
    getPublicKeyForId: (id) => new TextDecoder().decode(id) === "client" ? clientPublic : null,
    profile: themis,
    now: () => clock,
  });
  const pair = await serverEphemeral();
  const message2 = (await withEntropy(
    { random: systemRandom, generateEphemeral: () => Promise.resolve(pair) },
    () => server.negotiate(hex(vector.message1)),
  ))!;
  // TSPM header (its size and CRC follow the signature's length), TSID, SE, then the signature.
  const parts = vector.message2Parts;
  const prefix = parts.tsid + parts.serverEphemeral;
  assert.equal(toHex(message2.subarray(0, 4)), parts.tspm.slice(0, 8));
  assert.equal(toHex(message2.subarray(12, 12 + prefix.length / 2)), prefix);
  const sig2 = message2.subarray(12 + prefix.length / 2);
  const cat = (...p: Uint8Array[]) => new Uint8Array(p.flatMap((x) => [...x]));
  assert.equal(await verifyDer(serverPublic, sig2, cat(SE, CE, serverId, clientId)), "valid");

  const message4 = await server.negotiate(hex(vector.message3));
  assert.equal(toHex(message4!), vector.message4);
  assert.ok(server.isEstablished());
  assert.equal(toHex(server.sessionId!), d.wireSessionId);
  assert.deepEqual(server.peerId, clientId);
  const hello = await server.unwrap(hex(vector.dataMessage.message));
  assert.equal(new TextDecoder().decode(hello!), vector.dataMessage.plaintextUtf8);
});

Deno.test("a client channel with the worked example's keys, nonce and clock wraps 'hello' into the recorded 57 bytes", async () => {
  const message = vector.dataMessage;
  const random = (bytes: Uint8Array<ArrayBuffer>) => {
    bytes.set(hex(message.nonce + message.filler));
    return bytes;
  };
  const channel = await ThemisChannel.create({
    role: "client",
    peerId: serverId,
    sessionId: hex(d.wireSessionId),
    sendKey: hex(d.clientKey),
    receiveKey: hex(d.serverKey),
    sendSeq: d.clientSeq,
    receiveTop: d.serverSeq,
    receiveSeen: 0,
    recordsSent: 0,
    bytesSent: 0,
    authFailures: 0,
  }, {
    random,
    recordsPerKey: 1000,
    bytesPerKey: 2 ** 30,
    maxRecordSize: 1024,
    maxAuthFailures: 10,
    padding: "none",
    now: () => message.timestamp * 1000,
  });
  const wrapped = await channel.seal(text(message.plaintextUtf8));
  assert.equal(toHex(wrapped), message.message);
});
