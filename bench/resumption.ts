/**
 * Full against resumed handshakes, in interleaved rounds: each round runs a
 * few full handshakes (which also issue a ticket), then a few resumed ones
 * with the ticket store in memory, in Deno KV in memory and in a Deno KV file
 * (each resume redeems its ticket and stores the successor). The table gives
 * medians and the resumed-to-full time ratio, then resumes per second, and
 * the time a server takes to refuse an unknown client id beside a known id
 * with a bad signature (they should match: no id enumeration by timing).
 *
 * Run: `deno task bench`, or
 * `deno run --allow-read --allow-write --allow-env --unstable-kv bench/resumption.ts`.
 *
 * @module
 */

import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../mod.ts";
import { ClientSessionCache, KvTicketStore, MemoryTicketStore } from "../lib/resume/mod.ts";
import type { TicketStore } from "../lib/session/resumption.ts";
import { format, median, timeRound } from "./_timing.ts";

const alice = await generateIdentityKeyPair();
const bob = await generateIdentityKeyPair();
const mallory = await generateIdentityKeyPair();
const getPublicKeyForId = directoryLookup({ alice: alice.publicKey, bob: bob.publicKey });

async function handshake(client: SecureSession, server: SecureSession): Promise<void> {
  let message: Uint8Array | null = await client.connectRequest();
  while (message) {
    message = await server.negotiate(message);
    if (message) message = await client.negotiate(message);
  }
}

/** A client and server pair factory over one store and one cache. */
function world(store: TicketStore) {
  const cache = new ClientSessionCache({ maxSize: 100 });
  const pair = (resume: boolean) => ({
    client: new SecureSession({
      id: "alice",
      privateKey: alice.privateKey,
      getPublicKeyForId,
      expectedPeer: "bob",
      resumption: { cache, endpoint: "bench:1", resume },
    }),
    server: new SecureSession({
      id: "bob",
      privateKey: bob.privateKey,
      getPublicKeyForId,
      resumption: { store },
    }),
  });
  return {
    full: async () => {
      const { client, server } = pair(false);
      await handshake(client, server);
    },
    resumed: async () => {
      const { client, server } = pair(true);
      await handshake(client, server);
      if (!client.resumed) throw new Error("the benchmark expected a resumed handshake");
    },
  };
}

/** The server's work refusing a ClientFinished: from an unknown id, or a known id's impostor. */
async function refusal(impostorId: string): Promise<number> {
  const lookup = directoryLookup({ alice: alice.publicKey, bob: bob.publicKey });
  const client = new SecureSession({
    id: impostorId,
    privateKey: mallory.privateKey,
    getPublicKeyForId: lookup,
  });
  const server = new SecureSession({ id: "bob", privateKey: bob.privateKey, getPublicKeyForId });
  const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
  const start = performance.now();
  await server.negotiate(finished!).catch(() => {});
  return performance.now() - start;
}

/** Runs the rounds and returns the table lines. */
export async function resumptionTable(rounds = 31): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "tessera-bench-" });
  const memoryKv = await Deno.openKv(":memory:");
  const fileKv = await Deno.openKv(`${dir}/tickets.sqlite`);
  try {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const worlds = {
      memory: world(new MemoryTicketStore()),
      kvMemory: world(new KvTicketStore(memoryKv, { key })),
      kvFile: world(new KvTicketStore(fileKv, { key })),
    };
    const perRound = 4;
    const names = Object.keys(worlds) as (keyof typeof worlds)[];
    const full = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<
      keyof typeof worlds,
      number[]
    >;
    const resumed = structuredClone(full);
    const unknown: number[] = [];
    const badSignature: number[] = [];
    // Warm up, and leave every world holding tickets for the resumes to come.
    for (const w of Object.values(worlds)) {
      for (let i = 0; i < perRound + 2; i++) await w.full();
      await w.resumed();
    }
    for (let r = 0; r < rounds; r++) {
      for (const n of names) {
        full[n].push(await timeRound(worlds[n].full, perRound));
        resumed[n].push(await timeRound(worlds[n].resumed, perRound));
      }
      unknown.push(await refusal("carol"));
      badSignature.push(await refusal("alice"));
    }
    const label = {
      memory: "MemoryTicketStore",
      kvMemory: "KvTicketStore, Deno KV in memory",
      kvFile: "KvTicketStore, Deno KV file",
    };
    const rows = names.map((n) => {
      const f = median(full[n]);
      const r = median(resumed[n]);
      return `| ${label[n]} | ${format(f)} | ${format(r)} | ${(r / f).toFixed(2)} | ${
        Math.round(1000 / r)
      } |`;
    });
    return [
      `| ticket store (median of ${rounds} interleaved rounds, both sides) | full handshake (issues a ticket) | resumed (redeems, issues the successor) | resumed ÷ full | resumes per second |`,
      "| --- | --- | --- | --- | --- |",
      ...rows,
      "",
      "| server refusing a ClientFinished | time |",
      "| --- | --- |",
      `| unknown client id | ${format(median(unknown))} |`,
      `| known id, bad signature | ${format(median(badSignature))} |`,
    ];
  } finally {
    memoryKv.close();
    fileKv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  for (const line of await resumptionTable()) console.log(line);
}
