import assert from "node:assert/strict";
import { bunTcpEcho } from "../../examples/bun_tcp.ts";
import { tcpEcho } from "../../examples/tcp_echo.ts";

Deno.test("the TCP echo example serves, echoes, closes and stops by itself", async () => {
  const lines = await tcpEcho();
  assert.equal(lines.length, 6);
  assert.match(lines[0]!, /^server listening on 127\.0\.0\.1:\d+$/);
  assert.deepEqual(lines.slice(1), [
    "client connected to echo.example",
    "echoed: hello secure world",
    "1 MiB echoed intact: true",
    "client closed; its readable ended: true",
    "server stopped",
  ]);
});

Deno.test("the node:net example (run under Bun by tests/run.ts) also round-trips under Deno", async () => {
  const lines = await bunTcpEcho();
  assert.deepEqual(lines.slice(1), [
    "Deno: client connected to echo.example",
    "Deno: echoed: hello from Deno",
    "Deno: 1 MiB echoed intact: true",
    "Deno: closed cleanly: true; server stopped",
  ]);
});
