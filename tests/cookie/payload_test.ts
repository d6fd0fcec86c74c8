import assert from "node:assert/strict";
import {
  checkPayload,
  decodePayload,
  encodePayload,
  MAX_PAYLOAD_LENGTH,
  type SessionPayload,
  toWire,
} from "../../lib/cookie/payload.ts";

const payload: SessionPayload = {
  issuedAt: 1000,
  expiresAt: 9000,
  idleExpiresAt: 5000,
  userId: "ann",
  epoch: 2,
  data: { count: 3, list: [1, "a"], nested: { ok: true } },
  flash: { note: "saved" },
};

Deno.test("encodePayload() and decodePayload() round-trip every field", () => {
  const result = decodePayload(encodePayload(payload), 2000);
  assert.deepEqual(result, { ok: true, payload });
});

Deno.test("encodePayload() leaves out an empty flash map and an epoch without user", () => {
  const wire = toWire({ ...payload, userId: undefined, flash: {} });
  assert.deepEqual(Object.keys(wire), ["v", "iat", "exp", "idl", "d"]);
});

Deno.test("decodePayload() refuses a value at or past its absolute expiry", () => {
  const p = { ...payload, idleExpiresAt: 9000 };
  assert.equal(decodePayload(encodePayload(p), 8999).ok, true);
  assert.deepEqual(decodePayload(encodePayload(p), 9000), { ok: false, code: "cookie_expired" });
});

Deno.test("decodePayload() refuses a value at or past its idle expiry", () => {
  assert.equal(decodePayload(encodePayload(payload), 4999).ok, true);
  assert.deepEqual(decodePayload(encodePayload(payload), 5000), {
    ok: false,
    code: "cookie_expired",
  });
});

Deno.test("decodePayload() refuses a newer format version as unsupported", () => {
  const text = JSON.stringify({ ...toWire(payload), v: 2 });
  assert.deepEqual(decodePayload(text, 2000), { ok: false, code: "cookie_unsupported_version" });
});

Deno.test("decodePayload() refuses an oversized value before parsing it", () => {
  const text = " ".repeat(MAX_PAYLOAD_LENGTH + 1);
  assert.deepEqual(decodePayload(text, 0), { ok: false, code: "cookie_too_large" });
});

Deno.test("decodePayload() refuses every malformed shape with cookie_malformed", () => {
  const wire = toWire(payload);
  const bad: unknown[] = [
    "not json",
    "[]",
    "null",
    '"text"',
    JSON.stringify({ ...wire, v: "1" }),
    JSON.stringify({ ...wire, iat: -1 }),
    JSON.stringify({ ...wire, iat: 1.5 }),
    JSON.stringify({ ...wire, exp: "9000" }),
    JSON.stringify({ ...wire, iat: 9999 }),
    JSON.stringify({ ...wire, idl: 9999 }),
    JSON.stringify({ ...wire, uid: 5 }),
    JSON.stringify({ ...wire, uid: "" }),
    JSON.stringify({ ...wire, uid: "a\nb" }),
    JSON.stringify({ ...wire, ep: -1 }),
    JSON.stringify({ ...wire, uid: undefined }),
    JSON.stringify({ ...wire, d: [] }),
    JSON.stringify({ ...wire, d: null }),
    JSON.stringify({ ...wire, f: "x" }),
  ];
  for (const text of bad) {
    assert.deepEqual(
      decodePayload(text as string, 2000),
      { ok: false, code: "cookie_malformed" },
      String(text),
    );
  }
});

Deno.test("checkPayload() keeps a __proto__ key as plain data", () => {
  const wire = JSON.parse('{"v":1,"iat":0,"exp":10,"idl":10,"d":{"__proto__":{"admin":true}}}');
  const result = checkPayload(wire, 1);
  assert.ok(result.ok);
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  assert.deepEqual(Object.keys(result.payload.data), ["__proto__"]);
});
