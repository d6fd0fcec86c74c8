// The Bun smoke scripts' test runner: register with test(), then run() prints one line per
// test and a "N passed, M failed" total, and exits non-zero when anything failed.

const tests: [string, () => Promise<void>][] = [];

/** Registers a test; tests run one after another, in order. */
export function test(name: string, fn: () => Promise<void>): void {
  tests.push([name, fn]);
}

/** Runs every registered test; `label` prefixes the total (for example the runtime). */
export async function run(label = ""): Promise<void> {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of tests) {
    try {
      await fn();
      passed++;
      console.log(`ok   ${name}`);
    } catch (error) {
      failed++;
      console.log(`FAIL ${name}\n     ${error instanceof Error ? error.stack : error}`);
    }
  }
  console.log(`${label ? `${label}: ` : ""}${passed} passed, ${failed} failed`);
  if (failed > 0) (globalThis as { process?: { exit(code: number): void } }).process?.exit(1);
}
