// The runtime-neutral entry points type-check without Deno's types: TypeScript with @types/bun
// (pinned below, installed into a temporary directory with npm) over the library's sources.
// Run by the suite: npx -y bun@1.4.4 tests/bun/types_check.ts
// Exits non-zero on any failure; the last line is "N passed, M failed".

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run, test } from "./_harness.ts";

const TYPESCRIPT = "typescript@5.9.3";
const BUN_TYPES = "@types/bun@1.3.3";
const ROOT = resolve(import.meta.dir, "../..");
/** Every entry point a Bun or Node app imports. */
const ENTRY_POINTS = [
  "mod.ts",
  "lib/errors.ts",
  "lib/crypto/mod.ts",
  "lib/resume/mod.ts",
  "lib/cookie/mod.ts",
  "lib/transport/mod.ts",
  "lib/themis/mod.ts",
];

test(`tsc with ${BUN_TYPES} and no Deno types checks ${ENTRY_POINTS.length} entry points`, () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-types-"));
  try {
    execFileSync("npm", ["install", "--silent", "--no-audit", "--no-fund", TYPESCRIPT, BUN_TYPES], {
      cwd: dir,
      stdio: ["ignore", "ignore", "inherit"],
    });
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          module: "ESNext",
          moduleResolution: "bundler",
          lib: ["ES2024", "DOM"],
          types: ["bun"],
          typeRoots: [join(dir, "node_modules/@types")],
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          noUncheckedIndexedAccess: true,
        },
        files: ENTRY_POINTS.map((path) => join(ROOT, path)),
      }),
    );
    try {
      execFileSync(join(dir, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], {
        cwd: dir,
        encoding: "utf8",
      });
    } catch (error) {
      const out = (error as { stdout?: string }).stdout ?? String(error);
      throw new Error(`tsc reported errors:\n${out}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

await run("Bun types");
