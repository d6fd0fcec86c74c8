// A compressed (`~z`) cookie is inflated before the transformer authenticates it, and its
// chunk tag is an unkeyed hash anyone can compute, so a client controls what gets inflated.
// These tests send deflate bombs and count the bytes the decompressor actually produces.

import assert from "node:assert/strict";
import { cookieTransport, encrypt, type Session, sessions } from "../../lib/cookie/mod.ts";
import { CookieJar, randomKey, withServer } from "./_helpers.ts";

const NAME = "__Host-session";
/** The transport's limit on a decompressed value. */
const LIMIT = 64 * 1024;
/** What the transport may inflate past the limit: one step of output, at most. */
const ONE_STEP = 64 * 1024;
/** A bomb that fits the default budget of 4 cookies: about 12 KB of deflate. */
const BOMB_SIZE = 12_000_000;

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The cookies an attacker writes for `text`: deflated, base64url, split over `name`,
 * `name.1`, … with the header `~z<count>.<tag>.`, whose tag is the first 8 characters of
 * the unkeyed SHA-256 of the data. Every cookie is within 4096 bytes, so only inflating
 * can tell it apart from an honest one.
 */
async function compressedCookies(text: string, name = NAME): Promise<[string, string][]> {
  const deflated = new Blob([text]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  const data = toBase64Url(new Uint8Array(await new Response(deflated).arrayBuffer()));
  const tag = toBase64Url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data))),
  ).slice(0, 8);
  const firstRoom = 4096 - name.length - 1 - 14;
  const laterRoom = 4096 - name.length - 4;
  const count = 1 + Math.ceil(Math.max(0, data.length - firstRoom) / laterRoom);
  const cookies: [string, string][] = [[name, `~z${count}.${tag}.${data.slice(0, firstRoom)}`]];
  for (let i = 1, offset = firstRoom; offset < data.length; i++, offset += laterRoom) {
    cookies.push([`${name}.${i}`, data.slice(offset, offset + laterRoom)]);
  }
  for (const [k, v] of cookies) assert.ok(k.length + 1 + v.length <= 4096, k);
  return cookies;
}

function cookieHeader(cookies: [string, string][]): string {
  return cookies.map(([k, v]) => `${k}=${v}`).join("; ");
}

/**
 * Runs `fn` with `DecompressionStream` replaced by one that counts, per stream, the inflated
 * bytes the real decompressor hands over. It reads the real stream only when its reader
 * asks, so the count is everything the decompressor produced, not a read-ahead.
 */
async function countingInflation<T>(fn: () => Promise<T>): Promise<{
  result: T;
  inflated: number[];
}> {
  const Original = globalThis.DecompressionStream;
  const inflated: number[] = [];
  class CountingDecompressionStream {
    readonly writable: WritableStream<BufferSource>;
    readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
    constructor(format: CompressionFormat) {
      const inner = new Original(format);
      const index = inflated.push(0) - 1;
      const reader = inner.readable.getReader();
      this.writable = inner.writable;
      this.readable = new ReadableStream<Uint8Array<ArrayBuffer>>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
          } else {
            inflated[index]! += value.length;
            controller.enqueue(value);
          }
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
    }
  }
  globalThis.DecompressionStream = CountingDecompressionStream;
  try {
    return { result: await fn(), inflated };
  } finally {
    globalThis.DecompressionStream = Original;
  }
}

Deno.test("a compressed cookie that inflates to 12 MB is refused as cookie_too_large over HTTP, having inflated no more than the limit plus one step", async () => {
  const bomb = await compressedCookies("a".repeat(BOMB_SIZE));
  assert.equal(bomb.length, 4, "the bomb fits the default budget of 4 cookies");
  const honest = await compressedCookies("a".repeat(LIMIT));

  // The transformer's own bound is raised so that only the transport can refuse for size.
  const mw = sessions<{ user: string }>({
    transformer: encrypt({ key: randomKey(), maxLength: 1 << 20 }),
  });
  const handler = mw((_req: Request, _info: unknown, session: Session<{ user: string }>) =>
    new Response(session.get("user") ?? "anonymous", {
      headers: { "x-reason": session.reason ?? "" },
    })
  );
  const { inflated } = await countingInflation(() =>
    withServer(handler, async (base) => {
      // The same construction within the limit is accepted by the transport (the
      // transformer then refuses it as malformed), so the bomb is refused for its size.
      const jar = new CookieJar();
      for (const [k, v] of honest) jar.cookies.set(k, v);
      const control = await jar.fetch(`${base}/`);
      assert.equal(control.status, 200);
      assert.equal(await control.text(), "anonymous");
      assert.equal(control.headers.get("x-reason"), "cookie_malformed");

      const attacker = new CookieJar();
      for (const [k, v] of bomb) attacker.cookies.set(k, v);
      const res = await attacker.fetch(`${base}/`);
      assert.equal(res.status, 200, "never a 5xx");
      assert.equal(await res.text(), "anonymous");
      assert.equal(res.headers.get("x-reason"), "cookie_too_large");
      assert.deepEqual(
        res.headers.getSetCookie().map((c) => c.split(";")[0]),
        bomb.map(([k]) => `${k}=`),
        "every chunk of the bomb is deleted",
      );
      assert.equal(attacker.cookies.size, 0);
    }, () => new Response("server error", { status: 500 }))
  );
  assert.equal(inflated.length, 2);
  assert.equal(inflated[0], LIMIT, "the honest value inflates whole");
  assert.ok(
    inflated[1]! <= LIMIT + ONE_STEP,
    `the bomb inflated ${inflated[1]} bytes; at most ${LIMIT + ONE_STEP} allowed`,
  );
});

Deno.test("32 deflate bombs read in parallel each inflate at most the 64 KiB limit plus one step, and the limit itself still reads back", async () => {
  const transport = cookieTransport();
  const read = (cookies: [string, string][]) =>
    transport.read(
      new Request("https://example.com/", { headers: { cookie: cookieHeader(cookies) } }),
    );
  const bomb = await compressedCookies("a".repeat(BOMB_SIZE));
  const atLimit = await compressedCookies("a".repeat(LIMIT));
  const overLimit = await compressedCookies("a".repeat(LIMIT + 1));

  const limits = await countingInflation(async () => [await read(atLimit), await read(overLimit)]);
  assert.equal(limits.result[0]!.value, "a".repeat(LIMIT));
  assert.equal(limits.result[0]!.reason, null);
  assert.deepEqual(limits.result[1], { value: null, reason: "cookie_too_large", present: [NAME] });
  assert.deepEqual(limits.inflated, [LIMIT, LIMIT + 1]);

  const { result, inflated } = await countingInflation(() =>
    Promise.all(Array.from({ length: 32 }, () => read(bomb)))
  );
  for (const refused of result) {
    assert.deepEqual(refused, {
      value: null,
      reason: "cookie_too_large",
      present: bomb.map(([k]) => k),
    });
  }
  assert.equal(inflated.length, 32);
  for (const [i, bytes] of inflated.entries()) {
    assert.ok(bytes > LIMIT, `bomb ${i} went past the limit before stopping`);
    assert.ok(bytes <= LIMIT + ONE_STEP, `bomb ${i} inflated ${bytes} bytes`);
  }
  const total = inflated.reduce((a, b) => a + b, 0);
  assert.ok(total <= 32 * (LIMIT + ONE_STEP), `32 bombs inflated ${total} bytes in all`);
});

Deno.test("32 deflate bombs read in parallel take within a few MB of the memory of 32 honest compressed cookies", async () => {
  const transport = cookieTransport();
  const batch = (cookies: [string, string][]) =>
    Promise.all(Array.from({ length: 32 }, () =>
      transport.read(
        new Request("https://example.com/", { headers: { cookie: cookieHeader(cookies) } }),
      )));
  const honest = await compressedCookies("a".repeat(LIMIT));
  const bomb = await compressedCookies("a".repeat(BOMB_SIZE));
  await batch(honest); // warm up the streams and the decompressor

  // External memory is this isolate's ArrayBuffers, where inflated output lives. A garbage
  // collection can only lower it (the honest growth is counted as at least 0 for that
  // reason), so the bound holds however the collector behaves: the bombs allocate about
  // 32 × 80 KB after the fix, and 32 × 12 MB before it.
  const grows = async (cookies: [string, string][], reason: string | null): Promise<number> => {
    const before = Deno.memoryUsage().external;
    const reads = await batch(cookies);
    const growth = Deno.memoryUsage().external - before;
    assert.deepEqual(reads.map((r) => r.reason), Array(32).fill(reason));
    return growth;
  };
  const normal = await grows(honest, null);
  const bombs = await grows(bomb, "cookie_too_large");
  assert.ok(
    bombs <= Math.max(0, normal) + 16e6,
    `32 bombs grew external memory by ${bombs} bytes, 32 honest cookies by ${normal}`,
  );
});
