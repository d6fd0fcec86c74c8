// Bun and Deno share one KV file: KvSessionStorage and KvRevocationStore under Bun through
// npm:@deno/kv (pinned below, installed into a temporary directory with npm), under Deno through
// Deno.openKv. A session written by one runtime is read, updated, listed and revoked by the
// other, and revocation epochs count across both.
//
// Run: npx -y bun@1.4.4 tests/bun/cookie_kv_smoke.ts   (needs `deno` on PATH, or $DENO, and npm)
// Exits non-zero on any failure; the last line is "N passed, M failed".
// kv_portable_values_test.ts runs it under `deno test`.
//
// The same file is the Deno side: run with one JSON argument (a Step), it performs that step on
// the KV file with Deno.openKv and prints its result as one line of JSON.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { KvSessionStorage, type SessionKv } from "../../lib/cookie/kv_storage.ts";
import { KvRevocationStore } from "../../lib/cookie/revocation.ts";
import type { SessionPayload } from "../../lib/cookie/payload.ts";

/** The exact `@deno/kv` that Bun uses here. */
const DENO_KV = "@deno/kv@0.14.0";
const HOUR = 3_600_000;

/** One operation on the shared KV file. */
type Step =
  | { op: "write"; id: string; user?: string; data: Record<string, unknown> }
  | { op: "read"; id: string }
  | { op: "update"; id: string; data: Record<string, unknown> }
  | { op: "delete"; id: string }
  | { op: "list"; user: string }
  | { op: "deleteByUser"; user: string }
  | { op: "revoke"; user: string }
  | { op: "epoch"; user: string }
  | { op: "dump" };

interface KvHandle extends SessionKv {
  close(): void;
}

function payload(now: number, data: Record<string, unknown>, user?: string): SessionPayload {
  return {
    issuedAt: now,
    expiresAt: now + HOUR,
    idleExpiresAt: now + HOUR / 2,
    data,
    ...(user === undefined ? {} : { userId: user }),
  };
}

/** Performs `step` and returns a JSON-able result; the same code in both runtimes. */
async function perform(kv: SessionKv, step: Step): Promise<unknown> {
  const storage = new KvSessionStorage(kv);
  const revocation = new KvRevocationStore(kv);
  const now = Date.now();
  switch (step.op) {
    case "write":
      return await storage.write(step.id, payload(now, step.data, step.user), {
        previous: null,
        now,
      });
    case "read": {
      const read = await storage.read(step.id, now);
      return read.ok ? { data: read.payload.data, user: read.payload.userId ?? null } : read.code;
    }
    case "update": {
      const read = await storage.read(step.id, now);
      if (!read.ok) return read.code;
      const next = { ...read.payload, data: { ...read.payload.data, ...step.data } };
      return await storage.write(step.id, next, { previous: read, now });
    }
    case "delete":
      await storage.delete(step.id);
      return null;
    case "list":
      return (await storage.listByUser(step.user, now)).map((s) => s.id).sort();
    case "deleteByUser":
      return await storage.deleteByUser(step.user);
    case "revoke":
      return await revocation.revoke(step.user);
    case "epoch":
      return await revocation.epoch(step.user);
    case "dump": {
      // What each value is: "bytes" (UTF-8 JSON), "u64" (a 64-bit counter) or something else.
      const kinds: Record<string, string> = {};
      for await (const entry of kv.list({ prefix: [] })) {
        const v = entry.value;
        let kind: string = typeof v;
        if (v instanceof Uint8Array) {
          JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(v));
          kind = "bytes";
        } else if (typeof (v as { value?: unknown } | null)?.value === "bigint") kind = "u64";
        kinds[entry.key.join("/")] = kind;
      }
      return kinds;
    }
  }
}

const deno = (globalThis as { Deno?: typeof Deno }).Deno;

if (process.argv.length > 2 && deno !== undefined) {
  // The Deno side: one step, one line of JSON.
  const { path, step } = JSON.parse(process.argv[2]!) as { path: string; step: Step };
  const kv = await deno.openKv(path);
  try {
    console.log(JSON.stringify(await perform(kv, step)));
  } finally {
    kv.close();
  }
} else {
  await drive();
}

async function drive(): Promise<void> {
  const bun = (globalThis as { Bun?: { version: string } }).Bun;
  if (bun === undefined) {
    throw new Error("run the driver under Bun: npx -y bun@1.4.4 " + "this file");
  }
  const self = fileURLToPath(import.meta.url);
  const denoBin = process.env.DENO ?? "deno";
  const dir = mkdtempSync(join(tmpdir(), "tessera-cookie-kv-"));
  const path = join(dir, "sessions.sqlite");
  let passed = 0;
  let failed = 0;
  try {
    const install = spawnSync(
      "npm",
      ["install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", DENO_KV],
      { encoding: "utf8" },
    );
    assert.equal(install.status, 0, `npm install ${DENO_KV} failed:\n${install.stderr}`);
    const denoKv = await import(
      pathToFileURL(join(dir, "node_modules/@deno/kv/esm/npm.js")).href
    );

    const inBun = async (step: Step): Promise<unknown> => {
      const kv: KvHandle = await denoKv.openKv(path, denoKv.makeLimitedV8Serializer());
      try {
        // Through JSON, as the Deno side's answers are.
        return JSON.parse(JSON.stringify(await perform(kv, step)));
      } finally {
        kv.close();
      }
    };
    const inDeno = (step: Step): unknown => {
      const run = spawnSync(
        denoBin,
        [
          "run",
          "--no-config",
          "--no-lock",
          "--unstable-kv",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          self,
          JSON.stringify({ path, step }),
        ],
        { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
      );
      assert.equal(run.status, 0, `deno ${step.op} failed:\n${run.stderr}\n${run.stdout}`);
      return JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    };

    // Long strings and non-ASCII text: @deno/kv writes strings of 128+ characters in a form
    // Deno cannot read, so the stores must never write strings.
    const long = "session data ".repeat(40);
    const tests: [string, () => Promise<void>][] = [
      ["a session Deno writes is read, updated and deleted by Bun", async () => {
        assert.equal(
          typeof inDeno({ op: "write", id: "d1", user: "ann", data: { long } }),
          "string",
        );
        assert.deepEqual(await inBun({ op: "read", id: "d1" }), { data: { long }, user: "ann" });
        assert.equal(
          typeof await inBun({ op: "update", id: "d1", data: { n: "ünïcødé ✓" } }),
          "string",
        );
        assert.deepEqual(inDeno({ op: "read", id: "d1" }), {
          data: { long, n: "ünïcødé ✓" },
          user: "ann",
        });
        assert.deepEqual(await inBun({ op: "list", user: "ann" }), ["d1"]);
        assert.equal(await inBun({ op: "delete", id: "d1" }), null);
        assert.equal(inDeno({ op: "read", id: "d1" }), "cookie_revoked");
        assert.deepEqual(inDeno({ op: "list", user: "ann" }), []);
        // Deno's trace of the id, marked by Bun, still stops a new session under it.
        assert.equal(inDeno({ op: "write", id: "d1", data: {} }), null);
      }],
      ["sessions Bun writes are read, updated and revoked everywhere by Deno", async () => {
        assert.equal(
          typeof await inBun({ op: "write", id: "b1", user: "bob", data: { long } }),
          "string",
        );
        assert.equal(
          typeof await inBun({ op: "write", id: "b2", user: "bob", data: {} }),
          "string",
        );
        assert.deepEqual(inDeno({ op: "read", id: "b1" }), { data: { long }, user: "bob" });
        assert.equal(typeof inDeno({ op: "update", id: "b2", data: { k: long } }), "string");
        assert.deepEqual(await inBun({ op: "read", id: "b2" }), { data: { k: long }, user: "bob" });
        assert.deepEqual(inDeno({ op: "list", user: "bob" }), ["b1", "b2"]);
        assert.equal(inDeno({ op: "deleteByUser", user: "bob" }), 2);
        assert.equal(await inBun({ op: "read", id: "b1" }), "cookie_revoked");
        assert.equal(await inBun({ op: "read", id: "b2" }), "cookie_revoked");
        assert.equal(await inBun({ op: "read", id: "never" }), "cookie_unknown_session");
        assert.equal(await inBun({ op: "write", id: "b1", data: {} }), null);
      }],
      ["revocation epochs count across Deno and Bun", async () => {
        assert.equal(inDeno({ op: "epoch", user: "carol" }), 0);
        assert.equal(inDeno({ op: "revoke", user: "carol" }), 1);
        assert.equal(await inBun({ op: "epoch", user: "carol" }), 1);
        assert.equal(await inBun({ op: "revoke", user: "carol" }), 2);
        assert.equal(inDeno({ op: "epoch", user: "carol" }), 2);
        assert.equal(await inBun({ op: "revoke", user: "dave" }), 1);
        assert.equal(inDeno({ op: "epoch", user: "dave" }), 1);
      }],
      ["every value in the shared file is UTF-8 JSON bytes or a 64-bit counter", async () => {
        // Live sessions of both runtimes too, with their index entries and traces.
        assert.equal(
          typeof inDeno({ op: "write", id: "e1", user: "eve", data: { long } }),
          "string",
        );
        assert.equal(
          typeof await inBun({ op: "write", id: "e2", user: "eve", data: {} }),
          "string",
        );
        const inDenoDump = inDeno({ op: "dump" }) as Record<string, string>;
        assert.deepEqual(await inBun({ op: "dump" }), inDenoDump);
        const kinds = Object.entries(inDenoDump);
        for (const key of ["s/e1", "s/e2", "u/eve/e1", "u/eve/e2", "t/e1", "t/b1", "t/d1"]) {
          assert.ok(
            `tessera/session/${key}` in inDenoDump,
            `${key}: ${JSON.stringify(inDenoDump)}`,
          );
        }
        for (const [key, kind] of kinds) {
          assert.equal(kind, key.startsWith("tessera/revocation/") ? "u64" : "bytes", key);
        }
      }],
    ];
    for (const [name, fn] of tests) {
      try {
        await fn();
        passed++;
        console.log(`ok   ${name}`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${name}\n${error instanceof Error ? error.stack : error}`);
      }
    }
  } catch (error) {
    failed++;
    console.log(`FAIL setup\n${error instanceof Error ? error.stack : error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`bun ${bun.version}, ${DENO_KV}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
