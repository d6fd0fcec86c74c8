// Remember-me is one user's choice. Switching the session to another user (setUser("bob"), or
// setUser(null) and then a login) drops the previous user's data and flash values; it must drop
// their remember-me choice too. Else, on a shared computer, ann's "remember me" leaves bob, who
// did not tick it, with a persistent cookie that survives closing the browser.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { encrypt } from "../../lib/cookie/encrypt.ts";
import { MemorySessionStorage } from "../../lib/cookie/memory_storage.ts";
import { sessions, type SessionsOptions } from "../../lib/cookie/sessions.ts";
import { CookieJar, randomKey, withServer } from "./_helpers.ts";

/** `/login?user=..&remember=on` (the box ticked or not), `/unbind`, `/` shows the state. */
function app(options: SessionsOptions) {
  return sessions({
    ...options,
    // Browser-session cookies unless a user asks to be remembered.
    transport: cookieTransport({ name: "sid", secure: false, persistent: false }),
  })((req, _info, session) => {
    const url = new URL(req.url);
    if (url.pathname === "/login") {
      session.setUser(url.searchParams.get("user")!);
      if (url.searchParams.get("remember") === "on") session.setPersistent(true);
    }
    if (url.pathname === "/unbind") session.setUser(null);
    return new Response(`${session.userId ?? "-"} ${session.persistent ?? "default"}`);
  });
}

function sessionCookie(res: Response): string | undefined {
  return res.headers.getSetCookie().find((line) => !/Max-Age=0\b/.test(line));
}

const MODES: [string, () => SessionsOptions][] = [
  ["MemorySessionStorage", () => ({ storage: new MemorySessionStorage() })],
  ["client-side encrypt()", () => ({ transformer: encrypt({ key: randomKey() }) })],
];

for (const [mode, make] of MODES) {
  for (const path of [["/login?user=bob"], ["/unbind", "/login?user=bob"]]) {
    Deno.test(`${mode}: ${path.join(" then ")} after ann's remember-me gives bob no persistent cookie`, async () => {
      await withServer(app(make()), async (base) => {
        const jar = new CookieJar();
        const ann = await jar.fetch(`${base}/login?user=ann&remember=on`);
        assert.equal(await ann.text(), "ann true");
        assert.match(sessionCookie(ann)!, /Max-Age=\d+/);

        let bob: Response | undefined;
        for (const step of path) {
          bob = await jar.fetch(`${base}${step}`);
          if (step !== path.at(-1)) await bob.body?.cancel();
        }
        assert.equal(await bob!.text(), "bob default", "bob made no choice");
        assert.doesNotMatch(
          sessionCookie(bob!)!,
          /Max-Age/,
          "bob's cookie is a browser-session cookie",
        );
      });
    });
  }
}
