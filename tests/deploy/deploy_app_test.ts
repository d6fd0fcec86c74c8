// examples/deploy_app.ts as Deno Deploy runs it: several instances of one app, separate
// processes sharing one KV database (a file in a temporary directory here), each on its own
// 127.0.0.1 port. Keys come from the app's own --keys mode, as a deployment's would.

import assert from "node:assert/strict";
import { directoryLookup, type SecureSession } from "../../mod.ts";
import type { ClientTicket, ClientTicketCache } from "../../lib/session/resumption.ts";
import { ClientSessionCache } from "../../lib/resume/mod.ts";
import { connectWebSocket } from "../../lib/transport/mod.ts";
import { clientConfig, runDeployClient } from "../../examples/deploy_client.ts";

const root = new URL("../../", import.meta.url);
const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** How long an instance may take to start on a busy machine. */
const START_TIMEOUT = 30_000;

/** Runs `deploy_app.ts --keys` and reads its `export NAME='value'` lines. */
async function makeKeys(): Promise<Record<string, string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "examples/deploy_app.ts", "--keys"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(START_TIMEOUT),
  }).output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  const keys: Record<string, string> = {};
  for (const m of decoder.decode(out.stdout).matchAll(/^export ([A-Z_]+)='([^']*)'$/gm)) {
    keys[m[1]!] = m[2]!;
  }
  return keys;
}

/** The server's part of the keys (the client's private key stays out). */
function serverEnv(keys: Record<string, string>): Record<string, string> {
  const { TESSERA_TICKET_KEY, TESSERA_COOKIE_KEY, TESSERA_SERVER_ID, TESSERA_SERVER_KEY } = keys;
  return {
    TESSERA_TICKET_KEY: TESSERA_TICKET_KEY!,
    TESSERA_COOKIE_KEY: TESSERA_COOKIE_KEY!,
    TESSERA_SERVER_ID: TESSERA_SERVER_ID!,
    TESSERA_SERVER_KEY: TESSERA_SERVER_KEY!,
    TESSERA_CLIENTS: keys.TESSERA_CLIENTS!,
  };
}

/** What a child process needs from this one's environment, and nothing of tessera's. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR", "TMPDIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** One running instance. */
interface Instance {
  readonly name: string;
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

function spawnApp(dir: string, env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--unstable-kv",
      "examples/deploy_app.ts",
    ],
    cwd: root,
    clearEnv: true,
    env: { ...baseEnv(), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Collects a stream's text as it comes; resolves when it ends. */
function collect(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
): Promise<void> {
  return (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) onText(chunk);
  })();
}

/** Starts an instance and waits until it listens. */
async function startInstance(
  dir: string,
  name: string,
  env: Record<string, string>,
): Promise<Instance> {
  const child = spawnApp(dir, {
    ...env,
    TESSERA_INSTANCE: name,
    DENO_KV_PATH: `${dir}/kv.sqlite3`,
    PORT: "0",
    TESSERA_HOSTNAME: "127.0.0.1",
  });
  let output = "";
  const listening = Promise.withResolvers<string>();
  const onText = (text: string) => {
    output += text;
    const m = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
    if (m) listening.resolve(m[1]!);
  };
  const streams = Promise.all([collect(child.stdout, onText), collect(child.stderr, onText)]);
  const status = child.status;
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await status;
    await streams;
  };
  const timer = setTimeout(
    () => listening.reject(new Error(`instance ${name} did not start: ${output}`)),
    START_TIMEOUT,
  );
  status.then(() => listening.reject(new Error(`instance ${name} exited: ${output}`)));
  try {
    const url = await listening.promise;
    return { name, url, output: () => output, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs an instance that must refuse to start; returns its exit code and what it said. */
async function refusedStart(
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const child = spawnApp(dir, { ...env, DENO_KV_PATH: `${dir}/kv.sqlite3`, PORT: "0" });
  let stderr = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT);
  const [{ code }] = await Promise.all([
    child.status,
    collect(child.stdout, () => {}),
    collect(child.stderr, (text) => stderr += text),
  ]);
  clearTimeout(timer);
  return { code, stderr };
}

/** Makes session options for the demo client, with `cache` holding its tickets. */
async function clientOptions(keys: Record<string, string>, cache: ClientTicketCache) {
  const config = await clientConfig((name) => keys[name]);
  return {
    id: config.clientId,
    privateKey: config.clientKey,
    getPublicKeyForId: directoryLookup({ [config.serverId]: config.serverPublicKey }),
    expectedPeer: config.serverId,
    resumption: { cache, endpoint: config.serverId },
    timeout: 15_000,
  };
}

/** Sends one command over a session and reads the JSON answer. */
async function ask(session: SecureSession, command: string): Promise<Record<string, unknown>> {
  await session.send(encoder.encode(command));
  return JSON.parse(decoder.decode((await session.receive())!));
}

/** Connects, asks whoami, closes; returns the answer and whether the handshake resumed. */
async function whoami(
  url: string,
  options: Awaited<ReturnType<typeof clientOptions>>,
): Promise<{ resumed: boolean; instance: unknown; ticketIssuedBy: unknown }> {
  const session = await connectWebSocket(`${url}/ws`, options);
  const resumed = session.resumed;
  try {
    const { instance, ticketIssuedBy } = await ask(session, "whoami");
    return { resumed, instance, ticketIssuedBy };
  } finally {
    await session.close();
  }
}

/** Gets a login code over a session with `url` and logs in with it at `loginUrl`. */
async function login(
  url: string,
  loginUrl: string,
  options: Awaited<ReturnType<typeof clientOptions>>,
): Promise<string> {
  const session = await connectWebSocket(`${url}/ws`, options);
  const { code } = await ask(session, "login-code");
  await session.close();
  const response = await fetch(`${loginUrl}/login`, {
    method: "POST",
    body: new URLSearchParams({ code: String(code) }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  const cookie = response.headers.getSetCookie().map((c) => c.split(";")[0]!).join("; ");
  assert.ok(cookie.length > 0, "the login sets a cookie");
  return cookie;
}

/** What the app's HTTP routes answer, the fields these tests read. */
interface Answer {
  user?: string;
  instance?: string;
  loginInstance?: string;
  reason?: string | null;
  sessions: { id: string; current: boolean }[];
}

async function getJson(url: string, cookie: string): Promise<{ status: number; body: Answer }> {
  const response = await fetch(url, { headers: { cookie } });
  return { status: response.status, body: await response.json() };
}

/** A cache that hands out one ticket to every taker, as a copied ticket would be. */
function sameTicketTo(ticket: ClientTicket): ClientTicketCache {
  return { take: () => ticket, add: () => {} };
}

Deno.test("the Deploy example, three instances on one KV: tickets, cookie sessions and keys", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-deploy-" });
  const keys = await makeKeys();
  const env = serverEnv(keys);
  const instances: Instance[] = [];
  try {
    instances.push(
      ...await Promise.all(["a", "b", "c"].map((name) => startInstance(dir, name, env))),
    );
    const [a, b, c] = instances as [Instance, Instance, Instance];

    await t.step("a ticket issued by one instance resumes on another", async () => {
      const options = await clientOptions(keys, new ClientSessionCache());
      assert.deepEqual(await whoami(a.url, options), {
        resumed: false,
        instance: "a",
        ticketIssuedBy: null,
      });
      assert.deepEqual(await whoami(b.url, options), {
        resumed: true,
        instance: "b",
        ticketIssuedBy: "a",
      });
      // The successor ticket that b issued resumes on c.
      assert.deepEqual(await whoami(c.url, options), {
        resumed: true,
        instance: "c",
        ticketIssuedBy: "a",
      });
    });

    await t.step(
      "a cookie session made on one instance is read and revoked on another",
      async () => {
        const options = await clientOptions(keys, new ClientSessionCache());
        const cookie = await login(a.url, a.url, options);
        const me = await getJson(`${b.url}/me`, cookie);
        assert.equal(me.status, 200);
        assert.equal(me.body.user, "demo-client");
        assert.equal(me.body.instance, "b");
        assert.equal(me.body.loginInstance, "a");
        const listed = await getJson(`${c.url}/sessions`, cookie);
        assert.equal(listed.status, 200);
        const mine = listed.body.sessions.filter((s) => s.current);
        assert.equal(mine.length, 1);
        // A second login (another device) is listed too, and revoked from the first one on b.
        const other = await login(c.url, c.url, options);
        const both = await getJson(`${a.url}/sessions`, other);
        assert.equal(both.body.sessions.length, 2);
        const revoke = await fetch(`${b.url}/sessions/revoke`, {
          method: "POST",
          headers: { cookie },
          body: new URLSearchParams({ id: mine[0]!.id }),
        });
        assert.deepEqual(await revoke.json(), { revoked: 1, instance: "b" });
        const gone = await getJson(`${a.url}/me`, cookie);
        assert.equal(gone.status, 401);
        assert.equal(gone.body.reason, "cookie_revoked");
        assert.equal((await getJson(`${c.url}/me`, other)).status, 200);
        // Logging out everywhere, on c, ends the other device's session on a.
        const all = await fetch(`${c.url}/sessions/revoke`, {
          method: "POST",
          headers: { cookie: other },
          body: new URLSearchParams({ all: "1" }),
        });
        assert.equal((await all.json()).revoked, 1);
        assert.equal((await getJson(`${a.url}/me`, other)).status, 401);
      },
    );

    await t.step("a login code is redeemed once, whichever instances race for it", async () => {
      const options = await clientOptions(keys, new ClientSessionCache());
      const session = await connectWebSocket(`${a.url}/ws`, options);
      const { code } = await ask(session, "login-code");
      await session.close();
      const attempts = await Promise.all([a, b, c].map(async (instance) => {
        const response = await fetch(`${instance.url}/login`, {
          method: "POST",
          body: new URLSearchParams({ code: String(code) }),
        });
        await response.body?.cancel();
        return response.status;
      }));
      assert.deepEqual(attempts.sort(), [200, 403, 403]);
    });

    await t.step("one ticket presented at two instances at once resumes once", async () => {
      // Catch the ticket a full handshake leaves, then present it twice at once.
      const kept: ClientTicket[] = [];
      const recorder: ClientTicketCache = {
        take: () => null,
        add: (_namespace, tickets) => void kept.push(...tickets),
      };
      const first = await whoami(a.url, await clientOptions(keys, recorder));
      assert.equal(first.resumed, false);
      assert.equal(kept.length, 1);
      const copy = await clientOptions(keys, sameTicketTo(kept[0]!));
      const outcomes = await Promise.all([whoami(b.url, copy), whoami(c.url, copy)]);
      assert.deepEqual(outcomes.map((o) => o.resumed).sort(), [false, true]);
      // The one that lost fell back to a full handshake: the client still got in.
      assert.ok(outcomes.every((o) => o.instance === "b" || o.instance === "c"));
    });

    await t.step(
      "an instance missing a key, or given a malformed one, refuses to start",
      async () => {
        const { TESSERA_TICKET_KEY: _ticket, ...missing } = env;
        const refused = await refusedStart(dir, missing);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /refusing to start: TESSERA_TICKET_KEY is not set/);
        const short = await refusedStart(dir, { ...env, TESSERA_COOKIE_KEY: "c2hvcnQ" });
        assert.equal(short.code, 1);
        assert.match(
          short.stderr,
          /TESSERA_COOKIE_KEY is not a 32-byte key in base64url \(5 bytes/,
        );
        const badPem = await refusedStart(dir, { ...env, TESSERA_SERVER_KEY: "not a key" });
        assert.equal(badPem.code, 1);
        assert.match(badPem.stderr, /TESSERA_SERVER_KEY is not a P-256 private key in PEM/);
      },
    );

    await t.step(
      "an instance with other keys refuses the others' tickets and cookies, and keeps serving",
      async () => {
        const other = await makeKeys();
        const stranger = await startInstance(dir, "d", {
          ...env,
          TESSERA_TICKET_KEY: other.TESSERA_TICKET_KEY!,
          TESSERA_COOKIE_KEY: other.TESSERA_COOKIE_KEY!,
        });
        try {
          const cache = new ClientSessionCache();
          const options = await clientOptions(keys, cache);
          const cookie = await login(a.url, a.url, options); // leaves a ticket from a in the cache
          const session = await connectWebSocket(`${stranger.url}/ws`, options);
          assert.equal(session.resumed, false, "a ticket sealed under another key never resumes");
          assert.deepEqual(await ask(session, "whoami"), {
            instance: "d",
            peer: "demo-client",
            resumed: false,
            ticketIssuedBy: null,
          });
          await session.close();
          const me = await getJson(`${stranger.url}/me`, cookie);
          assert.equal(me.status, 401, "a cookie sealed under another key is refused");
          assert.equal(me.body.reason, "cookie_tampered");
          const health = await fetch(`${stranger.url}/healthz`);
          assert.deepEqual(await health.json(), { ok: true, instance: "d" });
          // The cookie is still good where the key is right.
          assert.equal((await getJson(`${b.url}/me`, cookie)).status, 200);
          assert.doesNotMatch(stranger.output(), /error/i);
        } finally {
          await stranger.stop();
        }
      },
    );

    await t.step(
      "the client script connects, resumes and logs in across the instances",
      async () => {
        const lines: string[] = [];
        const result = await runDeployClient(
          [a.url, b.url, c.url],
          await clientConfig((name) => keys[name]),
          (line) => lines.push(line),
        );
        assert.deepEqual(result, {
          firstInstance: "a",
          secondInstance: "b",
          resumed: true,
          ticketIssuedBy: "a",
          loginInstance: "c",
          user: "demo-client",
          meInstance: "a",
          sessions: result.sessions,
        });
        assert.ok(result.sessions >= 1, "the new session is among the user's active sessions");
        assert.equal(lines.length, 4);
      },
    );

    for (const instance of instances) assert.doesNotMatch(instance.output(), /error/i);
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
    await Deno.remove(dir, { recursive: true });
  }
});
