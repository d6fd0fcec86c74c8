// Runs an example as its own process, as a user would, and returns its output lines.

import assert from "node:assert/strict";

/** Runs `deno run <flags> examples/<file>` from the repository root; asserts it exits 0. */
export async function runExample(file: string, flags: string[]): Promise<string[]> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `examples/${file}`],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  assert.equal(result.code, 0, decode(result.stderr));
  return decode(result.stdout).trimEnd().split("\n");
}
