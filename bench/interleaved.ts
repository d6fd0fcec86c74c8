/**
 * The Secure Session workloads measured in interleaved rounds: each round runs
 * a few iterations of tessera/1, then WasmThemis, then raw `crypto.subtle`, so
 * all three see the same machine load; the table gives the median of the
 * rounds. On a shared machine this is steadier than `deno bench`, which runs
 * each benchmark's iterations back to back. Speeds above 1 mean tessera/1 is
 * faster (more handshakes or records per second).
 *
 * Run: `deno task bench` (after `deno bench`), or
 * `deno run --allow-read --allow-env bench/interleaved.ts`.
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
import { format, median, timeRound } from "./_timing.ts";

type Work = () => unknown;

interface Row {
  name: string;
  /** Iterations per round for each contender. */
  perRound: number;
  /** What one iteration does, to print per-item times. */
  items: number;
  tessera: Work;
  themis: Work;
  raw: Work;
}

function inFlight(count: number, one: () => Promise<void>): () => Promise<unknown> {
  return () => Promise.all(Array.from({ length: count }, one));
}

const small = crypto.getRandomValues(new Uint8Array(64));
const kib = crypto.getRandomValues(new Uint8Array(1024));
const bulk = crypto.getRandomValues(new Uint8Array(16 * 1024));

const rows: Row[] = [
  {
    name: "full handshake, both sides",
    perRound: 5,
    items: 1,
    tessera: async () => {
      const { client, server } = tesseraPair();
      await tesseraHandshake(client, server);
    },
    themis: () => {
      const { client, server } = themisPair();
      themisHandshake(client, server);
      client.destroy();
      server.destroy();
    },
    raw: rawSubtleHandshake,
  },
  {
    name: "wrap+unwrap 64 B",
    perRound: 100,
    items: 1,
    tessera: () => tesseraRoundTrip(small),
    themis: () => themisRoundTrip(small),
    raw: () => rawRoundTrip(small),
  },
  {
    name: "wrap+unwrap 1 KiB",
    perRound: 100,
    items: 1,
    tessera: () => tesseraRoundTrip(kib),
    themis: () => themisRoundTrip(kib),
    raw: () => rawRoundTrip(kib),
  },
  {
    name: "wrap+unwrap 16 KiB",
    perRound: 30,
    items: 1,
    tessera: () => tesseraRoundTrip(bulk),
    themis: () => themisRoundTrip(bulk),
    raw: () => rawRoundTrip(bulk),
  },
  {
    name: "wrap+unwrap 64 B, 16 in flight",
    perRound: 10,
    items: 16,
    tessera: inFlight(16, () => tesseraRoundTrip(small)),
    themis: () => {
      for (let i = 0; i < 16; i++) themisRoundTrip(small);
    },
    raw: inFlight(16, () => rawRoundTrip(small)),
  },
  {
    name: "wrap+unwrap 16 KiB, 4 in flight",
    perRound: 10,
    items: 4,
    tessera: inFlight(4, () => tesseraRoundTrip(bulk)),
    themis: () => {
      for (let i = 0; i < 4; i++) themisRoundTrip(bulk);
    },
    raw: inFlight(4, () => rawRoundTrip(bulk)),
  },
];

/** Runs every row for `rounds` interleaved rounds and returns the table lines. */
export async function interleaved(rounds = 31): Promise<string[]> {
  const lines = [
    `| work (median of ${rounds} interleaved rounds) | tessera/1 | WasmThemis | raw subtle | tessera speed ÷ WasmThemis | tessera speed ÷ raw |`,
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const times = { tessera: [] as number[], themis: [] as number[], raw: [] as number[] };
    for (const key of ["tessera", "themis", "raw"] as const) await timeRound(row[key], 2);
    for (let r = 0; r < rounds; r++) {
      for (const key of ["tessera", "themis", "raw"] as const) {
        times[key].push(await timeRound(row[key], row.perRound));
      }
    }
    const t = median(times.tessera) / row.items;
    const w = median(times.themis) / row.items;
    const s = median(times.raw) / row.items;
    lines.push(
      `| ${row.name} | ${format(t)} | ${format(w)} | ${format(s)} | ${(w / t).toFixed(2)} | ${
        (s / t).toFixed(2)
      } |`,
    );
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await interleaved()) console.log(line);
}
