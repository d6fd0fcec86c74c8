/**
 * Cookie sessions under HTTP load, in interleaved rounds: 16 concurrent
 * keep-alive clients, each with its own session, send requests to one local
 * `Deno.serve` server (the load generator runs in the same process, so both
 * sides share the machine as they would in a test). Each round measures, in
 * turn, the bare handler and the same handler reading a KV session, updating
 * it, and updating a client-side `encrypt()` session; the table gives the
 * median requests per second and the ratio to the bare handler. Two rows
 * show what Deno KV alone costs, with no session code: the bare handler plus
 * one `kv.get` (what a KV session read needs at least) and plus a `kv.get`
 * and an atomic commit (what a KV session update needs at least), and the
 * bare handler plus one AES-GCM encrypt (what a client-side update needs at
 * least: the cookie it sets is sealed).
 *
 * A second table times `encrypt()` seal+unseal of a 200-byte session beside
 * iron-session's `sealData`+`unsealData` and raw `crypto.subtle` AES-GCM
 * encrypt+decrypt, interleaved the same way: read by another instance with
 * the same key (through the cipher), and by the instance that sealed it
 * (which remembers the values it sealed).
 *
 * Run: `deno task bench`, or
 * `deno run --allow-read --allow-write --allow-env --allow-net=127.0.0.1 --unstable-kv bench/cookie_http.ts`.
 *
 * @module
 */

import { sealData, unsealData } from "npm:iron-session@8.0.4";
import { encrypt } from "../lib/cookie/encrypt.ts";
import { KvSessionStorage } from "../lib/cookie/kv_storage.ts";
import { cookieTransport } from "../lib/cookie/cookie_transport.ts";
import { sessions } from "../lib/cookie/sessions.ts";
import { median } from "./_timing.ts";
import { CONTEXT, JSON_SESSION, PASSWORD, SESSION } from "./_cookie_workload.ts";

const CLIENTS = 16;
type Mode =
  | "bare"
  | "kvGet"
  | "kvGetCommit"
  | "sealOnly"
  | "kvRead"
  | "kvUpdate"
  | "clientUpdate"
  | "kvFileUpdate";
const MODES: Mode[] = [
  "bare",
  "kvGet",
  "kvGetCommit",
  "sealOnly",
  "kvRead",
  "kvUpdate",
  "clientUpdate",
  "kvFileUpdate",
];
const LABEL: Record<Mode, string> = {
  bare: "bare handler, no session",
  kvGet: "bare handler + one kv.get, no session (the ceiling of a KV read)",
  kvGetCommit: "bare handler + kv.get + one atomic commit, no session (the ceiling of a KV update)",
  sealOnly:
    "bare handler + one crypto.subtle AES-GCM encrypt, no session (the ceiling of a client-side update)",
  kvRead: "KvSessionStorage (KV in memory), read",
  kvUpdate: "KvSessionStorage (KV in memory), update",
  clientUpdate: "client-side encrypt() session, update",
  kvFileUpdate: "KvSessionStorage (KV file on local disk), update",
};

type Data = { user: string; views: number };

/**
 * A first response giving the client its own key for the KV-only rows, with a value the size of
 * a stored session record under it.
 */
async function benchCookie(kv: Deno.Kv): Promise<Response> {
  const cookie = `k=${crypto.randomUUID()}`;
  await kv.set(["bench", cookie], new Uint8Array(RECORD_SIZE));
  return new Response("0", { headers: { "set-cookie": cookie } });
}

/** Bytes of a stored session record in this benchmark (its JSON envelope is 97), about. */
const RECORD_SIZE = 100;

const sealKey = crypto.subtle.importKey("raw", new Uint8Array(32).fill(5), "AES-GCM", false, [
  "encrypt",
]);
const record = new Uint8Array(RECORD_SIZE);

/** The server: one route per mode, all with the same handler body. */
function app(kv: Deno.Kv, fileKv: Deno.Kv) {
  const transport = cookieTransport({ name: "sid", secure: false });
  const server = sessions<Data>({ storage: new KvSessionStorage(kv), transport });
  const onDisk = sessions<Data>({ storage: new KvSessionStorage(fileKv), transport });
  const client = sessions<Data>({
    transformer: encrypt({ key: crypto.getRandomValues(new Uint8Array(32)) }),
    transport,
  });
  const body = (update: boolean) =>
  (_req: Request, _info: unknown, session: {
    get(k: "views"): number | undefined;
    set(k: "views", v: number): void;
    setUser(u: string): void;
  }) => {
    const url = new URL(_req.url);
    if (url.searchParams.has("login")) session.setUser(url.searchParams.get("login")!);
    const views = session.get("views") ?? 0;
    if (update || url.searchParams.has("login")) session.set("views", views + 1);
    return new Response(String(views));
  };
  const handlers: Record<Mode, (req: Request, info: unknown) => Response | Promise<Response>> = {
    bare: (req) => {
      const url = new URL(req.url);
      return new Response(String(url.searchParams.size));
    },
    kvGet: async (req) => {
      const url = new URL(req.url);
      const cookie = req.headers.get("cookie");
      if (cookie === null) return await benchCookie(kv);
      const entry = await kv.get(["bench", cookie]);
      return new Response(String(url.searchParams.size + (entry.versionstamp ? 1 : 0)));
    },
    kvGetCommit: async (req) => {
      const url = new URL(req.url);
      const cookie = req.headers.get("cookie");
      if (cookie === null) return await benchCookie(kv);
      const key = ["bench", cookie];
      const entry = await kv.get<Uint8Array>(key);
      const done = await kv.atomic().check(entry).set(key, new Uint8Array(RECORD_SIZE)).commit();
      if (!done.ok) throw new Error("kvGetCommit: a client's own key changed under it");
      return new Response(String(url.searchParams.size));
    },
    sealOnly: async (req) => {
      const url = new URL(req.url);
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await sealKey, record);
      return new Response(String(url.searchParams.size + sealed.byteLength));
    },
    kvRead: server(body(false)),
    kvUpdate: server(body(true)),
    clientUpdate: client(body(true)),
    kvFileUpdate: onDisk(body(true)),
  };
  return (req: Request, info: unknown) => {
    const mode = new URL(req.url).pathname.slice(1) as Mode;
    return handlers[mode](req, info);
  };
}

/** One client: its own cookie per mode, requests one after another on a kept-alive connection. */
class Client {
  readonly cookies = new Map<Mode, string>();
  constructor(readonly base: string, readonly index: number) {}

  async request(mode: Mode, query = ""): Promise<void> {
    const cookie = this.cookies.get(mode);
    const res = await fetch(`${this.base}/${mode}${query}`, {
      headers: cookie === undefined ? {} : { cookie },
    });
    const set = res.headers.getSetCookie()[0];
    if (set !== undefined) this.cookies.set(mode, set.split(";")[0]!);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${mode}: HTTP ${res.status}`);
  }
}

/** Requests per second of `perClient` requests from each client at once. */
async function round(clients: Client[], mode: Mode, perClient: number): Promise<number> {
  const start = performance.now();
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < perClient; i++) await c.request(mode);
  }));
  return (clients.length * perClient) / ((performance.now() - start) / 1000);
}

/** The HTTP table: median requests per second over `rounds` interleaved rounds. */
export async function cookieHttpTable(rounds = 7, perClient = 40): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(":memory:");
  const fileKv = await Deno.openKv(`${dir}/sessions.sqlite3`);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app(kv, fileKv));
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(base, i));
    // Log every client in (KV modes) and give it a client-side session; warm up.
    await Promise.all(clients.map(async (c) => {
      await c.request("kvRead", `?login=user${c.index}`);
      await c.request("kvUpdate", `?login=user${c.index}`);
      await c.request("clientUpdate", `?login=user${c.index}`);
      await c.request("kvFileUpdate", `?login=user${c.index}`);
      for (const mode of MODES) for (let i = 0; i < 3; i++) await c.request(mode);
    }));
    const rates = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<
      Mode,
      number[]
    >;
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) rates[mode].push(await round(clients, mode, perClient));
    }
    const bare = median(rates.bare);
    return [
      `| handler (${CLIENTS} keep-alive clients, median of ${rounds} interleaved rounds) | requests per second | ÷ bare handler |`,
      "| --- | --- | --- |",
      ...MODES.map((mode) => {
        const rate = median(rates[mode]);
        return `| ${LABEL[mode]} | ${Math.round(rate)} | ${(rate / bare).toFixed(2)} |`;
      }),
    ];
  } finally {
    await server.shutdown();
    kv.close();
    fileKv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The seal table: encrypt() and raw subtle beside iron-session, per seal+unseal. */
export async function sealTable(rounds = 15, perRound = 200): Promise<string[]> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const transformer = encrypt({ key });
  // Another instance with the same key: the read goes through the cipher (as on another
  // server instance), not through the values the writer remembers.
  const reader = encrypt({ key });
  const rawKey = await crypto.subtle.importKey(
    "raw",
    crypto.getRandomValues(new Uint8Array(32)),
    "AES-GCM",
    false,
    ["encrypt", "decrypt"],
  );
  const plain = new TextEncoder().encode(JSON_SESSION);
  const work = {
    iron: async () => {
      const sealed = await sealData(SESSION, { password: PASSWORD });
      await unsealData(sealed, { password: PASSWORD });
    },
    tessera: async () => {
      const sealed = await transformer.write(JSON_SESSION, CONTEXT);
      if (await reader.read(sealed, CONTEXT) !== JSON_SESSION) throw new Error("round trip");
    },
    remembered: async () => {
      const sealed = await transformer.write(JSON_SESSION, CONTEXT);
      if (await transformer.read(sealed, CONTEXT) !== JSON_SESSION) throw new Error("round trip");
    },
    raw: async () => {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, rawKey, plain);
      await crypto.subtle.decrypt({ name: "AES-GCM", iv }, rawKey, sealed);
    },
  };
  const times: Record<keyof typeof work, number[]> = {
    iron: [],
    tessera: [],
    remembered: [],
    raw: [],
  };
  for (const fn of Object.values(work)) for (let i = 0; i < 50; i++) await fn();
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(work) as [keyof typeof work, () => Promise<void>][]) {
      const start = performance.now();
      for (let i = 0; i < perRound; i++) await fn();
      times[name].push((performance.now() - start) / perRound);
    }
  }
  const iron = median(times.iron);
  const row = (label: string, ms: number) =>
    `| ${label} | ${(ms * 1000).toFixed(0)} µs | ${(iron / ms).toFixed(1)} |`;
  return [
    `| seal+unseal of a ${JSON_SESSION.length}-byte session (median of ${rounds} interleaved rounds) | time | × iron-session's speed |`,
    "| --- | --- | --- |",
    row("iron-session sealData+unsealData", iron),
    row("tessera encrypt() write, read by another instance", median(times.tessera)),
    row(
      "tessera encrypt() write, read by the same instance (remembered)",
      median(times.remembered),
    ),
    row("raw crypto.subtle AES-GCM encrypt+decrypt", median(times.raw)),
  ];
}

if (import.meta.main) {
  for (const line of await cookieHttpTable()) console.log(line);
  console.log();
  for (const line of await sealTable()) console.log(line);
}
