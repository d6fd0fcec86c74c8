// sessions({ now }) takes "the clock, in ms since the Unix epoch". A high-resolution clock
// (performance.timeOrigin + performance.now()) gives fractional milliseconds; sessions() writes
// them into the envelope as they are, and then refuses its own envelope on the next request as
// cookie_malformed: every login is silently lost, and the logs blame the client for a bad
// cookie. What sessions() writes it must read back. Over real HTTP against Deno.serve.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { sessions, type SessionsOptions } from "../../lib/cookie/sessions.ts";
import { CookieJar, randomKey, withServer } from "./_helpers.ts";

const highResolution = (): number => performance.timeOrigin + performance.now();

const MODES: [string, () => SessionsOptions][] = [
  ["client-side encrypt()", () => ({ transformer: encrypt({ key: randomKey() }) })],
  ["MemorySessionStorage", () => ({ storage: new MemorySessionStorage() })],
];

for (const [mode, make] of MODES) {
  Deno.test(`${mode}: a session written under a fractional-millisecond clock reads back`, async () => {
    const handler = sessions({
      ...make(),
      now: highResolution,
      transport: cookieTransport({ name: "sid", secure: false }),
    })((req, _info, session) => {
      if (new URL(req.url).pathname === "/login") session.setUser("ann");
      return new Response(`${session.userId ?? "-"} ${session.reason ?? "-"}`);
    });
    await withServer(handler, async (base) => {
      const jar = new CookieJar();
      assert.equal(await jar.text(`${base}/login`), "ann -");
      assert.equal(await jar.text(`${base}/`), "ann -", "still logged in on the next request");
    });
  });
}
