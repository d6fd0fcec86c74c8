// The quick start's first command, `deno task demo`, on a machine with an empty Deno cache:
// it runs and downloads no npm package (those are for tests and benchmarks only).

import assert from "node:assert/strict";

Deno.test("deno task demo with an empty cache downloads no npm package", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "demo"],
      env: { DENO_DIR: cache, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /registry\.npmjs\.org|Download/, err);
    assert.match(out, /cookie_tampered/);
    const npm = [...Deno.readDirSync(cache)].some((e) => e.name === "npm")
      ? [...Deno.readDirSync(`${cache}/npm`)].map((e) => e.name)
      : [];
    assert.deepEqual(npm, [], "nothing was put in the npm cache");
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
