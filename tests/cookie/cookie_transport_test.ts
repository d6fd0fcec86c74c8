import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { parseCookieHeader } from "../../lib/cookie/_cookie_syntax.ts";
import type { HttpSessionTransport } from "../../lib/cookie/http_session_transport.ts";

function request(cookie?: string): Request {
  return new Request("https://example.com/", cookie ? { headers: { cookie } } : {});
}

/** Writes `value`, then reads it back through the Cookie header a browser would send. */
async function roundTrip(transport: HttpSessionTransport, value: string): Promise<{
  setCookies: string[];
  read: Awaited<ReturnType<HttpSessionTransport["read"]>>;
}> {
  const headers = new Headers();
  await transport.write(headers, value, { maxAge: 60, present: [] });
  const setCookies = headers.getSetCookie();
  const cookie = setCookies.map((c) => c.split(";")[0]).join("; ");
  return { setCookies, read: await transport.read(request(cookie)) };
}

function randomCookieText(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return [...bytes].map((b) => alphabet[b & 63]).join("");
}

Deno.test("cookieTransport() writes secure defaults: __Host-, HttpOnly, Secure, SameSite=Lax, Path=/", async () => {
  const headers = new Headers();
  await cookieTransport().write(headers, "v", { maxAge: 3600, present: [] });
  assert.deepEqual(headers.getSetCookie(), [
    "__Host-session=v; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax",
  ]);
});

Deno.test("cookieTransport() writes every configured attribute", async () => {
  const transport = cookieTransport({
    name: "__Secure-sid",
    domain: "example.com",
    path: "/app",
    sameSite: "None",
    partitioned: true,
    httpOnly: false,
  });
  const headers = new Headers();
  await transport.write(headers, "v", { maxAge: 10.7, present: [] });
  assert.deepEqual(headers.getSetCookie(), [
    "__Secure-sid=v; Max-Age=10; Domain=example.com; Path=/app; Secure; SameSite=None; Partitioned",
  ]);
});

Deno.test("a non-persistent cookie transport sends no Max-Age", async () => {
  const headers = new Headers();
  await cookieTransport({ name: "sid", persistent: false }).write(headers, "v", {
    maxAge: 60,
    present: [],
  });
  assert.equal(headers.get("set-cookie"), "sid=v; Path=/; Secure; HttpOnly; SameSite=Lax");
});

Deno.test("cookieTransport() enforces the __Host- and __Secure- prefix rules with TypeError", () => {
  assert.throws(() => cookieTransport({ name: "__Host-a", secure: false }), TypeError);
  assert.throws(() => cookieTransport({ name: "__Host-a", path: "/x" }), TypeError);
  assert.throws(() => cookieTransport({ name: "__Host-a", domain: "example.com" }), TypeError);
  assert.throws(() => cookieTransport({ name: "__Secure-a", secure: false }), TypeError);
  assert.doesNotThrow(() => cookieTransport({ name: "__Secure-a", path: "/x" }));
});

Deno.test("cookieTransport() refuses invalid names and attribute values", () => {
  for (const name of ["", "a b", "a;b", "a=b", "a,b", 'a"b', "é", "a\tb"]) {
    assert.throws(() => cookieTransport({ name }), TypeError, name);
  }
  assert.throws(() => cookieTransport({ name: "a", path: "x" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", path: "/a;b" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", domain: "exa mple.com" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", domain: "a..b" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", sameSite: "lax" as "Lax" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", secure: false, sameSite: "None" }), TypeError);
  assert.throws(() => cookieTransport({ name: "a", secure: false, partitioned: true }), TypeError);
  assert.throws(() => cookieTransport({ maxChunks: 0 }), RangeError);
  assert.throws(() => cookieTransport({ maxChunks: 21 }), RangeError);
  assert.throws(() => cookieTransport({ maxCookieSize: 5000 }), RangeError);
  assert.throws(() => cookieTransport({ maxCookieSize: 80 }), RangeError);
});

Deno.test("write() refuses a value that is not made of cookie-octets", async () => {
  const transport = cookieTransport();
  for (const value of ["", "a b", "a;b", 'a"b', "a,b", "a\\b", "é"]) {
    await assert.rejects(
      transport.write(new Headers(), value, { maxAge: 1, present: [] }),
      TypeError,
    );
  }
});

Deno.test("a value that fits is one plain cookie and reads back unchanged", async () => {
  const value = randomCookieText(4096 - "__Host-session=".length);
  const { setCookies, read } = await roundTrip(cookieTransport(), value);
  assert.equal(setCookies.length, 1);
  assert.deepEqual(read, { value, reason: null, present: ["__Host-session"] });
});

Deno.test("an incompressible large value is split into chunks of at most 4096 bytes", async () => {
  const value = randomCookieText(10_000);
  const { setCookies, read } = await roundTrip(cookieTransport(), value);
  assert.equal(setCookies.length, 3);
  assert.ok(setCookies[0]!.startsWith("__Host-session=~p3."));
  assert.ok(setCookies[1]!.startsWith("__Host-session.1="));
  for (const c of setCookies) assert.ok(c.split(";")[0]!.length <= 4096);
  assert.equal(read.value, value);
  assert.deepEqual(read.present, ["__Host-session", "__Host-session.1", "__Host-session.2"]);
});

Deno.test("a compressible large value is deflated and flagged, fitting fewer cookies", async () => {
  const value = "eyJkYXRhIjp7ImNhcnQiOlsiYXBwbGUiLCJwZWFyIl19fQ".repeat(200);
  const { setCookies, read } = await roundTrip(cookieTransport(), value);
  assert.equal(setCookies.length, 1);
  assert.match(setCookies[0]!, /^__Host-session=~z1\./);
  assert.equal(read.value, value);
});

Deno.test("compression can be turned off", async () => {
  const value = "a".repeat(5000);
  const { setCookies, read } = await roundTrip(cookieTransport({ compress: false }), value);
  assert.equal(setCookies.length, 2);
  assert.match(setCookies[0]!, /^__Host-session=~p2\./);
  assert.equal(read.value, value);
});

Deno.test("a value starting with ~ is escaped so it cannot pass for a chunk header", async () => {
  const { setCookies, read } = await roundTrip(cookieTransport(), "~z9.abcdefgh.x");
  assert.match(setCookies[0]!, /^__Host-session=~p1\./);
  assert.equal(read.value, "~z9.abcdefgh.x");
});

Deno.test("a value over the chunk budget fails with cookie_too_large", async () => {
  const transport = cookieTransport({ maxChunks: 2 });
  await assert.rejects(
    transport.write(new Headers(), randomCookieText(9000), { maxAge: 1, present: [] }),
    (err) => err instanceof CookieError && err.code === "cookie_too_large",
  );
});

Deno.test("rewriting with fewer chunks deletes the stale ones the request carried", async () => {
  const transport = cookieTransport();
  const headers = new Headers();
  const present = ["__Host-session", "__Host-session.1", "__Host-session.2", "__Host-session.7"];
  await transport.write(headers, "small", { maxAge: 60, present });
  const lines = headers.getSetCookie();
  assert.equal(
    lines[0],
    "__Host-session=small; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax",
  );
  assert.deepEqual(lines.slice(1).map((l) => l.split(";")[0]), [
    "__Host-session.1=",
    "__Host-session.2=",
    "__Host-session.7=",
  ]);
  for (const line of lines.slice(1)) {
    assert.match(line, /Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; Secure/);
  }
});

Deno.test("writing null deletes every cookie of the session the request carried", async () => {
  const headers = new Headers();
  await cookieTransport().write(headers, null, {
    maxAge: 0,
    present: ["__Host-session", "__Host-session.1"],
  });
  assert.equal(headers.getSetCookie().length, 2);
  assert.ok(headers.getSetCookie().every((l) => l.includes("Max-Age=0")));
});

Deno.test("read() reports missing, inconsistent, oversized and malformed chunk sets", async () => {
  const transport = cookieTransport();
  const headers = new Headers();
  await transport.write(headers, randomCookieText(10_000), { maxAge: 60, present: [] });
  const [c0, c1, c2] = headers.getSetCookie().map((c) => c.split(";")[0]!);
  const other = new Headers();
  await transport.write(other, randomCookieText(10_000), { maxAge: 60, present: [] });
  const foreign1 = other.getSetCookie()[1]!.split(";")[0]!;
  const cases: [string, string][] = [
    [`${c0}; ${c2}`, "cookie_chunk_missing"],
    [`${c1}; ${c2}`, "cookie_chunk_missing"],
    [`${c0}; ${foreign1}; ${c2}`, "cookie_chunk_missing"],
    [`${c0}; __Host-session.1=; ${c2}`, "cookie_chunk_missing"],
    [`__Host-session=~p5.AAAAAAAA.x`, "cookie_too_large"],
    [`__Host-session=~p1.AAAA.x`, "cookie_malformed"],
    [`__Host-session=~q1.AAAAAAAA.x`, "cookie_malformed"],
    [`__Host-session=~p0.AAAAAAAA.x`, "cookie_malformed"],
    [`__Host-session=`, "cookie_malformed"],
    [`__Host-session=${"a".repeat(4082)}`, "cookie_too_large"],
  ];
  for (const [cookie, code] of cases) {
    const read = await transport.read(request(cookie));
    assert.equal(read.value, null, cookie.slice(0, 40));
    assert.equal(read.reason, code, cookie.slice(0, 40));
  }
});

Deno.test("read() refuses a compressed value that does not inflate, or inflates too far", async () => {
  const transport = cookieTransport();
  const tagOf = async (data: string): Promise<string> => {
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data)),
    );
    return btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_").slice(
      0,
      8,
    );
  };
  const junk = "AAECAwQF";
  let read = await transport.read(request(`__Host-session=~z1.${await tagOf(junk)}.${junk}`));
  assert.equal(read.reason, "cookie_malformed");

  // A deflate bomb: 1 MiB of zeros in about a kilobyte.
  const stream = new Blob([new Uint8Array(1 << 20)]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  const packed = new Uint8Array(await new Response(stream).arrayBuffer());
  const data = btoa(String.fromCharCode(...packed)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  const parts = [`~z1.${await tagOf(data)}.${data}`];
  read = await transport.read(request(`__Host-session=${parts[0]}`));
  assert.equal(read.reason, "cookie_too_large");
});

Deno.test("read() with no session cookie reports nothing", async () => {
  assert.deepEqual(await cookieTransport().read(request()), {
    value: null,
    reason: null,
    present: [],
  });
  assert.deepEqual(await cookieTransport().read(request("other=1")), {
    value: null,
    reason: null,
    present: [],
  });
});

Deno.test("parseCookieHeader() ignores junk, keeps the first duplicate and never throws", () => {
  const parsed = parseCookieHeader(
    ' a=1; b = 2 ;c="3"; bad name=4; d=5;6; =7; e=a b; f=x"y; a=dup; g=; h="unterminated',
  );
  assert.deepEqual([...parsed], [["a", "1"], ["b", "2"], ["c", "3"], ["d", "5"], ["g", ""]]);
  assert.equal(parseCookieHeader(null).size, 0);
  assert.equal(parseCookieHeader("").size, 0);
  const many = Array.from({ length: 1000 }, (_, i) => `k${i}=v`).join("; ");
  assert.equal(parseCookieHeader(many).size, 256);
  const long = `a=${"x".repeat(40_000)}; b=1`;
  assert.equal(parseCookieHeader(long).size, 0, "input past the bound is ignored");
});
