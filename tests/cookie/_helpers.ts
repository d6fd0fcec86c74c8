// Shared test tools: a cookie jar, a bounded local server, a manual clock.

/** A minimal cookie jar for one origin: keeps name=value, honours Max-Age=0. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** Stores the Set-Cookie headers of a response. */
  update(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expired = attributes.some((a) => a.toLowerCase() === "max-age=0");
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The Cookie request header, or `undefined` when empty. */
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /** Fetches `url` with the jar's cookies and stores the response's cookies. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header();
    if (cookie !== undefined && !headers.has("cookie")) headers.set("cookie", cookie);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.update(response);
    return response;
  }

  /** Fetches and returns the body text. */
  async text(url: string, init: RequestInit = {}): Promise<string> {
    return await (await this.fetch(url, init)).text();
  }
}

/** Runs `fn` against a local server on an ephemeral port and always shuts it down. */
export async function withServer(
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
  onError?: (error: unknown) => Response,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...(onError ? { onError } : {}) },
    handler,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

/** A clock that moves only when told to. */
export class ManualClock {
  time = 1_700_000_000_000;
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A fresh random 32-byte key. */
export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Counts calls of the named `crypto.subtle` methods while `fn` runs. */
export async function countSubtle(names: string[], fn: () => Promise<void>): Promise<number> {
  const subtle = crypto.subtle as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = names.map((n) => subtle[n]!);
  let calls = 0;
  names.forEach((n, i) => {
    subtle[n] = (...args: unknown[]) => {
      calls++;
      return originals[i]!.apply(crypto.subtle, args);
    };
  });
  try {
    await fn();
  } finally {
    names.forEach((n) => delete subtle[n]);
  }
  return calls;
}
