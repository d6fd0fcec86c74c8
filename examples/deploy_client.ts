/**
 * The client of `examples/deploy_app.ts`: it connects over a Secure Session
 * (a full handshake, which leaves it a ticket), connects again and resumes
 * with the ticket, gets a one-time login code over the session, logs in over
 * HTTP with it and reads its cookie session back. Given several URLs (the
 * instances of one app, or the same URL behind a load balancer), it uses them
 * in turn, so that each step may land on another instance.
 *
 * ```sh
 * . ./keys.sh   # from `deno run examples/deploy_app.ts --keys`
 * deno run --allow-net --allow-env examples/deploy_client.ts https://NAME.deno.dev
 * ```
 *
 * It reads `TESSERA_CLIENT_ID`, `TESSERA_CLIENT_KEY` (PEM), `TESSERA_SERVER_ID`
 * and `TESSERA_SERVER_PUBLIC_KEY` (base64url or PEM) from the environment.
 *
 * @module
 */

import { directoryLookup, type SecureSession } from "../mod.ts";
import { importPrivateKey, importPublicKey } from "../lib/crypto/mod.ts";
import { ClientSessionCache } from "../lib/resume/mod.ts";
import { connectWebSocket } from "../lib/transport/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Who the client is and which server it expects. */
export interface DeployClientConfig {
  readonly clientId: string;
  readonly clientKey: CryptoKey;
  readonly serverId: string;
  readonly serverPublicKey: CryptoKey;
}

/** What one run saw. */
export interface DeployClientResult {
  /** The instance of the full handshake. */
  readonly firstInstance: string;
  /** The instance of the second connection, and whether it resumed with the ticket. */
  readonly secondInstance: string;
  readonly resumed: boolean;
  /** Which instance issued the ticket it resumed with, as the server reports it. */
  readonly ticketIssuedBy: string | null;
  /** The instance that logged it in, and the user it logged in as. */
  readonly loginInstance: string;
  readonly user: string;
  /** The instance that read the session back, and how many sessions the user has. */
  readonly meInstance: string;
  readonly sessions: number;
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * Reads the client's configuration from variables.
 *
 * @param get Reads a variable.
 * @returns The configuration.
 * @throws {Error} Naming a variable that is missing or malformed.
 */
export async function clientConfig(
  get: (name: string) => string | undefined,
): Promise<DeployClientConfig> {
  const need = (name: string): string => {
    const value = get(name)?.trim();
    if (!value) throw new Error(`${name} is not set (see deploy_app.ts --keys)`);
    return value.replace(/\\n/g, "\n");
  };
  const serverKey = need("TESSERA_SERVER_PUBLIC_KEY");
  return {
    clientId: need("TESSERA_CLIENT_ID"),
    clientKey: await importPrivateKey(need("TESSERA_CLIENT_KEY")),
    serverId: get("TESSERA_SERVER_ID")?.trim() || "deploy-app",
    serverPublicKey: await importPublicKey(
      serverKey.includes("BEGIN") ? serverKey : fromBase64url(serverKey),
    ),
  };
}

/** A cookie jar for one origin family: name to value, as Set-Cookie left them. */
class Jar {
  #cookies = new Map<string, string>();

  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const at = pair.indexOf("=");
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === "") this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/**
 * Runs the whole tour against `urls`, in turn.
 *
 * @param urls The app's base URLs (`http(s)://host:port`), one or more.
 * @param config The client's identity and the server it expects.
 * @param log Receives one line per step.
 * @returns What it saw.
 */
export async function runDeployClient(
  urls: readonly string[],
  config: DeployClientConfig,
  log: (line: string) => void = console.log,
): Promise<DeployClientResult> {
  if (urls.length === 0) throw new TypeError("give at least one URL of the app");
  const at = (i: number): string => urls[i % urls.length]!.replace(/\/+$/, "");
  // Tickets are kept per endpoint: one name for the app, whichever instance answers.
  const cache = new ClientSessionCache();
  const options = {
    id: config.clientId,
    privateKey: config.clientKey,
    getPublicKeyForId: directoryLookup({ [config.serverId]: config.serverPublicKey }),
    expectedPeer: config.serverId,
    resumption: { cache, endpoint: config.serverId },
    timeout: 15_000,
  };
  const ask = async (session: SecureSession, command: string) => {
    await session.send(encoder.encode(command));
    const reply = await session.receive();
    if (reply === null) throw new Error(`the server closed the session after ${command}`);
    return JSON.parse(decoder.decode(reply));
  };

  const first = await connectWebSocket(`${at(0)}/ws`, options);
  const hello = await ask(first, "whoami");
  log(
    `${at(0)}: Secure Session with ${config.serverId} on instance ${hello.instance}, ` +
      `${first.resumed ? "resumed" : "full handshake"}`,
  );
  await first.close();

  const second = await connectWebSocket(`${at(1)}/ws`, options);
  const resumed = second.resumed;
  const again = await ask(second, "whoami");
  const { code } = await ask(second, "login-code");
  log(
    `${at(1)}: ${resumed ? "resumed" : "full handshake"} on instance ${again.instance}` +
      (again.ticketIssuedBy ? ` with a ticket issued by instance ${again.ticketIssuedBy}` : ""),
  );
  await second.close();

  const jar = new Jar();
  const login = await fetch(`${at(2)}/login`, {
    method: "POST",
    body: new URLSearchParams({ code }),
  });
  jar.keep(login);
  const loggedIn = await login.json();
  if (!login.ok) throw new Error(`login refused: ${JSON.stringify(loggedIn)}`);
  log(`${at(2)}: logged in as ${loggedIn.user} on instance ${loggedIn.instance}`);

  const meResponse = await fetch(`${at(3)}/me`, { headers: { cookie: jar.header() } });
  jar.keep(meResponse);
  const me = await meResponse.json();
  if (!meResponse.ok) throw new Error(`the session was not read back: ${JSON.stringify(me)}`);
  const listed = await fetch(`${at(4)}/sessions`, { headers: { cookie: jar.header() } });
  jar.keep(listed);
  const { sessions } = await listed.json();
  log(
    `${at(3)}: instance ${me.instance} reads the session of ${me.user}, ` +
      `${sessions.length} active session${sessions.length === 1 ? "" : "s"}`,
  );

  return {
    firstInstance: hello.instance,
    secondInstance: again.instance,
    resumed,
    ticketIssuedBy: again.ticketIssuedBy,
    loginInstance: loggedIn.instance,
    user: loggedIn.user,
    meInstance: me.instance,
    sessions: sessions.length,
  };
}

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error("usage: deploy_client.ts URL [URL...]   (the app's base URLs)");
    Deno.exit(2);
  }
  const config = await clientConfig((name) => Deno.env.get(name));
  const result = await runDeployClient(Deno.args, config);
  if (!result.resumed) console.log("(the second connection did not resume)");
}
