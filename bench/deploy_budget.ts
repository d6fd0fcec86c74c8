/**
 * What the Deploy example costs against Deno Deploy's limits: CPU time per
 * request (Deploy allows 50 ms or 200 ms on average, by tier) and memory per
 * instance (512 MB).
 *
 * - **CPU per operation** (`process.cpuUsage()`, user + system, every thread of
 *   the process, so Web Crypto's worker threads count too), measured around
 *   the *server's* steps only: the client runs in the same process, but its
 *   steps fall outside the measured spans. Full handshake (signs, verifies,
 *   issues a ticket into `KvTicketStore`), resumed handshake (redeems the ticket
 *   and stores its successor), and one cookie-session request through
 *   `sessions()` with `KvSessionStorage` and `encrypt()`: a read (the session
 *   loaded, nothing written) and a write (compare-and-set of the record).
 *   KV is in memory: on Deploy, KV is a remote service, whose calls cost
 *   waiting rather than CPU.
 * - **Memory of idle established sessions**: N session pairs (default 1,000),
 *   each over an in-memory transport, the server's side with a `receive()`
 *   pending as an `onSession` loop keeps it; measured first, in a fresh
 *   process. The heap per server session is half the growth per pair (both
 *   sides hold the same state); RSS is the whole process's, before, with all
 *   sessions established, and at its peak. Heap and RSS are read after a
 *   garbage collection (run with `--v8-flags=--expose-gc`; without it the
 *   figures include garbage). A real WebSocket adds its own buffers outside
 *   the JavaScript heap.
 *
 * Run: `deno task bench`, or
 * `deno run --allow-read --allow-env --unstable-kv --v8-flags=--expose-gc bench/deploy_budget.ts`.
 *
 * @module
 */

import process from "node:process";
import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../mod.ts";
import { encrypt, KvSessionStorage, sessions } from "../lib/cookie/mod.ts";
import { ClientSessionCache, KvTicketStore } from "../lib/resume/mod.ts";
import { memoryTransportPair } from "../lib/transport/mod.ts";

/** Deno Deploy's limits, as the README states them. */
const DEPLOY_CPU_MS = [50, 200] as const;
const DEPLOY_MEMORY_MB = 512;

const client = await generateIdentityKeyPair();
const server = await generateIdentityKeyPair();
const getPublicKeyForId = directoryLookup({ client: client.publicKey, server: server.publicKey });

/** CPU time used so far, in ms (user + system). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Adds the CPU time `step` takes to `meter.ms`. */
async function metered<T>(meter: { ms: number }, step: () => Promise<T>): Promise<T> {
  const start = cpuMs();
  try {
    return await step();
  } finally {
    meter.ms += cpuMs() - start;
  }
}

/** A handshake in buffer mode whose server steps are metered; returns whether it resumed. */
async function handshake(
  pair: { client: SecureSession; server: SecureSession },
  meter: { ms: number },
): Promise<boolean> {
  let message: Uint8Array | null = await pair.client.connectRequest();
  while (message) {
    const request: Uint8Array = message;
    message = await metered(meter, () => pair.server.negotiate(request));
    if (message) message = await pair.client.negotiate(message);
  }
  return pair.server.resumed;
}

/** A handshake's CPU: the server's steps, and both sides (the whole handshake). */
interface HandshakeCpu {
  server: number;
  both: number;
}

/** CPU of handshakes, in ms per handshake: without tickets, and full and resumed with KV. */
async function handshakeCpu(
  count: number,
): Promise<{ plain: HandshakeCpu; full: HandshakeCpu; resumed: HandshakeCpu }> {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
    const cache = new ClientSessionCache({ maxSize: 10_000 });
    const pair = (mode: "plain" | "full" | "resumed") => ({
      client: new SecureSession({
        id: "client",
        privateKey: client.privateKey,
        getPublicKeyForId,
        expectedPeer: "server",
        ...(mode === "plain"
          ? {}
          : { resumption: { cache, endpoint: "deploy-app", resume: mode === "resumed" } }),
      }),
      server: new SecureSession({
        id: "server",
        privateKey: server.privateKey,
        getPublicKeyForId,
        ...(mode === "plain"
          ? {}
          : { resumption: { store, attributes: () => ({ issuedBy: "bench" }) } }),
      }),
    });
    const modes = ["plain", "full", "resumed"] as const;
    const serverCpu = { plain: { ms: 0 }, full: { ms: 0 }, resumed: { ms: 0 } };
    const bothCpu = { plain: { ms: 0 }, full: { ms: 0 }, resumed: { ms: 0 } };
    const warm = { ms: 0 };
    for (let i = 0; i < 4; i++) for (const mode of modes) await handshake(pair(mode), warm);
    // Interleaved: without tickets, a full handshake (its ticket goes to the cache), a resume.
    for (let i = 0; i < count; i++) {
      for (const mode of modes) {
        const resumed = await metered(bothCpu[mode], () => handshake(pair(mode), serverCpu[mode]));
        if (resumed !== (mode === "resumed")) throw new Error(`unexpected ${mode} handshake`);
      }
    }
    const per = (mode: typeof modes[number]) => ({
      server: serverCpu[mode].ms / count,
      both: bothCpu[mode].ms / count,
    });
    return { plain: per("plain"), full: per("full"), resumed: per("resumed") };
  } finally {
    kv.close();
  }
}

/** CPU of one cookie-session request through `sessions()`, read and write, in ms. */
async function cookieCpu(count: number): Promise<{ read: number; write: number }> {
  const kv = await Deno.openKv(":memory:");
  try {
    const auth = sessions<{ views: number }>({
      storage: new KvSessionStorage(kv),
      transformer: encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) }),
    });
    const handler = auth((request, _info: unknown, session) => {
      const path = new URL(request.url).pathname;
      if (path === "/login") session.setUser("ann");
      if (path !== "/read") session.update("views", (n = 0) => n + 1);
      return new Response(String(session.get("views") ?? 0));
    });
    const login = await handler(new Request("https://app.example/login"), {});
    const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const request = (path: string) =>
      new Request(`https://app.example${path}`, { headers: { cookie } });
    const run = async (path: string, meter: { ms: number }) => {
      const response = await metered(meter, () => handler(request(path), {}));
      await response.body?.cancel();
      if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
    };
    const warm = { ms: 0 };
    for (let i = 0; i < 16; i++) await run(i % 2 ? "/read" : "/write", warm);
    const read = { ms: 0 };
    const write = { ms: 0 };
    for (let i = 0; i < count; i++) {
      await run("/read", read);
      await run("/write", write);
    }
    return { read: read.ms / count, write: write.ms / count };
  } finally {
    kv.close();
  }
}

/** Heap and RSS in MB, after a collection when the runtime allows one. */
function memoryMb(): { heap: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heap: heapUsed / 2 ** 20, rss: rss / 2 ** 20 };
}

/** Memory of `count` idle established server sessions, each with a `receive()` pending. */
async function idleSessionsMemory(count: number) {
  const before = memoryMb();
  let peak = before.rss;
  const servers: SecureSession[] = [];
  const clients: SecureSession[] = [];
  const waiting: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Math.min(50, count - i);
    await Promise.all(Array.from({ length: batch }, async () => {
      const [a, b] = memoryTransportPair();
      const c = new SecureSession({
        id: "client",
        privateKey: client.privateKey,
        getPublicKeyForId,
        expectedPeer: "server",
        transport: a,
      });
      const s = new SecureSession({
        id: "server",
        privateKey: server.privateKey,
        getPublicKeyForId,
        transport: b,
      });
      await Promise.all([c.connect(), s.accept()]);
      servers.push(s);
      clients.push(c);
      waiting.push(s.receive()); // idle: waiting for the client's next message
    }));
    peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20);
  }
  // Both sides live in this process and hold the same state: a server session's share of the
  // heap is half the growth per pair. The RSS figures are the whole process's.
  const both = memoryMb();
  const established = servers.filter((s) => s.state === "established").length;
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(waiting);
  clients.length = 0;
  const perSessionKb = (both.heap - before.heap) * 1024 / (2 * count);
  return {
    count,
    established,
    startRssMb: before.rss,
    heapPerSessionKb: perSessionKb,
    heapMb: perSessionKb * count / 1024,
    rssMb: both.rss,
    peakRssMb: Math.max(peak, both.rss),
    gc: typeof (globalThis as { gc?: unknown }).gc === "function",
  };
}

const ms = (value: number): string => `${value.toFixed(2)} ms`;
const share = (value: number): string =>
  DEPLOY_CPU_MS.map((limit) => `${(100 * value / limit).toFixed(1)} %`).join(" / ");

/**
 * Measures and returns the table lines.
 *
 * @param options How many handshakes and requests to time, and idle sessions to hold.
 * @returns Markdown table lines.
 */
export async function deployBudgetTable(
  options: { handshakes?: number; requests?: number; sessions?: number } = {},
): Promise<string[]> {
  const handshakes = options.handshakes ?? 200;
  const requests = options.requests ?? 500;
  // Memory first, in a process that has done nothing else yet.
  const memory = await idleSessionsMemory(options.sessions ?? 1000);
  const { plain, full, resumed } = await handshakeCpu(handshakes);
  const cookie = await cookieCpu(requests);
  if (memory.established !== memory.count) throw new Error("a session did not establish");
  return [
    `| CPU per operation (Deno ${Deno.version.deno}, mean of ${handshakes} handshakes, ${requests} requests) | server | share of Deploy's ${
      DEPLOY_CPU_MS.join(" / ")
    } ms | both sides |`,
    "| --- | --- | --- | --- |",
    `| full handshake, no tickets | ${ms(plain.server)} | ${share(plain.server)} | ${
      ms(plain.both)
    } |`,
    `| full handshake (issues a ticket into KvTicketStore) | ${ms(full.server)} | ${
      share(full.server)
    } | ${ms(full.both)} |`,
    `| resumed handshake (redeems it, stores the successor) | ${ms(resumed.server)} | ${
      share(resumed.server)
    } | ${ms(resumed.both)} |`,
    `| cookie-session request, read (KvSessionStorage, encrypt()) | ${ms(cookie.read)} | ${
      share(cookie.read)
    } | |`,
    `| cookie-session request, write (compare-and-set) | ${ms(cookie.write)} | ${
      share(cookie.write)
    } | |`,
    "",
    `| ${memory.count} idle established server sessions${
      memory.gc ? "" : " (no --expose-gc: garbage included)"
    } | memory | of Deploy's ${DEPLOY_MEMORY_MB} MB |`,
    "| --- | --- | --- |",
    `| JavaScript heap, per session | ${memory.heapPerSessionKb.toFixed(1)} KiB | |`,
    `| JavaScript heap, all ${memory.count} | ${memory.heapMb.toFixed(1)} MB | ${
      (100 * memory.heapMb / DEPLOY_MEMORY_MB).toFixed(1)
    } % |`,
    `| RSS of the process before (Deno and the library) | ${memory.startRssMb.toFixed(1)} MB | ${
      (100 * memory.startRssMb / DEPLOY_MEMORY_MB).toFixed(1)
    } % |`,
    `| RSS with the ${memory.count} sessions of both sides established | ${
      memory.rssMb.toFixed(1)
    } MB | ${(100 * memory.rssMb / DEPLOY_MEMORY_MB).toFixed(1)} % |`,
    `| RSS peak of the process (while connecting them) | ${memory.peakRssMb.toFixed(1)} MB | ${
      (100 * memory.peakRssMb / DEPLOY_MEMORY_MB).toFixed(1)
    } % |`,
  ];
}

if (import.meta.main) {
  for (const line of await deployBudgetTable()) console.log(line);
}
