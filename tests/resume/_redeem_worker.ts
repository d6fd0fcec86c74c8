// A process that races others to redeem tickets in a shared KV file; started by
// kv_ticket_store_processes_test.ts. Runs under Deno (Deno.openKv) and under
// Bun or Node (`openKv` of npm:@deno/kv, whose module path it is given).
//
// Protocol: one JSON argument (WorkerTask). The worker opens the store, prints
// "ready", waits for a line on stdin, then makes `attempts` concurrent
// find-then-redeem attempts on every ticket at once, prints one line of JSON
// (WorkerResult) and exits.

import process from "node:process";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { TicketError } from "../../lib/errors.ts";
import { KvTicketStore, type TicketKv } from "../../lib/resume/kv_ticket_store.ts";
import type { TicketLookup } from "../../lib/session/resumption.ts";

/** What the parent asks of a worker. */
export interface WorkerTask {
  /** The KV file. */
  readonly path: string;
  /** The store key, hex. */
  readonly key: string;
  /** The ticket ids, hex. Every ticket was issued with family = its id. */
  readonly ids: readonly string[];
  /** Concurrent attempts per ticket. */
  readonly attempts: number;
  /** The `now` of every call. */
  readonly now: number;
  /** Under Bun or Node: file URL of `@deno/kv`'s ESM entry point. */
  readonly kvModule?: string;
}

/** What a worker reports. */
export interface WorkerResult {
  readonly runtime: string;
  /** The redemptions this process won: ticket index, binder hash and successor id (hex). */
  readonly wins: { readonly ticket: number; readonly binder: string; readonly successor: string }[];
  /** How often each status came back from `find`. */
  readonly statuses: Record<string, number>;
  /** Calls that ended in `ticket_store_unavailable`. */
  readonly unavailable: number;
  /** "database is locked" (or busy) errors the KV threw, each retried by the store. */
  readonly locked: number;
  /** Milliseconds from "go" to the last attempt. */
  readonly ms: number;
}

interface KvHandle extends TicketKv {
  close(): void;
}

const task: WorkerTask = JSON.parse(process.argv[2]!);
const deno = (globalThis as { Deno?: typeof Deno }).Deno;
let runtime: string;
let kv: KvHandle;
if (deno !== undefined) {
  runtime = `deno ${deno.version.deno}`;
  kv = await deno.openKv(task.path);
} else {
  const bun = (globalThis as { Bun?: { version: string } }).Bun;
  runtime = bun === undefined ? `node ${process.version}` : `bun ${bun.version}`;
  const denoKv = await import(task.kvModule!);
  kv = await denoKv.openKv(task.path, denoKv.makeLimitedV8Serializer());
}

// Count the transient errors the store sees (and retries).
let locked = 0;
const counted = <R>(promise: Promise<R>): Promise<R> =>
  promise.catch((error: unknown) => {
    if (/locked|busy/i.test(String((error as Error)?.message))) locked++;
    throw error;
  });
const handle: TicketKv = {
  get: (key) => counted(kv.get(key)),
  list: (selector) => kv.list(selector),
  atomic: () => {
    const op = kv.atomic();
    const commit = op.commit.bind(op);
    op.commit = () => counted(commit());
    return op;
  },
};
const store = new KvTicketStore(handle, {
  key: fromHex(task.key),
  retry: { attempts: 20, baseDelay: 2 },
});

process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
const started = performance.now();

const wins: WorkerResult["wins"] = [];
const statuses: Record<string, number> = {};
let unavailable = 0;
async function attempt(index: number, id: Uint8Array): Promise<void> {
  try {
    const found: TicketLookup = await store.find(id, task.now);
    statuses[found.status] = (statuses[found.status] ?? 0) + 1;
    if (found.status !== "live") return;
    const binder = crypto.getRandomValues(new Uint8Array(32));
    const successor = {
      id: crypto.getRandomValues(new Uint8Array(16)),
      secret: crypto.getRandomValues(new Uint8Array(32)),
      peerId: found.ticket.peerId,
      peerKeyFingerprint: found.ticket.peerKeyFingerprint,
      attributes: found.ticket.attributes,
      issuedAt: task.now,
      expiresAt: task.now + 3_600_000,
      family: found.ticket.family,
      authenticatedAt: found.ticket.authenticatedAt,
    };
    if (await store.redeem(id, found.ticket, binder, successor, task.now)) {
      wins.push({ ticket: index, binder: toHex(binder), successor: toHex(successor.id) });
    }
  } catch (error) {
    if (error instanceof TicketError && error.code === "ticket_store_unavailable") unavailable++;
    else throw error;
  }
}
const ids = task.ids.map(fromHex);
await Promise.all(
  ids.flatMap((id, index) => Array.from({ length: task.attempts }, () => attempt(index, id))),
);
const result: WorkerResult = {
  runtime,
  wins,
  statuses,
  unavailable,
  locked,
  ms: Math.round(performance.now() - started),
};
kv.close();
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
