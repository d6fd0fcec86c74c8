/**
 * Secure streams beside Deno's native TLS 1.3 and plain TCP, over TCP
 * loopback, both ends in this process:
 *
 * - bulk: 256 MiB written in 1 MiB writes, read at the other end;
 * - 64 B one way: 64-byte messages written one after another, read at the other end;
 * - 64 B ping-pong: a 64-byte message and its echo, one after another;
 * - handshakes: 200 connections at once, each handshaking and exchanging a byte.
 *
 * Two rows have no transport, to show what bounds the others: beside bulk,
 * `crypto.subtle` AES-GCM alone sealing and opening the same bytes in the
 * stream's records (256 KiB, four sealed while four are opened), what any
 * stream built on it must spend; beside 64 B one way, WasmThemis 0.15.0 wrapping and
 * unwrapping each message. A last table gives the targets: bulk at
 * least 1.0x Deno TLS, 64 B one way at least 0.5x Deno TLS and at least 5x
 * WasmThemis.
 *
 * Every contender is used through the same code: `writable.getWriter()` and
 * `readable` of a `Deno.Conn`, a `Deno.TlsConn` or a `SecureStream` (from
 * `serveSecure` and `connectSecure`). The workloads run in interleaved rounds
 * (each round runs every contender once), so all see the same machine load;
 * the tables give the medians and the ratio to Deno TLS measured in the same
 * run. The TLS certificate (`tls_cert.pem`, `tls_key.pem`, self-signed for
 * 127.0.0.1) was made once with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500
 * -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost
 * -addext basicConstraints=critical,CA:FALSE ...`.
 *
 * Run: `deno task bench` (last), or
 * `deno run --allow-read --allow-net=127.0.0.1 bench/stream_bench.ts [rounds]`.
 *
 * @module
 */

import { directoryLookup, generateIdentityKeyPair } from "../mod.ts";
import { connectSecure, type SecureStream, serveSecure } from "../lib/stream/mod.ts";
import { themisRoundTrip } from "./_session_workloads.ts";
import { median } from "./_timing.ts";

const MiB = 1024 * 1024;

/** How much work one round does; the smoke test shrinks it. */
export interface StreamBenchScale {
  /** Bytes of the bulk transfer. */
  bulkBytes: number;
  /** 64-byte messages sent one way. */
  messages: number;
  /** 64-byte round trips. */
  roundTrips: number;
  /** Concurrent handshakes. */
  handshakes: number;
}

/** The full benchmark. */
export const FULL_SCALE: StreamBenchScale = {
  bulkBytes: 256 * MiB,
  messages: 50_000,
  roundTrips: 2_000,
  handshakes: 200,
};

type Kind = "tcp" | "tls" | "tessera";
const NAMES: Record<Kind, string> = {
  tcp: "plain TCP",
  tls: "Deno TLS 1.3",
  tessera: "tessera stream",
};

/** One connected pair of byte streams. */
interface Duplex {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** A server of one kind on 127.0.0.1 and a way to connect to it. */
interface Bench {
  connect(): Promise<Duplex>;
  /** The server's end of each connection, in accept order. */
  accepted(): Promise<Duplex>;
  stop(): Promise<void>;
}

const here = new URL(".", import.meta.url);
let tlsFiles: { cert: string; key: string } | null = null;
let identities: Awaited<ReturnType<typeof makeIdentities>> | null = null;

async function makeIdentities() {
  const server = await generateIdentityKeyPair();
  const client = await generateIdentityKeyPair();
  const getPublicKeyForId = directoryLookup({
    server: server.publicKey,
    client: client.publicKey,
  });
  return {
    server: { id: "server", privateKey: server.privateKey, getPublicKeyForId },
    client: {
      id: "client",
      privateKey: client.privateKey,
      getPublicKeyForId,
      expectedPeer: "server",
    },
  };
}

/** A queue of accepted connections for the workloads to take. */
class Accepted<T> {
  #items: T[] = [];
  #waiters: ((item: T) => void)[] = [];
  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }
  take(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

async function start(kind: Kind): Promise<Bench> {
  if (kind === "tessera") {
    identities ??= await makeIdentities();
    const accepted = new Accepted<SecureStream>();
    const done: Promise<void>[] = [];
    const server = serveSecure(
      // Deadlines far above what 200 handshakes at once take, even on a loaded machine.
      { hostname: "127.0.0.1", port: 0, session: identities.server, handshakeTimeout: 60_000 },
      (stream) => {
        accepted.push(stream);
        // The connection lives until the workload closes it.
        const over = stream.closed.catch(() => {});
        done.push(over);
        return over;
      },
    );
    const { client } = identities;
    return {
      connect: () => connectSecure({ port: server.addr.port, session: client, timeout: 60_000 }),
      accepted: () => accepted.take(),
      stop: () => server.close(),
    };
  }
  const accepted = new Accepted<Deno.Conn>();
  let listener: Deno.Listener;
  let connect: () => Promise<Deno.Conn>;
  if (kind === "tls") {
    tlsFiles ??= {
      cert: await Deno.readTextFile(new URL("tls_cert.pem", here)),
      key: await Deno.readTextFile(new URL("tls_key.pem", here)),
    };
    const { cert, key } = tlsFiles;
    const tls = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
    listener = tls;
    connect = async () => {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: tls.addr.port,
        caCerts: [cert],
      });
      await conn.handshake();
      return conn;
    };
  } else {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listener = tcp;
    connect = () => Deno.connect({ hostname: "127.0.0.1", port: tcp.addr.port });
  }
  const loop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      if (kind === "tls") {
        const tls = conn as Deno.TlsConn;
        tls.handshake().then(() => accepted.push(tls), () => tls.close());
      } else {
        accepted.push(conn);
      }
    }
  })();
  return {
    connect,
    accepted: () => accepted.take(),
    async stop() {
      listener.close();
      await loop;
    },
  };
}

/** Closes both ends of a connection, whatever state they are in. */
async function closeBoth(a: Duplex, b: Duplex): Promise<void> {
  for (const end of [a, b]) {
    if ("close" in end && typeof end.close === "function") {
      if ("closed" in end) await (end as SecureStream).close().catch(() => {});
      else {
        try {
          (end as Deno.Conn).close();
        } catch {
          // Closed by its streams already.
        }
      }
    }
  }
}

/** Reads exactly `n` bytes, keeping what comes after them for the next call. */
class ExactReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #rest: Uint8Array | null = null;
  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }
  async read(n: number): Promise<void> {
    let got = 0;
    while (got < n) {
      let chunk = this.#rest;
      this.#rest = null;
      if (!chunk) {
        const next = await this.#reader.read();
        if (next.done) throw new Error("the stream ended early");
        chunk = next.value;
      }
      const take = Math.min(chunk.length, n - got);
      if (take < chunk.length) this.#rest = chunk.subarray(take);
      got += take;
    }
  }
  release(): void {
    this.#reader.releaseLock();
  }
}

/** Bulk: MiB/s from the first write to the last byte read. */
async function bulk(bench: Bench, bytes: number): Promise<number> {
  const [client, server] = await Promise.all([bench.connect(), bench.accepted()]);
  const chunk = new Uint8Array(MiB).fill(7);
  const started = performance.now();
  const reading = (async () => {
    let n = 0;
    for await (const part of server.readable) n += part.length;
    return n;
  })();
  const writer = client.writable.getWriter();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    await writer.write(sent + chunk.length <= bytes ? chunk : chunk.subarray(0, bytes - sent));
  }
  await writer.close();
  const received = await reading;
  const seconds = (performance.now() - started) / 1000;
  if (received !== bytes) throw new Error(`bulk: ${received} of ${bytes} bytes`);
  await closeBoth(client, server);
  return bytes / MiB / seconds;
}

/** 64-byte messages one way: messages per second until the last byte is read. */
async function oneWay(bench: Bench, messages: number): Promise<number> {
  const [client, server] = await Promise.all([bench.connect(), bench.accepted()]);
  const message = new Uint8Array(64).fill(1);
  const started = performance.now();
  const reader = new ExactReader(server.readable);
  const reading = reader.read(64 * messages);
  const writer = client.writable.getWriter();
  for (let i = 0; i < messages; i++) await writer.write(message);
  await reading;
  const seconds = (performance.now() - started) / 1000;
  reader.release();
  writer.releaseLock();
  await closeBoth(client, server);
  return messages / seconds;
}

/** 64-byte ping-pong: round trips per second. */
async function pingPong(bench: Bench, roundTrips: number): Promise<number> {
  const [client, server] = await Promise.all([bench.connect(), bench.accepted()]);
  const message = new Uint8Array(64).fill(2);
  const echo = (async () => {
    const reader = new ExactReader(server.readable);
    const writer = server.writable.getWriter();
    for (let i = 0; i < roundTrips; i++) {
      await reader.read(64);
      await writer.write(message);
    }
    reader.release();
    writer.releaseLock();
  })();
  const reader = new ExactReader(client.readable);
  const writer = client.writable.getWriter();
  const started = performance.now();
  for (let i = 0; i < roundTrips; i++) {
    await writer.write(message);
    await reader.read(64);
  }
  const seconds = (performance.now() - started) / 1000;
  await echo;
  reader.release();
  writer.releaseLock();
  await closeBoth(client, server);
  return roundTrips / seconds;
}

/** Concurrent handshakes, each followed by a one-byte exchange: handshakes per second. */
async function handshakes(bench: Bench, count: number): Promise<number> {
  const byte = new Uint8Array([3]);
  const started = performance.now();
  const servers = Array.from({ length: count }, async () => {
    const end = await bench.accepted();
    const reader = new ExactReader(end.readable);
    await reader.read(1);
    reader.release();
    const writer = end.writable.getWriter();
    await writer.write(byte);
    writer.releaseLock();
    return end;
  });
  const clients = Array.from({ length: count }, async () => {
    const end = await bench.connect();
    const writer = end.writable.getWriter();
    await writer.write(byte);
    writer.releaseLock();
    const reader = new ExactReader(end.readable);
    await reader.read(1);
    reader.release();
    return end;
  });
  const [clientEnds, serverEnds] = await Promise.all([Promise.all(clients), Promise.all(servers)]);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clientEnds.map((end, i) => closeBoth(end, serverEnds[i]!)));
  return count / seconds;
}

interface Workload {
  title: string;
  unit: string;
  kinds: Kind[];
  run: (bench: Bench, scale: StreamBenchScale) => Promise<number>;
  /** A contender without a transport, run in the same rounds. */
  alone?: { name: string; run: (scale: StreamBenchScale) => Promise<number> };
}

const aesKey = crypto.subtle.importKey("raw", new Uint8Array(32).fill(9), "AES-GCM", false, [
  "encrypt",
  "decrypt",
]);

/**
 * The crypto of a bulk transfer and nothing else, done as a stream does it: 256 KiB records,
 * four sealed at once while the four sealed before them are opened. MiB/s.
 */
async function subtleAlone(bytes: number): Promise<number> {
  const key = await aesKey;
  const RECORD = 256 * 1024;
  const record = new Uint8Array(RECORD).fill(7);
  const count = Math.ceil(bytes / RECORD);
  const nonce = (i: number) => {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setUint32(8, i);
    return iv;
  };
  const started = performance.now();
  let opened = 0;
  let previous: { iv: Uint8Array<ArrayBuffer>; sealed: ArrayBuffer }[] = [];
  for (let first = 0; first < count + 4; first += 4) {
    const batch = Array.from({ length: Math.max(0, Math.min(4, count - first)) }, (_, k) => {
      const iv = nonce(first + k);
      return crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, record).then((sealed) => ({
        iv,
        sealed,
      }));
    });
    const opening = previous.map(({ iv, sealed }) =>
      crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, sealed)
    );
    const [sealed, plain] = await Promise.all([Promise.all(batch), Promise.all(opening)]);
    for (const p of plain) opened += p.byteLength;
    previous = sealed;
  }
  if (opened !== count * RECORD) throw new Error("subtle alone: bytes lost");
  return bytes / MiB / ((performance.now() - started) / 1000);
}

/** WasmThemis wrapping and unwrapping 64-byte messages, no transport: messages per second. */
function themisAlone(messages: number): Promise<number> {
  const message = new Uint8Array(64).fill(1);
  const started = performance.now();
  for (let i = 0; i < messages; i++) themisRoundTrip(message);
  return Promise.resolve(messages / ((performance.now() - started) / 1000));
}

const WORKLOADS: Workload[] = [
  {
    title: "bulk, 1 MiB writes",
    unit: "MiB/s",
    kinds: ["tcp", "tls", "tessera"],
    run: (bench, scale) => bulk(bench, scale.bulkBytes),
    alone: {
      name: "crypto.subtle AES-GCM alone, no I/O",
      run: (scale) => subtleAlone(scale.bulkBytes),
    },
  },
  {
    title: "64 B messages, one way",
    unit: "messages/s",
    kinds: ["tcp", "tls", "tessera"],
    run: (bench, scale) => oneWay(bench, scale.messages),
    alone: {
      name: "WasmThemis wrap+unwrap, no I/O",
      run: (scale) => themisAlone(scale.messages),
    },
  },
  {
    title: "64 B ping-pong",
    unit: "round trips/s",
    kinds: ["tcp", "tls", "tessera"],
    run: (bench, scale) => pingPong(bench, scale.roundTrips),
  },
  {
    title: "concurrent handshakes",
    unit: "handshakes/s",
    kinds: ["tls", "tessera"],
    run: (bench, scale) => handshakes(bench, scale.handshakes),
  },
];

function figure(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/**
 * Runs every workload in `rounds` interleaved rounds and returns a Markdown
 * table per workload: the median of each contender and its ratio to Deno TLS.
 *
 * @param rounds Rounds per workload.
 * @param scale How much work a round does.
 * @returns The report lines.
 */
export async function streamBench(
  rounds = 5,
  scale: StreamBenchScale = FULL_SCALE,
): Promise<string[]> {
  const benches = new Map<Kind, Bench>();
  for (const kind of ["tcp", "tls", "tessera"] as const) benches.set(kind, await start(kind));
  const lines: string[] = [];
  const medians = new Map<string, number>();
  try {
    for (const workload of WORKLOADS) {
      const results = new Map<Kind, number[]>(workload.kinds.map((k) => [k, []]));
      const alone: number[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const kind of workload.kinds) {
          results.get(kind)!.push(await workload.run(benches.get(kind)!, scale));
        }
        if (workload.alone) alone.push(await workload.alone.run(scale));
      }
      const tls = median(results.get("tls")!);
      const amount = workload.title.startsWith("bulk")
        ? `${scale.bulkBytes / MiB} MiB`
        : workload.title.startsWith("concurrent")
        ? `${scale.handshakes} at once`
        : workload.title.includes("one way")
        ? `${scale.messages} messages`
        : `${scale.roundTrips} round trips`;
      lines.push(
        `| ${workload.title} (${amount}, median of ${rounds}) | ${workload.unit} | ÷ Deno TLS |`,
        "| --- | --- | --- |",
      );
      for (const kind of workload.kinds) {
        const value = median(results.get(kind)!);
        medians.set(`${workload.title}/${kind}`, value);
        lines.push(`| ${NAMES[kind]} | ${figure(value)} | ${(value / tls).toFixed(2)} |`);
      }
      if (workload.alone) {
        const value = median(alone);
        medians.set(`${workload.title}/alone`, value);
        lines.push(`| ${workload.alone.name} | ${figure(value)} | ${(value / tls).toFixed(2)} |`);
      }
      lines.push("");
    }
    const get = (key: string) => medians.get(key)!;
    const targets: [string, number, number][] = [
      [
        "bulk: tessera stream ÷ Deno TLS",
        get("bulk, 1 MiB writes/tessera") / get("bulk, 1 MiB writes/tls"),
        1.0,
      ],
      [
        "64 B one way: tessera stream ÷ Deno TLS",
        get("64 B messages, one way/tessera") / get("64 B messages, one way/tls"),
        0.5,
      ],
      [
        "64 B one way: tessera stream ÷ WasmThemis wrap+unwrap",
        get("64 B messages, one way/tessera") / get("64 B messages, one way/alone"),
        5,
      ],
    ];
    lines.push("| target | measured | verdict |", "| --- | --- | --- |");
    for (const [name, ratio, target] of targets) {
      lines.push(
        `| ${name} ≥ ${target.toFixed(1)} | ${ratio.toFixed(2)} | ${
          ratio >= target ? "met" : "missed"
        } |`,
      );
    }
    lines.push("");
  } finally {
    for (const bench of benches.values()) await bench.stop();
  }
  return lines;
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 5);
  console.log(`Secure streams beside Deno TLS 1.3 and plain TCP, 127.0.0.1, interleaved rounds\n`);
  for (const line of await streamBench(rounds)) console.log(line);
}
