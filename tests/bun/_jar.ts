// A minimal cookie jar for the Bun smoke tests: keeps what Set-Cookie sets, drops Max-Age=0.

/** Cookies by name, sent with every request and updated from every response. */
export class Jar {
  readonly cookies = new Map<string, string>();

  /** Fetches `url` with the jar's cookies (and `headers`), then takes the response's cookies. */
  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { headers: cookie ? { ...headers, cookie } : headers });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(";")[0]!;
      const name = pair.slice(0, pair.indexOf("="));
      if (line.includes("Max-Age=0")) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(name.length + 1));
    }
    return res;
  }

  /** The body of `get(url)` as text. */
  async text(url: string): Promise<string> {
    return await (await this.get(url)).text();
  }

  /** Changes one character of cookie `name`, ten from its end (inside its tag or ciphertext). */
  tamper(name: string): void {
    const value = this.cookies.get(name)!;
    const at = value.length - 10;
    this.cookies.set(
      name,
      value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1),
    );
  }
}
