// The whole test suite, as `deno task test` runs it. Each step streams its
// output; the run stops at the first failing step and exits non-zero.

const deno = Deno.execPath();
/** The oldest Deno the library supports: the one Deno Deploy runs. */
const OLDEST_DENO = "2.5.0";
const TEST_FLAGS = [
  // The lockfile pins the dev-only npm packages; deno.json turns it off so that the demo
  // (deno task demo) resolves, and downloads, nothing it does not import.
  "--lock=deno.lock",
  "--doc",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net=127.0.0.1",
  "--allow-run",
  "--unstable-kv",
];
const ENTRY_POINTS = [
  "mod.ts",
  "lib/errors.ts",
  "lib/crypto/mod.ts",
  "lib/transport/mod.ts",
  "lib/cookie/mod.ts",
  "lib/resume/mod.ts",
  "lib/stream/mod.ts",
  "lib/themis/mod.ts",
];

/** Everything `deno check` covers: the whole repository but the Bun-only scripts. */
function checkedPaths(): string[] {
  const paths = ["mod.ts", "lib", "bench", "examples"];
  for (const entry of Deno.readDirSync("tests")) {
    if (entry.name !== "bun") paths.push(`tests/${entry.name}`);
  }
  return paths.sort();
}

interface Step {
  name: string;
  cmd: string;
  args: string[];
  /** Extra environment variables of the step. */
  env?: Record<string, string>;
}

/**
 * The older Deno reads npm packages from the cache the step above filled; should it still need
 * the registry, it trusts the system's certificate store as the current Deno does by itself.
 */
const OLDEST_ENV = { DENO_TLS_CA_STORE: "system" };

const steps: Step[] = [
  { name: "unit, integration and documentation tests", cmd: deno, args: ["test", ...TEST_FLAGS] },
  // The oldest supported Deno (the one Deno Deploy runs) runs the same tests. The type check of
  // the tests and of every documentation example is the step above's; here the library and the
  // examples are checked with that Deno's own TypeScript, which is much faster.
  {
    name: `type check of the library and examples on Deno ${OLDEST_DENO}, the oldest supported`,
    cmd: "npx",
    args: ["-y", `deno@${OLDEST_DENO}`, "check", "--lock=deno.lock", "mod.ts", "lib/", "examples/"],
    env: OLDEST_ENV,
  },
  {
    name: `the same tests on Deno ${OLDEST_DENO}, the oldest supported (Deno Deploy's)`,
    cmd: "npx",
    args: ["-y", `deno@${OLDEST_DENO}`, "test", "--no-check", ...TEST_FLAGS],
    env: OLDEST_ENV,
  },
  // tests/bun holds scripts Bun runs (with Bun's own module resolution): the Bun steps check them.
  { name: "type check", cmd: deno, args: ["check", "--lock=deno.lock", ...checkedPaths()] },
  { name: "lint", cmd: deno, args: ["lint"] },
  { name: "format", cmd: deno, args: ["fmt", "--check"] },
  { name: "documentation lint", cmd: deno, args: ["doc", "--lint", ...ENTRY_POINTS] },
  { name: "publish dry run", cmd: deno, args: ["publish", "--dry-run", "--allow-dirty"] },
  { name: "Bun smoke test", cmd: "npx", args: ["-y", "bun@1.4.4", "tests/bun/smoke.ts"] },
  {
    name: "Bun smoke test (cookie sessions)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "tests/bun/cookie_smoke.ts"],
  },
  {
    name: "Bun smoke test (Hono middleware)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "tests/bun/hono_smoke.ts"],
  },
  {
    name: "type check without Deno's types (tsc, @types/bun)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "tests/bun/types_check.ts"],
  },
  {
    name: "Bun smoke test (WebSocket sessions)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "tests/bun/websocket_smoke.ts"],
  },
  {
    name: "Bun example (secure TCP echo over node:net)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "examples/bun_tcp.ts"],
  },
  {
    name: "Bun smoke test (Themis profile against WasmThemis)",
    cmd: "npx",
    args: ["-y", "bun@1.4.4", "tests/bun/themis_smoke.ts"],
  },
];

let passed = 0;
let failed = 0;
const started = performance.now();
const durations: string[] = [];
for (const step of steps) {
  const stepStarted = performance.now();
  console.log(
    `\n=== ${step.name}: ${[step.cmd === deno ? "deno" : step.cmd, ...step.args].join(" ")}`,
  );
  const child = new Deno.Command(step.cmd, {
    args: step.args,
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1", ...step.env },
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
  }
  const { code } = await child.status;
  // Count the tests the runners report ("ok | 12 passed (3 steps) | 0 failed", "12 passed, 0
  // failed").
  for (const m of tail.matchAll(/(\d+) passed(?: \(\d+ steps?\))?[ ,|]+(\d+) failed/g)) {
    passed += Number(m[1]);
    failed += Number(m[2]);
  }
  durations.push(`${((performance.now() - stepStarted) / 1000).toFixed(0)} s  ${step.name}`);
  if (code !== 0) {
    console.log(`\n=== FAILED: ${step.name} (exit code ${code})`);
    console.log(`${passed} passed, ${Math.max(failed, 1)} failed`);
    Deno.exit(1);
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(0);
console.log(`\n=== all ${steps.length} steps green in ${seconds} s`);
for (const line of durations) console.log(`    ${line}`);
console.log(`${passed} passed, ${failed} failed`);
