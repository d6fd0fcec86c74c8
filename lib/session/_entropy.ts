// Where tessera/1 takes its randomness and ephemeral keys from. Private: only
// the wire-format vector tests replace these, through `withEntropy`.

import { exportPoint, generateEphemeralKeyPair, generateEphemeralShare } from "../crypto/ecdh.ts";
import { type RandomSource, systemRandom } from "../crypto/random.ts";

/** The sources in use. */
export interface Entropy {
  random: RandomSource;
  generateEphemeral: () => Promise<CryptoKeyPair>;
}

const current: Entropy = { random: systemRandom, generateEphemeral: generateEphemeralKeyPair };

/** The sources in use right now. */
export function entropy(): Entropy {
  return current;
}

/** Runs `fn` with replaced sources, then restores the system ones. Tests only. */
export async function withEntropy<T>(replacement: Entropy, fn: () => Promise<T>): Promise<T> {
  const saved = { ...current };
  Object.assign(current, replacement);
  try {
    return await fn();
  } finally {
    Object.assign(current, saved);
  }
}

/** A fresh ephemeral key pair and its uncompressed point, from the sources in use. */
export async function ephemeralShare(): Promise<{ pair: CryptoKeyPair; point: Uint8Array }> {
  if (current.generateEphemeral === generateEphemeralKeyPair) return generateEphemeralShare();
  const pair = await current.generateEphemeral();
  return { pair, point: await exportPoint(pair.publicKey) };
}
