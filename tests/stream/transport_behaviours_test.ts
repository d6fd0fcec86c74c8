// Every behaviour of _behaviours.ts over TCP and a Web streams pair here, and over a Unix socket in
// a child process: Unix sockets need --allow-net=unix:<path> for their exact path, which the
// suite's permissions cannot name in advance.

import assert from "node:assert/strict";
import { registerBehaviours } from "./_behaviours.ts";
import { tcpPair, webPair } from "./_helpers.ts";

registerBehaviours("TCP", tcpPair);
registerBehaviours("a Web streams pair", () => Promise.resolve(webPair()));

Deno.test("the same behaviours hold over a Unix socket in a temporary directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tessera-stream-" });
  try {
    const socket = `${dir}/stream.sock`;
    const suite = new URL("./_unix_socket_suite.ts", import.meta.url);
    const run = (net: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "test",
          "--no-check",
          `--allow-read=${dir}`,
          `--allow-write=${dir}`,
          ...net,
          "--allow-env=TESSERA_TEST_SOCKET",
          suite.pathname,
        ],
        env: { TESSERA_TEST_SOCKET: socket, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    let { code, stdout, stderr } = await run([`--allow-net=unix:${socket}`]);
    if (/invalid port in 'unix:/.test(new TextDecoder().decode(stderr))) {
      // Deno before unix: net permissions (2.5) grants Unix sockets by read and write access.
      ({ code, stdout, stderr } = await run([]));
    }
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out + new TextDecoder().decode(stderr));
    assert.match(out, /ok \| \d+ passed \| 0 failed/);
    assert.doesNotMatch(out, / 0 passed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
