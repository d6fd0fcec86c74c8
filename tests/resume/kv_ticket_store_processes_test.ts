// Several processes share one KV file and race to redeem the same tickets:
// two Deno processes, then a Deno process and a Bun process (npm:@deno/kv).
// Each ticket must be redeemed exactly once overall. Workers: _redeem_worker.ts.

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { KvTicketStore } from "../../lib/resume/kv_ticket_store.ts";
import type { WorkerResult, WorkerTask } from "./_redeem_worker.ts";
import { findLive, makeTicket, T0 } from "./ticket_store_contract.ts";

/** The exact `@deno/kv` that Bun uses here (`npm view @deno/kv version`). */
const DENO_KV = "@deno/kv@0.14.0";
const BUN = "bun@1.4.4";
const TICKETS = 50;
const ATTEMPTS = 20;

const worker = decodeURIComponent(new URL("./_redeem_worker.ts", import.meta.url).pathname);

/** A started worker: wait for it to be ready, tell it to go, read its result. */
interface Running {
  ready: Promise<void>;
  go(): Promise<void>;
  result: Promise<WorkerResult>;
  kill(): void;
}

function start(cmd: string, args: string[]): Running {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let signalReady!: () => void;
  const ready = new Promise<void>((resolve) => signalReady = resolve);
  const stdout = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.startsWith("ready\n")) signalReady();
    }
    return text;
  })();
  const stderr = new Response(child.stderr).text();
  const result = (async () => {
    const [status, out, err] = await Promise.all([child.status, stdout, stderr]);
    signalReady(); // never leave the caller waiting on a worker that died early
    assert.equal(status.code, 0, `${cmd} ${args.at(-2)} failed:\n${err}\n${out}`);
    const lines = out.trim().split("\n");
    assert.equal(lines[0], "ready", out);
    return JSON.parse(lines.at(-1)!) as WorkerResult;
  })();
  return {
    ready,
    result,
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // it has exited already
      }
    },
    go: async () => {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode("go\n"));
        await writer.close();
      } catch {
        // The worker died early: its result says why.
      }
    },
  };
}

/** Issues the tickets into a new KV file and returns what a worker needs to know. */
async function prepare(path: string): Promise<Omit<WorkerTask, "kvModule">> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const kv = await Deno.openKv(path);
  try {
    const tickets = Array.from({ length: TICKETS }, () => {
      const id = crypto.getRandomValues(new Uint8Array(16));
      return makeTicket({ id, family: id });
    });
    await new KvTicketStore(kv, { key }).issue(tickets, T0);
    return {
      path,
      key: toHex(key),
      ids: tickets.map((t) => toHex(t.id)),
      attempts: ATTEMPTS,
      now: T0 + 1,
    };
  } finally {
    kv.close();
  }
}

/** Runs the workers together and checks that every ticket was redeemed exactly once. */
async function race(
  task: Omit<WorkerTask, "kvModule">,
  workers: Running[],
): Promise<WorkerResult[]> {
  // A worker that hangs fails the test instead of stalling the suite.
  const deadline = setTimeout(() => workers.forEach((w) => w.kill()), 60_000);
  let results: WorkerResult[];
  try {
    await Promise.all(workers.map((w) => w.ready));
    await Promise.all(workers.map((w) => w.go()));
    results = await Promise.all(workers.map((w) => w.result));
  } finally {
    clearTimeout(deadline);
  }
  const summary = JSON.stringify(
    results.map(({ wins, ...rest }) => ({ ...rest, wins: wins.length })),
  );

  const wins = results.flatMap((r) => r.wins);
  const perTicket = new Map<number, number>();
  for (const win of wins) perTicket.set(win.ticket, (perTicket.get(win.ticket) ?? 0) + 1);
  assert.equal(wins.length, TICKETS, summary);
  for (let i = 0; i < TICKETS; i++) assert.equal(perTicket.get(i), 1, `ticket ${i}: ${summary}`);

  // The store agrees: each ticket redeemed with its winner's binder, each winner's successor live.
  const kv = await Deno.openKv(task.path);
  try {
    const store = new KvTicketStore(kv, { key: fromHex(task.key) });
    for (const win of wins) {
      const id = fromHex(task.ids[win.ticket]!);
      const found = await store.find(id, task.now);
      assert.equal(found.status, "redeemed");
      assert.equal(found.status === "redeemed" && toHex(found.ticket.redeemedWith!), win.binder);
      const successor = await findLive(store, fromHex(win.successor), task.now);
      assert.deepEqual(successor.family, id);
    }
    let live = 0;
    for await (const entry of kv.list({ prefix: ["tessera", "tickets", "t"] })) {
      assert.ok(entry.value instanceof Uint8Array);
      live++;
    }
    assert.equal(live, 2 * TICKETS, "the tickets and one successor each, nothing more");
  } finally {
    kv.close();
  }
  return results;
}

const denoWorker = (task: WorkerTask) =>
  start(Deno.execPath(), [
    "run",
    "--no-config",
    "--no-lock",
    "--unstable-kv",
    "--allow-read",
    "--allow-write",
    worker,
    JSON.stringify(task),
  ]);

Deno.test(`two Deno processes sharing a KV file redeem each of ${TICKETS} tickets exactly once`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-tickets-" });
  try {
    const task = await prepare(`${dir}/tickets.sqlite`);
    await race(task, [denoWorker(task), denoWorker(task)]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(`a Deno process and a Bun process sharing a KV file through npm:${DENO_KV} redeem each ticket exactly once`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-tickets-" });
  try {
    // Bun's side: npm:@deno/kv, pinned, installed into the temporary directory.
    const install = await new Deno.Command("npm", {
      args: ["install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", DENO_KV],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
    const kvModule = new URL(`file://${dir}/node_modules/@deno/kv/esm/npm.js`).href;

    const task: WorkerTask = { ...await prepare(`${dir}/tickets.sqlite`), kvModule };
    const bun = start("npx", ["-y", BUN, worker, JSON.stringify(task)]);
    const results = await race(task, [denoWorker(task), bun]);
    const bunResult = results[1]!;
    assert.match(bunResult.runtime, /^bun 1\.4\.4/);
    // Bun read every record Deno wrote: it found each ticket live or already redeemed.
    assert.deepEqual(
      Object.keys(bunResult.statuses).filter((s) => s !== "live" && s !== "redeemed"),
      [],
    );
    assert.ok(Object.values(bunResult.statuses).reduce((a, b) => a + b, 0) > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
