// cookieTransport({ secure: "auto", trustProxy }): Secure is dropped only for plain http to a
// loopback host, a forged X-Forwarded-Proto changes nothing without trustProxy and can only add
// Secure with it, prefixed names are refused. Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import {
  cookieTransport,
  type CookieTransportOptions,
  hmac,
  MemorySessionStorage,
  sessions,
} from "../../lib/cookie/mod.ts";
import { randomKey, withServer } from "./_helpers.ts";

/** Serves a client-side (or server-side) counter and returns the Set-Cookie lines of one GET. */
async function setCookies(
  options: CookieTransportOptions,
  headers: Record<string, string> = {},
  serverSide = false,
): Promise<string[]> {
  const middleware = sessions<{ n: number }>({
    transport: cookieTransport(options),
    ...(serverSide
      ? { storage: new MemorySessionStorage() }
      : { transformer: hmac({ key: randomKey() }) }),
  });
  const handler = middleware((_request, _info, session) => {
    session.set("n", (session.get("n") ?? 0) + 1);
    return new Response("ok");
  });
  let lines: string[] = [];
  await withServer(handler, async (base) => {
    lines = await get(base, headers);
  });
  assert.ok(lines.length > 0, "a cookie was set");
  return lines;
}

/**
 * GET / with raw HTTP/1.1, since fetch() replaces a Host header with the URL's host; returns
 * the response's Set-Cookie lines.
 */
async function get(base: string, headers: Record<string, string>): Promise<string[]> {
  const { port } = new URL(base);
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const all = { host: `127.0.0.1:${port}`, ...headers, connection: "close" };
  const head = Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const writer = connection.writable.getWriter();
  await writer.write(new TextEncoder().encode(`GET / HTTP/1.1\r\n${head}\r\n`));
  writer.releaseLock();
  const text = await new Response(connection.readable).text();
  const [status = "", ...lines] = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
  assert.match(status, /^HTTP\/1\.1 200 /);
  return lines
    .filter((line) => line.toLowerCase().startsWith("set-cookie:"))
    .map((line) => line.slice("set-cookie:".length).trim());
}

const isSecure = (line: string): boolean =>
  line.split(";").some((attribute) => attribute.trim().toLowerCase() === "secure");

Deno.test("secure: auto over http://127.0.0.1 leaves Secure off", async () => {
  const lines = await setCookies({ name: "sid", secure: "auto" });
  assert.ok(lines.every((line) => !isSecure(line)), lines.join("\n"));
  assert.ok(lines[0]!.includes("HttpOnly") && lines[0]!.includes("SameSite=Lax"));
});

Deno.test("secure: auto with Host: localhost and [::1] over http leaves Secure off", async () => {
  for (const host of ["localhost:8000", "[::1]:8000", "127.0.0.2"]) {
    const lines = await setCookies({ name: "sid", secure: "auto" }, { host });
    assert.ok(lines.every((line) => !isSecure(line)), `${host}: ${lines.join("\n")}`);
  }
});

Deno.test("secure: auto with a non-loopback Host over http sets Secure", async () => {
  for (const host of ["example.com", "app.example.com:8080", "10.0.0.5", "localhost.evil.com"]) {
    const lines = await setCookies({ name: "sid", secure: "auto" }, { host });
    assert.ok(lines.every(isSecure), `${host}: ${lines.join("\n")}`);
  }
});

Deno.test("secure: auto also decides server-side token cookies", async () => {
  const local = await setCookies({ name: "sid", secure: "auto" }, {}, true);
  assert.ok(local.every((line) => !isSecure(line)), local.join("\n"));
  const remote = await setCookies({ name: "sid", secure: "auto" }, { host: "example.com" }, true);
  assert.ok(remote.every(isSecure), remote.join("\n"));
});

Deno.test("trustProxy: X-Forwarded-Proto https (first value) sets Secure", async () => {
  for (const proto of ["https", "HTTPS", "https, http", " https "]) {
    const lines = await setCookies({ name: "sid", secure: "auto", trustProxy: true }, {
      "x-forwarded-proto": proto,
    });
    assert.ok(lines.every(isSecure), `${proto}: ${lines.join("\n")}`);
  }
  for (const proto of ["http", "http, https", ""]) {
    const lines = await setCookies({ name: "sid", secure: "auto", trustProxy: true }, {
      "x-forwarded-proto": proto,
    });
    assert.ok(lines.every((line) => !isSecure(line)), `${proto}: ${lines.join("\n")}`);
  }
});

Deno.test("without trustProxy a forged X-Forwarded-Proto changes nothing", async () => {
  const forged = await setCookies({ name: "sid", secure: "auto" }, {
    "x-forwarded-proto": "https",
  });
  assert.ok(forged.every((line) => !isSecure(line)), forged.join("\n"));
  // Nor can "http" remove Secure, with or without trustProxy.
  for (const trustProxy of [false, true]) {
    const lines = await setCookies({ name: "sid", secure: "auto", trustProxy }, {
      host: "example.com",
      "x-forwarded-proto": "http",
    });
    assert.ok(lines.every(isSecure), lines.join("\n"));
  }
});

Deno.test("default (and secure: true) sets Secure even on http://127.0.0.1", async () => {
  for (const options of [{}, { name: "sid" }, { name: "sid", secure: true as const }]) {
    const lines = await setCookies(options);
    assert.ok(lines.every(isSecure), lines.join("\n"));
  }
  const off = await setCookies({ name: "sid", secure: false }, { host: "example.com" });
  assert.ok(off.every((line) => !isSecure(line)), off.join("\n"));
});

Deno.test("secure: auto refuses prefixed names, SameSite=None and Partitioned", () => {
  for (const name of [undefined, "__Host-sid", "__Secure-sid", "__host-sid", "__SECURE-sid"]) {
    assert.throws(
      () => cookieTransport({ name, secure: "auto" }),
      (error: unknown) =>
        error instanceof TypeError && /secure: "auto"/.test(error.message) &&
        /__Host-/.test(error.message),
      String(name),
    );
  }
  assert.throws(
    () => cookieTransport({ name: "sid", secure: "auto", sameSite: "None" }),
    TypeError,
  );
  assert.throws(
    () => cookieTransport({ name: "sid", secure: "auto", partitioned: true }),
    TypeError,
  );
  assert.throws(() => cookieTransport({ name: "__Host-sid", secure: false }), TypeError);
  assert.throws(
    () => cookieTransport({ name: "sid", secure: "yes" as unknown as boolean }),
    TypeError,
  );
  assert.throws(
    () => cookieTransport({ name: "sid", secure: "auto", trustProxy: "1" as unknown as boolean }),
    TypeError,
  );
});

Deno.test("secure: auto writes without a request are Secure; stale chunks follow the request", async () => {
  const transport = cookieTransport({ name: "sid", secure: "auto" });
  const headers = new Headers();
  await transport.write(headers, "abc", { maxAge: 60, present: ["sid", "sid.1"] });
  assert.ok(headers.getSetCookie().every(isSecure));
  const local = new Headers();
  await transport.write(local, null, {
    maxAge: 0,
    present: ["sid", "sid.1"],
    request: new Request("http://localhost/"),
  });
  assert.equal(local.getSetCookie().length, 2);
  assert.ok(local.getSetCookie().every((line) => !isSecure(line)));
});
