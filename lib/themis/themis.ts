/**
 * The Themis profile of {@linkcode SecureSession}: Themis Secure Session as
 * WasmThemis 0.15.0 speaks it, on the same facade as tessera/1.
 *
 * @module
 */

import type { Profile, ProfileImplementation } from "../session/profile.ts";
import { MESSAGE_OVERHEAD, ThemisChannel } from "./_channel.ts";
import { MAX_HANDSHAKE_MESSAGE, ThemisHandshake } from "./_handshake.ts";

/**
 * Bytes a Themis data message adds to the data it carries: the session id
 * (4), the IV field (16), the encrypted length, sequence number and
 * timestamp (16) and the GCM tag (16).
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { themis, THEMIS_MESSAGE_OVERHEAD } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ client: publicKey, server: publicKey });
 * const options = { privateKey, getPublicKeyForId, profile: themis };
 * const client = new SecureSession({ id: "client", ...options });
 * const server = new SecureSession({ id: "server", ...options });
 * let message: Uint8Array | null = await client.connectRequest();
 * while (message) {
 *   message = await server.negotiate(message);
 *   if (message) message = await client.negotiate(message);
 * }
 * const wrapped = await client.wrap(new TextEncoder().encode("hello"));
 * assert.equal(wrapped.length, 5 + THEMIS_MESSAGE_OVERHEAD);
 * ```
 */
export const THEMIS_MESSAGE_OVERHEAD: number = MESSAGE_OVERHEAD;

const implementation: ProfileImplementation = {
  name: "themis",
  stateId: 2,
  maxHandshakeMessage: MAX_HANDSHAKE_MESSAGE,
  createHandshake: (role, config) => new ThemisHandshake(role, config),
  importChannel: (state, config) =>
    Promise.resolve().then(() => ThemisChannel.import(state, config)),
};

/**
 * The Themis Secure Session profile: pass it as the `profile` of a
 * {@linkcode SecureSession} (and in `profiles` to `SecureSession.restore`)
 * to talk to Themis apps (WasmThemis, and the Themis libraries for iOS,
 * Android, Go, Python, … that speak the same wire format) with the same
 * buffer and callback APIs, events and key pairs as tessera/1.
 *
 * What differs from tessera/1, because the Themis wire format has it so:
 *
 * - Ids travel in clear, and the client's goes out in its first message
 *   (before it knows the server). `expectedPeer` is still checked on both
 *   sides before the handshake completes.
 * - Four messages: `connectRequest()`, then `negotiate()` three times
 *   (server, client, server); the client is established when it reads the
 *   fourth, the server when it sends it.
 * - No key update (`rekey()` is `session_unsupported`), no close message
 *   (`close()` returns `null`), no exporter, no resumption (tickets are
 *   neither offered nor issued), no padding (the option is a `TypeError`),
 *   no empty messages (a `RangeError`: Themis refuses to send one).
 *   A session that reaches `recordsPerKey` or `bytesPerKey` refuses to send
 *   more (`record_sequence_exhausted`); start a new one.
 * - Messages carry a sequence number and a timestamp: a message more than 8
 *   from the newest accepted, or more than a day from this side's clock
 *   (`now`), is `themis_out_of_window`. `peerMaxRecordSize` is `null`.
 * - Peer ids may be 1 to 4096 bytes (this side's own, 1 to 1024); keep ids
 *   under about 1900 bytes to reach native Themis peers.
 *
 * Stricter than Themis, where no honest Themis peer can tell: a message is
 * accepted at most once (Themis accepts replays within its window), message
 * 4 must carry its whole 32-byte MAC (Themis accepts an empty one), nothing
 * is wrapped or unwrapped before the handshake completes, every container
 * must lie inside the one around it, and bytes after a message's tag are
 * refused.
 *
 * Restoring the same saved state twice gives two sessions that send the
 * same sequence numbers (under fresh random nonces): the peer accepts each
 * number once, from whichever copy it hears first.
 *
 * @example A handshake and a message, both sides tessera
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { themis } from "@tessera/session/themis";
 * import assert from "node:assert/strict";
 *
 * const a = await generateIdentityKeyPair();
 * const b = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ client: a.publicKey, server: b.publicKey });
 * const client = new SecureSession({
 *   id: "client", privateKey: a.privateKey, getPublicKeyForId, profile: themis,
 * });
 * const server = new SecureSession({
 *   id: "server", privateKey: b.privateKey, getPublicKeyForId, profile: themis,
 * });
 * const m1 = await client.connectRequest();
 * const m2 = await server.negotiate(m1);
 * const m3 = await client.negotiate(m2!);
 * const m4 = await server.negotiate(m3!);
 * assert.equal(await client.negotiate(m4!), null);
 * assert.equal(client.profile, "themis");
 * const wrapped = await client.wrap(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode((await server.unwrap(wrapped))!), "hi");
 * await assert.rejects(server.unwrap(wrapped), { code: "record_replayed" });
 * ```
 */
export const themis: Profile = implementation;
