// tessera/1 alerts (docs/protocol.md §3.6). Private.

import { aesGcmDecrypt, aesGcmEncrypt } from "../crypto/aes_gcm.ts";
import { HandshakeError, type HandshakeErrorCode } from "../errors.ts";
import { nonceAt } from "./_tessera1_schedule.ts";

/** First byte of an alert. */
export const ALERT: number = 0x15;
const VERSION = 0x01;
const PLAIN = 0x00;
const PROTECTED = 0x01;
const PLAIN_LENGTH = 4;
const PROTECTED_LENGTH = 3 + 1 + 16;
const PROTECTED_HEADER = new Uint8Array([ALERT, VERSION, PROTECTED]);

/** Alert classes: no more than the kind of failure. */
const CLASS_OF: Record<HandshakeErrorCode, number> = {
  handshake_unknown_peer: 1,
  handshake_bad_signature: 1,
  handshake_bad_finished: 1,
  handshake_peer_rejected: 1,
  handshake_malformed: 2,
  handshake_unexpected: 2,
  handshake_decrypt_failed: 2,
  handshake_bad_key_share: 2,
  handshake_unsupported_version: 3,
  handshake_unsupported_suite: 3,
  handshake_lookup_failed: 4,
  handshake_refused: 0,
  handshake_timeout: 0, // decided locally by a deadline: the transport is closed, no alert
};
const CLASS_NAMES = ["", "refused", "protocol", "unsupported", "internal"];

/** A sender's handshake key and IV, which protect its alert with nonce 1. */
export interface AlertKey {
  key: CryptoKey;
  iv: Uint8Array;
}

/** The alert for a failure, protected when `key` is given; `null` for the peer's own alert. */
export async function buildAlert(
  code: HandshakeErrorCode,
  key: AlertKey | null,
): Promise<Uint8Array | null> {
  const alertClass = CLASS_OF[code];
  if (!alertClass) return null;
  if (!key) return new Uint8Array([ALERT, VERSION, PLAIN, alertClass]);
  const sealed = await aesGcmEncrypt(
    key.key,
    nonceAt(key.iv, 1),
    new Uint8Array([alertClass]),
    PROTECTED_HEADER,
  );
  const out = new Uint8Array(PROTECTED_LENGTH);
  out.set(PROTECTED_HEADER);
  out.set(sealed, 3);
  return out;
}

/** Whether `message` has the shape of an alert (protected or plain). */
export function isAlert(message: Uint8Array): boolean {
  return message[0] === ALERT;
}

/**
 * Reads an alert. `key` is the peer's handshake key, or `null` where only a
 * plain alert is acceptable. Returns the `handshake_refused` error to fail
 * with; throws `HandshakeError` for an alert that is not acceptable here.
 */
export async function readAlert(
  message: Uint8Array,
  key: AlertKey | null,
): Promise<HandshakeError> {
  if (message.length < 3 || message[1] !== VERSION) {
    throw new HandshakeError("handshake_malformed", "malformed alert");
  }
  let alertClass: number;
  if (message[2] === PLAIN && message.length === PLAIN_LENGTH) {
    alertClass = message[3]!;
  } else if (message[2] === PROTECTED && message.length === PROTECTED_LENGTH && key) {
    const opened = await aesGcmDecrypt(
      key.key,
      nonceAt(key.iv, 1),
      message.subarray(3),
      message.subarray(0, 3),
    );
    if (!opened) throw new HandshakeError("handshake_decrypt_failed", "alert is not authentic");
    alertClass = opened[0]!;
  } else if (message[2] === PROTECTED && message.length === PROTECTED_LENGTH) {
    throw new HandshakeError("handshake_unexpected", "a protected alert is not expected now");
  } else {
    throw new HandshakeError("handshake_malformed", "malformed alert");
  }
  const name = CLASS_NAMES[alertClass];
  if (!name) throw new HandshakeError("handshake_malformed", "unknown alert class");
  return new HandshakeError("handshake_refused", `the peer refused the handshake (${name})`);
}
