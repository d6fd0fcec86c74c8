// An outsider's attack on examples/deploy_app.ts: one instance on a temporary KV file, 127.0.0.1.

import assert from "node:assert/strict";
import { directoryLookup } from "../../mod.ts";
import { connectWebSocket } from "../../lib/transport/mod.ts";
import { clientConfig } from "../../examples/deploy_client.ts";
import type { SecureSession } from "../../mod.ts";

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

/** Makes session options for the demo client. */
async function clientOptions(keys: Record<string, string>) {
  const config = await clientConfig((name) => keys[name]);
  return {
    id: config.clientId,
    privateKey: config.clientKey,
    getPublicKeyForId: directoryLookup({ [config.serverId]: config.serverPublicKey }),
    expectedPeer: config.serverId,
    timeout: 15_000,
  };
}

/** Sends one command over a session and reads the JSON answer. */
async function ask(session: SecureSession, command: string): Promise<Record<string, unknown>> {
  await session.send(encoder.encode(command));
  return JSON.parse(decoder.decode((await session.receive())!));
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

// A cross-site POST that a browser marks `Sec-Fetch-Site: cross-site` but sends
// without an `Origin` header (privacy extensions, some proxies and older
// browsers strip it) passes the app's origin check, which looks at `Origin`
// only: a foreign page ends every session of the visitor.
Deno.test("cross-site revoke without Origin: Sec-Fetch-Site cross-site is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-csrf-" });
  const keys = await makeKeys();
  const app = await startInstance(dir, "a", serverEnv(keys));
  try {
    const cookie = await login(app.url, app.url, await clientOptions(keys));
    const response = await fetch(`${app.url}/sessions/revoke`, {
      method: "POST",
      headers: {
        cookie,
        "sec-fetch-site": "cross-site",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "all=1",
    });
    await response.body?.cancel();
    assert.equal(response.status, 403, "a cross-site request must not change state");
    const me = await fetch(`${app.url}/me`, { headers: { cookie } });
    await me.body?.cancel();
    assert.equal(me.status, 200, "the visitor's session survives a cross-site request");
  } finally {
    await app.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
