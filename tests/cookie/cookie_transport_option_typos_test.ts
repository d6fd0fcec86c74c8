// cookieTransport() refuses option names it does not know, as sessions() and
// MemorySessionStorage do: a misspelt `persistant: false` or a `maxAge` put on the transport
// (where Hono's and other libraries' cookie options keep it) must not pass silently, leaving a
// persistent cookie and a 7-day session where a browser-session cookie or one hour was meant.

import assert from "node:assert/strict";
import { cookieTransport, type CookieTransportOptions } from "../../lib/cookie/cookie_transport.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { sessions } from "../../lib/cookie/sessions.ts";
import { CookieJar, withServer } from "./_helpers.ts";

const typo = (options: Record<string, unknown>) => () =>
  cookieTransport(options as CookieTransportOptions);

Deno.test("cookieTransport() refuses a misspelt option, naming the one meant", () => {
  assert.throws(typo({ name: "sid", persistant: false }), {
    name: "TypeError",
    message: /"persistant".*did you mean "persistent"/,
  });
  assert.throws(typo({ name: "sid", samesite: "Strict" }), {
    name: "TypeError",
    message: /"samesite".*did you mean "sameSite"/,
  });
  assert.throws(typo({ name: "sid", httponly: false }), /did you mean "httpOnly"/);
});

Deno.test("cookieTransport() refuses a lifetime option: lifetimes belong to sessions()", () => {
  for (const key of ["maxAge", "expires", "ttl"]) {
    assert.throws(typo({ name: "sid", [key]: 3600 }), TypeError, `${key} is refused`);
  }
});

Deno.test("a maxAge given to the transport does not silently leave a 7-day session", async () => {
  let transport;
  try {
    transport = cookieTransport({ name: "sid", secure: false, maxAge: 3600 } as never);
  } catch (error) {
    assert.ok(error instanceof TypeError);
    return; // refused at the call: the mistake is caught
  }
  const handler = sessions({ storage: new MemorySessionStorage(), transport })(
    (_req, _info, session) => {
      session.setUser("ann");
      return new Response("ok");
    },
  );
  await withServer(handler, async (base) => {
    const res = await new CookieJar().fetch(`${base}/`);
    await res.body?.cancel();
    const maxAge = Number(/Max-Age=(\d+)/.exec(res.headers.getSetCookie()[0]!)?.[1]);
    assert.ok(maxAge <= 3600, `the cookie lives ${maxAge} s, not the hour asked for`);
  });
});
