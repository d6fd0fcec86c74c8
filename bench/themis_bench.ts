/**
 * The Themis profile against WasmThemis 0.15.0, the library it interoperates
 * with: a full handshake (both peers in this process) and wrap+unwrap of 64 B,
 * 1 KiB and 16 KiB on sessions established once beforehand.
 *
 * Two ways to run it, both part of `deno task bench`:
 *
 * - `deno bench` runs the `Deno.bench` groups below (the Themis profile as
 *   the baseline).
 * - `deno run --allow-read --allow-env bench/themis_bench.ts` prints a table
 *   of interleaved rounds (each round runs a few iterations of the Themis
 *   profile, then of WasmThemis, so both see the same machine load; the table
 *   gives the median of the rounds), the ratios, and the targets: a handshake
 *   in at most 0.8 times WasmThemis's time, and 16 KiB wrap+unwrap at 10
 *   times WasmThemis's throughput or more.
 *
 * Peer public keys are handed to both libraries the way a deployment has them:
 * imported from their bytes.
 *
 * @module
 */

import { SecureSession } from "../lib/session/secure_session.ts";
import { importThemisPrivateKey, importThemisPublicKey, themis } from "../lib/themis/mod.ts";
import { format, median, timeRound } from "./_timing.ts";
import { themisHandshake, themisPair, themisRoundTrip } from "./_session_workloads.ts";

const savedFetch = globalThis.fetch;
(globalThis as { fetch?: typeof fetch }).fetch = undefined;
const wasm = await import("npm:wasm-themis@0.15.0");
await wasm.initialized;
globalThis.fetch = savedFetch;

// The same kind of keys for both: pairs WasmThemis generated, read by tessera from containers.
const clientPair = new wasm.KeyPair();
const serverPair = new wasm.KeyPair();
const clientPrivate = await importThemisPrivateKey(clientPair.privateKey);
const serverPrivate = await importThemisPrivateKey(serverPair.privateKey);
const clientPublic = await importThemisPublicKey(clientPair.publicKey);
const serverPublic = await importThemisPublicKey(serverPair.publicKey);
// Ids differ in their first byte: "c" or "s".
const lookup = (id: Uint8Array): CryptoKey => id[0] === 0x63 ? clientPublic : serverPublic;

/** A client and a server of the Themis profile. */
export function profilePair(): { client: SecureSession; server: SecureSession } {
  return {
    client: new SecureSession({
      id: "client",
      privateKey: clientPrivate,
      getPublicKeyForId: lookup,
      profile: themis,
    }),
    server: new SecureSession({
      id: "server",
      privateKey: serverPrivate,
      getPublicKeyForId: lookup,
      profile: themis,
    }),
  };
}

/** The four-message handshake of the Themis profile. */
export async function profileHandshake(client: SecureSession, server: SecureSession) {
  const m2 = await server.negotiate(await client.connectRequest());
  const m4 = await server.negotiate((await client.negotiate(m2!))!);
  if ((await client.negotiate(m4!)) !== null || !client.isEstablished()) {
    throw new Error("Themis profile handshake did not complete");
  }
}

const established = profilePair();
await profileHandshake(established.client, established.server);

/** One message wrapped by the client and unwrapped by the server. */
export async function profileRoundTrip(data: Uint8Array): Promise<void> {
  const opened = await established.server.unwrap(await established.client.wrap(data));
  if (opened === null || opened.length !== data.length) throw new Error("Themis profile unwrap");
}

// Both paths checked once before timing.
for (const size of [64, 1024, 16384]) {
  const data = crypto.getRandomValues(new Uint8Array(size));
  const opened = await established.server.unwrap(await established.client.wrap(data));
  if (!opened || opened.some((b, i) => b !== data[i])) throw new Error("Themis profile round trip");
  themisRoundTrip(data);
}

const small = crypto.getRandomValues(new Uint8Array(64));
const kib = crypto.getRandomValues(new Uint8Array(1024));
const bulk = crypto.getRandomValues(new Uint8Array(16 * 1024));

interface Row {
  name: string;
  perRound: number;
  /** What the target asks: at most this time ratio, or at least this speed ratio. */
  target: { maxTime: number } | { minSpeed: number } | null;
  tessera: () => unknown;
  themis: () => unknown;
}

const rows: Row[] = [
  {
    name: "full handshake, both sides",
    perRound: 5,
    target: { maxTime: 0.8 },
    tessera: async () => {
      const { client, server } = profilePair();
      await profileHandshake(client, server);
    },
    themis: () => {
      const { client, server } = themisPair();
      themisHandshake(client, server);
      client.destroy();
      server.destroy();
    },
  },
  {
    name: "wrap+unwrap 64 B",
    perRound: 100,
    target: null,
    tessera: () => profileRoundTrip(small),
    themis: () => themisRoundTrip(small),
  },
  {
    name: "wrap+unwrap 1 KiB",
    perRound: 100,
    target: null,
    tessera: () => profileRoundTrip(kib),
    themis: () => themisRoundTrip(kib),
  },
  {
    name: "wrap+unwrap 16 KiB",
    perRound: 30,
    target: { minSpeed: 10 },
    tessera: () => profileRoundTrip(bulk),
    themis: () => themisRoundTrip(bulk),
  },
];

/** Runs every row for `rounds` interleaved rounds and returns the table lines. */
export async function themisTable(rounds = 31): Promise<string[]> {
  const lines = [
    `| work (median of ${rounds} interleaved rounds) | Themis profile | WasmThemis | time ÷ WasmThemis | speed ÷ WasmThemis | target |`,
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const times = { tessera: [] as number[], themis: [] as number[] };
    for (const key of ["tessera", "themis"] as const) await timeRound(row[key], 2);
    for (let r = 0; r < rounds; r++) {
      for (const key of ["tessera", "themis"] as const) {
        times[key].push(await timeRound(row[key], row.perRound));
      }
    }
    const t = median(times.tessera);
    const w = median(times.themis);
    const time = t / w;
    const speed = w / t;
    const target = row.target === null
      ? "—"
      : "maxTime" in row.target
      ? `time ≤ ${row.target.maxTime}: ${time <= row.target.maxTime ? "met" : "missed"}`
      : `speed ≥ ${row.target.minSpeed}: ${speed >= row.target.minSpeed ? "met" : "missed"}`;
    lines.push(
      `| ${row.name} | ${format(t)} | ${format(w)} | ${time.toFixed(2)} | ${
        speed.toFixed(2)
      } | ${target} |`,
    );
  }
  return lines;
}

// Every asynchronous bench is written as an `async` function: `deno bench` awaits a bench only
// when its `fn` is an AsyncFunction.

Deno.bench({
  name: "Themis profile",
  group: "Themis handshake",
  baseline: true,
  n: 200,
  async fn(): Promise<void> {
    const { client, server } = profilePair();
    await profileHandshake(client, server);
  },
});

Deno.bench({
  name: "WasmThemis",
  group: "Themis handshake",
  n: 200,
  fn(): void {
    const { client, server } = themisPair();
    themisHandshake(client, server);
    client.destroy();
    server.destroy();
  },
});

for (
  const [data, title, n, themisN] of [[small, "64 B", 10_000, 10_000], [
    kib,
    "1 KiB",
    10_000,
    5_000,
  ], [bulk, "16 KiB", 5_000, 500]] as const
) {
  Deno.bench({
    name: "Themis profile",
    group: `Themis wrap+unwrap ${title}`,
    baseline: true,
    n,
    async fn(): Promise<void> {
      await profileRoundTrip(data);
    },
  });
  Deno.bench({
    name: "WasmThemis",
    group: `Themis wrap+unwrap ${title}`,
    n: themisN,
    fn(): void {
      themisRoundTrip(data);
    },
  });
}

if (import.meta.main) {
  for (const line of await themisTable()) console.log(line);
}
