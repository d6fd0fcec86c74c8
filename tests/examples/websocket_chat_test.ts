import assert from "node:assert/strict";
import { websocketChat } from "../../examples/websocket_chat.ts";

const EXPECTED = [
  "alice reads: welcome, alice: 1 here",
  "bob reads: welcome, bob: 2 here",
  "alice reads: bob joined",
  "bob reads: alice: hi bob",
  "alice reads: bob: hi alice, got to go",
  "alice reads: bob left",
  "alice reads: (end)",
  "server stopped",
];

Deno.test("the WebSocket chat example relays messages between two clients by authenticated name", async () => {
  assert.deepEqual(await websocketChat(), EXPECTED);
});

Deno.test("the WebSocket chat example starts, exchanges and stops by itself when run", async () => {
  const root = new URL("../../", import.meta.url);
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "examples/websocket_chat.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  assert.equal(result.code, 0, decode(result.stderr));
  assert.deepEqual(decode(result.stdout).trimEnd().split("\n"), EXPECTED);
});
