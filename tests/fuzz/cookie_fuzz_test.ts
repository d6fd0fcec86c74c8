// Property-based tests of cookie sessions against hostile Cookie headers and tampered cookies,
// and round trips of the built-in transformers.

import assert from "node:assert/strict";
import fc from "npm:fast-check@3.23.2";
import "../_fast_check_seed.ts";
import {
  compose,
  cookieTransport,
  digest,
  encrypt,
  hmac,
  MemorySessionStorage,
  type SessionMiddleware,
  sessions,
  type SessionsOptions,
  type SessionTransformer,
  type TransformContext,
} from "../../lib/cookie/mod.ts";
import { fromBase64Url } from "../../lib/crypto/_bytes.ts";

// ------------------------------------------------------------------------------- tools

const NAME = "__Host-session";

const COOKIE_CODES: readonly string[] = [
  "cookie_malformed",
  "cookie_tampered",
  "cookie_unknown_key",
  "cookie_expired",
  "cookie_issued_in_future",
  "cookie_revoked",
  "cookie_unknown_session",
  "cookie_too_large",
  "cookie_chunk_missing",
  "cookie_unsupported_version",
  "session_conflict",
  "session_storage_failed",
];

type Data = { user: string; secret: string };

/** What the handler saw of its session. */
interface Seen {
  isNew: boolean;
  reason: string | null;
  data: Record<string, unknown>;
  userId: string | null;
}

/** A wrapped handler and a way to call it directly with a Cookie header. */
interface App {
  readonly label: string;
  readonly maxCookieSize: number;
  /** Calls the handler; `null` when `Headers` refuses the header value. */
  visit(cookie: string): Promise<{ response: Response; seen: Seen; header: string } | null>;
  /** Logs in with `data` and returns the cookies the response set, as `name=value` pairs. */
  login(data: Data): Promise<[string, string][]>;
}

function makeApp(label: string, options: SessionsOptions, maxCookieSize = 4096): App {
  const mw: SessionMiddleware<Data> = sessions<Data>(options);
  let seen: Seen | null = null;
  let pending: Data | null = null;
  const handler = mw((_request, _info: unknown, session) => {
    seen = {
      isNew: session.isNew,
      reason: session.reason,
      data: session.all(),
      userId: session.userId,
    };
    if (pending) {
      session.regenerate();
      session.setUser(pending.user);
      session.set("user", pending.user);
      session.set("secret", pending.secret);
    }
    return new Response("ok");
  });
  return {
    label,
    maxCookieSize,
    async visit(cookie) {
      // A header value HTTP cannot carry (NUL, CR, LF) is skipped before `Headers` sees it:
      // Deno's own check of such a value after a long run of spaces takes minutes, and no
      // server would ever hand such a header to an application.
      if (/[\0\r\n]/.test(cookie)) return null;
      let request: Request;
      try {
        request = new Request("https://x/", { headers: { cookie } });
      } catch {
        return null;
      }
      seen = null;
      const response = await handler(request, {});
      assert.ok(seen, "the handler must run");
      return { response, seen, header: request.headers.get("cookie") ?? "" };
    },
    async login(data) {
      pending = data;
      try {
        const response = await handler(new Request("https://x/login"), {});
        return response.headers.getSetCookie().map((line) => {
          const pair = line.split(";")[0]!;
          const eq = pair.indexOf("=");
          return [pair.slice(0, eq), pair.slice(eq + 1)];
        });
      } finally {
        pending = null;
      }
    },
  };
}

function key(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
}

async function sha256Tag(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toBase64Url(new Uint8Array(digest)).slice(0, 8);
}

async function deflateRaw(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ----------------------------------------------------------- a reference Cookie parser

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const CHUNK_HEADER = /^~([pz])([1-9][0-9]?)\.([A-Za-z0-9_-]{8})\./;

/** RFC 6265 request cookies: `;`-separated, trimmed, optional quotes, first occurrence wins. */
function referenceCookies(header: string): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (!TOKEN.test(name) || !COOKIE_OCTETS.test(value) || cookies.has(name)) continue;
    cookies.set(name, value);
  }
  return cookies;
}

/**
 * The session value a Cookie header carries under `NAME`, chunks reassembled, or `null`
 * when it carries none that fits the size rules. Two headers with the same effective value
 * carry the same session; any other difference must not.
 */
function effectiveValue(header: string, maxCookieSize: number): string | null {
  const cookies = referenceCookies(header);
  const first = cookies.get(NAME);
  if (first === undefined || first === "" || NAME.length + 1 + first.length > maxCookieSize) {
    return null;
  }
  if (!first.startsWith("~")) return first;
  const match = CHUNK_HEADER.exec(first);
  if (match === null) return null;
  let data = first.slice(match[0].length);
  for (let i = 1; i < Number(match[2]); i++) {
    const part = cookies.get(`${NAME}.${i}`);
    const size = `${NAME}.${i}`.length + 1 + (part?.length ?? 0);
    if (part === undefined || part === "" || size > maxCookieSize) return null;
    data += part;
  }
  return `${match[0]}${data}`;
}

/**
 * What a cookie finally carries: the effective value; for chunks, `null` unless their check tag
 * fits their data, and compressed (`~z`) data inflated. DEFLATE has more than one encoding of the
 * same content (e.g. trailing bytes a decoder never needs), so two compressed cookies that inflate
 * to the same sealed value carry the same value.
 */
async function carriedValue(header: string, maxCookieSize: number): Promise<string | null> {
  const value = effectiveValue(header, maxCookieSize);
  const match = value === null ? null : CHUNK_HEADER.exec(value);
  if (value === null || match === null) return value;
  const data = value.slice(match[0].length);
  if (await sha256Tag(data) !== match[3]) return null;
  if (match[1] !== "z") return `~p:${data}`;
  const bytes = fromBase64Url(data);
  if (bytes === null) return null;
  try {
    const inflated = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("deflate-raw"));
    return `~z:${await new Response(inflated).text()}`;
  } catch {
    return null;
  }
}

// -------------------------------------------------------------------- header generators

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const chars = (text: string) => fc.constantFrom(...text.split(""));
const latin1Char = fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c));
const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const syntaxChar = fc.constantFrom(";", "=", " ", "\t", '"', ",", "\\", ".", "~", "\x7f", "\xa0");

const b64Text = (maxLength: number) => fc.string({ unit: chars(B64_CHARS), maxLength });

const nameArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      NAME,
      NAME,
      `${NAME}.1`,
      `${NAME}.2`,
      `${NAME}.3`,
      `${NAME}.4`,
      `${NAME}.20`,
      `${NAME}.01`,
      `${NAME}.0`,
      `${NAME}.`,
      "__host-session",
      "__Host-session.1.1",
      "session",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: chars(TOKEN_CHARS), minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: latin1Char, maxLength: 12 }) },
);

const valueArb = fc.oneof(
  b64Text(80),
  fc.tuple(
    fc.constantFrom("p", "z", "x", ""),
    fc.constantFrom("1", "2", "3", "4", "5", "9", "20", "99", "0", "01", ""),
    b64Text(10),
    b64Text(120),
  ).map(([flag, count, tag, data]) => `~${flag}${count}.${tag}.${data}`),
  fc.tuple(
    fc.constantFrom("t1", "t2", "t99", "t", "T1"),
    fc.constantFrom("e", "m", "d", "x"),
    fc.constantFrom("0", "1", "k", "", "a.b"),
    b64Text(20),
    b64Text(80),
  ).map((parts) => parts.join(".")),
  fc.string({ unit: latin1Char, maxLength: 40 }),
  fc.constantFrom("", '""', '"', "~", "~z", "~p1.", "~p1.AAAAAAAA.", "t1", "t1.e", "t1.e.0..", "="),
  b64Text(60).map((t) => `"${t}"`),
);

const separatorArb = fc.constantFrom("; ", ";", " ; ", ";;", "", "\t;", ",");

const pairsHeader = fc.array(fc.tuple(nameArb, valueArb, separatorArb), { maxLength: 12 }).map(
  (pairs) => pairs.map(([name, value, separator]) => `${name}=${value}${separator}`).join(""),
);

/** A chunked value with a correct check tag, so that decoding and inflating are reached. */
type Tagged = {
  kind: "tagged";
  flag: "p" | "z";
  body: { inflate: string } | { raw: Uint8Array } | { text: string };
  cut: number[];
};

const taggedArb: fc.Arbitrary<Tagged> = fc.record({
  kind: fc.constant("tagged" as const),
  flag: fc.constantFrom("p" as const, "z" as const),
  body: fc.oneof(
    fc.record({ inflate: fc.string({ unit: latin1Char, maxLength: 60 }) }),
    fc.record({ inflate: fc.integer({ min: 1, max: 90_000 }).map((n) => "A".repeat(n)) }),
    fc.record({ inflate: b64Text(200) }),
    fc.record({ raw: fc.uint8Array({ maxLength: 120 }) }),
    fc.record({ text: b64Text(200) }),
  ),
  cut: fc.array(fc.nat(), { maxLength: 5 }),
});

/** Builds the Cookie header of a tagged value: chunk data cut at `cut` points. */
async function taggedHeader(t: Tagged): Promise<string> {
  let data: string;
  if ("inflate" in t.body) data = toBase64Url(await deflateRaw(t.body.inflate));
  else if ("raw" in t.body) data = toBase64Url(t.body.raw);
  else data = t.body.text;
  const points = [...new Set(t.cut.map((c) => (data.length === 0 ? 0 : c % data.length)))]
    .sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(data.slice(from, p));
    from = p;
  }
  pieces.push(data.slice(from));
  const header = `~${t.flag}${pieces.length}.${await sha256Tag(data)}.`;
  return pieces.map((piece, i) =>
    `${i === 0 ? NAME : `${NAME}.${i}`}=${i === 0 ? header : ""}${piece}`
  )
    .join("; ");
}

type HeaderInput = { kind: "text"; header: string } | Tagged;

const headerArb: fc.Arbitrary<HeaderInput> = fc.oneof(
  { weight: 4, arbitrary: pairsHeader },
  { weight: 1, arbitrary: fc.string({ unit: latin1Char, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.fullUnicodeString({ maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.oneof(controlChar, syntaxChar, latin1Char), maxLength: 80 }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      pairsHeader,
      fc.constantFrom(";", " ", "a=b;", `${NAME}=x;`, `${NAME}.1=AAAA; `, "="),
      fc.integer({ min: 100, max: 12_000 }),
      fc.boolean(),
    ).map(([pairs, filler, times, before]) =>
      before ? filler.repeat(times) + pairs : pairs + filler.repeat(times)
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(NAME, `${NAME}.1`), fc.integer({ min: 3000, max: 40_000 }))
      .map(([name, n]) => `${name}=${"A".repeat(n)}`),
  },
).map((header) => ({ kind: "text" as const, header }));

const anyHeaderArb: fc.Arbitrary<HeaderInput> = fc.oneof(
  { weight: 4, arbitrary: headerArb },
  { weight: 1, arbitrary: taggedArb },
);

// ------------------------------------------------------------------------------ apps

const apps: App[] = [
  makeApp("client-side encrypt", { transformer: encrypt({ key: key() }) }),
  makeApp("server-side memory storage", { storage: new MemorySessionStorage() }),
  makeApp("server-side memory storage with hmac", {
    storage: new MemorySessionStorage(),
    transformer: hmac({ key: key() }),
  }),
];

Deno.test("sessions() turns any Cookie header into an empty session with at most a cookie error code", async () => {
  await fc.assert(
    fc.asyncProperty(anyHeaderArb, async (input) => {
      const header = input.kind === "text" ? input.header : await taggedHeader(input);
      for (const app of apps) {
        const visit = await app.visit(header);
        fc.pre(visit !== null);
        const { response, seen } = visit;
        assert.equal(response.status, 200, app.label);
        assert.equal(seen.isNew, true, app.label);
        assert.deepEqual(seen.data, {}, app.label);
        assert.equal(seen.userId, null, app.label);
        assert.ok(
          seen.reason === null || COOKIE_CODES.includes(seen.reason),
          `${app.label}: unexpected reason ${seen.reason}`,
        );
        // Nothing changed, so the response may only clear the session's own cookies.
        for (const line of response.headers.getSetCookie()) {
          assert.match(line, /^__Host-session(\.[1-9][0-9]?)?=; Max-Age=0;/, app.label);
        }
      }
    }),
    { numRuns: 300 },
  );
});

// -------------------------------------------------------------------- tampered cookies

/** One edit of a header string. Positions are taken modulo the current length. */
type TextEdit =
  | { kind: "replace"; at: number; with: string }
  | { kind: "insert"; at: number; text: string }
  | { kind: "delete"; at: number; count: number }
  | { kind: "truncate"; at: number }
  | { kind: "move"; from: number; length: number; to: number }
  | { kind: "copy"; from: number; length: number; to: number }
  | { kind: "quote"; pair: number }
  | { kind: "swap"; pair: number; with: number }
  | { kind: "append"; pair: string };

const editChar = fc.oneof(
  { weight: 4, arbitrary: chars(B64_CHARS) },
  { weight: 2, arbitrary: syntaxChar },
  { weight: 1, arbitrary: latin1Char },
);
const textEditArb: fc.Arbitrary<TextEdit> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), with: editChar }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      text: fc.oneof(
        fc.string({ unit: editChar, minLength: 1, maxLength: 8 }),
        fc.constantFrom(" ", "\t", "  "),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("delete" as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom("move" as const, "copy" as const),
      from: fc.nat(),
      length: fc.integer({ min: 1, max: 60 }),
      to: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("quote" as const), pair: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("swap" as const), pair: fc.nat(), with: fc.nat() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      pair: fc.tuple(nameArb, valueArb).map(([name, value]) => `${name}=${value}`),
    }),
  },
);

function applyTextEdits(base: string, edits: readonly TextEdit[]): string {
  let out = base;
  const pos = (at: number, room = out.length + 1) => (room === 0 ? 0 : at % room);
  for (const e of edits) {
    switch (e.kind) {
      case "replace": {
        if (out.length === 0) break;
        const at = pos(e.at, out.length);
        out = out.slice(0, at) + e.with + out.slice(at + 1);
        break;
      }
      case "insert": {
        const at = pos(e.at);
        out = out.slice(0, at) + e.text + out.slice(at);
        break;
      }
      case "delete": {
        const at = pos(e.at, out.length);
        out = out.slice(0, at) + out.slice(at + e.count);
        break;
      }
      case "truncate":
        out = out.slice(0, pos(e.at, out.length));
        break;
      case "move":
      case "copy": {
        const from = pos(e.from, out.length);
        const piece = out.slice(from, from + e.length);
        const rest = e.kind === "move" ? out.slice(0, from) + out.slice(from + piece.length) : out;
        const to = pos(e.to, rest.length + 1);
        out = rest.slice(0, to) + piece + rest.slice(to);
        break;
      }
      case "quote": {
        const pairs = out.split("; ");
        const i = e.pair % pairs.length;
        const eq = pairs[i]!.indexOf("=");
        if (eq >= 0) pairs[i] = `${pairs[i]!.slice(0, eq + 1)}"${pairs[i]!.slice(eq + 1)}"`;
        out = pairs.join("; ");
        break;
      }
      case "swap": {
        const pairs = out.split("; ");
        const i = e.pair % pairs.length;
        const j = e.with % pairs.length;
        [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
        out = pairs.join("; ");
        break;
      }
      case "append":
        out = `${out}; ${e.pair}`;
        break;
    }
  }
  return out;
}

const repetitive = "the quick brown fox jumps over the lazy dog ".repeat(12);
const tamperApps: { app: App; secret: string }[] = [
  {
    app: makeApp("client-side encrypt", { transformer: encrypt({ key: key() }) }),
    secret: "s3cret",
  },
  {
    app: makeApp("client-side hmac, compressed into chunks", {
      transformer: hmac({ key: key() }),
      transport: cookieTransport({ maxCookieSize: 200, maxChunks: 8 }),
    }, 200),
    secret: repetitive,
  },
  {
    app: makeApp("client-side encrypt, plain chunks", {
      transformer: encrypt({ key: key() }),
      transport: cookieTransport({ maxCookieSize: 200, maxChunks: 8 }),
    }, 200),
    secret: toBase64Url(crypto.getRandomValues(new Uint8Array(240))),
  },
  {
    app: makeApp("server-side memory storage", { storage: new MemorySessionStorage() }),
    secret: "stored",
  },
  {
    app: makeApp("server-side memory storage with encrypt", {
      storage: new MemorySessionStorage(),
      transformer: encrypt({ key: key() }),
    }),
    secret: "stored too",
  },
];
const logins = await Promise.all(
  tamperApps.map(async ({ app, secret }) => {
    const data = { user: "ann", secret };
    const pairs = await app.login(data);
    const header = pairs.map(([name, value]) => `${name}=${value}`).join("; ");
    return { app, data, header };
  }),
);

Deno.test("the logins the tampering test starts from are real and cover plain, chunked and compressed cookies", async () => {
  const flags = logins.map(({ header }) => /=~([pz])[2-9]\./.exec(header)?.[1] ?? "-");
  assert.deepEqual(flags, ["-", "z", "p", "-", "-"]);
  for (const { app, data, header } of logins) {
    const visit = await app.visit(header);
    assert.ok(visit, app.label);
    assert.deepEqual(visit.seen.data, data, app.label);
    assert.equal(visit.seen.userId, "ann", app.label);
  }
});

/**
 * Applies `edits` to the reassembled data of a chunked cookie and writes it back in as many
 * chunks with a correct check tag, so that the change reaches the transformer.
 */
async function editChunkData(header: string, edits: readonly TextEdit[]): Promise<string> {
  const cookies = referenceCookies(header);
  const first = cookies.get(NAME)!;
  const match = CHUNK_HEADER.exec(first)!;
  const count = Number(match[2]);
  const parts = [first.slice(match[0].length)];
  for (let i = 1; i < count; i++) parts.push(cookies.get(`${NAME}.${i}`)!);
  const data = applyTextEdits(parts.join(""), edits);
  const pieces: string[] = [];
  let from = 0;
  for (let i = 0; i < count; i++) {
    const length = i === count - 1 ? data.length : parts[i]!.length;
    pieces.push(data.slice(from, from + length));
    from += length;
  }
  const prefix = `~${match[1]}${count}.${await sha256Tag(data)}.`;
  return pieces.map((piece, i) =>
    `${i === 0 ? NAME : `${NAME}.${i}`}=${i === 0 ? prefix : ""}${piece}`
  )
    .join("; ");
}

Deno.test("a tampered session cookie never yields the user's data unless the cookie still carries the same value", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat(logins.length - 1),
      fc.array(textEditArb, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      async (which, edits, insideChunks) => {
        const { app, data, header } = logins[which]!;
        const chunked = CHUNK_HEADER.test(referenceCookies(header).get(NAME)!);
        const mutated = chunked && insideChunks
          ? await editChunkData(header, edits)
          : applyTextEdits(header, edits);
        const visit = await app.visit(mutated);
        fc.pre(visit !== null);
        const { response, seen } = visit;
        assert.equal(response.status, 200);
        const same = await carriedValue(visit.header, app.maxCookieSize) ===
          await carriedValue(header, app.maxCookieSize);
        if (same) {
          assert.deepEqual(seen.data, data, `${app.label}: the same value must still be accepted`);
          assert.equal(seen.userId, "ann");
          return;
        }
        assert.equal(seen.isNew, true, `${app.label}: a changed cookie was accepted`);
        assert.deepEqual(seen.data, {}, app.label);
        assert.equal(seen.userId, null, app.label);
        assert.ok(
          seen.reason === null || COOKIE_CODES.includes(seen.reason),
          `${app.label}: unexpected reason ${seen.reason}`,
        );
      },
    ),
    { numRuns: 500 },
  );
});

// ------------------------------------------------------------------- transformer round trips

const SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
const fieldArb = fc.string({ unit: chars(SAFE), minLength: 1, maxLength: 16 });
const contextArb: fc.Arbitrary<TransformContext> = fc.record({ name: fieldArb, purpose: fieldArb });

/** Another context: random, one field changed, or the same characters split differently. */
const otherContextArb = (context: TransformContext): fc.Arbitrary<TransformContext> =>
  fc.oneof(
    contextArb,
    fieldArb.map((name) => ({ name, purpose: context.purpose })),
    fieldArb.map((purpose) => ({ name: context.name, purpose })),
    fc.nat().map((cut) => {
      const joined = context.name + context.purpose;
      const at = 1 + (cut % (joined.length - 1));
      return { name: joined.slice(0, at), purpose: joined.slice(at) };
    }),
    fc.constant({ name: context.purpose, purpose: context.name }),
  ).filter((other) => other.name !== context.name || other.purpose !== context.purpose);

const transformers: { label: string; make: () => SessionTransformer }[] = [
  { label: "encrypt", make: () => encrypt({ key: key() }) },
  { label: "hmac", make: () => hmac({ key: key() }) },
  { label: "digest", make: () => digest({ salt: toBase64Url(key()) }) },
  {
    label: "compose(hmac, encrypt)",
    make: () => compose(hmac({ key: key() }), encrypt({ key: key() })),
  },
];

for (const { label, make } of transformers) {
  Deno.test(`${label}: read(write(x)) gives x back, and null under another name, purpose or key`, async () => {
    const transformer = make();
    const stranger = make();
    await fc.assert(
      fc.asyncProperty(
        fc.fullUnicodeString({ maxLength: 200 }),
        contextArb.chain((context) => fc.tuple(fc.constant(context), otherContextArb(context))),
        async (value, [context, other]) => {
          const sealed = await transformer.write(value, context);
          assert.match(sealed, COOKIE_OCTETS, "a written value must fit in a cookie");
          assert.equal(await transformer.read(sealed, context), value);
          assert.equal(await transformer.read(sealed, other), null, "read under another context");
          assert.equal(await stranger.read(sealed, context), null, "read with another key or salt");
        },
      ),
      { numRuns: 120 },
    );
  });
}
