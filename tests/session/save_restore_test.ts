import assert from "node:assert/strict";
import { concat } from "../../lib/crypto/_bytes.ts";
import { KeyError, SavedStateError, SessionStateError } from "../../lib/errors.ts";
import { openState, sealState, toWrappingKey } from "../../lib/session/_saved_state.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { bufferPair, bytes, epochOf, flip, rejectsWith, seqOf, session, text } from "./_helpers.ts";

const random = (b: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => crypto.getRandomValues(b);
const NO_CONTEXT = new Uint8Array(0);

/** The fork extension of a record: R and proof, or null (docs/protocol.md §5). */
function forkOf(record: Uint8Array): string | null {
  return record[1] === 1 ? [...record.subarray(14, 30)].join(",") : null;
}

const wrappingKey = crypto.getRandomValues(new Uint8Array(32));

Deno.test("a restored session keeps talking to the live peer in both directions", async () => {
  const { client, server } = await bufferPair();
  assert.equal(text(await server.unwrap(await client.wrap(bytes("before")))), "before");
  assert.equal(text(await client.unwrap(await server.wrap(bytes("reply")))), "reply");
  const sessionId = client.sessionId;
  const saved = await client.save(wrappingKey);
  // save() hands the session over: the original stops.
  assert.equal(client.state, "closed");
  await rejectsWith(client.wrap(bytes("x")), "session_closed", SessionStateError);
  const restored = await SecureSession.restore(saved, wrappingKey);
  assert.equal(restored.state, "established");
  assert.equal(restored.isEstablished(), true);
  assert.equal(restored.role, "client");
  assert.equal(restored.profile, "tessera/1");
  assert.deepEqual(restored.id, client.id);
  assert.deepEqual(restored.sessionId, sessionId);
  assert.deepEqual(restored.peerId, bytes("bob"));
  assert.equal(restored.generation, 1);
  const record = await restored.wrap(bytes("from the restored client"));
  assert.equal(seqOf(record), 1n);
  // A restored sender forks to the next epoch, and says so in every record of that epoch.
  assert.equal(epochOf(record), 1);
  assert.notEqual(forkOf(record), null);
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

Deno.test("two sessions restored from the same bytes never share a key; the peer follows the first", async () => {
  const { client, server } = await bufferPair();
  await server.unwrap(await client.wrap(bytes("m0")));
  const saved = await client.save(wrappingKey);
  const [copyA, copyB] = await Promise.all([
    SecureSession.restore(saved, wrappingKey),
    SecureSession.restore(saved, wrappingKey),
  ]);
  const fromA: Uint8Array[] = [];
  const fromB: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    fromA.push(await copyA.wrap(bytes(`a${i}`)));
    fromB.push(await copyB.wrap(bytes(`b${i}`)));
  }
  // The sequence numbers and epochs overlap; each copy forked with its own random R, so their
  // keys differ and no (key, nonce) pair is used twice.
  assert.deepEqual(fromA.map(seqOf), fromB.map(seqOf));
  assert.deepEqual(fromA.map(epochOf), fromB.map(epochOf));
  assert.notEqual(forkOf(fromA[0]!), forkOf(fromB[0]!));
  assert.equal(new Set(fromA.map(forkOf)).size, 1);
  // The peer follows the first copy it hears from and refuses the other's records.
  for (let i = 0; i < 5; i++) assert.equal(text(await server.unwrap(fromA[i]!)), `a${i}`);
  for (const r of fromB) await rejectsWith(server.unwrap(r), "record_replayed");
  // A number the peer has not seen yet, from the other fork, does not authenticate.
  await rejectsWith(server.unwrap(await copyB.wrap(bytes("b5"))), "record_auth_failed");
  assert.equal(server.state, "established");
});

Deno.test("the generation counts saves, and minGeneration refuses an older copy", async () => {
  const { client, server } = await bufferPair();
  assert.equal(client.generation, 0);
  const first = await client.save(wrappingKey);
  const once = await SecureSession.restore(first, wrappingKey);
  assert.equal(once.generation, 1);
  await server.unwrap(await once.wrap(bytes("one")));
  const second = await once.save(wrappingKey);
  const twice = await SecureSession.restore(second, wrappingKey, { minGeneration: 2 });
  assert.equal(twice.generation, 2);
  // An application that stored generation 2 refuses the older copy: a rollback.
  await rejectsWith(
    SecureSession.restore(first, wrappingKey, { minGeneration: 2 }),
    "state_rolled_back",
    SavedStateError,
  );
  await assert.rejects(
    SecureSession.restore(first, wrappingKey, { minGeneration: -1 }),
    RangeError,
  );
  // The generation is authenticated: changing it in the header breaks the seal.
  await rejectsWith(SecureSession.restore(flip(first, 12, 0x02), wrappingKey), "state_auth_failed");
});

Deno.test("a context bound at save() must be given again: a blob saved for another user is refused", async () => {
  const pairs = await Promise.all([bufferPair(), bufferPair()]);
  const forAlice = await pairs[0].client.save(wrappingKey, { context: "user:alice" });
  const forBob = await pairs[1].client.save(wrappingKey, { context: bytes("user:bob") });
  await rejectsWith(
    SecureSession.restore(forBob, wrappingKey, { context: "user:alice" }),
    "state_auth_failed",
  );
  await rejectsWith(SecureSession.restore(forAlice, wrappingKey), "state_auth_failed");
  const restored = await SecureSession.restore(forAlice, wrappingKey, { context: "user:alice" });
  assert.equal(text(await pairs[0].server.unwrap(await restored.wrap(bytes("hi")))), "hi");
  await assert.rejects(
    pairs[1].server.save(wrappingKey, { context: 7 as unknown as string }),
    TypeError,
  );
});

Deno.test("save() ends pending receives with session_closed", async () => {
  const { client } = await bufferPair();
  const [a] = memoryTransportPair();
  const restored = await SecureSession.restore(await client.save(wrappingKey), wrappingKey, {
    transport: a,
  });
  const pending = restored.receive();
  await restored.save(wrappingKey);
  await rejectsWith(pending, "session_closed", SessionStateError);
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
      // The header (magic, version, profile, generation) is authenticated as the AAD.
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
    const expected = n < 13 + 12 + 16 ? "state_malformed" : "state_auth_failed";
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
  huge.set([0x54, 0x53, 0x53, 0x02, 0x01]);
  await rejectsWith(SecureSession.restore(huge, wrappingKey), "state_malformed");
  await rejectsWith(SecureSession.restore(new Uint8Array(0), wrappingKey), "state_malformed");
});

Deno.test("saved state with an unsupported format version is state_unsupported_version", async () => {
  const { client } = await bufferPair();
  const saved = await client.save(wrappingKey);
  for (const version of [0x00, 0x01, 0xff]) {
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
  const sessionId = client.sessionId;
  const { inner } = await openState(key, await client.save(wrappingKey), NO_CONTEXT);
  // inner = role ‖ vec16(own id) ‖ channel state, whose first byte is its version.
  const versionAt = 1 + 2 + client.id.length;
  assert.equal(inner[versionAt], 0x03);
  const seal = (profile: number, state: Uint8Array) =>
    sealState(key, profile, 1, NO_CONTEXT, state, random);
  const newer = await seal(1, flip(inner, versionAt, 0x04));
  await rejectsWith(SecureSession.restore(newer, key), "state_unsupported_version");
  // Version 02 (before the peer's record size limit was kept) is not read either.
  const older = await seal(1, flip(inner, versionAt, 0x01));
  await rejectsWith(SecureSession.restore(older, key), "state_unsupported_version");
  await rejectsWith(SecureSession.restore(await seal(9, inner), key), "state_malformed");
  const shortInner = await seal(1, inner.slice(0, inner.length - 1));
  await rejectsWith(SecureSession.restore(shortInner, key), "state_malformed");
  const longInner = await seal(1, concat(inner, new Uint8Array(1)));
  await rejectsWith(SecureSession.restore(longInner, key), "state_malformed");
  // The untouched inner state resealed is accepted.
  const same = await SecureSession.restore(await seal(1, inner), key);
  assert.deepEqual(same.sessionId, sessionId);
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
  // A refused key leaves the session as it was: still established, still savable.
  for (const key of wrongKeys) await rejectsWith(client.save(key), "key_unsupported", KeyError);
  assert.equal(client.state, "established");
  const saved = await client.save(wrappingKey);
  for (const key of wrongKeys) {
    await rejectsWith(SecureSession.restore(saved, key), "key_unsupported", KeyError);
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

Deno.test("a session is saved once: a second save() is session_closed", async () => {
  const { client } = await bufferPair();
  await client.save(wrappingKey);
  await rejectsWith(client.save(wrappingKey), "session_closed", SessionStateError);
});

Deno.test("a restored session can be saved and restored again", async () => {
  const { client, server } = await bufferPair();
  const once = await SecureSession.restore(await client.save(wrappingKey), wrappingKey);
  await server.unwrap(await once.wrap(bytes("a")));
  const twice = await SecureSession.restore(await once.save(wrappingKey), wrappingKey);
  const record = await twice.wrap(bytes("b"));
  assert.equal(seqOf(record), 1n);
  assert.equal(epochOf(record), 2); // each restore forks once more
  assert.equal(twice.generation, 2);
  assert.equal(text(await server.unwrap(record)), "b");
});

Deno.test("a restored session that never sent keeps its saved epoch: saved again, updated, or asked to update, the peer follows", async () => {
  const rewrap = crypto.getRandomValues(new Uint8Array(32));
  // Restored and saved again without a record in between (re-wrapping stored state).
  {
    const { client, server } = await bufferPair();
    const once = await SecureSession.restore(await server.save(wrappingKey), wrappingKey);
    const twice = await SecureSession.restore(await once.save(rewrap), rewrap);
    const reply = await twice.wrap(bytes("reply"));
    assert.equal(epochOf(reply), 1);
    assert.equal(text(await client.unwrap(reply)), "reply");
  }
  // The peer asks for an update before the restored side has sent anything.
  {
    const { client, server } = await bufferPair();
    const restored = await SecureSession.restore(await server.save(wrappingKey), wrappingKey);
    client.rekey({ requestPeer: true });
    await restored.unwrap(await client.wrap(bytes("please update")));
    const reply = await restored.wrap(bytes("reply"));
    assert.equal(epochOf(reply), 1);
    assert.notEqual(forkOf(reply), null);
    assert.equal(text(await client.unwrap(reply)), "reply");
  }
  // rekey() before the first record.
  {
    const { client, server } = await bufferPair();
    const restored = await SecureSession.restore(await client.save(wrappingKey), wrappingKey);
    restored.rekey();
    const record = await restored.wrap(bytes("x"));
    assert.equal(epochOf(record), 1);
    assert.equal(text(await server.unwrap(record)), "x");
  }
});

Deno.test("authentic saved state whose two role bytes disagree is state_malformed", async () => {
  const { client } = await bufferPair();
  const key = await toWrappingKey(wrappingKey);
  const { inner } = await openState(key, await client.save(wrappingKey), NO_CONTEXT);
  const flipped = inner.slice();
  flipped[0] = 1; // the facade's role: server; the channel's stays client
  const sealed = await sealState(key, 1, 1, NO_CONTEXT, flipped, random);
  await rejectsWith(SecureSession.restore(sealed, key), "state_malformed", SavedStateError);
});
