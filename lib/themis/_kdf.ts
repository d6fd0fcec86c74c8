// The Soter KDF and the Themis Secure Session key schedule (themis-wire.md §1.6, §2.5).
// Private: not part of the public API.
//
//   SoterKDF(K, label, [c1, c2, ...], L) = first L bytes of
//       HMAC-SHA256(K, 00000001 ‖ label ‖ 00 ‖ c1 ‖ c2 ‖ ...)
//
// One block only (L ≤ 32), no output-length field. Without a key (the session id), K is the
// label's first 32 bytes, zero-padded, with each context item's first 32 bytes XORed in.

import { hmacSign, importHmacKey } from "../crypto/hmac.ts";

const encoder = new TextEncoder();

/** The labels, each followed by its `00` separator, after the fixed counter `00000001`. */
function prefix(label: string): Uint8Array {
  const text = encoder.encode(label);
  const out = new Uint8Array(4 + text.length + 1);
  out[3] = 1;
  out.set(text, 4);
  return out;
}

const LABEL_SESSION_ID = "Themis secure session unique identifier";
const PREFIX_SESSION_ID = prefix(LABEL_SESSION_ID);
const PREFIX_MASTER = prefix("Themis secure session master key");
const PREFIX_CLIENT_KEY = prefix("Themis secure session client key");
const PREFIX_SERVER_KEY = prefix("Themis secure session server key");
const PREFIX_CLIENT_SEQ = prefix("Themis secure session client initial sequence number");
const PREFIX_SERVER_SEQ = prefix("Themis secure session server initial sequence number");

/** `prefix ‖ c1 ‖ c2 ‖ ...` in one buffer. */
function input(prefixBytes: Uint8Array, context: readonly Uint8Array[]): Uint8Array {
  let length = prefixBytes.length;
  for (const c of context) length += c.length;
  const out = new Uint8Array(length);
  out.set(prefixBytes);
  let offset = prefixBytes.length;
  for (const c of context) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** The implicit key of the session-id derivation: label, padded, XOR each context's head. */
export function implicitKey(context: readonly Uint8Array[]): Uint8Array {
  const key = new Uint8Array(32);
  key.set(encoder.encode(LABEL_SESSION_ID).subarray(0, 32));
  for (const c of context) {
    const n = Math.min(32, c.length);
    for (let i = 0; i < n; i++) key[i]! ^= c[i]!;
  }
  return key;
}

/**
 * The four session-id bytes `sid4`: SoterKDF(implicit, "…unique identifier", [CE, SE, Cid,
 * Sid], 4). Computable by anyone who saw the handshake.
 */
export async function deriveSessionId(
  clientEphemeral: Uint8Array,
  serverEphemeral: Uint8Array,
  clientId: Uint8Array,
  serverId: Uint8Array,
): Promise<Uint8Array> {
  const context = [clientEphemeral, serverEphemeral, clientId, serverId];
  const key = await importHmacKey(implicitKey(context));
  return (await hmacSign(key, input(PREFIX_SESSION_ID, context))).slice(0, 4);
}

/** The master key `M` = SoterKDF(Z, "…master key", [sid4], 32), as an HMAC key and as bytes. */
export async function deriveMaster(
  shared: Uint8Array,
  sid4: Uint8Array,
): Promise<{ key: CryptoKey; bytes: Uint8Array }> {
  return await deriveMasterWith(await importHmacKey(shared), sid4);
}

/** As {@linkcode deriveMaster}, from the shared secret `Z` already imported as an HMAC key. */
export async function deriveMasterWith(
  z: CryptoKey,
  sid4: Uint8Array,
): Promise<{ key: CryptoKey; bytes: Uint8Array }> {
  const bytes = await hmacSign(z, input(PREFIX_MASTER, [sid4]));
  return { key: await importHmacKey(bytes), bytes };
}

/** The message keys and first sequence numbers of both directions. */
export interface MessageKeys {
  /** Client→server AES-256 key. */
  readonly clientKey: Uint8Array;
  /** Server→client AES-256 key. */
  readonly serverKey: Uint8Array;
  /** The client's first sequence number (the KDF's 4 bytes read little-endian). */
  readonly clientSeq: number;
  /** The server's first sequence number. */
  readonly serverSeq: number;
}

function littleEndian(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

/** Derives `Kc`, `Ks`, `Qc`, `Qs` from the master key (as an HMAC key). */
export async function deriveMessageKeys(master: CryptoKey, sid4: Uint8Array): Promise<MessageKeys> {
  const [clientKey, serverKey, clientSeq, serverSeq] = await Promise.all([
    hmacSign(master, input(PREFIX_CLIENT_KEY, [sid4])),
    hmacSign(master, input(PREFIX_SERVER_KEY, [sid4])),
    hmacSign(master, input(PREFIX_CLIENT_SEQ, [sid4])),
    hmacSign(master, input(PREFIX_SERVER_SEQ, [sid4])),
  ]);
  return {
    clientKey,
    serverKey,
    clientSeq: littleEndian(clientSeq),
    serverSeq: littleEndian(serverSeq),
  };
}
