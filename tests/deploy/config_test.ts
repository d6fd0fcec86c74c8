// The Deploy example's configuration: every key from a variable, and each mistake named.

import assert from "node:assert/strict";
import { ConfigError, loadConfig, makeKeys } from "../../examples/deploy_app.ts";

/** The variables of a fresh key set, as `--keys=dotenv` prints them (PEM with `\n` escapes). */
async function dotenv(): Promise<Record<string, string>> {
  const vars: Record<string, string> = {};
  for (const m of (await makeKeys("dotenv")).matchAll(/^([A-Z_]+)=(['"])(.*)\2$/gm)) {
    vars[m[1]!] = m[3]!;
  }
  return vars;
}

/** Loads `vars` with `changes` applied (`undefined` removes a variable). */
function load(vars: Record<string, string>, changes: Record<string, string | undefined> = {}) {
  const merged: Record<string, string | undefined> = { ...vars, ...changes };
  return loadConfig((name) => merged[name]);
}

Deno.test("the Deploy example reads a key set made by --keys=dotenv, PEM escapes and all", async () => {
  const vars = await dotenv();
  assert.match(vars.TESSERA_SERVER_KEY!, /\\n/);
  const config = await load(vars, { TESSERA_INSTANCE: "x", DENO_KV_PATH: "/tmp/kv" });
  assert.equal(config.serverId, "deploy-app");
  assert.equal(config.serverKey.extractable, false);
  assert.equal(config.ticketKey.length, 32);
  assert.deepEqual([...config.clients.keys()], ["demo-client"]);
  assert.equal(config.instance, "x");
  assert.equal(config.kvPath, "/tmp/kv");
  assert.equal((await load(vars)).kvPath, undefined);
});

Deno.test("the Deploy example names the variable that is missing or malformed", async () => {
  const vars = await dotenv();
  const cases: [Record<string, string | undefined>, RegExp][] = [
    [{ TESSERA_TICKET_KEY: undefined }, /^TESSERA_TICKET_KEY is not set/],
    [{ TESSERA_TICKET_KEY: "   " }, /^TESSERA_TICKET_KEY is not set/],
    [{ TESSERA_COOKIE_KEY: "a+b/c" }, /^TESSERA_COOKIE_KEY is not a 32-byte key.*not base64url/],
    [{ TESSERA_COOKIE_KEY: vars.TESSERA_TICKET_KEY }, /must differ from TESSERA_TICKET_KEY/],
    [{ TESSERA_SERVER_KEY: undefined }, /^TESSERA_SERVER_KEY is not set/],
    [
      { TESSERA_SERVER_KEY: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" },
      /^TESSERA_SERVER_KEY is not a P-256 private key/,
    ],
    [{ TESSERA_SERVER_ID: "x".repeat(65) }, /^TESSERA_SERVER_ID must be/],
    [{ TESSERA_CLIENTS: undefined }, /^TESSERA_CLIENTS is not set/],
    [{ TESSERA_CLIENTS: "[1]" }, /^TESSERA_CLIENTS must be a JSON object/],
    [{ TESSERA_CLIENTS: "{" }, /^TESSERA_CLIENTS is not JSON/],
    [{ TESSERA_CLIENTS: "{}" }, /^TESSERA_CLIENTS lists no client/],
    [{ TESSERA_CLIENTS: '{"ann":"AAAA"}' }, /^TESSERA_CLIENTS: the key of "ann" is not a P-256/],
    [{ TESSERA_CLIENTS: '{"ann":5}' }, /^TESSERA_CLIENTS: the entry "ann" is not id: key/],
  ];
  for (const [changes, message] of cases) {
    await assert.rejects(load(vars, changes), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, message);
      return true;
    }, JSON.stringify(changes));
  }
});
