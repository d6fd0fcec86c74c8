/**
 * The tessera/1 protocol profile: the default profile of {@linkcode SecureSession}.
 *
 * @module
 */

import type { Profile, ProfileImplementation } from "./profile.ts";
export {
  DEFAULT_BYTES_PER_KEY,
  DEFAULT_MAX_AUTH_FAILURES,
  DEFAULT_RECORDS_PER_KEY,
  RECORD_HEADER_LENGTH,
  RECORD_OVERHEAD,
  REPLAY_WINDOW_SIZE,
} from "./tessera1_channel.ts";
export { MAX_HANDSHAKE_MESSAGE } from "./tessera1_handshake.ts";
import { Tessera1Channel } from "./tessera1_channel.ts";
import { MAX_HANDSHAKE_MESSAGE, Tessera1Handshake } from "./tessera1_handshake.ts";

const implementation: ProfileImplementation = {
  name: "tessera/1",
  stateId: 1,
  maxHandshakeMessage: MAX_HANDSHAKE_MESSAGE,
  createHandshake: (role, config) => new Tessera1Handshake(role, config),
  importChannel: (state, config) =>
    Promise.resolve().then(() => Tessera1Channel.import(state, config)),
};

/**
 * tessera/1: ECDHE P-256, ECDSA P-256 identities with encrypted ids, HKDF-SHA256,
 * AES-256-GCM records with a replay window and key update (docs/protocol.md).
 *
 * @example
 * ```ts
 * import { tessera1 } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * assert.equal(tessera1.name, "tessera/1");
 * ```
 */
export const tessera1: Profile = implementation;
