import assert from "node:assert/strict";
import { CookieError } from "../../lib/errors.ts";
import { headerTransport } from "../../lib/cookie/header_transport.ts";

function request(headers: Record<string, string> = {}): Request {
  return new Request("https://example.com/", { headers });
}

Deno.test("headerTransport() reads the configured header case-insensitively", async () => {
  const transport = headerTransport({ name: "X-Api-Session" });
  assert.equal(transport.name, "x-api-session");
  assert.deepEqual(await transport.read(request({ "X-API-SESSION": "t1.abc" })), {
    value: "t1.abc",
    reason: null,
    present: ["x-api-session"],
  });
  assert.deepEqual(await transport.read(request()), { value: null, reason: null, present: [] });
});

Deno.test("headerTransport() refuses oversized and malformed values", async () => {
  const transport = headerTransport({ maxLength: 16 });
  assert.equal(
    (await transport.read(request({ "x-session": "a".repeat(17) }))).reason,
    "cookie_too_large",
  );
  assert.equal((await transport.read(request({ "x-session": "a b" }))).reason, "cookie_malformed");
  assert.equal((await transport.read(request({ "x-session": "a;b" }))).reason, "cookie_malformed");
});

Deno.test("headerTransport() sets the header on write and an empty one on delete", async () => {
  const transport = headerTransport();
  const headers = new Headers();
  await transport.write(headers, "abc", { maxAge: 60, present: [] });
  assert.equal(headers.get("x-session"), "abc");
  const cleared = new Headers();
  await transport.write(cleared, null, { maxAge: 0, present: ["x-session"] });
  assert.equal(cleared.get("x-session"), "");
  const untouched = new Headers();
  await transport.write(untouched, null, { maxAge: 0, present: [] });
  assert.equal(untouched.has("x-session"), false, "nothing to clear when the client sent nothing");
});

Deno.test("headerTransport() write refuses values over the bound or not cookie-safe", async () => {
  const transport = headerTransport({ maxLength: 8 });
  await assert.rejects(
    transport.write(new Headers(), "a".repeat(9), { maxAge: 1, present: [] }),
    (err) => err instanceof CookieError && err.code === "cookie_too_large",
  );
  await assert.rejects(
    transport.write(new Headers(), "a b", { maxAge: 1, present: [] }),
    TypeError,
  );
});

Deno.test("headerTransport() refuses an invalid name or bound at creation", () => {
  assert.throws(() => headerTransport({ name: "x session" }), TypeError);
  assert.throws(() => headerTransport({ name: "" }), TypeError);
  assert.throws(() => headerTransport({ maxLength: 0 }), RangeError);
});
