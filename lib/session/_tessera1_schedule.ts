// The tessera/1 key schedule (docs/protocol.md §4). Private.

import { concat, utf8 } from "../crypto/_bytes.ts";
import { hkdf, hkdfKey, importHkdfKey } from "../crypto/hkdf.ts";

/** Label prefix of every derivation. */
const PREFIX = "tessera/1 ";
const EMPTY = new Uint8Array(0);

/** `info = "tessera/1 " ‖ label ‖ 0x00 ‖ context`. */
export function info(label: string, context: Uint8Array): Uint8Array {
  return concat(utf8(PREFIX + label), new Uint8Array([0]), context);
}

/** Handshake keys, derived from the ECDHE secret and the hello transcript hash. */
export interface HandshakeKeys {
  clientKey: CryptoKey;
  clientIv: Uint8Array;
  clientFinished: CryptoKey;
  serverKey: CryptoKey;
  serverIv: Uint8Array;
  serverFinished: CryptoKey;
  master: Uint8Array;
}

/**
 * Derives the handshake keys. `salt` is 32 zero bytes for a full handshake; a
 * resumption handshake passes its PSK-derived salt instead.
 */
export async function deriveHandshakeKeys(
  shared: Uint8Array,
  salt: Uint8Array,
  helloHash: Uint8Array,
): Promise<HandshakeKeys> {
  const ikm = await importHkdfKey(shared);
  const [clientKey, clientIv, clientFinished, serverKey, serverIv, serverFinished, master] =
    await Promise.all([
      hkdfKey(ikm, salt, info("c hs key", helloHash), "aes-gcm"),
      hkdf(ikm, salt, info("c hs iv", helloHash), 12),
      hkdfKey(ikm, salt, info("c finished", helloHash), "hmac"),
      hkdfKey(ikm, salt, info("s hs key", helloHash), "aes-gcm"),
      hkdf(ikm, salt, info("s hs iv", helloHash), 12),
      hkdfKey(ikm, salt, info("s finished", helloHash), "hmac"),
      hkdf(ikm, salt, info("master", helloHash), 32),
    ]);
  return { clientKey, clientIv, clientFinished, serverKey, serverIv, serverFinished, master };
}

/** Secrets derived from the master secret and the full transcript hash. */
export interface TrafficSecrets {
  clientSecret: Uint8Array;
  serverSecret: Uint8Array;
  sessionId: Uint8Array;
  resumption: Uint8Array;
}

/** Derives the application traffic base secrets, the session id and the resumption secret. */
export async function deriveTrafficSecrets(
  master: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<TrafficSecrets> {
  const ikm = await importHkdfKey(master);
  const [clientSecret, serverSecret, sessionId, resumption] = await Promise.all([
    hkdf(ikm, EMPTY, info("c ap", transcriptHash), 32),
    hkdf(ikm, EMPTY, info("s ap", transcriptHash), 32),
    hkdf(ikm, EMPTY, info("session id", transcriptHash), 16),
    hkdf(ikm, EMPTY, info("res master", transcriptHash), 32),
  ]);
  return { clientSecret, serverSecret, sessionId, resumption };
}

/** One record key: the AES-GCM key and its static IV. */
export interface RecordKey {
  key: CryptoKey;
  iv: Uint8Array;
}

/** Derives the record key named `keyId` from a direction's base secret. */
export async function deriveRecordKey(base: CryptoKey, keyId: Uint8Array): Promise<RecordKey> {
  const [key, iv] = await Promise.all([
    hkdfKey(base, EMPTY, info("key", keyId), "aes-gcm"),
    hkdf(base, EMPTY, info("iv", keyId), 12),
  ]);
  return { key, iv };
}
