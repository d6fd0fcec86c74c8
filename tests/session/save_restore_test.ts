import assert from "node:assert/strict";
import { concat } from "../../lib/crypto/_bytes.ts";
import { KeyError, SavedStateError, SessionStateError } from "../../lib/errors.ts";
import { openState, sealState, toWrappingKey } from "../../lib/session/_saved_state.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { bufferPair, bytes, flip, keyIdOf, rejectsWith, seqOf, session, text } from "./_helpers.ts";

const wrappingKey = crypto.getRandomValues(new Uint8Array(32));

Deno.test("a restored session keeps talking to the live peer in both directions", async () => {
  const { client, server } = await bufferPair();
  assert.equal(text(await server.unwrap(await client.wrap(bytes("before")))), "before");
  assert.equal(text(await client.unwrap(await server.wrap(bytes("reply")))), "reply");
  const saved = await client.save(wrappingKey);
  const restored = await SecureSession.restore(saved, wrappingKey);
  assert.equal(restored.state, "established");
  assert.equal(restored.isEstablished(), true);
  assert.equal(restored.role, "client");
  assert.equal(restored.profile, "tessera/1");
  assert.deepEqual(restored.id, client.id);
  assert.deepEqual(restored.sessionId, client.sessionId);
  assert.deepEqual(restored.peerId, client.peerId);
  const record = await restored.wrap(bytes("from the restored client"));
  assert.equal(seqOf(record), 1n);
  assert.equal(text(await server.unwrap(record)), "from the restored client");
  assert.equal(text(await restored.unwrap(await server.wrap(bytes("to it")))), "to it");
});

Deno.test("a restored server keeps talking to the live client", async () => {
  const { client, server } = await bufferPair();
  const restored = await SecureSession.restore(await server.save(wrappingKey), wrappingKey);
  assert.equal(restored.role, "server");
  assert.deepEqual(restored.peerId, bytes("alice"));
  assert.equal(text(await restored.unwrap(await client.wrap(bytes("hi")))), "hi");
  assert.equal(text(await client.unwrap(await restored.wrap(bytes("ho")))), "ho");
});

Deno.test("a restored session keeps its replay window: records it accepted before stay refused", async () => {
  const { client, server } = await bufferPair();
  const seen = await client.wrap(bytes("seen"));
  await server.unwrap(seen);
  const restored = await SecureSession.restore(await server.save(wrappingKey), wrappingKey);
  await rejectsWith(restored.unwrap(seen), "record_replayed");
});

Deno.test("a restored session works on the callback path with a transport", async () => {
  const { client, server } = await bufferPair();
  const [a, b] = memoryTransportPair();
  const restored = await SecureSession.restore(await client.save(wrappingKey), wrappingKey, {
    transport: a,
  });
  await restored.send(bytes("streamed"));
  const record = await b.receive();
  assert.equal(text(await server.unwrap(record!)), "streamed");
  await b.send(await server.wrap(bytes("back")));
  assert.equal(text(await restored.receive()), "back");
});

Deno.test("two sessions restored from the same bytes never reuse a (key, nonce) pair", async () => {
  const { client, server } = await bufferPair();
  await server.unwrap(await client.wrap(bytes("m0")));
  const saved = await client.save(wrappingKey);
  const [copyA, copyB] = await Promise.all([
    SecureSession.restore(saved, wrappingKey),
    SecureSession.restore(saved, wrappingKey),
  ]);
  const fromOriginal: Uint8Array[] = [];
  const fromA: Uint8Array[] = [];
  const fromB: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    fromOriginal.push(await client.wrap(bytes(`o${i}`)));
    fromA.push(await copyA.wrap(bytes(`a${i}`)));
    fromB.push(await copyB.wrap(bytes(`b${i}`)));
  }
  // The sequence numbers overlap, so the key ids must differ for every (key id, seq) pair.
  assert.deepEqual(fromA.map(seqOf), fromB.map(seqOf));
  const pairs = [...fromOriginal, ...fromA, ...fromB].map((r) => `${keyIdOf(r)}:${seqOf(r)}`);
  assert.equal(new Set(pairs).size, pairs.length, "a (key id, seq) pair was used twice");
  assert.equal(new Set([fromOriginal, fromA, fromB].map((rs) => keyIdOf(rs[0]!))).size, 3);
  // The peer accepts the first copy and refuses the numbers it already accepted.
  for (let i = 0; i < 5; i++) assert.equal(text(await server.unwrap(fromA[i]!)), `a${i}`);
  for (const r of [...fromB, ...fromOriginal]) {
    await rejectsWith(server.unwrap(r), "record_replayed");
  }
  // Numbers beyond what it accepted are new to the peer, whichever copy seals them.
  assert.equal(text(await server.unwrap(await copyB.wrap(bytes("b5")))), "b5");
});

Deno.test("restore() with the wrong wrapping key is state_auth_failed", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  const other = crypto.getRandomValues(new Uint8Array(32));
  await rejectsWith(SecureSession.restore(saved, other), "state_auth_failed", SavedStateError);
});

Deno.test("every byte of saved state XORed with 0x01 or 0x80 is refused with its documented code", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  for (const mask of [0x01, 0x80]) {
    for (let i = 0; i < saved.length; i++) {
      const expected = i < 3
        ? "state_malformed"
        : i === 3
        ? "state_unsupported_version"
        : "state_auth_failed";
      await rejectsWith(
        SecureSession.restore(flip(saved, i, mask), wrappingKey),
        expected,
        SavedStateError,
      );
    }
  }
});

Deno.test("truncated saved state is state_malformed when too short and state_auth_failed otherwise", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  for (let n = 0; n < saved.length; n++) {
    const expected = n < 5 + 12 + 16 ? "state_malformed" : "state_auth_failed";
    await rejectsWith(SecureSession.restore(saved.slice(0, n), wrappingKey), expected);
  }
  await rejectsWith(
    SecureSession.restore(concat(saved, new Uint8Array(1)), wrappingKey),
    "state_auth_failed",
  );
});

Deno.test("garbage and oversized saved state are state_malformed", async () => {
  const garbage = crypto.getRandomValues(new Uint8Array(200));
  garbage[0] = 0x00;
  await rejectsWith(SecureSession.restore(garbage, wrappingKey), "state_malformed");
  const huge = new Uint8Array(8193);
  huge.set([0x54, 0x53, 0x53, 0x01, 0x01]);
  await rejectsWith(SecureSession.restore(huge, wrappingKey), "state_malformed");
  await rejectsWith(SecureSession.restore(new Uint8Array(0), wrappingKey), "state_malformed");
});

Deno.test("saved state with an unsupported format version is state_unsupported_version", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  for (const version of [0x00, 0x02, 0xff]) {
    const changed = saved.slice();
    changed[3] = version;
    await rejectsWith(
      SecureSession.restore(changed, wrappingKey),
      "state_unsupported_version",
      SavedStateError,
    );
  }
});

Deno.test("authentic saved state with an unknown channel version or profile is refused", async () => {
  const { client } = await bufferPair();
  const key = await toWrappingKey(wrappingKey);
  const { inner } = await openState(key, await client.save(wrappingKey));
  // inner = role ‖ vec16(own id) ‖ channel state, whose first byte is its version.
  const versionAt = 1 + 2 + client.id.length;
  assert.equal(inner[versionAt], 0x01);
  const random = (b: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => crypto.getRandomValues(b);
  const newer = await sealState(key, 1, flip(inner, versionAt, 0x03), random);
  await rejectsWith(SecureSession.restore(newer, key), "state_unsupported_version");
  const otherProfile = await sealState(key, 9, inner, random);
  await rejectsWith(SecureSession.restore(otherProfile, key), "state_malformed");
  const shortInner = await sealState(key, 1, inner.slice(0, inner.length - 1), random);
  await rejectsWith(SecureSession.restore(shortInner, key), "state_malformed");
  const longInner = await sealState(key, 1, concat(inner, new Uint8Array(1)), random);
  await rejectsWith(SecureSession.restore(longInner, key), "state_malformed");
  // The untouched inner state resealed is accepted.
  const same = await SecureSession.restore(await sealState(key, 1, inner, random), key);
  assert.deepEqual(same.sessionId, client.sessionId);
});

Deno.test("save() before the handshake completes is session_not_established", async () => {
  const s = session();
  await rejectsWith(s.save(wrappingKey), "session_not_established", SessionStateError);
  await s.connectRequest();
  await rejectsWith(s.save(wrappingKey), "session_not_established", SessionStateError);
});

Deno.test("save() after close is session_closed", async () => {
  const { client } = await bufferPair();
  await client.close();
  await rejectsWith(client.save(wrappingKey), "session_closed", SessionStateError);
});

Deno.test("save() and restore() refuse a CryptoKey of the wrong algorithm with key_unsupported", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  const wrongKeys: CryptoKey[] = [
    await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
    await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, [
      "encrypt",
      "decrypt",
    ]),
    await crypto.subtle.generateKey({ name: "AES-CBC", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]),
    await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]),
  ];
  for (const key of wrongKeys) {
    await rejectsWith(SecureSession.restore(saved, key), "key_unsupported", KeyError);
    await rejectsWith(client.save(key), "key_unsupported", KeyError);
  }
});

Deno.test("an AES-256-GCM CryptoKey works as a wrapping key", async () => {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const { client, server } = await bufferPair();
  const restored = await SecureSession.restore(await client.save(key), key);
  assert.equal(text(await server.unwrap(await restored.wrap(bytes("ok")))), "ok");
});

Deno.test("a raw wrapping key that is not 32 bytes is a RangeError", async () => {
  const { client } = await bufferPair();
  await assert.rejects(client.save(new Uint8Array(16)), RangeError);
  await assert.rejects(SecureSession.restore(new Uint8Array(64), new Uint8Array(31)), RangeError);
});

Deno.test("saving twice gives different bytes, both restorable", async () => {
  const { client, server } = await bufferPair();
  const one = await client.save(wrappingKey);
  const two = await client.save(wrappingKey);
  assert.notDeepEqual(one, two);
  const r1 = await SecureSession.restore(one, wrappingKey);
  const r2 = await SecureSession.restore(two, wrappingKey);
  assert.equal(text(await server.unwrap(await r1.wrap(bytes("1")))), "1");
  await rejectsWith(server.unwrap(await r2.wrap(bytes("2"))), "record_replayed");
});

Deno.test("a restored session can be saved and restored again", async () => {
  const { client, server } = await bufferPair();
  const once = await SecureSession.restore(await client.save(wrappingKey), wrappingKey);
  await server.unwrap(await once.wrap(bytes("a")));
  const twice = await SecureSession.restore(await once.save(wrappingKey), wrappingKey);
  const record = await twice.wrap(bytes("b"));
  assert.equal(seqOf(record), 1n);
  assert.equal(text(await server.unwrap(record)), "b");
});
