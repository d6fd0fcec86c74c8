/**
 * The interface between the {@linkcode SecureSession} facade and a protocol
 * profile. tessera/1 is one profile; the Themis-compatible profile is another.
 * A profile is pure: bytes in, bytes and events out, no I/O.
 *
 * @module
 */

import type { PublicKeyInput } from "../crypto/identity.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { TesseraError } from "../errors.ts";
import type { ClientTicketCache, TicketAttributes, TicketStore } from "./resumption.ts";

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
 * The id is the peer's claim, received before the peer is authenticated:
 * untrusted bytes. Compare them exactly (never through a lenient decoder that
 * maps several byte strings to one name), return exactly one key per id (never
 * one key for every id, which would let the peer choose its id), and take the
 * same time for known and unknown ids: return `CryptoKey`s imported once
 * (bytes or a JWK are imported again on every handshake, which makes known
 * ids slower than unknown ones). {@linkcode directoryLookup} does all of this
 * for a fixed directory of `CryptoKey`s.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type PublicKeyLookup, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const alice = await generateIdentityKeyPair();
 * // Keyed by the exact bytes (hex), so "\uFEFFalice" is not "alice".
 * const hex = (id: Uint8Array) => Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
 * const directory = new Map([[hex(new TextEncoder().encode("alice")), alice.publicKey]]);
 * const lookup: PublicKeyLookup = (id) => directory.get(hex(id));
 * assert.equal(await lookup(new TextEncoder().encode("alice")), alice.publicKey);
 * assert.equal(await lookup(new TextEncoder().encode("\uFEFFalice")), undefined);
 * assert.equal(await lookup(new TextEncoder().encode("mallory")), undefined); // unknown peer
 * const bob = await generateIdentityKeyPair();
 * new SecureSession({ id: "bob", privateKey: bob.privateKey, getPublicKeyForId: lookup });
 * ```
 */
export type PublicKeyLookup = (
  id: Uint8Array,
) => PublicKeyInput | null | undefined | Promise<PublicKeyInput | null | undefined>;

/**
 * Which peer a session accepts once the handshake has authenticated it: an id
 * (a string as UTF-8, or bytes, compared exactly) or a predicate. The client
 * checks it before it reveals its own id; the server before it is established.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type PeerPolicy, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const expectedPeer: PeerPolicy = "api.example";
 * const admins: PeerPolicy = (id) => id.length > 6 && id[0] === 0x61 && id[5] === 0x2d; // "admin-"
 * assert.equal(typeof admins, "function");
 * const { privateKey } = await generateIdentityKeyPair();
 * new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null, expectedPeer });
 * ```
 */
export type PeerPolicy =
  | string
  | Uint8Array
  | ((id: Uint8Array) => boolean | Promise<boolean>);

/**
 * How records are padded to hide their length: `"none"`, a block size (1 to
 * 256: the inner plaintext is padded to a multiple of it), or a function from
 * the data length to the number of padding bytes (0 to 256).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type PaddingPolicy, SecureSession } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const padding: PaddingPolicy = { blockSize: 64 };
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId, padding });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const short = await client.wrap(new Uint8Array(1));
 * const longer = await client.wrap(new Uint8Array(40));
 * assert.equal(short.length, longer.length); // both padded to one 64-byte block
 * assert.equal((await server.unwrap(longer))!.length, 40);
 * ```
 */
export type PaddingPolicy =
  | "none"
  | { readonly blockSize: number }
  | ((length: number) => number);

/**
 * Why a ticket was not used: the server's reasons (`unknown`, `expired`,
 * `revoked`, `binder_invalid`, `replayed`, `reused`, `peer_key_changed`,
 * `peer_rejected` by its `expectedPeer`, `store_unavailable`), or `declined`
 * as the client sees any of them (and `store_unavailable` when its own cache
 * failed). Also the reason of a failed issue (`attributes_invalid`,
 * `store_unavailable`).
 *
 * @example
 * ```ts
 * import type { TicketDeclineReason } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const reason: TicketDeclineReason = "reused"; // a copied ticket secret: its family is revoked
 * assert.equal(reason, "reused");
 * ```
 */
export type TicketDeclineReason =
  | "unknown"
  | "expired"
  | "revoked"
  | "binder_invalid"
  | "replayed"
  | "reused"
  | "peer_key_changed"
  | "store_unavailable"
  | "peer_rejected"
  | "attributes_invalid"
  | "declined";

/**
 * What happened to tickets during a handshake, as a profile reports it.
 *
 * @example
 * ```ts
 * import type { TicketReport } from "./profile.ts";
 * import assert from "node:assert/strict";
 *
 * const report: TicketReport = { kind: "declined", reason: "expired", count: 0 };
 * assert.equal(report.kind, "declined");
 * ```
 */
export interface TicketReport {
  /**
   * `resumed`: the offered ticket was used. `declined`: it was not (see
   * `reason`); the handshake went on as a full one. `issued`: tickets were
   * stored (server) or kept (client). `issue_failed`: the store or cache
   * failed to keep them (`store_unavailable`), or the attributes hook threw or
   * returned no JSON object (`attributes_invalid`). `revoke_failed`: a reused
   * ticket's family could not be revoked (`store_unavailable`).
   */
  readonly kind: "resumed" | "declined" | "issued" | "issue_failed" | "revoke_failed";
  /** Why, for `declined` and `issue_failed`; else `null`. */
  readonly reason: TicketDeclineReason | null;
  /** How many tickets, for `issued`; else 0. */
  readonly count: number;
}

/**
 * Resumption settings of a session: the server's ticket store and issuing
 * policy, the client's cache and endpoint.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { ClientSessionCache, MemoryTicketStore } from "@tessera/session/resume";
 * import type { ResumptionOptions } from "@tessera/session";
 *
 * const server: ResumptionOptions = { store: new MemoryTicketStore(), tickets: 2 };
 * const client: ResumptionOptions = { cache: new ClientSessionCache(), endpoint: "127.0.0.1:8443" };
 * const { privateKey } = await generateIdentityKeyPair();
 * new SecureSession({ id: "s", privateKey, getPublicKeyForId: () => null, resumption: server });
 * new SecureSession({ id: "c", privateKey, getPublicKeyForId: () => null, resumption: client });
 * ```
 */
export interface ResumptionOptions {
  /** Server: where issued tickets are kept. Without it the server neither issues nor resumes. */
  readonly store?: TicketStore;
  /** Server: tickets sent in a full handshake (0 to 16, default 1). A resumed one sends one. */
  readonly tickets?: number;
  /** Server: ticket lifetime in milliseconds (default 24 hours, at most 7 days). */
  readonly lifetime?: number;
  /**
   * Server: the attributes of tickets issued in a full handshake, from the
   * authenticated client id. Default `{}`. A resumed session's successor
   * keeps the attributes of the ticket it replaces.
   */
  readonly attributes?: (peerId: Uint8Array) => TicketAttributes | Promise<TicketAttributes>;
  /** Client: where tickets are kept between connections. */
  readonly cache?: ClientTicketCache;
  /**
   * Client: the endpoint the tickets belong to, such as `"host:port"` (1 to
   * 1024 characters). The cache namespace is this, the expected server id and
   * the client's own id, so identities sharing a cache never use each other's
   * tickets. Required with `cache`.
   */
  readonly endpoint?: string;
  /** Client: `false` to make a full handshake this time (tickets are still kept). */
  readonly resume?: boolean;
}

/**
 * What a profile needs to run a handshake.
 *
 * @example
 * ```ts
 * import { implementationOf } from "./profile.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { systemRandom } from "../crypto/random.ts";
 * import { DEFAULT_BYTES_PER_KEY, DEFAULT_MAX_AUTH_FAILURES, DEFAULT_RECORDS_PER_KEY } from "./tessera1_channel.ts";
 * import { DEFAULT_MAX_RECORD_SIZE, tessera1 } from "@tessera/session";
 * import { type HandshakeConfig } from "./profile.ts";
 * import { MAX_HANDSHAKE_MESSAGE } from "./tessera1_handshake.ts";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const config: HandshakeConfig = {
 *   id: new TextEncoder().encode("alice"),
 *   privateKey,
 *   getPublicKeyForId: () => null,
 *   random: systemRandom,
 *   recordsPerKey: DEFAULT_RECORDS_PER_KEY,
 *   bytesPerKey: DEFAULT_BYTES_PER_KEY,
 *   maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
 *   maxAuthFailures: DEFAULT_MAX_AUTH_FAILURES,
 *   padding: "none",
 *   expectedPeer: null,
 *   resumption: {},
 *   now: Date.now,
 *   report: () => {},
 * };
 * const hello = await implementationOf(tessera1, "profile").createHandshake("client", config).start();
 * assert.ok(hello.length > 0 && hello.length <= MAX_HANDSHAKE_MESSAGE);
 * ```
 */
export interface HandshakeConfig extends ChannelLimits {
  /** This side's id (1 to {@linkcode MAX_ID_LENGTH} bytes). */
  readonly id: Uint8Array;
  /** This side's long-term ECDSA P-256 private key. */
  readonly privateKey: CryptoKey;
  /** The mandatory lookup of the peer's public key by id. */
  readonly getPublicKeyForId: PublicKeyLookup;
  /** The peer this side accepts, or `null` for any known peer except itself. */
  readonly expectedPeer: PeerPolicy | null;
  /** Ticket store (server) and cache (client). */
  readonly resumption: ResumptionOptions;
  /** The clock, in milliseconds since the epoch. */
  readonly now: () => number;
  /** Receives what happened to tickets. */
  readonly report: (report: TicketReport) => void;
}

/**
 * Randomness and limits of an established channel.
 *
 * @example
 * ```ts
 * import { systemRandom } from "../crypto/random.ts";
 * import type { ChannelLimits } from "./profile.ts";
 * import assert from "node:assert/strict";
 *
 * const limits: ChannelLimits = {
 *   random: systemRandom,
 *   recordsPerKey: 1000,
 *   bytesPerKey: 2 ** 20,
 *   maxRecordSize: 1024,
 *   maxAuthFailures: 10,
 *   padding: "none",
 * };
 * assert.equal(limits.maxRecordSize, 1024);
 * ```
 */
export interface ChannelLimits {
  /** Randomness. */
  readonly random: RandomSource;
  /** Records sealed under one epoch before an automatic key update. */
  readonly recordsPerKey: number;
  /** Record plaintext bytes sealed under one epoch before an automatic key update. */
  readonly bytesPerKey: number;
  /**
   * The largest plaintext of one record this side accepts (and declares to the peer, where the
   * profile declares it) and sends.
   */
  readonly maxRecordSize: number;
  /** Records failing authentication under one receive epoch before a datagram session fails. */
  readonly maxAuthFailures: number;
  /** How records are padded. */
  readonly padding: PaddingPolicy;
  /**
   * The clock, in milliseconds since the epoch, for a channel whose records carry the time
   * (the Themis profile). Default `Date.now`.
   */
  readonly now?: () => number;
}

/**
 * The outcome of one handshake step.
 *
 * @example
 * ```ts
 * import { implementationOf } from "./profile.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { systemRandom } from "../crypto/random.ts";
 * import { type HandshakeStep } from "./profile.ts";
 * import { tessera1 } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: directoryLookup({ c: publicKey, s: publicKey }) };
 * const limits = {
 *   random: systemRandom,
 *   recordsPerKey: 1000,
 *   bytesPerKey: 2 ** 30,
 *   maxRecordSize: 1024,
 *   maxAuthFailures: 10,
 *   padding: "none" as const,
 *   expectedPeer: null,
 *   resumption: {},
 *   now: Date.now,
 *   report: () => {},
 * };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = implementationOf(tessera1, "profile").createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = implementationOf(tessera1, "profile").createHandshake("server", { id: id("s"), ...keys, ...limits });
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
 * import { implementationOf } from "./profile.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { systemRandom } from "../crypto/random.ts";
 * import { type Handshake } from "./profile.ts";
 * import { tessera1 } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: directoryLookup({ c: publicKey, s: publicKey }) };
 * const limits = {
 *   random: systemRandom,
 *   recordsPerKey: 1000,
 *   bytesPerKey: 2 ** 30,
 *   maxRecordSize: 1024,
 *   maxAuthFailures: 10,
 *   padding: "none" as const,
 *   expectedPeer: null,
 *   resumption: {},
 *   now: Date.now,
 *   report: () => {},
 * };
 * const config = (name: string) => ({ id: new TextEncoder().encode(name), ...keys, ...limits });
 * const client: Handshake = implementationOf(tessera1, "profile").createHandshake("client", config("c"));
 * const server: Handshake = implementationOf(tessera1, "profile").createHandshake("server", config("s"));
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
 * import { implementationOf } from "./profile.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { systemRandom } from "../crypto/random.ts";
 * import { type OpenedRecord } from "./profile.ts";
 * import { tessera1 } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: directoryLookup({ c: publicKey, s: publicKey }) };
 * const limits = {
 *   random: systemRandom,
 *   recordsPerKey: 1000,
 *   bytesPerKey: 2 ** 30,
 *   maxRecordSize: 1024,
 *   maxAuthFailures: 10,
 *   padding: "none" as const,
 *   expectedPeer: null,
 *   resumption: {},
 *   now: Date.now,
 *   report: () => {},
 * };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = implementationOf(tessera1, "profile").createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = implementationOf(tessera1, "profile").createHandshake("server", { id: id("s"), ...keys, ...limits });
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

/** A sealed record in two pieces: the record is `head ‖ body`. */
export interface RecordParts {
  /** The first bytes of the record (for tessera/1, its header). */
  readonly head: Uint8Array;
  /** The rest of the record. */
  readonly body: Uint8Array;
}

/**
 * An established channel: record protection plus what the handshake proved.
 *
 * @example
 * ```ts
 * import { implementationOf } from "./profile.ts";
 * import { generateIdentityKeyPair } from "@tessera/session/crypto";
 * import { systemRandom } from "../crypto/random.ts";
 * import { type Channel } from "./profile.ts";
 * import { tessera1 } from "@tessera/session";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const keys = { privateKey, getPublicKeyForId: directoryLookup({ c: publicKey, s: publicKey }) };
 * const limits = {
 *   random: systemRandom,
 *   recordsPerKey: 1000,
 *   bytesPerKey: 2 ** 30,
 *   maxRecordSize: 1024,
 *   maxAuthFailures: 10,
 *   padding: "none" as const,
 *   expectedPeer: null,
 *   resumption: {},
 *   now: Date.now,
 *   report: () => {},
 * };
 * const id = (name: string) => new TextEncoder().encode(name);
 * const client = implementationOf(tessera1, "profile").createHandshake("client", { id: id("c"), ...keys, ...limits });
 * const server = implementationOf(tessera1, "profile").createHandshake("server", { id: id("s"), ...keys, ...limits });
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
  /** Which side of the handshake this channel's owner played. */
  readonly role: Role;
  /** Whether the handshake resumed an earlier session with a ticket. */
  readonly resumed: boolean;
  /** Server, resumed: the ticket's attributes; else `null`. */
  readonly attributes: TicketAttributes | null;
  /** Resumed: when the ticket used would have expired; else `null`. */
  readonly ticketExpiresAt: number | null;
  /**
   * The largest plaintext of one record that the peer declared it accepts, or `null` when the
   * profile has no such declaration: then only this side's `maxRecordSize` bounds what it sends.
   */
  readonly peerMaxRecordSize: number | null;
  /** Why the channel failed for good (a fatal refusal, the peer's alert), or `null`. */
  readonly failure: TesseraError | null;
  /** The sending key epoch (0 first; a profile without key update stays at 0). */
  readonly sendEpoch: number;
  /** The receiving key epoch: the epoch of the peer's newest accepted record. */
  readonly receiveEpoch: number;
  /**
   * Protects one application record. The sequence number is reserved
   * synchronously, so concurrent calls never share a nonce. Plaintext longer
   * than `maxRecordSize` or than {@linkcode Channel.peerMaxRecordSize} is
   * refused with `record_too_large`.
   *
   * @param plaintext The data.
   */
  seal(plaintext: Uint8Array): Promise<Uint8Array>;
  /**
   * As {@linkcode Channel.seal}, with the record in two pieces, `head ‖ body`,
   * for a caller that copies them into its own buffer anyway (a stream's
   * frames): it saves concatenating them. Optional: a profile without it is
   * sealed with `seal`.
   *
   * @param plaintext The data.
   */
  sealParts?(plaintext: Uint8Array): Promise<RecordParts>;
  /**
   * Authenticates and opens one record. A refusal that ends the channel also
   * sets {@linkcode Channel.failure}.
   *
   * @param record The record.
   * @param ordered `true` on stream transports: only the next sequence number is accepted.
   */
  open(record: Uint8Array, ordered: boolean): Promise<OpenedRecord>;
  /** Protects an authenticated close record, or returns `null` if the profile has none. */
  sealClose(): Promise<Uint8Array | null>;
  /**
   * Moves the sending direction to fresh keys before its next record.
   *
   * @param requestPeer Also ask the peer to update its sending direction.
   */
  rekey(requestPeer?: boolean): void;
  /**
   * Derives keying material bound to this session (docs/protocol.md §4.3).
   *
   * @param label 1 to 255 bytes.
   * @param context Any bytes.
   * @param length 1 to 8160.
   */
  exportKeyingMaterial(label: Uint8Array, context: Uint8Array, length: number): Promise<Uint8Array>;
  /** Serializes the channel's secret state (sealed by the facade before it leaves). */
  exportState(): Promise<Uint8Array>;
  /** Resolves once every `open` called so far has been accepted or refused. */
  settled(): Promise<void>;
  /**
   * Ends the channel: later calls fail with `reason`.
   *
   * @param reason Why.
   */
  stop(reason: TesseraError): void;
}

/**
 * A protocol profile as applications see it: pass {@linkcode tessera1} (the
 * default) or the Themis-compatible profile as `profile` of a session, or in
 * `profiles` of `SecureSession.restore()`. Profiles are provided by this
 * library; their inner interface is not public.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, type Profile, SecureSession, tessera1 } from "@tessera/session";
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
}

/**
 * What the facade needs of a profile (internal): start a handshake, rebuild
 * a channel from saved state.
 */
export interface ProfileImplementation extends Profile {
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
  importChannel(state: Uint8Array, config: ChannelLimits): Promise<Channel>;
}

/**
 * The largest id, in bytes, that tessera/1 accepts.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { MAX_ID_LENGTH } from "./profile.ts";
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

/**
 * The implementation behind a {@linkcode Profile} given by the caller.
 *
 * @internal
 * @param profile What the caller passed.
 * @param option The option's name, for the message.
 * @returns The profile, checked.
 * @throws {TypeError} When it is not one of the library's profiles.
 */
export function implementationOf(profile: unknown, option: string): ProfileImplementation {
  const p = profile as Partial<ProfileImplementation> | null;
  if (
    p === null || typeof p !== "object" || typeof p.name !== "string" ||
    typeof p.stateId !== "number" || typeof p.createHandshake !== "function" ||
    typeof p.importChannel !== "function"
  ) {
    throw new TypeError(`${option} must be one of the library's profiles (tessera1, themis)`);
  }
  return p as ProfileImplementation;
}
