/**
 * Secure Session benchmarks: tessera/1 against WasmThemis 0.15.0 (its Secure
 * Session, compiled to WebAssembly) and against the bare `crypto.subtle`
 * operations tessera/1 is built from.
 *
 * Each group has tessera/1 as its baseline, so `deno bench` prints how many
 * times faster or slower the others are:
 *
 * - `handshake`: a full handshake, both peers in this process.
 * - `wrap+unwrap 64 B`, `1 KiB`, `16 KiB`: one record sealed by the client and
 *   opened by the server, on sessions established once beforehand.
 * - `wrap+unwrap 64 B, 16 in flight`: 16 records per iteration; tessera/1 and
 *   raw subtle keep all 16 in flight at once, WasmThemis (synchronous) does
 *   them one after another. Times are per 16 records.
 *
 * Peer public keys are handed to both libraries the way a deployment has them:
 * imported from their bytes. (A `publicKey` straight from `generateKey` makes
 * every ECDSA verification in Deno recompute the public point first.)
 *
 * Run: `deno task bench`, or `deno bench --allow-read --allow-env bench/session_bench.ts`.
 *
 * @module
 */

import {
  rawRoundTrip,
  rawSubtleHandshake,
  tesseraHandshake,
  tesseraPair,
  tesseraRoundTrip,
  themisHandshake,
  themisPair,
  themisRoundTrip,
} from "./_session_workloads.ts";

// Every asynchronous bench is written as an `async` function: `deno bench`
// awaits a bench only when its `fn` is an AsyncFunction, not when it merely
// returns a promise.

// ----------------------------------------------------------------- handshake

Deno.bench({
  name: "tessera/1",
  group: "handshake",
  baseline: true,
  n: 400,
  async fn(): Promise<void> {
    const { client, server } = tesseraPair();
    await tesseraHandshake(client, server);
  },
});

Deno.bench({
  name: "WasmThemis",
  group: "handshake",
  n: 200,
  fn(): void {
    const { client, server } = themisPair();
    themisHandshake(client, server);
    client.destroy();
    server.destroy();
  },
});

Deno.bench({
  name: "raw subtle floor (60 calls)",
  group: "handshake",
  n: 400,
  async fn(): Promise<void> {
    await rawSubtleHandshake();
  },
});

// ------------------------------------------------------------- wrap + unwrap

const RECORD_SIZES = [
  // size, title, iterations (subtle paths), iterations (WasmThemis)
  [64, "64 B", 20_000, 20_000],
  [1024, "1 KiB", 20_000, 10_000],
  [16384, "16 KiB", 10_000, 1_000],
] as const;

for (const [size, title, n, themisN] of RECORD_SIZES) {
  const data = crypto.getRandomValues(new Uint8Array(size));
  const group = `wrap+unwrap ${title}`;
  Deno.bench({
    name: "tessera/1",
    group,
    baseline: true,
    n,
    async fn(): Promise<void> {
      await tesseraRoundTrip(data);
    },
  });
  Deno.bench({
    name: "WasmThemis",
    group,
    n: themisN,
    fn(): void {
      themisRoundTrip(data);
    },
  });
  Deno.bench({
    name: "raw subtle AES-GCM",
    group,
    n,
    async fn(): Promise<void> {
      await rawRoundTrip(data);
    },
  });
}

// ----------------------------------------------------------- 16 in flight

const IN_FLIGHT = 16;
const small = crypto.getRandomValues(new Uint8Array(64));
const flightGroup = "wrap+unwrap 64 B, 16 in flight";

Deno.bench({
  name: "tessera/1 (16 concurrent)",
  group: flightGroup,
  baseline: true,
  n: 3_000,
  async fn(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) pending.push(tesseraRoundTrip(small));
    await Promise.all(pending);
  },
});

Deno.bench({
  name: "WasmThemis (16 serial)",
  group: flightGroup,
  n: 3_000,
  fn(): void {
    for (let i = 0; i < IN_FLIGHT; i++) themisRoundTrip(small);
  },
});

Deno.bench({
  name: "raw subtle AES-GCM (16 concurrent)",
  group: flightGroup,
  n: 3_000,
  async fn(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) pending.push(rawRoundTrip(small));
    await Promise.all(pending);
  },
});

// ------------------------------------------------- 16 KiB throughput, 4 in flight

// Throughput of a stream of 16 KiB records: tessera/1 and raw subtle keep 4
// records in flight (crypto.subtle runs them on worker threads); WasmThemis is
// synchronous and does them one after another. Times are per 4 records.
const BULK_IN_FLIGHT = 4;
const bulk = crypto.getRandomValues(new Uint8Array(16 * 1024));
const bulkGroup = "wrap+unwrap 16 KiB, 4 in flight (throughput)";

Deno.bench({
  name: "tessera/1 (4 concurrent)",
  group: bulkGroup,
  baseline: true,
  n: 1_000,
  async fn(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < BULK_IN_FLIGHT; i++) pending.push(tesseraRoundTrip(bulk));
    await Promise.all(pending);
  },
});

Deno.bench({
  name: "WasmThemis (4 serial)",
  group: bulkGroup,
  n: 300,
  fn(): void {
    for (let i = 0; i < BULK_IN_FLIGHT; i++) themisRoundTrip(bulk);
  },
});

Deno.bench({
  name: "raw subtle AES-GCM (4 concurrent)",
  group: bulkGroup,
  n: 1_000,
  async fn(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < BULK_IN_FLIGHT; i++) pending.push(rawRoundTrip(bulk));
    await Promise.all(pending);
  },
});
