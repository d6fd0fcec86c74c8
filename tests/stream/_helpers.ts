// Shared setup of the secure stream tests: identities, byte stream pairs (Web streams, a tapped
// pair whose traffic the test can hold back and replay, TCP, Unix sockets), established stream
// pairs, and checks on bytes.

import assert from "node:assert/strict";
import { generateIdentityKeyPair } from "../../lib/crypto/identity.ts";
import { directoryLookup } from "../../lib/session/directory_lookup.ts";
import type { ByteStreamPair } from "../../lib/transport/framed_stream.ts";
import {
  SecureStream,
  type SecureStreamOptions,
  type StreamSessionOptions,
} from "../../lib/stream/mod.ts";

const server = await generateIdentityKeyPair();
const client = await generateIdentityKeyPair();
const other = await generateIdentityKeyPair();
const stranger = await generateIdentityKeyPair();

/** Knows "server", "client" and "other" (not "stranger"). */
export const getPublicKeyForId = directoryLookup({
  server: server.publicKey,
  client: client.publicKey,
  other: other.publicKey,
});

/** The server's session options. */
export function serverSession(extra: Partial<StreamSessionOptions> = {}): StreamSessionOptions {
  return { id: "server", privateKey: server.privateKey, getPublicKeyForId, ...extra };
}

/** The client's session options; it expects "server". */
export function clientSession(extra: Partial<StreamSessionOptions> = {}): StreamSessionOptions {
  return {
    id: "client",
    privateKey: client.privateKey,
    getPublicKeyForId,
    expectedPeer: "server",
    ...extra,
  };
}

/** A second client the server knows. */
export function otherSession(): StreamSessionOptions {
  return { id: "other", privateKey: other.privateKey, getPublicKeyForId, expectedPeer: "server" };
}

/** A client whose id the server does not know. */
export function strangerSession(): StreamSessionOptions {
  return {
    id: "stranger",
    privateKey: stranger.privateKey,
    getPublicKeyForId,
    expectedPeer: "server",
  };
}

/** Two connected ends of an in-memory byte stream. */
export function webPair(): [ByteStreamPair, ByteStreamPair] {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  return [
    { readable: down.readable, writable: up.writable },
    { readable: up.readable, writable: down.writable },
  ];
}

/**
 * A pair whose client-to-server bytes go through the test: forwarded live
 * until `hold()`, then kept in `held` for the test to deliver with `inject`
 * however it likes (split, joined, altered, dropped).
 */
export class TappedPair {
  readonly client: ByteStreamPair;
  readonly server: ByteStreamPair;
  /** Client bytes kept back since `hold()`. */
  held: Uint8Array[] = [];
  #toServer!: ReadableStreamDefaultController<Uint8Array>;
  #holding = false;

  constructor() {
    const down = new TransformStream<Uint8Array, Uint8Array>();
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#toServer = controller;
      },
    }, { highWaterMark: 0 });
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => {
        if (this.#holding) this.held.push(chunk.slice());
        else this.#toServer.enqueue(chunk.slice());
      },
      close: () => {
        if (!this.#holding) this.end();
      },
      abort: () => {
        if (!this.#holding) this.end();
      },
    });
    this.client = { readable: down.readable, writable };
    this.server = { readable, writable: down.writable };
  }

  /** From now on the client's bytes are kept in `held`. */
  hold(): void {
    this.#holding = true;
  }

  /** All held bytes as one array. */
  heldBytes(): Uint8Array {
    return concat(this.held);
  }

  /** Delivers bytes to the server as one chunk. */
  inject(bytes: Uint8Array): void {
    this.#toServer.enqueue(bytes);
  }

  /** Ends the server's incoming stream (a clean end of the transport). */
  end(): void {
    try {
      this.#toServer.close();
    } catch {
      // Already ended.
    }
  }
}

/** Runs both handshakes over the two ends. */
export async function establish(
  clientEnd: ByteStreamPair,
  serverEnd: ByteStreamPair,
  options: { client?: Partial<SecureStreamOptions>; server?: Partial<SecureStreamOptions> } = {},
): Promise<[SecureStream, SecureStream]> {
  const [c, s] = await Promise.allSettled([
    SecureStream.connect(clientEnd, { session: clientSession(), ...options.client }),
    SecureStream.accept(serverEnd, { session: serverSession(), ...options.server }),
  ]);
  if (c.status === "rejected" || s.status === "rejected") {
    if (c.status === "fulfilled") await c.value.abort();
    if (s.status === "fulfilled") await s.value.abort();
    throw c.status === "rejected" ? c.reason : (s as PromiseRejectedResult).reason;
  }
  return [c.value, s.value];
}

/** A connected pair of TCP connections on 127.0.0.1; `close()` stops the listener. */
export async function tcpPair(): Promise<[Deno.Conn, Deno.Conn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
  } finally {
    listener.close();
  }
}

/** The bytes joined. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Random bytes of any length (getRandomValues fills at most 64 KiB at once). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

/** SHA-256 as hex. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads a readable to its end. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable) chunks.push(chunk);
  return concat(chunks);
}

/** Reads exactly `n` bytes (fails if the stream ends first), keeping the reader's lock released. */
export async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the stream ended after ${got} of ${n} bytes`);
    chunks.push(value);
    got += value.length;
  }
  assert.equal(got, n, "more bytes than expected");
  return concat(chunks);
}

/** The frames (u32 length + content) in `bytes`; the rest must be empty. */
export function splitFrames(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0);
    frames.push(bytes.subarray(offset, offset + 4 + length));
    offset += 4 + length;
  }
  assert.equal(offset, bytes.length, "a frame is cut short");
  return frames;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The UTF-8 text of bytes. */
export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
