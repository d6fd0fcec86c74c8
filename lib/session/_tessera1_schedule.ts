// The tessera/1 key schedule (docs/protocol.md §4). Private. Derivations that run side by side
// are awaited together (`settleAll`): one that fails never leaves the others running.

import { settleAll } from "../_settle.ts";
import { concat, u16, u32, utf8 } from "../crypto/_bytes.ts";
import { hkdf, hkdfKey, importHkdfKey } from "../crypto/hkdf.ts";
import { sha256 } from "../crypto/sha256.ts";

/** Label prefix of every derivation. */
const PREFIX = "tessera/1 ";
const EMPTY = new Uint8Array(0);
/** The salt of a full handshake. */
export const ZERO_SALT: Uint8Array = new Uint8Array(32);

/** `info = "tessera/1 " ‖ label ‖ 0x00 ‖ context`. */
export function info(label: string, context: Uint8Array = EMPTY): Uint8Array {
  return concat(utf8(PREFIX + label), new Uint8Array([0]), context);
}

/** `nonce(iv, n) = iv ⊕ (00000000 ‖ u64(n))`. */
export function nonceAt(iv: Uint8Array, n: number): Uint8Array {
  const out = iv.slice();
  const view = new DataView(out.buffer);
  view.setBigUint64(4, view.getBigUint64(4) ^ BigInt(n));
  return out;
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
  /**
   * The resumption master secret `res`, from which ticket secrets derive:
   * computed on first use, since only handshakes with tickets need it.
   */
  resumption(): Promise<Uint8Array>;
}

/**
 * Derives the handshake keys. `salt` is {@linkcode ZERO_SALT} for a full
 * handshake and {@linkcode resumptionSalt} of the ticket for a resumed one.
 */
export async function deriveHandshakeKeys(
  shared: Uint8Array,
  salt: Uint8Array,
  helloHash: Uint8Array,
): Promise<HandshakeKeys> {
  const ikm = await importHkdfKey(shared);
  const [clientKey, clientIv, clientFinished, serverKey, serverIv, serverFinished, master] =
    await settleAll([
      hkdfKey(ikm, salt, info("c hs key", helloHash), "aes-gcm"),
      hkdf(ikm, salt, info("c hs iv", helloHash), 12),
      hkdfKey(ikm, salt, info("c finished", helloHash), "hmac"),
      hkdfKey(ikm, salt, info("s hs key", helloHash), "aes-gcm"),
      hkdf(ikm, salt, info("s hs iv", helloHash), 12),
      hkdfKey(ikm, salt, info("s finished", helloHash), "hmac"),
      hkdf(ikm, salt, info("master", helloHash), 32),
    ]);
  let resumption: Promise<Uint8Array> | null = null;
  const res = async () =>
    hkdf(await importHkdfKey(master), EMPTY, info("res master", helloHash), 32);
  return {
    clientKey,
    clientIv,
    clientFinished,
    serverKey,
    serverIv,
    serverFinished,
    master,
    resumption: () => resumption ??= res(),
  };
}

/** Secrets derived from the master secret and the full transcript hash. */
export interface TrafficSecrets {
  clientSecret: Uint8Array;
  serverSecret: Uint8Array;
  sessionId: Uint8Array;
  exporter: Uint8Array;
}

/** Derives the epoch-0 traffic secrets, the session id and the exporter secret. */
export async function deriveTrafficSecrets(
  master: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<TrafficSecrets> {
  const ikm = await importHkdfKey(master);
  const [clientSecret, serverSecret, sessionId, exporter] = await settleAll([
    hkdf(ikm, EMPTY, info("c ap", transcriptHash), 32),
    hkdf(ikm, EMPTY, info("s ap", transcriptHash), 32),
    hkdf(ikm, EMPTY, info("session id", transcriptHash), 16),
    hkdf(ikm, EMPTY, info("exporter", transcriptHash), 32),
  ]);
  return { clientSecret, serverSecret, sessionId, exporter };
}

/** The secret of the ticket with id `ticketId`: `HKDF(res, "", Label("ticket", id), 32)`. */
export async function ticketSecret(
  resumption: Uint8Array,
  ticketId: Uint8Array,
): Promise<Uint8Array> {
  return await hkdf(await importHkdfKey(resumption), EMPTY, info("ticket", ticketId), 32);
}

/** What a ticket's secret (the PSK) gives: the resumed handshake's salt and the binder key. */
export interface PskKeys {
  salt: Uint8Array;
  binderKey: CryptoKey;
}

/**
 * Derives `S0` and the binder key from a ticket secret, bound to the id of the
 * server the ticket came from (`SIDP = u16(len) ‖ id`): a server with another
 * id derives other keys, so a ticket never resumes with a server it was not
 * issued by, even where servers share a ticket store.
 */
export async function derivePskKeys(psk: Uint8Array, serverId: Uint8Array): Promise<PskKeys> {
  const ikm = await importHkdfKey(psk);
  const sidp = concat(u16(serverId.length), serverId);
  const [salt, binderKey] = await settleAll([
    hkdf(ikm, EMPTY, info("res salt", sidp), 32),
    hkdfKey(ikm, EMPTY, info("binder", sidp), "hmac"),
  ]);
  return { salt, binderKey };
}

/** The AES-GCM key and static IV of one epoch: what each record needs. */
export interface RecordKeys {
  key: CryptoKey;
  iv: Uint8Array;
}

/** Derives `key_e` and `iv_e` from `ts_e`. */
export async function deriveRecordKeys(secret: Uint8Array): Promise<RecordKeys> {
  const ikm = await importHkdfKey(secret);
  const [key, iv] = await settleAll([
    hkdfKey(ikm, EMPTY, info("key"), "aes-gcm"),
    hkdf(ikm, EMPTY, info("iv"), 12),
  ]);
  return { key, iv };
}

/** Derives `fork_key_e` from `ts_e`: needed only to make or check a fork proof. */
export async function deriveForkKey(secret: Uint8Array): Promise<CryptoKey> {
  return await hkdfKey(await importHkdfKey(secret), EMPTY, info("fork key"), "hmac");
}

/** One epoch's record protection: AES-GCM key, static IV and the fork-proof key. */
export interface EpochKeys {
  key: CryptoKey;
  iv: Uint8Array;
  forkKey: CryptoKey;
}

/** Derives `key_e`, `iv_e` and `fork_key_e` from `ts_e`. */
export async function deriveEpochKeys(secret: Uint8Array): Promise<EpochKeys> {
  const ikm = await importHkdfKey(secret);
  const [key, iv, forkKey] = await settleAll([
    hkdfKey(ikm, EMPTY, info("key"), "aes-gcm"),
    hkdf(ikm, EMPTY, info("iv"), 12),
    hkdfKey(ikm, EMPTY, info("fork key"), "hmac"),
  ]);
  return { key, iv, forkKey };
}

/** `ts_{e+1}` from `ts_e` (update), or `ts'_{e+1}` with the fork's random `R`. */
export async function nextTrafficSecret(
  secret: Uint8Array,
  nextEpoch: number,
  fork: Uint8Array | null = null,
): Promise<Uint8Array> {
  const ikm = await importHkdfKey(secret);
  return fork
    ? await hkdf(ikm, fork, info("fork", u32(nextEpoch)), 32)
    : await hkdf(ikm, EMPTY, info("next", u32(nextEpoch)), 32);
}

/** The bytes a fork proof covers: `u32(e+1) ‖ R`. */
export function forkProofInput(nextEpoch: number, fork: Uint8Array): Uint8Array {
  return concat(u32(nextEpoch), fork);
}

/** `EKM(label, context, L)` of §4.3. */
export async function exporterValue(
  exporter: Uint8Array,
  label: Uint8Array,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const context_ = concat(
    new Uint8Array([label.length]),
    label,
    await sha256(context),
    u16(length),
  );
  return await hkdf(await importHkdfKey(exporter), EMPTY, info("exporter value", context_), length);
}
