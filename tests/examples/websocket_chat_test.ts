import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";
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
  assert.deepEqual(await runExample("websocket_chat.ts", ["--allow-net=127.0.0.1"]), EXPECTED);
});
