/**
 * The interface between the {@linkcode SecureSession} facade and a protocol
 * profile. tessera/1 is one profile; the Themis-compatible profile is another.
 * A profile is pure: bytes in, bytes and events out, no I/O.
 *
 * @module
 */

import type { PublicKeyInput } from "../crypto/identity.ts";
import type { RandomSource } from "../crypto/random.ts";

/** Which side of the handshake a session plays. */
export type Role = "client" | "server";

/**
 * Looks up the long-term public key of a peer id. Return `null` or `undefined`
 * for an unknown id: the handshake then fails with `handshake_unknown_peer`.
 */
export type PublicKeyLookup = (
  id: Uint8Array,
) => PublicKeyInput | null | undefined | Promise<PublicKeyInput | null | undefined>;

/** What a profile needs to run a handshake. */
export interface HandshakeConfig {
  /** This side's id (1 to {@linkcode MAX_ID_LENGTH} bytes). */
  readonly id: Uint8Array;
  /** This side's long-term ECDSA P-256 private key. */
  readonly privateKey: CryptoKey;
  /** The mandatory lookup of the peer's public key by id. */
  readonly getPublicKeyForId: PublicKeyLookup;
  /** Randomness. */
  readonly random: RandomSource;
  /** Records sealed under one key before an automatic key update. */
  readonly recordsPerKey: number;
  /** The largest plaintext one record may carry. */
  readonly maxRecordSize: number;
}

/** The outcome of one handshake step. */
export interface HandshakeStep {
  /** Bytes to send to the peer, or `null` when there is nothing to send. */
  readonly send: Uint8Array | null;
  /** The established channel once the handshake is complete on this side. */
  readonly channel: Channel | null;
}

/** One side of a handshake in progress. */
export interface Handshake {
  /** Produces the client's first message. Only valid on the client, once. */
  start(): Promise<Uint8Array>;
  /**
   * Processes one message from the peer.
   *
   * @param message The peer's handshake message.
   */
  receive(message: Uint8Array): Promise<HandshakeStep>;
}

/** What {@linkcode Channel.open} found in a record. */
export interface OpenedRecord {
  /** `"data"` for application data, `"close"` for the peer's authenticated close. */
  readonly kind: "data" | "close";
  /** The authenticated plaintext (empty for a close). */
  readonly data: Uint8Array;
}

/** An established channel: record protection plus what the handshake proved. */
export interface Channel {
  /** The session id both sides derived. */
  readonly sessionId: Uint8Array;
  /** The authenticated id of the peer. */
  readonly peerId: Uint8Array;
  /**
   * Protects one application record. The sequence number is reserved
   * synchronously, so concurrent calls never share a nonce.
   *
   * @param plaintext The data.
   */
  seal(plaintext: Uint8Array): Promise<Uint8Array>;
  /**
   * Authenticates and opens one record.
   *
   * @param record The record.
   * @param ordered `true` on stream transports: only the next sequence number is accepted.
   */
  open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord>;
  /** Protects an authenticated close record, or returns `null` if the profile has none. */
  sealClose(): Promise<Uint8Array | null>;
  /** Moves the sending direction to a fresh key. */
  rekey(): void;
  /** Serializes the channel's secret state (sealed by the facade before it leaves). */
  exportState(): Uint8Array;
}

/** A protocol profile pluggable into the facade. */
export interface Profile {
  /** The profile's name, e.g. `"tessera/1"`. */
  readonly name: string;
  /** The profile's one-byte id in saved state. */
  readonly stateId: number;
  /**
   * Creates one side of a handshake.
   *
   * @param role Client or server.
   * @param config Keys, lookup, limits.
   */
  createHandshake(role: Role, config: HandshakeConfig): Handshake;
  /**
   * Rebuilds a channel from {@linkcode Channel.exportState} output.
   *
   * @param state The exported state.
   * @param config Randomness and limits.
   */
  importChannel(
    state: Uint8Array,
    config: Pick<HandshakeConfig, "random" | "recordsPerKey" | "maxRecordSize">,
  ): Promise<Channel>;
}

/** The largest id, in bytes, that tessera/1 accepts. */
export const MAX_ID_LENGTH = 1024;
