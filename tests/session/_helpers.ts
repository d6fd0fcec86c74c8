// Shared setup of the Secure Session tests: identities, lookups, connected session pairs in
// buffer and callback mode, deterministic entropy, and assertions on typed errors.

import assert from "node:assert/strict";
import { toHex } from "../../lib/crypto/_bytes.ts";
import { generateEphemeralKeyPair } from "../../lib/crypto/ecdh.ts";
import { generateIdentityKeyPair, type IdentityKeyPair } from "../../lib/crypto/identity.ts";
import type { RandomSource } from "../../lib/crypto/random.ts";
import { TesseraError, type TesseraErrorCode } from "../../lib/errors.ts";
import { type Entropy, withEntropy } from "../../lib/session/_entropy.ts";
import type { PublicKeyLookup } from "../../lib/session/profile.ts";
import {
  SecureSession,
  type SecureSessionOptions,
  type SessionLimits,
  type SessionTransport,
} from "../../lib/session/secure_session.ts";
import { type MemoryTransport, memoryTransportPair } from "../../lib/transport/memory.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The string of UTF-8 bytes. */
export function text(data: Uint8Array | null): string {
  assert.ok(data instanceof Uint8Array, "expected bytes, got " + String(data));
  return decoder.decode(data);
}

/** An id and its long-term key pair. */
export interface Identity {
  readonly id: Uint8Array;
  readonly keys: IdentityKeyPair;
}

/** Creates an identity with a fresh key pair. */
export async function identity(id: string | Uint8Array): Promise<Identity> {
  return {
    id: typeof id === "string" ? bytes(id) : id,
    keys: await generateIdentityKeyPair({ extractable: true }),
  };
}

/** Two identities shared by most tests. */
export const alice: Identity = await identity("alice");
/** The usual server. */
export const bob: Identity = await identity("bob");

/** A synchronous lookup that knows exactly the given identities. */
export function lookupOf(...known: Identity[]): PublicKeyLookup {
  const table = new Map(known.map((k) => [toHex(k.id), k.keys.publicKey]));
  return (id) => table.get(toHex(id));
}

/** Options of one side of a pair. */
export interface SideOptions extends SessionLimits {
  self?: Identity;
  expectedPeer?: SecureSessionOptions["expectedPeer"];
  resumption?: SecureSessionOptions["resumption"];
  idAs?: "string" | "bytes";
  getPublicKeyForId?: PublicKeyLookup;
  privateKey?: CryptoKey;
}

/** Builds a session for `self` (default alice) that knows alice and bob. */
export function session(options: SideOptions = {}, fallback: Identity = alice): SecureSession {
  const self = options.self ?? fallback;
  const opts: SecureSessionOptions = {
    id: options.idAs === "string" ? decoder.decode(self.id) : self.id,
    privateKey: options.privateKey ?? self.keys.privateKey,
    getPublicKeyForId: options.getPublicKeyForId ?? lookupOf(alice, bob),
  };
  const { self: _self, idAs: _idAs, getPublicKeyForId: _lookup, privateKey: _key, ...rest } =
    options;
  return new SecureSession({ ...opts, ...rest });
}

/** The three handshake messages as they travelled. */
export interface Transcript {
  ch: Uint8Array;
  sh: Uint8Array;
  cf: Uint8Array;
}

/** Runs the buffer-API handshake between `client` and `server`. */
export async function handshake(client: SecureSession, server: SecureSession): Promise<Transcript> {
  const ch = await client.connectRequest();
  const sh = await server.negotiate(ch);
  assert.ok(sh, "the server must answer the ClientHello");
  const cf = await client.negotiate(sh);
  assert.ok(cf, "the client must answer the ServerHello");
  assert.equal(await server.negotiate(cf), null);
  return { ch, sh, cf };
}

/** Two established sessions in buffer mode. */
export interface BufferPair {
  client: SecureSession;
  server: SecureSession;
  transcript: Transcript;
}

/** Creates alice (client) and bob (server) and runs the buffer handshake. */
export async function bufferPair(
  clientOptions: SideOptions = {},
  serverOptions: SideOptions = {},
): Promise<BufferPair> {
  const client = session(clientOptions, alice);
  const server = session(serverOptions, bob);
  const transcript = await handshake(client, server);
  return { client, server, transcript };
}

/** Two sessions over a memory transport pair, established through connect()/accept(). */
export interface CallbackPair {
  client: SecureSession;
  server: SecureSession;
  clientEnd: CountingTransport;
  serverEnd: CountingTransport;
}

/** Creates alice (client) and bob (server) over memory transports and connects them. */
export async function callbackPair(
  clientOptions: SideOptions = {},
  serverOptions: SideOptions = {},
): Promise<CallbackPair> {
  const [a, b] = memoryTransportPair();
  const clientEnd = new CountingTransport(a);
  const serverEnd = new CountingTransport(b);
  const client = session({ ...clientOptions, transport: clientEnd }, alice);
  const server = session({ ...serverOptions, transport: serverEnd }, bob);
  await Promise.all([client.connect(), server.accept()]);
  return { client, server, clientEnd, serverEnd };
}

/** A transport that records every message sent and counts receive() calls. */
export class CountingTransport implements SessionTransport {
  readonly sent: Uint8Array[] = [];
  receives = 0;
  readonly inner: MemoryTransport;

  constructor(inner: MemoryTransport) {
    this.inner = inner;
  }

  send(message: Uint8Array): void | Promise<void> {
    this.sent.push(message.slice());
    return this.inner.send(message);
  }

  receive(): Promise<Uint8Array | null> {
    this.receives++;
    return this.inner.receive();
  }

  close(): void {
    this.inner.close();
  }
}

/** Asserts that `promise` rejects with a `TesseraError` of exactly `code` (and class). */
export async function rejectsWith(
  promise: Promise<unknown> | (() => Promise<unknown>),
  code: TesseraErrorCode,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => TesseraError = TesseraError,
): Promise<TesseraError> {
  let caught: unknown = undefined;
  let threw = false;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (err) {
    caught = err;
    threw = true;
  }
  assert.ok(threw, `expected a rejection with ${code}, but it resolved`);
  assert.ok(caught instanceof errorClass, `expected ${errorClass.name}, got ${String(caught)}`);
  assert.equal((caught as TesseraError).code, code);
  return caught as TesseraError;
}

/** Asserts that `fn` throws synchronously a `TesseraError` of exactly `code`. */
export function throwsWith(fn: () => unknown, code: TesseraErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TesseraError, `expected a TesseraError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Copies `data` with `data[index] ^= mask`. */
export function flip(data: Uint8Array, index: number, mask: number): Uint8Array {
  const out = data.slice();
  out[index]! ^= mask;
  return out;
}

/** The epoch a record names (docs/protocol.md §5). */
export function epochOf(record: Uint8Array): number {
  return new DataView(record.buffer, record.byteOffset + 2, 4).getUint32(0);
}

/** The sequence number of a record. */
export function seqOf(record: Uint8Array): bigint {
  return new DataView(record.buffer, record.byteOffset + 6, 8).getBigUint64(0);
}

/** A deterministic shuffle (a fixed linear congruential generator), for reordering. */
export function shuffled<T>(items: readonly T[], seed = 1): T[] {
  const out = items.slice();
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * A seeded deterministic random source (a 32-bit counter hashed by a fixed mixer). Not
 * random at all: only for reproducible wire-format tests.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      z ^= z >>> 16;
      out[i] = z & 0xff;
    }
    return out;
  };
}

/** Entropy that always hands out `ephemeral` and draws bytes from `seededRandom(seed)`. */
export function fixedEntropy(seed: number, ephemeral: CryptoKeyPair): Entropy {
  return { random: seededRandom(seed), generateEphemeral: () => Promise.resolve(ephemeral) };
}

/** Imports an ECDH P-256 key pair from a private JWK (`d`, `x`, `y`). */
export async function importEphemeral(jwk: JsonWebKey): Promise<CryptoKeyPair> {
  const algorithm = { name: "ECDH", namedCurve: "P-256" };
  const pub = { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
  const [privateKey, publicKey] = await Promise.all([
    crypto.subtle.importKey("jwk", { ...pub, d: jwk.d }, algorithm, false, ["deriveBits"]),
    crypto.subtle.importKey("jwk", pub, algorithm, true, []),
  ]);
  return { privateKey, publicKey };
}

/** A signature the signer must hand out again, and the key it verifies under. */
export interface RecordedSignature {
  publicKey: CryptoKey;
  signature: Uint8Array;
}

/**
 * Runs `fn` while ECDSA signing returns a recorded signature whenever that signature verifies
 * over the bytes being signed, so that a recorded handshake can be regenerated byte for byte
 * whether or not the engine's ECDSA is deterministic. Any other signing is left untouched.
 */
export async function withRecordedSignatures<T>(
  recorded: readonly RecordedSignature[],
  fn: () => Promise<T>,
): Promise<T> {
  const subtle = crypto.subtle;
  const original = subtle.sign;
  const replacement = async (
    algorithm: AlgorithmIdentifier | EcdsaParams,
    key: CryptoKey,
    data: BufferSource,
  ): Promise<ArrayBuffer> => {
    const params = { name: "ECDSA", hash: "SHA-256" };
    for (const r of recorded) {
      if (await subtle.verify(params, r.publicKey, r.signature as Uint8Array<ArrayBuffer>, data)) {
        return r.signature.slice().buffer as ArrayBuffer;
      }
    }
    return await original.call(subtle, algorithm, key, data);
  };
  Object.defineProperty(subtle, "sign", { value: replacement, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    delete (subtle as unknown as { sign?: unknown }).sign;
  }
}

/**
 * Runs `fn` and returns, besides its result, every ECDSA signature made meanwhile by one of
 * `signers`, paired with the public key it verifies under.
 */
export async function recordSignatures<T>(
  signers: readonly IdentityKeyPair[],
  fn: () => Promise<T>,
): Promise<{ result: T; signatures: RecordedSignature[] }> {
  const subtle = crypto.subtle;
  const original = subtle.sign;
  const signatures: RecordedSignature[] = [];
  const recorder = async (
    algorithm: AlgorithmIdentifier | EcdsaParams,
    key: CryptoKey,
    data: BufferSource,
  ): Promise<ArrayBuffer> => {
    const out = await original.call(subtle, algorithm, key, data);
    const signer = signers.find((s) => s.privateKey === key);
    if (signer) signatures.push({ publicKey: signer.publicKey, signature: new Uint8Array(out) });
    return out;
  };
  Object.defineProperty(subtle, "sign", { value: recorder, configurable: true, writable: true });
  try {
    return { result: await fn(), signatures };
  } finally {
    delete (subtle as unknown as { sign?: unknown }).sign;
  }
}

/**
 * One recorded alice/bob handshake under fixed entropy, and factories that bring a fresh
 * session to the point just before each message is received, so that tampering tests redo
 * only the receiving step.
 */
export interface RecordedHandshake {
  transcript: Transcript;
  signatures: RecordedSignature[];
  /** A fresh server, before the ClientHello. */
  serverBeforeHello(): SecureSession;
  /** A fresh client that has sent exactly `transcript.ch`. */
  clientAwaitingServerHello(): Promise<SecureSession>;
  /** A fresh server that has received `transcript.ch` and sent exactly `transcript.sh`. */
  serverAwaitingFinished(): Promise<SecureSession>;
}

/** Records a handshake between alice (client) and bob (server) under fixed entropy. */
export async function recordHandshake(): Promise<RecordedHandshake> {
  const [clientEphemeral, serverEphemeral] = await Promise.all([
    generateEphemeralKeyPair(),
    generateEphemeralKeyPair(),
  ]);
  const newClient = (): Promise<{ client: SecureSession; ch: Uint8Array }> =>
    withEntropy(fixedEntropy(11, clientEphemeral), async () => {
      const client = session({}, alice);
      return { client, ch: await client.connectRequest() };
    });
  const newServer = (ch: Uint8Array): Promise<{ server: SecureSession; sh: Uint8Array }> =>
    withEntropy(fixedEntropy(22, serverEphemeral), async () => {
      const server = session({}, bob);
      const sh = await server.negotiate(ch);
      assert.ok(sh);
      return { server, sh };
    });
  const { result: transcript, signatures } = await recordSignatures(
    [alice.keys, bob.keys],
    async () => {
      const { client, ch } = await newClient();
      const { server, sh } = await newServer(ch);
      const cf = await client.negotiate(sh);
      assert.ok(cf);
      assert.equal(await server.negotiate(cf), null);
      assert.ok(client.isEstablished() && server.isEstablished());
      return { ch, sh, cf };
    },
  );
  assert.equal(signatures.length, 2);
  return {
    transcript,
    signatures,
    serverBeforeHello: () => session({}, bob),
    async clientAwaitingServerHello() {
      const { client, ch } = await newClient();
      assert.deepEqual(ch, transcript.ch, "fixed entropy must reproduce the ClientHello");
      return client;
    },
    async serverAwaitingFinished() {
      const { server, sh } = await withRecordedSignatures(
        signatures,
        () => newServer(transcript.ch),
      );
      assert.deepEqual(sh, transcript.sh, "fixed entropy must reproduce the ServerHello");
      return server;
    },
  };
}
