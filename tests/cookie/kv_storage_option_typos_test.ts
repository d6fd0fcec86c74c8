// KvSessionStorage and KvRevocationStore refuse option names they do not know, as sessions() and
// MemorySessionStorage do. A misspelt `prefix` passes silently today and falls back to the
// default prefix: two apps meant to keep their sessions apart in one KV database then share one
// namespace, and a user who logs in to one is logged in to the other with the same cookie value.
// Over real HTTP against Deno.serve on 127.0.0.1.

import assert from "node:assert/strict";
import { cookieTransport } from "../../lib/cookie/cookie_transport.ts";
import { KvSessionStorage, type KvSessionStorageOptions } from "../../lib/cookie/kv_storage.ts";
import { KvRevocationStore, type KvRevocationStoreOptions } from "../../lib/cookie/revocation.ts";
import { sessions } from "../../lib/cookie/sessions.ts";
import { withKv } from "../_kv.ts";
import { CookieJar, withServer } from "./_helpers.ts";

Deno.test("KvSessionStorage refuses a misspelt option, naming the one meant", async () => {
  await withKv((kv) => {
    assert.throws(
      () => new KvSessionStorage(kv, { prefx: ["shop"] } as KvSessionStorageOptions),
      { name: "TypeError", message: /"prefx".*did you mean "prefix"/ },
    );
    assert.throws(
      () => new KvSessionStorage(kv, { retries: 3 } as KvSessionStorageOptions),
      TypeError,
    );
    return Promise.resolve();
  });
});

Deno.test("KvRevocationStore refuses a misspelt option", async () => {
  await withKv((kv) => {
    assert.throws(
      () => new KvRevocationStore(kv, { prefx: ["shop"] } as KvRevocationStoreOptions),
      /did you mean "prefix"/,
    );
    return Promise.resolve();
  });
});

Deno.test("a misspelt prefix does not let a login on one app open a session on another", async () => {
  await withKv(async (kv) => {
    const storageFor = (prefix: string) => {
      try {
        return new KvSessionStorage(kv, { prefx: [prefix] } as KvSessionStorageOptions);
      } catch (error) {
        assert.ok(error instanceof TypeError);
        return null; // refused at the call: the apps never run
      }
    };
    const shopStorage = storageFor("shop");
    const adminStorage = storageFor("admin");
    if (shopStorage === null || adminStorage === null) return;
    const transport = cookieTransport({ name: "sid", secure: false });
    const shop = sessions({ storage: shopStorage, transport })((req, _info, session) => {
      if (new URL(req.url).pathname === "/login") session.setUser("mallory");
      return new Response(session.userId ?? "-");
    });
    const admin = sessions({ storage: adminStorage, transport })((_req, _info, session) =>
      new Response(session.userId ?? "-")
    );
    await withServer(shop, async (shopBase) => {
      await withServer(admin, async (adminBase) => {
        const jar = new CookieJar();
        assert.equal(await jar.text(`${shopBase}/login`), "mallory");
        // The same cookie value, sent to the other app.
        assert.equal(await jar.text(`${adminBase}/`), "-", "the admin app sees no session");
      });
    });
  });
});
