/**
 * The interface between the {@linkcode SecureSession} facade and a protocol
 * profile. tessera/1 is one profile; the Themis-compatible profile is another.
 * A profile is pure: bytes in, bytes and events out, no I/O.
 *
 * @module
 */

import type { PublicKeyInput } from "../crypto/identity.ts";
import type { RandomSource } from "../crypto/random.ts";

/**
 * Which side of the handshake a session plays.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type Role, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * assert.equal(session.role, null);
 * await session.connectRequest();
 * const role: Role | null = session.role;
 * assert.equal(role, "client");
 * ```
 */
export type Role = "client" | "server";

/**
 * Looks up the long-term public key of a peer id. Return `null` or `undefined`
 * for an unknown id: the handshake then fails with `handshake_unknown_peer`.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type PublicKeyLookup, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const alice = await generateIdentityKeyPair();
 * const directory = new Map([["alice", alice.publicKey]]);
 * const lookup: PublicKeyLookup = (id) => directory.get(new TextDecoder().decode(id));
 * assert.equal(await lookup(new TextEncoder().encode("alice")), alice.publicKey);
 * assert.equal(await lookup(new TextEncoder().encode("mallory")), undefined); // unknown peer
 * const bob = await generateIdentityKeyPair();
 * new SecureSession({ id: "bob", privateKey: bob.privateKey, getPublicKeyForId: lookup });
 * ```
 */
export type PublicKeyLookup = (
  id: Uint8Array,
) => PublicKeyInput | null | undefined | Promise<PublicKeyInput | null | undefined>;

/**
 * What a profile needs to run a handshake.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, systemRandom } from "@tessera/session/crypto";
 * import {
 *   DEFAULT_MAX_RECORD_SIZE,
 *   DEFAULT_RECORDS_PER_KEY,
 *   type HandshakeConfig,
 *   MAX_HANDSHAKE_MESSAGE,
 *   tessera1,
 * } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const config: HandshakeConfig = {
 *   id: new TextEncoder().encode("alice"),
 *   privateKey,
 *   getPublicKeyForId: () => null,
 *   random: systemRandom,
 *   recordsPerKey: DEFAULT_RECORDS_PER_KEY,
 *   maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
 * };
 * const hello = await tessera1.createHandshake("client", config).start();
 * assert.ok(hello.length > 0 && hello.length <= MAX_HANDSHAKE_MESSAGE);
 * ```
 */
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

/**
 * The outcome of one handshake step.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, systemRandom } from "@tessera/session/crypto";
 * import { type HandshakeStep, tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: () => publicKey };
 * const limits = { random: systemRandom, recordsPerKey: 1000, maxRecordSize: 1024 };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = tessera1.createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = tessera1.createHandshake("server", { id: id("s"), ...keys, ...limits });
 * const reply: HandshakeStep = await server.receive(await client.start());
 * assert.equal(reply.channel, null); // the server waits for the client's Finished
 * const finished: HandshakeStep = await client.receive(reply.send!);
 * const done: HandshakeStep = await server.receive(finished.send!);
 * assert.equal(done.send, null); // nothing left to send
 * assert.deepEqual(done.channel!.sessionId, finished.channel!.sessionId);
 * ```
 */
export interface HandshakeStep {
  /** Bytes to send to the peer, or `null` when there is nothing to send. */
  readonly send: Uint8Array | null;
  /** The established channel once the handshake is complete on this side. */
  readonly channel: Channel | null;
}

/**
 * One side of a handshake in progress.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, systemRandom } from "@tessera/session/crypto";
 * import { type Handshake, tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: () => publicKey };
 * const limits = { random: systemRandom, recordsPerKey: 1000, maxRecordSize: 1024 };
 * const config = (name: string) => ({ id: new TextEncoder().encode(name), ...keys, ...limits });
 * const client: Handshake = tessera1.createHandshake("client", config("c"));
 * const server: Handshake = tessera1.createHandshake("server", config("s"));
 * const reply = await server.receive(await client.start());
 * const finished = await client.receive(reply.send!);
 * const done = await server.receive(finished.send!);
 * assert.deepEqual(done.channel!.peerId, new TextEncoder().encode("c"));
 * await assert.rejects(client.start(), { code: "handshake_unexpected" }); // start() runs once
 * ```
 */
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

/**
 * What {@linkcode Channel.open} found in a record.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, systemRandom } from "@tessera/session/crypto";
 * import { type OpenedRecord, tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: () => publicKey };
 * const limits = { random: systemRandom, recordsPerKey: 1000, maxRecordSize: 1024 };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = tessera1.createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = tessera1.createHandshake("server", { id: id("s"), ...keys, ...limits });
 * const finished = await client.receive((await server.receive(await client.start())).send!);
 * const [a, b] = [finished.channel!, (await server.receive(finished.send!)).channel!];
 * const data: OpenedRecord = await b.open(await a.seal(new Uint8Array([7])), false);
 * assert.deepEqual(data, { kind: "data", data: new Uint8Array([7]) });
 * const close: OpenedRecord = await b.open((await a.sealClose())!, false);
 * assert.equal(close.kind, "close");
 * ```
 */
export interface OpenedRecord {
  /** `"data"` for application data, `"close"` for the peer's authenticated close. */
  readonly kind: "data" | "close";
  /** The authenticated plaintext (empty for a close). */
  readonly data: Uint8Array;
}

/**
 * An established channel: record protection plus what the handshake proved.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, systemRandom } from "@tessera/session/crypto";
 * import { type Channel, tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: () => publicKey };
 * const limits = { random: systemRandom, recordsPerKey: 1000, maxRecordSize: 1024 };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = tessera1.createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = tessera1.createHandshake("server", { id: id("s"), ...keys, ...limits });
 * const finished = await client.receive((await server.receive(await client.start())).send!);
 * const a: Channel = finished.channel!;
 * const b: Channel = (await server.receive(finished.send!)).channel!;
 * const record = await a.seal(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode((await b.open(record, true)).data), "hi");
 * await assert.rejects(b.open(record, true), { code: "record_replayed" });
 * ```
 */
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

/**
 * A protocol profile pluggable into the facade.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type Profile, SecureSession } from "@tessera/session";
 * import { tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const profile: Profile = tessera1;
 * assert.equal(profile.name, "tessera/1");
 * const { privateKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = () => null;
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId, profile });
 * assert.equal(session.profile, profile.name);
 * ```
 */
export interface Profile {
  /** The profile's name, e.g. `"tessera/1"`. */
  readonly name: string;
  /** The profile's one-byte id in saved state. */
  readonly stateId: number;
  /** The largest handshake message the profile accepts (transports may refuse larger ones early). */
  readonly maxHandshakeMessage?: number;
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

/**
 * The largest id, in bytes, that tessera/1 accepts.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { MAX_ID_LENGTH } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = () => null;
 * assert.equal(MAX_ID_LENGTH, 1024);
 * new SecureSession({ id: new Uint8Array(MAX_ID_LENGTH), privateKey, getPublicKeyForId });
 * const tooLong = new Uint8Array(MAX_ID_LENGTH + 1);
 * assert.throws(
 *   () => new SecureSession({ id: tooLong, privateKey, getPublicKeyForId }),
 *   RangeError,
 * );
 * ```
 */
export const MAX_ID_LENGTH = 1024;
