/**
 * One app for Deno Deploy that uses all three parts of tessera, made to run
 * as several instances at once on one Deno KV database:
 *
 * - `GET /ws`: a WebSocket upgraded to a Secure Session (`secureWebSocketHandler`).
 *   Clients are the ids in `TESSERA_CLIENTS`; the server is `TESSERA_SERVER_ID`.
 *   Each full handshake issues a resumption ticket kept in KV (`KvTicketStore`),
 *   so a client resumes on any instance, and a ticket is redeemed at most once
 *   across all of them. Commands, one per message: `whoami` and `login-code`
 *   (a one-time code, valid 60 s, that logs this client in over HTTP).
 * - `POST /login` (`code=...`): redeems a login code for a cookie session stored
 *   in KV (`sessions()` with `KvSessionStorage`), read by every instance.
 * - `GET /me`, `GET /sessions` (the caller's active sessions), `POST /sessions/revoke`
 *   (`id=...` for one, `all=1` for every one) and `POST /logout`.
 *
 * **Configuration** comes from environment variables, never from per-process
 * randomness: every instance must hold the same keys. A missing or malformed
 * value stops the instance at startup with a message naming it; an instance
 * given other keys than the rest refuses their tickets (the client falls back
 * to a full handshake) and their cookies (the visitor is logged out), and
 * never accepts them nor crashes.
 *
 * | Variable | What |
 * | --- | --- |
 * | `TESSERA_TICKET_KEY` | 32 bytes, base64url: seals tickets at rest in KV |
 * | `TESSERA_COOKIE_KEY` | 32 bytes, base64url, another one: seals cookies |
 * | `TESSERA_SERVER_KEY` | the server's ECDSA P-256 private key, PEM (`\n` escapes allowed) |
 * | `TESSERA_SERVER_ID` | the server's id (default `deploy-app`) |
 * | `TESSERA_CLIENTS` | JSON `{ "id": "public key" }`, keys as PEM or base64url SEC1 points |
 * | `TESSERA_INSTANCE` | a label for this instance in answers (default: random) |
 * | `DENO_KV_PATH` | a KV file for local runs; unset on Deploy (`Deno.openKv()`) |
 * | `PORT`, `TESSERA_HOSTNAME` | where to listen locally; unset on Deploy |
 *
 * Make a set of keys (printed, never written to a file):
 *
 * ```sh
 * deno run examples/deploy_app.ts --keys > keys.sh          # export lines for a shell
 * deno run examples/deploy_app.ts --keys=dotenv > .env      # a dotenv file, PEM on one line
 * ```
 *
 * The output also holds a demo client's private key for
 * `examples/deploy_client.ts`: keep that one off the server.
 *
 * **Run it locally**, three instances on one KV file:
 *
 * ```sh
 * . ./keys.sh
 * for port in 8001 8002 8003; do
 *   PORT=$port DENO_KV_PATH=/tmp/tessera-kv.sqlite3 deno run --allow-net --allow-env \
 *     --allow-read=/tmp --allow-write=/tmp --unstable-kv examples/deploy_app.ts &
 * done
 * deno run --allow-net --allow-env examples/deploy_client.ts \
 *   http://localhost:8001 http://localhost:8002 http://localhost:8003
 * ```
 *
 * **Deploy it** from the repository root, with the variables as secrets of the
 * app (Deno Deploy: the app's settings, Environment Variables; or
 * `deployctl deploy --project=NAME --entrypoint=examples/deploy_app.ts --env-file=.env`
 * on Deploy Classic, after `--keys=dotenv > .env`). Deploy opens its own KV
 * for `Deno.openKv()` and runs `Deno.serve` where it wants; the app writes no
 * files and opens no listener but `Deno.serve`. Then point the client at it:
 * `deno run --allow-net --allow-env examples/deploy_client.ts https://NAME.deno.dev`.
 *
 * @module
 */

import { directoryLookup, TesseraError } from "../mod.ts";
import type { SecureSession } from "../mod.ts";
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateIdentityKeyPair,
  importPrivateKey,
  importPublicKey,
} from "../lib/crypto/mod.ts";
import { CookieError } from "../lib/errors.ts";
import { encrypt, KvSessionStorage, type Session, sessions } from "../lib/cookie/mod.ts";
import { KvTicketStore } from "../lib/resume/mod.ts";
import { secureWebSocketHandler } from "../lib/transport/mod.ts";

/** The KV key prefix of everything the app stores. */
const PREFIX = ["deploy-app"] as const;
/** How long a login code may be redeemed. */
const LOGIN_CODE_TTL = 60_000;
/** The largest form body read. */
const MAX_FORM_BYTES = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the app runs with, read and checked by {@linkcode loadConfig}. */
export interface DeployConfig {
  /** The server's id, which clients expect. */
  readonly serverId: string;
  /** The server's identity key (ECDSA P-256, non-extractable). */
  readonly serverKey: CryptoKey;
  /** Seals tickets at rest in KV. */
  readonly ticketKey: Uint8Array;
  /** Seals cookies (and MACs the session token). */
  readonly cookieKey: Uint8Array;
  /** The clients: id to public key. */
  readonly clients: ReadonlyMap<string, CryptoKey>;
  /** A KV file for local runs, or `undefined` for `Deno.openKv()`'s own. */
  readonly kvPath: string | undefined;
  /** This instance's label. */
  readonly instance: string;
}

/** A configuration that is missing or malformed: the instance must not start. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const KEYS_HINT = "make a set with `deno run examples/deploy_app.ts --keys`";

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** A 32-byte key from a variable; a missing or malformed one is a {@linkcode ConfigError}. */
function secretKey(get: (name: string) => string | undefined, name: string): Uint8Array {
  const text = get(name)?.trim();
  if (!text) {
    throw new ConfigError(
      `${name} is not set: every instance needs the same 32-byte key, base64url (${KEYS_HINT})`,
    );
  }
  const bytes = fromBase64url(text);
  if (bytes === null || bytes.length !== 32) {
    throw new ConfigError(
      `${name} is not a 32-byte key in base64url (${
        bytes === null ? "not base64url" : `${bytes.length} bytes`
      }; ${KEYS_HINT})`,
    );
  }
  return bytes;
}

/** A PEM value, with the `\n` escapes a one-line variable may carry turned into newlines. */
function pem(text: string): string {
  return text.includes("\\n") ? text.replace(/\\n/g, "\n") : text;
}

/**
 * Reads and checks the configuration. Nothing is made up: every key comes from
 * a variable, so that all instances agree.
 *
 * @param get Reads a variable (`(name) => Deno.env.get(name)`).
 * @returns The configuration.
 * @throws {ConfigError} Naming the first variable that is missing or malformed.
 */
export async function loadConfig(get: (name: string) => string | undefined): Promise<DeployConfig> {
  const ticketKey = secretKey(get, "TESSERA_TICKET_KEY");
  const cookieKey = secretKey(get, "TESSERA_COOKIE_KEY");
  if (ticketKey.every((b, i) => b === cookieKey[i])) {
    throw new ConfigError("TESSERA_COOKIE_KEY must differ from TESSERA_TICKET_KEY");
  }
  const serverId = get("TESSERA_SERVER_ID")?.trim() || "deploy-app";
  // deno-lint-ignore no-control-regex
  if (serverId.length > 64 || /[\x00-\x1f\x7f]/.test(serverId)) {
    throw new ConfigError("TESSERA_SERVER_ID must be 1 to 64 printable characters");
  }
  const serverPem = get("TESSERA_SERVER_KEY")?.trim();
  if (!serverPem) {
    throw new ConfigError(
      `TESSERA_SERVER_KEY is not set: the server's P-256 private key, PEM (${KEYS_HINT})`,
    );
  }
  let serverKey: CryptoKey;
  try {
    serverKey = await importPrivateKey(pem(serverPem));
  } catch (err) {
    throw new ConfigError(
      `TESSERA_SERVER_KEY is not a P-256 private key in PEM: ${(err as Error).message}`,
    );
  }
  const clientsText = get("TESSERA_CLIENTS")?.trim();
  if (!clientsText) {
    throw new ConfigError(
      `TESSERA_CLIENTS is not set: JSON { "id": "public key" } of the clients (${KEYS_HINT})`,
    );
  }
  let listed: unknown;
  try {
    listed = JSON.parse(clientsText);
  } catch {
    throw new ConfigError('TESSERA_CLIENTS is not JSON: expected { "id": "public key" }');
  }
  if (typeof listed !== "object" || listed === null || Array.isArray(listed)) {
    throw new ConfigError('TESSERA_CLIENTS must be a JSON object { "id": "public key" }');
  }
  const clients = new Map<string, CryptoKey>();
  for (const [id, value] of Object.entries(listed)) {
    if (typeof value !== "string" || id.length === 0 || id.length > 64) {
      throw new ConfigError(`TESSERA_CLIENTS: the entry "${id.slice(0, 64)}" is not id: key`);
    }
    const bytes = value.includes("BEGIN") ? null : fromBase64url(value.trim());
    try {
      clients.set(id, await importPublicKey(bytes ?? pem(value)));
    } catch (err) {
      throw new ConfigError(
        `TESSERA_CLIENTS: the key of "${id}" is not a P-256 public key: ${(err as Error).message}`,
      );
    }
  }
  if (clients.size === 0) throw new ConfigError("TESSERA_CLIENTS lists no client");
  const instance = get("TESSERA_INSTANCE")?.trim() ||
    base64url(crypto.getRandomValues(new Uint8Array(4))); // a label, not a key
  return {
    serverId,
    serverKey,
    ticketKey,
    cookieKey,
    clients,
    kvPath: get("DENO_KV_PATH")?.trim() || undefined,
    instance,
  };
}

/** What the app keeps in a cookie session. */
interface AppData {
  /** The instance that logged the session in. */
  loginInstance: string;
  /** When, in ms since the epoch. */
  loginAt: number;
}

const STATUS: Record<string, number> = {
  session_conflict: 409,
  cookie_too_large: 413,
  session_storage_failed: 503,
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Reads a small form body (`a=1&b=2`), at most {@linkcode MAX_FORM_BYTES}. */
async function readForm(request: Request): Promise<URLSearchParams | null> {
  if (!request.body) return new URLSearchParams();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_FORM_BYTES) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return new URLSearchParams(decoder.decode(body));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs a KV call again, a few times with jittered backoff, when the database is
 * momentarily locked (several processes on one local file); Deploy's KV does
 * not report that, but local instances on one file do.
 */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 6 || !/database is locked|busy/i.test(String(err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** attempt));
    }
  }
}

/** Stores a one-time login code for `user` (by its hash only) and returns it. */
async function issueLoginCode(kv: Deno.Kv, user: string): Promise<string> {
  const code = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const record = encoder.encode(JSON.stringify({ user, expiresAt: Date.now() + LOGIN_CODE_TTL }));
  const key = [...PREFIX, "login-code", await sha256Hex(code)];
  await retrying(() => kv.set(key, record, { expireIn: LOGIN_CODE_TTL }));
  return code;
}

/** Redeems a login code once, on any instance: the user it was issued to, or `null`. */
async function redeemLoginCode(kv: Deno.Kv, code: string): Promise<string | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(code)) return null;
  const key = [...PREFIX, "login-code", await sha256Hex(code)];
  const entry = await retrying(() => kv.get<Uint8Array>(key));
  if (entry.versionstamp === null || !(entry.value instanceof Uint8Array)) return null;
  const { user, expiresAt } = JSON.parse(decoder.decode(entry.value));
  if (typeof user !== "string" || !(expiresAt > Date.now())) return null;
  // Only one redemption commits: the record is deleted if it is still the one read. A commit
  // that reported a lock is tried again; if it had landed, the check fails the retry.
  const committed = await retrying(() => kv.atomic().check(entry).delete(key).commit());
  return committed.ok ? user : null;
}

/**
 * Builds the app's request handler over an open KV database.
 *
 * @param config The checked configuration.
 * @param kv The database every instance shares.
 * @returns The handler for `Deno.serve`.
 */
export function createApp(
  config: DeployConfig,
  kv: Deno.Kv,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const { instance } = config;

  // 1. Secure Sessions over WebSocket, with tickets that any instance redeems once.
  const tickets = new KvTicketStore(kv, { key: config.ticketKey, prefix: [...PREFIX, "tickets"] });
  const onSession = async (session: SecureSession): Promise<void> => {
    const peer = decoder.decode(session.peerId!);
    for (let m = await session.receive(); m !== null; m = await session.receive()) {
      const command = decoder.decode(m);
      let reply: unknown;
      if (command === "whoami") {
        reply = {
          instance,
          peer,
          resumed: session.resumed,
          ticketIssuedBy: session.attributes?.issuedBy ?? null,
        };
      } else if (command === "login-code") {
        reply = { code: await issueLoginCode(kv, peer), expiresIn: LOGIN_CODE_TTL / 1000 };
      } else {
        reply = { error: "unknown command: whoami or login-code" };
      }
      await session.send(encoder.encode(JSON.stringify(reply)));
    }
  };
  const secureSockets = secureWebSocketHandler({
    id: config.serverId,
    privateKey: config.serverKey,
    getPublicKeyForId: directoryLookup(config.clients),
    resumption: { store: tickets, attributes: () => ({ issuedBy: instance }) },
    maxRecordSize: 16 * 1024,
    handshakeTimeout: 10_000,
    maxConcurrentHandshakes: 64,
    onError(error) {
      // Typed errors are the peer's doing (a stranger, garbage, a cut connection).
      if (!(error instanceof TesseraError)) console.error(error);
    },
  }, onSession);

  // 2. Cookie sessions in KV; the cookie is sealed under the shared key.
  const storage = new KvSessionStorage(kv, { prefix: [...PREFIX, "sessions"] });
  const auth = sessions<AppData>({ storage, transformer: encrypt({ key: config.cookieKey }) });

  const notLoggedIn = (session: Session<AppData>): Response =>
    json({ error: "not logged in", reason: session.reason, instance }, 401);

  const web = auth(async (request: Request, _info: Deno.ServeHandlerInfo, session) => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    if (request.method === "POST") {
      // Cookies are SameSite=Lax already; refuse any foreign origin as well, and a request the
      // browser marks cross-site even when it sent no Origin (Fetch Metadata).
      const origin = request.headers.get("origin");
      if (origin !== null && origin !== url.origin) return json({ error: "forbidden" }, 403);
      const site = request.headers.get("sec-fetch-site");
      if (site === "cross-site" || site === "same-site") return json({ error: "forbidden" }, 403);
    }
    const user = session.userId;
    switch (route) {
      case "POST /login": {
        const form = await readForm(request);
        if (form === null) return json({ error: "body too large" }, 413);
        const loggedIn = await redeemLoginCode(kv, form.get("code") ?? "");
        if (loggedIn === null) return json({ error: "unknown or used login code", instance }, 403);
        session.setUser(loggedIn); // stored under a new token: a planted one is worthless
        session.set("loginInstance", instance);
        session.set("loginAt", Date.now());
        return json({ user: loggedIn, instance });
      }
      case "GET /me":
        if (user === null) return notLoggedIn(session);
        return json({
          user,
          instance,
          session: session.id,
          loginInstance: session.get("loginInstance") ?? null,
        });
      case "GET /sessions": {
        if (user === null) return notLoggedIn(session);
        const list = await auth.listSessions(user);
        return json({
          instance,
          sessions: list.map((s) => ({ ...s, current: s.id === session.id })),
        });
      }
      case "POST /sessions/revoke": {
        if (user === null) return notLoggedIn(session);
        const form = await readForm(request);
        if (form === null) return json({ error: "body too large" }, 413);
        if (form.get("all") === "1") {
          const count = (await auth.listSessions(user)).length;
          await auth.revokeUser(user);
          session.destroy();
          return json({ revoked: count, instance });
        }
        const id = form.get("id") ?? "";
        if (!(await auth.listSessions(user)).some((s) => s.id === id)) {
          return json({ error: "no such session of yours", instance }, 404);
        }
        if (id === session.id) session.destroy();
        else await storage.delete(id);
        return json({ revoked: 1, instance });
      }
      case "POST /logout":
        session.destroy();
        return json({ loggedOut: true, instance });
      case "GET /":
        return new Response(
          `tessera on Deno Deploy (instance ${instance})\n\n` +
            "GET  /ws                WebSocket: a Secure Session (whoami, login-code)\n" +
            "POST /login             code=<login code>\n" +
            "GET  /me                who the cookie session belongs to\n" +
            "GET  /sessions          the caller's active sessions\n" +
            "POST /sessions/revoke   id=<session id> or all=1\n" +
            "POST /logout\n",
          { headers: { "content-type": "text/plain; charset=utf-8" } },
        );
      default:
        return json({ error: "not found" }, 404);
    }
  });

  return async (request, info) => {
    const path = new URL(request.url).pathname;
    if (path === "/ws") return secureSockets(request);
    if (path === "/healthz") return json({ ok: true, instance });
    try {
      return await web(request, info);
    } catch (err) {
      if (!(err instanceof CookieError)) throw err;
      const status = STATUS[err.code] ?? 500;
      return json({ error: err.code, instance }, status);
    }
  };
}

/**
 * Makes a fresh set of keys, as lines to paste: `export NAME='value'` for a
 * shell, or `NAME="value"` (PEM on one line, `\n` escaped) for a dotenv file.
 *
 * @param format `"shell"` or `"dotenv"`.
 * @param serverId The server's id.
 * @returns The lines.
 */
export async function makeKeys(
  format: "shell" | "dotenv",
  serverId = "deploy-app",
): Promise<string> {
  const server = await generateIdentityKeyPair({ extractable: true });
  const client = await generateIdentityKeyPair({ extractable: true });
  const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
  const point = async (key: CryptoKey) => base64url(await exportPublicKey(key, "compressed"));
  // Values hold no single quote; in dotenv only a double-quoted value expands `\n`.
  const line = (name: string, value: string) =>
    format === "shell"
      ? `export ${name}='${value}'`
      : value.includes("\n")
      ? `${name}="${value.replace(/\n/g, "\\n")}"`
      : `${name}='${value}'`;
  return [
    `# tessera deploy_app: keys made ${new Date().toISOString()}. Keep them secret.`,
    "# For every instance of the server:",
    line("TESSERA_TICKET_KEY", random()),
    line("TESSERA_COOKIE_KEY", random()),
    line("TESSERA_SERVER_ID", serverId),
    line("TESSERA_SERVER_KEY", await exportPrivateKeyPem(server.privateKey)),
    line("TESSERA_CLIENTS", JSON.stringify({ "demo-client": await point(client.publicKey) })),
    "# For examples/deploy_client.ts only (never on the server):",
    line("TESSERA_SERVER_PUBLIC_KEY", await point(server.publicKey)),
    line("TESSERA_CLIENT_ID", "demo-client"),
    line("TESSERA_CLIENT_KEY", await exportPrivateKeyPem(client.privateKey)),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const flag = Deno.args[0];
  if (flag === "--keys" || flag === "--keys=shell" || flag === "--keys=dotenv") {
    console.log(await makeKeys(flag === "--keys=dotenv" ? "dotenv" : "shell"));
  } else if (flag !== undefined) {
    console.error("usage: deploy_app.ts [--keys | --keys=dotenv]");
    Deno.exit(2);
  } else {
    let config: DeployConfig;
    try {
      config = await loadConfig((name) => Deno.env.get(name));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`deploy_app: refusing to start: ${err.message}`);
      Deno.exit(1);
    }
    const kv = config.kvPath === undefined ? await Deno.openKv() : await Deno.openKv(config.kvPath);
    const port = Deno.env.get("PORT");
    const hostname = Deno.env.get("TESSERA_HOSTNAME");
    Deno.serve({
      ...(port === undefined ? {} : { port: Number(port) }),
      ...(hostname === undefined ? {} : { hostname }),
      onListen({ hostname, port }) {
        console.log(`listening on http://${hostname}:${port}/ as instance ${config.instance}`);
      },
    }, createApp(config, kv));
  }
}
