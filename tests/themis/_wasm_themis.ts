// WasmThemis 0.15.0 as the reference peer of the Themis profile tests, and the setup they share:
// identities as both libraries hold them, sessions of either kind, and handshakes across them.
//
// WasmThemis loads libthemis.wasm with `fetch` when it exists; without it, it reads the file
// from disk (--allow-read). It is imported dynamically so that `fetch` is hidden first.

import assert from "node:assert/strict";
import { generateIdentityKeyPair } from "../../lib/crypto/identity.ts";
import { TesseraError, type TesseraErrorCode } from "../../lib/errors.ts";
import type { PublicKeyLookup } from "../../lib/session/profile.ts";
import {
  SecureSession,
  type SecureSessionOptions,
  type SessionLimits,
} from "../../lib/session/secure_session.ts";
import {
  exportThemisPrivateKey,
  exportThemisPublicKey,
  importThemisPrivateKey,
  importThemisPublicKey,
  themis,
} from "../../lib/themis/mod.ts";

const savedFetch = globalThis.fetch;
(globalThis as { fetch?: typeof fetch }).fetch = undefined;
const wasm = await import("npm:wasm-themis@0.15.0");
await wasm.initialized;
globalThis.fetch = savedFetch;

/** The WasmThemis module. */
export const WasmThemis = wasm;
/** A WasmThemis Secure Session. */
export type WasmSession = InstanceType<typeof wasm.SecureSession>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Deterministic test data of `length` bytes (any length: no 64 KiB entropy limit). */
export function data(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

/** One side's identity as both libraries hold it. */
export interface ThemisIdentity {
  readonly name: string;
  readonly id: Uint8Array;
  /** For tessera: ECDSA P-256 CryptoKeys. */
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** For WasmThemis: the REC2 and UEC2 containers. */
  readonly privateContainer: Uint8Array;
  readonly publicContainer: Uint8Array;
}

/** An identity whose key pair WasmThemis generated (`KeyPair`), imported into tessera. */
export async function themisMadeIdentity(name: string): Promise<ThemisIdentity> {
  const pair = new wasm.KeyPair();
  return {
    name,
    id: bytes(name),
    privateKey: await importThemisPrivateKey(pair.privateKey),
    publicKey: await importThemisPublicKey(pair.publicKey),
    privateContainer: new Uint8Array(pair.privateKey),
    publicContainer: new Uint8Array(pair.publicKey),
  };
}

/** An identity whose key pair tessera generated, exported as Themis containers. */
export async function tesseraMadeIdentity(name: string): Promise<ThemisIdentity> {
  const pair = await generateIdentityKeyPair({ extractable: true });
  return {
    name,
    id: bytes(name),
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    privateContainer: await exportThemisPrivateKey(pair.privateKey),
    publicContainer: await exportThemisPublicKey(pair.publicKey),
  };
}

/** The usual client and server. */
export const client: ThemisIdentity = await themisMadeIdentity("client");
/** The usual server (its keys made by tessera). */
export const server: ThemisIdentity = await tesseraMadeIdentity("server");

/** A tessera lookup knowing exactly `known`, by exact id. */
export function lookupOf(...known: ThemisIdentity[]): PublicKeyLookup {
  return (id) => known.find((k) => decoder.decode(id) === k.name)?.publicKey;
}

/** Options of one tessera side. */
export interface TesseraSide extends SessionLimits {
  expectedPeer?: SecureSessionOptions["expectedPeer"];
  getPublicKeyForId?: PublicKeyLookup;
}

/** A tessera session with the Themis profile for `self`, knowing the usual client and server. */
export function tesseraSession(self: ThemisIdentity, options: TesseraSide = {}): SecureSession {
  return new SecureSession({
    id: self.id,
    privateKey: self.privateKey,
    getPublicKeyForId: lookupOf(client, server),
    profile: themis,
    ...options,
  });
}

/** A WasmThemis session for `self`, knowing `known` by exact id. */
export function wasmSession(
  self: ThemisIdentity,
  known: ThemisIdentity[] = [client, server],
): WasmSession {
  const lookup = (id: Uint8Array) => {
    const found = known.find((k) => decoder.decode(id) === k.name);
    return found ? new wasm.PublicKey(found.publicContainer) : null;
  };
  // A null from the callback is how WasmThemis learns of an unknown id.
  return new wasm.SecureSession(
    self.id,
    new wasm.PrivateKey(self.privateContainer),
    lookup as (id: Uint8Array) => InstanceType<typeof wasm.PublicKey>,
  );
}

/** Runs the handshake of a tessera client against a WasmThemis server. */
export async function tesseraToWasm(c: SecureSession, s: WasmSession): Promise<number> {
  let message: Uint8Array | null = await c.connectRequest();
  let count = 1;
  while (message) {
    const reply = s.negotiateReply(message);
    count++;
    message = await c.negotiate(reply);
    if (message) count++;
  }
  assert.ok(c.isEstablished(), "the tessera client is established");
  assert.ok(s.established(), "the WasmThemis server is established");
  return count;
}

/** Runs the handshake of a WasmThemis client against a tessera server. */
export async function wasmToTessera(c: WasmSession, s: SecureSession): Promise<number> {
  let message = c.connectionRequest();
  let count = 1;
  for (;;) {
    const reply = await s.negotiate(message);
    if (reply === null) break;
    count++;
    message = c.negotiateReply(reply);
    if (message.length === 0) break;
    count++;
  }
  assert.ok(c.established(), "the WasmThemis client is established");
  assert.ok(s.isEstablished(), "the tessera server is established");
  return count;
}

/** Runs the handshake between two tessera sessions; returns the four messages. */
export async function tesseraPair(
  c: SecureSession,
  s: SecureSession,
): Promise<Uint8Array[]> {
  const m1 = await c.connectRequest();
  const m2 = (await s.negotiate(m1))!;
  const m3 = (await c.negotiate(m2))!;
  const m4 = (await s.negotiate(m3))!;
  assert.equal(await c.negotiate(m4), null);
  assert.ok(c.isEstablished() && s.isEstablished());
  return [m1, m2, m3, m4];
}

/** The status code of a WasmThemis exception. */
export function wasmStatus(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    return (err as { errorCode: number }).errorCode;
  }
}

/** Asserts that `promise` rejects with a TesseraError of one of `codes`; returns it. */
export async function rejectsWith(
  promise: Promise<unknown>,
  ...codes: TesseraErrorCode[]
): Promise<TesseraError> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof TesseraError, `expected a TesseraError, got ${error}`);
  assert.ok(codes.includes(error.code), `expected ${codes.join(" or ")}, got ${error.code}`);
  return error;
}

/** Runs `fn` with `Date.now` (WasmThemis's clock) fixed at `ms`. */
export async function atTime<T>(ms: number, fn: () => Promise<T> | T): Promise<T> {
  const real = Date.now;
  Date.now = () => ms;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}
