import assert from "node:assert/strict";
// Pinned interop peers, dev-only (the library itself imports nothing from npm).
import { sealData, unsealData } from "npm:iron-session@8.0.4";
import * as ironWebcrypto from "npm:iron-webcrypto@1.2.1";
import { fallback, iron } from "../../lib/cookie/iron.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { hmac } from "../../lib/cookie/hmac.ts";
import { keyring } from "../../lib/cookie/keyring.ts";
import { compose, MAX_SEALED_LENGTH } from "../../lib/cookie/compose.ts";
import { fromBase64Url } from "../../lib/crypto/_bytes.ts";
import type { SessionTransformer, TransformContext } from "../../lib/cookie/transformer.ts";

const CONTEXT: TransformContext = { name: "iron-session", purpose: "session" };
const PASSWORD = "complex_password_at_least_32_characters_long";
const OLD_PASSWORD = "an_older_password_also_32_characters_long!";
const DATA = { user: { id: 230, admin: true, name: "ada" }, cart: [1, 2, 3] };
const JSON_DATA = JSON.stringify(DATA);
const HEX = "0123456789abcdef";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The global Web Crypto, typed as iron-webcrypto's older declarations expect. */
const webCrypto = crypto as unknown as Parameters<typeof ironWebcrypto.seal>[0];

/** A fixed clock, in milliseconds. */
function clock(ms: number): () => number {
  return () => ms;
}

/** Replaces the character at `i` by another one of the same class. */
function mutate(value: string, i: number): string {
  const c = value[i]!;
  let next: string;
  if (/[0-9]/.test(c)) next = String((Number(c) + 1) % 10);
  else if (/[a-f]/.test(c)) next = HEX[10 + ((HEX.indexOf(c) - 9) % 6)]!;
  else if (c === "*" || c === "~" || c === ".") next = "A";
  else next = B64URL[(B64URL.indexOf(c) + 1) % 64]!;
  return value.slice(0, i) + next + value.slice(i + 1);
}

Deno.test("iron() reads a seal made by iron-session's sealData", async () => {
  const sealed = await sealData(DATA, { password: PASSWORD });
  assert.match(sealed, /^Fe26\.2\*1\*[0-9a-f]{64}\*/);
  const t = iron({ password: PASSWORD });
  assert.equal(await t.read(sealed, CONTEXT), JSON_DATA);
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: JSON_DATA, stale: false });
});

Deno.test("iron-session's unsealData reads a seal made by iron()", async () => {
  const sealed = await iron({ password: PASSWORD }).write(JSON_DATA, CONTEXT);
  assert.match(
    sealed,
    /^Fe26\.2\*1\*[0-9a-f]{64}\*[A-Za-z0-9_-]{22}\*[A-Za-z0-9_-]+\*[0-9]+\*[0-9a-f]{64}\*[A-Za-z0-9_-]{43}~2$/,
  );
  assert.deepEqual(await unsealData(sealed, { password: PASSWORD }), DATA);
});

Deno.test("iron() and iron-session agree on password maps and ids", async () => {
  const passwords = { 2: PASSWORD, 1: OLD_PASSWORD };
  const t = iron({ password: passwords });
  const mine = await t.write(JSON_DATA, CONTEXT);
  assert.ok(mine.startsWith("Fe26.2*2*"));
  assert.deepEqual(await unsealData(mine, { password: passwords }), DATA);
  const theirsOld = await sealData(DATA, { password: { 1: OLD_PASSWORD } });
  assert.deepEqual(await t.inspect(theirsOld, CONTEXT), {
    ok: true,
    value: JSON_DATA,
    stale: true,
  });
  const theirsNew = await sealData(DATA, { password: passwords });
  assert.deepEqual(await t.inspect(theirsNew, CONTEXT), {
    ok: true,
    value: JSON_DATA,
    stale: false,
  });
});

Deno.test("iron() seals with an explicit current id and reads non-numeric ids", async () => {
  const t = iron({ password: { blue: PASSWORD, green: OLD_PASSWORD }, current: "green" });
  const sealed = await t.write("v", CONTEXT);
  assert.ok(sealed.startsWith("Fe26.2*green*"));
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: "v", stale: false });
  const other = iron({ password: { blue: PASSWORD, green: OLD_PASSWORD }, current: "blue" });
  assert.deepEqual(await other.inspect(sealed, CONTEXT), { ok: true, value: "v", stale: true });
});

Deno.test("iron() reports a seal under a password id it does not hold as cookie_unknown_key", async () => {
  const sealed = await sealData(DATA, { password: { 7: PASSWORD } });
  const t = iron({ password: { 1: PASSWORD } });
  assert.equal(await t.read(sealed, CONTEXT), null);
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: false, code: "cookie_unknown_key" });
});

Deno.test("iron() reads a seal without password id (iron-webcrypto) under the id 'default'", async () => {
  const sealed = await ironWebcrypto.seal(webCrypto, DATA, PASSWORD, ironWebcrypto.defaults);
  assert.ok(sealed.startsWith("Fe26.2**"));
  const t = iron({ password: { default: PASSWORD, 2: OLD_PASSWORD }, current: "2" });
  assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: true, value: JSON_DATA, stale: true });
  assert.deepEqual(await iron({ password: { 1: PASSWORD } }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_unknown_key",
  });
  const mine = await iron({ password: { default: PASSWORD }, current: "default" }).write(
    JSON_DATA,
    CONTEXT,
  );
  assert.deepEqual(
    await ironWebcrypto.unseal(
      webCrypto,
      mine.slice(0, -2),
      { default: PASSWORD },
      ironWebcrypto.defaults,
    ),
    DATA,
  );
});

Deno.test("iron() refuses a seal made under another password", async () => {
  const sealed = await sealData(DATA, { password: OLD_PASSWORD });
  assert.deepEqual(await iron({ password: PASSWORD }).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("iron() writes iron's TTL and refuses an expired seal, with iron's 60 s skew", async () => {
  const t0 = 1_700_000_000_000;
  const writer = iron({ password: PASSWORD, ttl: 3600, now: clock(t0) });
  const sealed = await writer.write("v", CONTEXT);
  assert.equal(sealed.split("*")[5], String(t0 + 3_600_000));
  const at = (ms: number) => iron({ password: PASSWORD, now: clock(ms) });
  assert.deepEqual(await at(t0 + 3_600_000).inspect(sealed, CONTEXT), {
    ok: true,
    value: "v",
    stale: false,
  });
  assert.deepEqual(await at(t0 + 3_659_999).inspect(sealed, CONTEXT), {
    ok: true,
    value: "v",
    stale: false,
  });
  assert.equal(await at(t0 + 3_660_000).read(sealed, CONTEXT), null);
  assert.deepEqual(await at(t0 + 3_660_000).inspect(sealed, CONTEXT), {
    ok: false,
    code: "cookie_expired",
  });
});

Deno.test("iron() and iron-session agree on expiry in both directions", async () => {
  const now = Date.now();
  const theirs = await sealData(DATA, { password: PASSWORD, ttl: 60 });
  const exp = Number(theirs.split("*")[5]);
  assert.ok(exp >= now + 60_000 && exp < now + 120_000);
  const later = iron({ password: PASSWORD, now: clock(exp + 60_000) });
  assert.deepEqual(await later.inspect(theirs, CONTEXT), { ok: false, code: "cookie_expired" });
  const past = iron({ password: PASSWORD, ttl: 1, now: clock(now - 3_600_000) });
  const mine = await past.write(JSON_DATA, CONTEXT);
  assert.deepEqual(await unsealData(mine, { password: PASSWORD }), {});
});

Deno.test("iron() with ttl 0 writes no expiry, as iron-session does", async () => {
  const mine = await iron({ password: PASSWORD, ttl: 0 }).write(JSON_DATA, CONTEXT);
  assert.equal(mine.split("*")[5], "");
  assert.deepEqual(await unsealData(mine, { password: PASSWORD, ttl: 0 }), DATA);
  const theirs = await sealData(DATA, { password: PASSWORD, ttl: 0 });
  const farFuture = iron({ password: PASSWORD, now: clock(Date.now() + 1e12) });
  assert.equal(await farFuture.read(theirs, CONTEXT), JSON_DATA);
});

Deno.test("iron() verifies the MAC before it reports an expiry", async () => {
  const sealed = await iron({ password: PASSWORD, ttl: 1, now: clock(1000) }).write("v", CONTEXT);
  const parts = sealed.split("*");
  parts[7] = "A".repeat(43) + "~2";
  assert.deepEqual(await iron({ password: PASSWORD }).inspect(parts.join("*"), CONTEXT), {
    ok: false,
    code: "cookie_tampered",
  });
});

Deno.test("iron() reads a plain Fe26.2 seal without iron-session's ~2 suffix", async () => {
  const t = iron({ password: PASSWORD, versionSuffix: false });
  const sealed = await t.write("plain", CONTEXT);
  assert.ok(!sealed.includes("~"));
  assert.equal(await t.read(sealed, CONTEXT), "plain");
  assert.equal(await iron({ password: PASSWORD }).read(sealed, CONTEXT), "plain");
});

Deno.test("iron() refuses a seal with a character changed at every position", async () => {
  const t = iron({ password: { 1: PASSWORD } });
  const sealed = await t.write('{"a":1}', CONTEXT);
  const allowed = new Set([
    "cookie_malformed",
    "cookie_tampered",
    "cookie_unknown_key",
    "cookie_unsupported_version",
  ]);
  for (let i = 0; i < sealed.length; i++) {
    const bad = mutate(sealed, i);
    assert.notEqual(bad, sealed);
    assert.equal(await t.read(bad, CONTEXT), null, `position ${i}`);
    const result = await t.inspect(bad, CONTEXT);
    assert.equal(result.ok, false, `position ${i}`);
    assert.ok(!result.ok && allowed.has(result.code), `position ${i}: ${JSON.stringify(result)}`);
  }
  // Changes inside the salts, IV, ciphertext, expiry and MAC are MAC failures.
  const start = "Fe26.2*1*".length;
  for (let i = start; i < sealed.length - 2; i++) {
    if (sealed[i] === "*") continue;
    const bad = mutate(sealed, i);
    const piece = bad.slice(0, -2).split("*");
    const decodable = [3, 4, 7].every((p) => fromBase64Url(piece[p]!) !== null);
    assert.deepEqual(await t.inspect(bad, CONTEXT), {
      ok: false,
      code: decodable ? "cookie_tampered" : "cookie_malformed",
    }, `position ${i}`);
  }
});

Deno.test("iron() refuses every truncation of a seal", async () => {
  const t = iron({ password: PASSWORD });
  const sealed = await t.write('{"a":1}', CONTEXT);
  for (let n = 0; n < sealed.length; n++) {
    if (n === sealed.length - 2) continue; // the seal without iron-session's suffix: see below
    const cut = sealed.slice(0, n);
    const result = await t.inspect(cut, CONTEXT);
    assert.equal(result.ok, false, `${n}`);
    if (n === sealed.length - 1) {
      assert.deepEqual(result, { ok: false, code: "cookie_malformed" }); // "~" with no version
    } else {
      assert.ok(
        !result.ok && ["cookie_malformed", "cookie_tampered"].includes(result.code),
        `${n}`,
      );
    }
  }
  assert.deepEqual(await t.inspect(sealed.slice(0, -2), CONTEXT), {
    ok: true,
    value: '{"a":1}',
    stale: false,
  });
});

Deno.test("iron() refuses malformed seals with cookie_malformed", async () => {
  const t = iron({ password: PASSWORD });
  const sealed = await t.write("v", CONTEXT);
  const parts = sealed.slice(0, -2).split("*");
  const variant = (i: number, v: string) => parts.map((p, j) => (j === i ? v : p)).join("*") + "~2";
  const cases = [
    "",
    "Fe26.2",
    "Fe26.2*",
    "Fe26.2*1*a*b*c*d*e",
    sealed.slice(0, -2) + "*extra~2",
    "fe26.2" + sealed.slice(6),
    variant(1, "a-b"),
    variant(2, "not-hex!"),
    variant(2, ""),
    variant(3, "AAAA"),
    variant(3, "A+AAAAAAAAAAAAAAAAAAAA"),
    variant(4, ""),
    variant(4, "AAAA"),
    variant(5, "12x"),
    variant(5, "-1"),
    variant(6, "zz"),
    variant(7, "A".repeat(42)),
    variant(7, "A".repeat(43) + "="),
    sealed + "~2",
    sealed.slice(0, -2) + "~",
    sealed.slice(0, -2) + "~x",
  ];
  for (const bad of cases) {
    assert.equal(await t.read(bad, CONTEXT), null, bad);
    assert.deepEqual(await t.inspect(bad, CONTEXT), { ok: false, code: "cookie_malformed" }, bad);
  }
  for (const bad of [null, undefined, 5, {}]) {
    assert.equal(await t.read(bad as unknown as string, CONTEXT), null);
  }
});

Deno.test("iron() reports other iron and iron-session versions as unsupported", async () => {
  const t = iron({ password: PASSWORD });
  const sealed = await t.write("v", CONTEXT);
  for (
    const bad of ["Fe26.1" + sealed.slice(6), sealed.slice(0, -1) + "3", sealed.slice(0, -1) + "1"]
  ) {
    assert.equal(await t.read(bad, CONTEXT), null);
    assert.deepEqual(await t.inspect(bad, CONTEXT), {
      ok: false,
      code: "cookie_unsupported_version",
    }, bad);
  }
});

Deno.test("iron() refuses an oversized seal before any crypto", async () => {
  const t = iron({ password: PASSWORD });
  const sealed = (await t.write("v", CONTEXT)) + "A".repeat(MAX_SEALED_LENGTH);
  const subtle = crypto.subtle as unknown as Record<string, unknown>;
  let calls = 0;
  for (const name of ["importKey", "deriveKey", "verify", "decrypt"]) {
    const original = subtle[name] as (...a: unknown[]) => unknown;
    subtle[name] = (...a: unknown[]) => {
      calls++;
      return original.apply(crypto.subtle, a);
    };
  }
  try {
    assert.deepEqual(await t.inspect(sealed, CONTEXT), { ok: false, code: "cookie_too_large" });
  } finally {
    for (const name of ["importKey", "deriveKey", "verify", "decrypt"]) delete subtle[name];
  }
  assert.equal(calls, 0);
});

Deno.test("iron-session's unsealData returns {} for a seal tampered after iron() made it", async () => {
  const sealed = await iron({ password: PASSWORD }).write(JSON_DATA, CONTEXT);
  const parts = sealed.split("*");
  parts[4] = parts[4]!.slice(0, -2) + (parts[4]!.endsWith("AA") ? "BA" : "AA");
  assert.deepEqual(await unsealData(parts.join("*"), { password: PASSWORD }), {});
});

Deno.test("iron() refuses passwords shorter than 32 characters and bad ids", () => {
  assert.throws(() => iron({ password: "short" }), RangeError);
  assert.throws(() => iron({ password: { 1: PASSWORD, 2: "short" } }), RangeError);
  assert.throws(() => iron({ password: { "a-b": PASSWORD } }), TypeError);
  assert.throws(() => iron({ password: { a: PASSWORD } }), TypeError); // current needed
  assert.throws(() => iron({ password: { 1: PASSWORD }, current: "2" }), TypeError);
  assert.throws(() => iron({ password: {} }), RangeError);
  assert.throws(() => iron({ password: 42 as unknown as string }), TypeError);
  assert.throws(() => iron({ password: PASSWORD, ttl: -1 }), RangeError);
  assert.throws(() => iron({ password: PASSWORD, ttl: 1.5 }), RangeError);
  assert.throws(() => iron({ password: PASSWORD, now: 5 as unknown as () => number }), TypeError);
});

Deno.test("iron() imports each password once and derives per seal, as the format requires", async () => {
  const t = iron({ password: PASSWORD });
  await t.write("warm-up", CONTEXT);
  const subtle = crypto.subtle as unknown as Record<string, unknown>;
  const counts: Record<string, number> = { importKey: 0, deriveKey: 0 };
  for (const name of Object.keys(counts)) {
    const original = subtle[name] as (...a: unknown[]) => unknown;
    subtle[name] = (...a: unknown[]) => {
      // Only the library's own calls: Deno 2.5's deriveKey calls importKey itself.
      const caller = new Error().stack?.split("\n")[2] ?? "";
      if (!caller.includes("ext:deno_crypto")) counts[name]!++;
      return original.apply(crypto.subtle, a);
    };
  }
  try {
    const sealed = await t.write("v", CONTEXT);
    assert.equal(await t.read(sealed, CONTEXT), "v");
  } finally {
    for (const name of Object.keys(counts)) delete subtle[name];
  }
  assert.deepEqual(counts, { importKey: 0, deriveKey: 4 });
});

Deno.test("fallback() reads an iron-session seal as stale and re-seals it with encrypt()", async () => {
  const sealer = fallback(
    encrypt({ key: new Uint8Array(32).fill(1) }),
    iron({ password: PASSWORD }),
  );
  const old = await sealData(DATA, { password: PASSWORD });
  assert.deepEqual(await sealer.inspect(old, CONTEXT), { ok: true, value: JSON_DATA, stale: true });
  const resealed = await sealer.write(JSON_DATA, CONTEXT);
  assert.ok(resealed.startsWith("t1.e.0."));
  assert.deepEqual(await sealer.inspect(resealed, CONTEXT), {
    ok: true,
    value: JSON_DATA,
    stale: false,
  });
  assert.equal(await sealer.read(resealed, CONTEXT), JSON_DATA);
});

Deno.test("fallback() keeps the primary's staleness for primary values", async () => {
  const old = encrypt({ key: keyring({ current: "a", keys: { a: new Uint8Array(32).fill(1) } }) });
  const ring = keyring({
    current: "b",
    keys: { a: new Uint8Array(32).fill(1), b: new Uint8Array(32) },
  });
  const sealer = fallback(encrypt({ key: ring }), iron({ password: PASSWORD }));
  assert.deepEqual(await sealer.inspect(await old.write("v", CONTEXT), CONTEXT), {
    ok: true,
    value: "v",
    stale: true,
  });
  assert.deepEqual(await sealer.inspect(await sealer.write("v", CONTEXT), CONTEXT), {
    ok: true,
    value: "v",
    stale: false,
  });
});

Deno.test("fallback() reports the legacy reason for a legacy seal and the primary's otherwise", async () => {
  const t0 = 1_700_000_000_000;
  const legacy = iron({ password: PASSWORD, ttl: 60, now: clock(t0) });
  const sealer = fallback(
    compose(hmac({ key: new Uint8Array(32) })),
    iron({
      password: PASSWORD,
      now: clock(t0 + 3_600_000),
    }),
  );
  const expired = await legacy.write("v", CONTEXT);
  assert.deepEqual(await sealer.inspect(expired, CONTEXT), { ok: false, code: "cookie_expired" });
  const forged = await iron({ password: OLD_PASSWORD }).write("v", CONTEXT);
  assert.deepEqual(await sealer.inspect(forged, CONTEXT), { ok: false, code: "cookie_tampered" });
  const mine = await sealer.write("v", CONTEXT);
  assert.deepEqual(await sealer.inspect(mine, { name: "x", purpose: "session" }), {
    ok: false,
    code: "cookie_tampered",
  });
  assert.deepEqual(await sealer.inspect("garbage", CONTEXT), {
    ok: false,
    code: "cookie_malformed",
  });
  assert.deepEqual(await sealer.inspect("t7.m.0.a.b", CONTEXT), {
    ok: false,
    code: "cookie_unsupported_version",
  });
  assert.equal(await sealer.read(expired, CONTEXT), null);
});

Deno.test("fallback() upgrades legacy values when asked, and refuses what upgrade refuses", async () => {
  const legacy = iron({ password: PASSWORD });
  const old = await legacy.write(JSON_DATA, CONTEXT);
  const wrapped = fallback(digest0(), legacy, { upgrade: (v) => `{"legacy":${v}}` });
  assert.deepEqual(await wrapped.inspect(old, CONTEXT), {
    ok: true,
    value: `{"legacy":${JSON_DATA}}`,
    stale: true,
  });
  const refusing = fallback(digest0(), legacy, { upgrade: () => null });
  assert.deepEqual(await refusing.inspect(old, CONTEXT), { ok: false, code: "cookie_malformed" });
  const throwing = fallback(digest0(), legacy, {
    upgrade: () => {
      throw new Error("bad json");
    },
  });
  assert.deepEqual(await throwing.inspect(old, CONTEXT), { ok: false, code: "cookie_malformed" });
});

Deno.test("fallback() refuses arguments that are not transformers", () => {
  const t = iron({ password: PASSWORD });
  assert.throws(() => fallback(t, {} as SessionTransformer), TypeError);
  assert.throws(() => fallback(null as unknown as SessionTransformer, t), TypeError);
  assert.throws(() => fallback(t, t, { upgrade: "x" as unknown as () => string }), TypeError);
});

/** A trivial primary transformer that recognises nothing but its own prefix. */
function digest0(): SessionTransformer {
  return {
    write: (v) => Promise.resolve(`P${v}`),
    read: (v) => Promise.resolve(v.startsWith("P") ? v.slice(1) : null),
  };
}
