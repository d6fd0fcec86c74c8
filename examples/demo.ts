/**
 * The tessera demo: two peers in one process.
 *
 * 1. A client and a server run a full tessera/1 handshake through the buffer
 *    API, exchange a few messages each way, update keys, save and restore the
 *    client, and close.
 * 2. The same over the callback API and an in-memory transport.
 * 3. Resumption: a full handshake leaves the client a ticket; it disconnects
 *    and reconnects in one round trip without signatures, with its
 *    attributes restored on the server (tickets in Deno KV, in memory here).
 * 4. A cookie session round trip against a local `Deno.serve` on 127.0.0.1.
 *
 * Run it with `deno task demo`.
 *
 * @module
 */

import { directoryLookup, generateIdentityKeyPair, SecureSession } from "../mod.ts";
import { ClientSessionCache, KvTicketStore } from "../lib/resume/mod.ts";
import { memoryTransportPair } from "../lib/transport/mod.ts";
import { cookieDemo } from "./cookie_demo.ts";

const text = new TextEncoder();
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const hex = (bytes: Uint8Array | null): string =>
  bytes ? Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") : "-";
const ms = (start: number): string => `${(performance.now() - start).toFixed(1)} ms`;

/** Runs the Secure Session part of the demo and returns its report lines. */
export async function secureSessionDemo(): Promise<string[]> {
  const lines: string[] = [];
  const log = (line: string): void => {
    lines.push(line);
  };

  // Long-term identities. Private keys stay non-extractable.
  const alice = await generateIdentityKeyPair();
  const bob = await generateIdentityKeyPair();
  // Exactly one key per id, compared byte for byte.
  const getPublicKeyForId = directoryLookup({
    "alice@example": alice.publicKey,
    "bob@example": bob.publicKey,
  });

  const client = new SecureSession({
    id: "alice@example",
    privateKey: alice.privateKey,
    getPublicKeyForId,
    expectedPeer: "bob@example", // the client reveals its id to no other server
  });
  const server = new SecureSession({
    id: "bob@example",
    privateKey: bob.privateKey,
    getPublicKeyForId,
  });
  const states: string[] = [];
  client.addEventListener("statechange", (e) => states.push(e.state));

  log("Secure Session (tessera/1, buffer API)");
  let start = performance.now();
  const hello = await client.connectRequest();
  const reply = await server.negotiate(hello);
  const finished = await client.negotiate(reply!);
  const last = await server.negotiate(finished!);
  log(`  handshake         ${ms(start)}, 1 round trip, ${last === null ? "complete" : "?"}`);
  log(
    `  messages          ClientHello ${hello.length} B, ServerHello ${
      reply!.length
    } B, ClientFinished ${finished!.length} B`,
  );
  log(`  client sees peer  ${decode(client.peerId!)}`);
  log(`  server sees peer  ${decode(server.peerId!)}`);
  log(
    `  session id        ${hex(client.sessionId)} (same on both sides: ${
      hex(client.sessionId) === hex(server.sessionId)
    })`,
  );

  start = performance.now();
  for (const message of ["hello, bob", "how are you?", "a third message"]) {
    const record = await client.wrap(text.encode(message));
    const got = await server.unwrap(record);
    log(
      `  client -> server  ${
        JSON.stringify(decode(got!))
      }: ${message.length} B plaintext, ${record.length} B record`,
    );
  }
  for (const message of ["hi alice", "fine, thanks"]) {
    const record = await server.wrap(text.encode(message));
    const got = await client.unwrap(record);
    log(
      `  server -> client  ${
        JSON.stringify(decode(got!))
      }: ${message.length} B plaintext, ${record.length} B record`,
    );
  }
  log(`  5 messages        ${ms(start)}`);

  const replayed = await client.wrap(text.encode("once only"));
  await server.unwrap(replayed);
  const refusal = await server.unwrap(replayed).catch((err) => err.code);
  log(`  replayed record   refused: ${refusal}`);

  client.rekey({ requestPeer: true });
  const afterRekey = await server.unwrap(await client.wrap(text.encode("under a new key")));
  log(`  rekey()           peer follows: ${JSON.stringify(decode(afterRekey!))}`);
  const binding = await client.exportKeyingMaterial("demo binding", "", 16);
  const same = hex(binding) === hex(await server.exportKeyingMaterial("demo binding", "", 16));
  log(`  exporter          ${hex(binding)} (same on both sides: ${same})`);

  const wrappingKey = crypto.getRandomValues(new Uint8Array(32));
  const saved = await client.save(wrappingKey); // hands the session over
  const restored = await SecureSession.restore(saved, wrappingKey);
  const fromRestored = await server.unwrap(await restored.wrap(text.encode("restored")));
  log(
    `  save/restore      ${saved.length} B sealed state, generation ${restored.generation}; ` +
      `peer reads ${JSON.stringify(decode(fromRestored!))}`,
  );

  const close = await restored.close();
  const closed = await server.unwrap(close!);
  log(
    `  close             ${
      close!.length
    } B authenticated close; server unwrap -> ${closed}, state ${server.state}`,
  );
  await client.close();
  log(`  client states     ${states.join(" -> ")}`);

  log("Secure Session (callback API, in-memory transport)");
  const [clientEnd, serverEnd] = memoryTransportPair();
  const c2 = new SecureSession({
    id: "alice@example",
    privateKey: alice.privateKey,
    getPublicKeyForId,
    transport: clientEnd,
  });
  const s2 = new SecureSession({
    id: "bob@example",
    privateKey: bob.privateKey,
    getPublicKeyForId,
    transport: serverEnd,
  });
  start = performance.now();
  await Promise.all([c2.connect(), s2.accept()]);
  log(`  connect/accept    ${ms(start)}`);
  await Promise.all([c2.send(text.encode("ping 1")), c2.send(text.encode("ping 2"))]);
  const got = [decode((await s2.receive())!), decode((await s2.receive())!)];
  await s2.send(text.encode("pong"));
  log(
    `  in order          server got ${JSON.stringify(got)}, client got ${
      JSON.stringify(decode((await c2.receive())!))
    }`,
  );
  await c2.close();
  log(`  close             server receive() -> ${await s2.receive()}, state ${s2.state}`);

  const mallory = await generateIdentityKeyPair();
  const [m1, m2] = memoryTransportPair();
  const stranger = new SecureSession({
    id: "mallory@example",
    privateKey: mallory.privateKey,
    getPublicKeyForId,
    transport: m1,
  });
  const guarded = new SecureSession({
    id: "bob@example",
    privateKey: bob.privateKey,
    getPublicKeyForId,
    transport: m2,
  });
  const [, refused] = await Promise.allSettled([stranger.connect(), guarded.accept()]);
  const learned = await stranger.receive().catch((err) => err.code);
  log(
    `  refused client    server: ${(refused as PromiseRejectedResult).reason.code}; ` +
      `client learns ${learned} at once`,
  );

  log("Resumption (tickets in Deno KV, client session cache)");
  lines.push(...await resumptionDemo(alice, bob, getPublicKeyForId));
  return lines;
}

/** A full handshake, a disconnect, and a resumed reconnect. */
async function resumptionDemo(
  alice: { privateKey: CryptoKey },
  bob: { privateKey: CryptoKey },
  getPublicKeyForId: ReturnType<typeof directoryLookup>,
): Promise<string[]> {
  const lines: string[] = [];
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvTicketStore(kv, { key: crypto.getRandomValues(new Uint8Array(32)) });
    const cache = new ClientSessionCache();
    const server = () =>
      new SecureSession({
        id: "bob@example",
        privateKey: bob.privateKey,
        getPublicKeyForId,
        resumption: { store, attributes: () => ({ role: "member", level: 2 }) },
      });
    const client = (resume = true) =>
      new SecureSession({
        id: "alice@example",
        privateKey: alice.privateKey,
        getPublicKeyForId,
        expectedPeer: "bob@example",
        resumption: { cache, endpoint: "127.0.0.1:4433", resume },
      });
    const connect = async (c: SecureSession, s: SecureSession): Promise<number> => {
      const start = performance.now();
      let message: Uint8Array | null = await c.connectRequest();
      while (message) {
        message = await s.negotiate(message);
        if (message) message = await c.negotiate(message);
      }
      return performance.now() - start;
    };
    // Full and resumed pairs, first untimed: the first runs of any code path in a process pay for
    // compiling it. Then the median of five of each, side by side.
    const pairs = async (n: number) => {
      const times = { full: [] as number[], resumed: [] as number[] };
      for (let i = 0; i < n; i++) {
        times.full.push(await connect(client(false), server()));
        times.resumed.push(await connect(client(), server()));
      }
      return times;
    };
    await pairs(10);
    const times = await pairs(5);
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
    const [c1, s1] = [client(false), server()];
    await connect(c1, s1);
    await s1.unwrap((await c1.close())!);
    lines.push(
      `  full handshake    ${
        median(times.full).toFixed(1)
      } ms (median of 5, signatures); client keeps a ticket`,
    );
    lines.push(
      `  resumed           ${
        median(times.resumed).toFixed(1)
      } ms (median of 5, no signatures, KV redeem)`,
    );
    const [c2, s2] = [client(), server()];
    await connect(c2, s2);
    lines.push(`  reconnect         resumed ${c2.resumed}`);
    lines.push(`  attributes        ${JSON.stringify(s2.attributes)} restored on the server`);
    const echoed = await s2.unwrap(await c2.wrap(text.encode("back again")));
    lines.push(`  data              ${JSON.stringify(decode(echoed!))}`);
  } finally {
    kv.close();
  }
  return lines;
}

if (import.meta.main) {
  const started = performance.now();
  for (const line of await secureSessionDemo()) console.log(line);
  console.log("Cookie sessions (Deno.serve on 127.0.0.1, client-side, AES-256-GCM)");
  for (const line of await cookieDemo()) console.log(`  ${line}`);
  console.log(`done in ${ms(started)}`);
}
