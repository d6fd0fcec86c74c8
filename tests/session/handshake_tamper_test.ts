import assert from "node:assert/strict";
import { HandshakeError, type HandshakeErrorCode, TesseraError } from "../../lib/errors.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { flip, recordHandshake, rejectsWith, session } from "./_helpers.ts";

const recorded = await recordHandshake();
const { ch, sh, cf } = recorded.transcript;

/** Byte layout of the plain parts (docs/protocol.md §3). */
const HELLO_RANDOM = 32;
const SHARE = 65;
const CH_EXTENSIONS = 3 + 2 + HELLO_RANDOM + SHARE; // one suite
// The versions extension 0002: [01], then the record size limit 0004: 16 MiB = 01000000.
const CH_PLAIN = CH_EXTENSIONS + 2 + 6 + 8;
const SH_PLAIN = 4 + HELLO_RANDOM + SHARE + 2;
const MIN_SERVER_AUTH = 117;
const MIN_CLIENT_AUTH = 115;

/**
 * Awaits a step that must fail the receiving session with a handshake error, and returns its
 * code. Never an untyped exception, never an established receiver.
 */
async function handshakeFailure(
  step: Promise<unknown>,
  receiver: SecureSession,
  where: string,
): Promise<HandshakeErrorCode> {
  let error: unknown = null;
  let resolved = false;
  try {
    await step;
    resolved = true;
  } catch (err) {
    error = err;
  }
  assert.ok(!resolved, `${where}: the receiver accepted the message`);
  assert.ok(error instanceof TesseraError, `${where}: untyped exception ${String(error)}`);
  assert.ok(error instanceof HandshakeError, `${where}: not a HandshakeError: ${error.code}`);
  assert.match(error.code, /^handshake_/, where);
  assert.equal(receiver.isEstablished(), false, where);
  assert.equal(receiver.state, "closed", where);
  assert.equal(receiver.error, error, where);
  assert.equal(receiver.sessionId, null, where);
  return error.code;
}

/** Feeds a (possibly tampered) ClientHello to a fresh server; follows through when accepted. */
async function deliverClientHello(message: Uint8Array, where: string): Promise<HandshakeErrorCode> {
  const server = recorded.serverBeforeHello();
  let reply: Uint8Array | null;
  try {
    reply = await server.negotiate(message);
  } catch (err) {
    return await handshakeFailure(Promise.reject(err), server, where);
  }
  // The server cannot tell; the client that sent the original hello must refuse the answer.
  assert.ok(reply, where);
  assert.equal(server.isEstablished(), false, where);
  const client = await recorded.clientAwaitingServerHello();
  const code = await handshakeFailure(client.negotiate(reply), client, where + " (client)");
  assert.equal(server.isEstablished(), false, where);
  return code;
}

async function deliverServerHello(message: Uint8Array, where: string): Promise<HandshakeErrorCode> {
  const client = await recorded.clientAwaitingServerHello();
  return await handshakeFailure(client.negotiate(message), client, where);
}

async function deliverClientFinished(
  message: Uint8Array,
  where: string,
): Promise<HandshakeErrorCode> {
  const server = await recorded.serverAwaitingFinished();
  return await handshakeFailure(server.negotiate(message), server, where);
}

function expectedForClientHello(i: number, mask: number): HandshakeErrorCode {
  if (i === 0) return "handshake_unexpected";
  if (i === 1) return "handshake_unsupported_version";
  if (i === 2) return "handshake_malformed";
  if (i < 5) return "handshake_unsupported_suite";
  if (i < 5 + HELLO_RANDOM) return "handshake_decrypt_failed"; // seen by the client
  if (i < 5 + HELLO_RANDOM + SHARE) return "handshake_bad_key_share";
  const at = i - CH_EXTENSIONS;
  // The ClientHello is hashed into every handshake key: whatever the server accepts (another
  // type, unknown and ignored; another limit), the client, whose hello differs from what the
  // server saw, cannot open the answer.
  const answered = "handshake_decrypt_failed";
  // 0002 becomes 0003 (still below 0004) with 0x01; 0102, 8002 or 0082 come after 0004.
  if (at === 2 || at === 3) return at === 3 && mask === 0x01 ? answered : "handshake_malformed";
  if (at === 7) return "handshake_unsupported_version"; // the version offered
  if (at === 8 || at === 9) return answered; // 0004 becomes an unknown type: the default limit
  // The limit's first byte: 0 or above 2^30. Its other bytes: another limit in range.
  if (at >= 13 && at <= 15) return answered;
  return "handshake_malformed"; // lengths, the version count and out-of-range limits
}

function expectedForServerHello(i: number): HandshakeErrorCode {
  if (i === 0) return "handshake_unexpected";
  if (i === 1) return "handshake_unsupported_version";
  if (i < 4) return "handshake_unsupported_suite";
  if (i < 4 + HELLO_RANDOM) return "handshake_decrypt_failed";
  if (i < 4 + HELLO_RANDOM + SHARE) return "handshake_bad_key_share";
  if (i < SH_PLAIN) return "handshake_malformed";
  return "handshake_decrypt_failed";
}

function expectedForClientFinished(i: number): HandshakeErrorCode {
  if (i === 0) return "handshake_unexpected";
  if (i === 1) return "handshake_unsupported_version";
  return "handshake_decrypt_failed";
}

Deno.test("the recorded transcript has the documented layout", () => {
  assert.equal(ch.length, CH_PLAIN);
  assert.deepEqual(ch.subarray(0, 5), new Uint8Array([0x01, 0x01, 0x01, 0x00, 0x01]));
  assert.deepEqual(
    ch.subarray(CH_EXTENSIONS),
    new Uint8Array([0, 14, 0, 2, 0, 2, 1, 1, 0, 4, 0, 4, 0x01, 0, 0, 0]),
  );
  assert.deepEqual(sh.subarray(0, 4), new Uint8Array([0x02, 0x01, 0x00, 0x01]));
  // Id "bob", and EE with the record size limit alone (no tickets).
  assert.equal(sh.length, SH_PLAIN + 2 + 3 + 2 + 8 + 64 + 32 + 16);
  assert.equal(cf.length, 2 + 2 + 5 + 64 + 32 + 16); // id "alice"
});

for (const mask of [0x01, 0x80]) {
  Deno.test(`every byte of a ClientHello XORed with 0x${mask.toString(16)} fails the handshake with a typed error`, async () => {
    for (let i = 0; i < ch.length; i++) {
      const code = await deliverClientHello(flip(ch, i, mask), `ClientHello byte ${i}`);
      assert.equal(code, expectedForClientHello(i, mask), `ClientHello byte ${i}`);
    }
  });

  Deno.test(`every byte of a ServerHello XORed with 0x${mask.toString(16)} fails the client with a typed error`, async () => {
    for (let i = 0; i < sh.length; i++) {
      const code = await deliverServerHello(flip(sh, i, mask), `ServerHello byte ${i}`);
      assert.equal(code, expectedForServerHello(i), `ServerHello byte ${i}`);
    }
  });

  Deno.test(`every byte of a ClientFinished XORed with 0x${mask.toString(16)} fails the server with a typed error`, async () => {
    for (let i = 0; i < cf.length; i++) {
      const code = await deliverClientFinished(flip(cf, i, mask), `ClientFinished byte ${i}`);
      assert.equal(code, expectedForClientFinished(i), `ClientFinished byte ${i}`);
    }
  });
}

Deno.test("the untampered recorded messages are still accepted by the regenerated sessions", async () => {
  const client = await recorded.clientAwaitingServerHello();
  assert.ok(await client.negotiate(sh));
  assert.ok(client.isEstablished());
  const server = await recorded.serverAwaitingFinished();
  assert.equal(await server.negotiate(cf), null);
  assert.ok(server.isEstablished());
});

Deno.test("a ClientHello truncated at every length is handshake_malformed", async () => {
  for (let n = 0; n < ch.length; n++) {
    const code = await deliverClientHello(ch.slice(0, n), `ClientHello cut at ${n}`);
    assert.equal(code, "handshake_malformed", `ClientHello cut at ${n}`);
  }
});

Deno.test("a ServerHello truncated at every length fails the client", async () => {
  for (let n = 0; n < sh.length; n++) {
    const code = await deliverServerHello(sh.slice(0, n), `ServerHello cut at ${n}`);
    const expected = n < SH_PLAIN + MIN_SERVER_AUTH
      ? "handshake_malformed"
      : "handshake_decrypt_failed";
    assert.equal(code, expected, `ServerHello cut at ${n}`);
  }
});

Deno.test("a ClientFinished truncated at every length fails the server", async () => {
  for (let n = 0; n < cf.length; n++) {
    const code = await deliverClientFinished(cf.slice(0, n), `ClientFinished cut at ${n}`);
    const expected = n < 2 + MIN_CLIENT_AUTH ? "handshake_malformed" : "handshake_decrypt_failed";
    assert.equal(code, expected, `ClientFinished cut at ${n}`);
  }
});

Deno.test("an empty handshake message is handshake_malformed at every step", async () => {
  const empty = new Uint8Array(0);
  assert.equal(await deliverClientHello(empty, "empty ClientHello"), "handshake_malformed");
  assert.equal(await deliverServerHello(empty, "empty ServerHello"), "handshake_malformed");
  assert.equal(await deliverClientFinished(empty, "empty ClientFinished"), "handshake_malformed");
});

Deno.test("a handshake message of 4097 bytes is handshake_malformed at every step", async () => {
  const grow = (m: Uint8Array): Uint8Array => {
    const out = new Uint8Array(4097);
    out.set(m);
    return out;
  };
  assert.equal(await deliverClientHello(grow(ch), "big ClientHello"), "handshake_malformed");
  assert.equal(await deliverServerHello(grow(sh), "big ServerHello"), "handshake_malformed");
  assert.equal(
    await deliverClientFinished(grow(cf), "big ClientFinished"),
    "handshake_malformed",
  );
});

Deno.test("trailing bytes after a handshake message fail the handshake", async () => {
  const more = (m: Uint8Array): Uint8Array => new Uint8Array([...m, 0x00]);
  assert.equal(await deliverClientHello(more(ch), "ClientHello + 1"), "handshake_malformed");
  assert.equal(await deliverServerHello(more(sh), "ServerHello + 1"), "handshake_decrypt_failed");
  assert.equal(
    await deliverClientFinished(more(cf), "ClientFinished + 1"),
    "handshake_decrypt_failed",
  );
});

Deno.test("a ClientHello with extensions out of order or duplicated is handshake_malformed, unknown ones are ignored", async () => {
  const withExtensions = (ext: number[]): Uint8Array => {
    const out = ch.slice(0, CH_EXTENSIONS);
    return new Uint8Array([...out, ext.length >> 8, ext.length & 0xff, ...ext]);
  };
  // Two empty extensions of types 5 then 3, and 4 twice.
  const descending = withExtensions([0, 5, 0, 0, 0, 3, 0, 0]);
  const duplicate = withExtensions([0, 4, 0, 0, 0, 4, 0, 0]);
  assert.equal(await deliverClientHello(descending, "descending"), "handshake_malformed");
  assert.equal(await deliverClientHello(duplicate, "duplicate"), "handshake_malformed");
  // Unknown extension types in ascending order are ignored by the server.
  const server = recorded.serverBeforeHello();
  assert.ok(await server.negotiate(withExtensions([0, 3, 0, 1, 0xaa, 0, 5, 0, 0])));
});

Deno.test("a message of the wrong type at each step is handshake_unexpected", async () => {
  // Server, before its ClientHello.
  const s1 = recorded.serverBeforeHello();
  assert.equal(await handshakeFailure(s1.negotiate(sh), s1, "SH first"), "handshake_unexpected");
  const s2 = recorded.serverBeforeHello();
  assert.equal(await handshakeFailure(s2.negotiate(cf), s2, "CF first"), "handshake_unexpected");
  // Client, waiting for a ServerHello.
  assert.equal(await deliverServerHello(ch, "CH to client"), "handshake_unexpected");
  assert.equal(await deliverServerHello(cf, "CF to client"), "handshake_unexpected");
  // Server, waiting for a ClientFinished.
  assert.equal(await deliverClientFinished(sh, "SH to server"), "handshake_unexpected");
});

Deno.test("a ClientHello replayed to the server that answered it fails that handshake", async () => {
  const code = await deliverClientFinished(ch, "replayed ClientHello");
  assert.equal(code, "handshake_unexpected");
});

Deno.test("a recorded ServerHello is refused by a client with a different ClientHello", async () => {
  const client = session();
  await client.connectRequest();
  const code = await handshakeFailure(client.negotiate(sh), client, "foreign ServerHello");
  assert.equal(code, "handshake_decrypt_failed");
});

Deno.test("a failed handshake answers nothing more, even the original good message", async () => {
  const client = await recorded.clientAwaitingServerHello();
  await rejectsWith(client.negotiate(flip(sh, sh.length - 1, 1)), "handshake_decrypt_failed");
  await rejectsWith(client.negotiate(sh), "session_failed");
  const server = await recorded.serverAwaitingFinished();
  await rejectsWith(server.negotiate(flip(cf, cf.length - 1, 1)), "handshake_decrypt_failed");
  await rejectsWith(server.negotiate(cf), "session_failed");
  assert.equal(server.isEstablished(), false);
});
