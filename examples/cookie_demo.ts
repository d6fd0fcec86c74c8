/**
 * A round trip of client-side cookie sessions against a local server: login,
 * a counter, an unchanged request, a tampered cookie and logout.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 examples/cookie_demo.ts
 * ```
 *
 * @module
 */

import { encrypt, sessions } from "../lib/cookie/mod.ts";

/**
 * Starts a server on 127.0.0.1 (ephemeral port), drives it with `fetch` and
 * stops it.
 *
 * @returns Short human-readable report lines.
 */
export async function cookieDemo(): Promise<string[]> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const withSession = sessions<{ user: string; count: number }>({
    transformer: encrypt({ key }),
  });
  const handler = withSession((req, _info: Deno.ServeHandlerInfo, session) => {
    const path = new URL(req.url).pathname;
    if (path === "/login") {
      session.regenerate();
      session.setUser("ann");
      session.set("user", "ann");
    } else if (path === "/count") {
      session.update("count", (n = 0) => n + 1);
    } else if (path === "/logout") {
      session.destroy();
    }
    const who = session.get("user") ?? "anonymous";
    return new Response(`${who} ${session.get("count") ?? 0} ${session.reason ?? "-"}`);
  });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const lines: string[] = [];
  const send = async (path: string, cookie?: string): Promise<[string, string[]]> => {
    const res = await fetch(base + path, { headers: cookie ? { cookie } : {} });
    return [await res.text(), res.headers.getSetCookie()];
  };
  const pair = (setCookie: string): string => setCookie.split(";")[0]!;
  try {
    const [, [login]] = await send("/login");
    let cookie = pair(login!);
    const [name, value] = cookie.split("=") as [string, string];
    const attributes = login!.split("; ").slice(2);
    lines.push(
      `login: Set-Cookie ${name} (${value.length} characters sealed with AES-256-GCM; ${
        attributes.join(", ")
      })`,
    );
    const counts = [];
    for (let i = 0; i < 3; i++) {
      const [body, set] = await send("/count", cookie);
      counts.push(body.split(" ")[1]);
      cookie = set.length > 0 ? pair(set[0]!) : cookie;
    }
    lines.push(`counter: ${counts.join(", ")} (the cookie is re-sealed on each change)`);
    const [body, unchanged] = await send("/", cookie);
    lines.push(`unchanged request: "${body}", ${unchanged.length} Set-Cookie headers`);
    const at = cookie.length - 12;
    const forged = cookie.slice(0, at) + (cookie[at] === "A" ? "B" : "A") + cookie.slice(at + 1);
    const [tampered] = await send("/", forged);
    lines.push(`tampered cookie: "${tampered}" (an empty session and a reason, never an error)`);
    const [, logout] = await send("/logout", cookie);
    const deleted = logout.some((c) => c.startsWith(`${name}=;`) && c.includes("Max-Age=0"));
    lines.push(`logout: ${deleted ? "cookie deleted with Max-Age=0" : "cookie NOT deleted"}`);
  } finally {
    await server.shutdown();
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await cookieDemo()) console.log(line);
}
