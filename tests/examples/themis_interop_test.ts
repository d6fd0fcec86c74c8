import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";
import { themisInterop } from "../../examples/themis_interop.ts";

const EXPECTED = [
  "server key as a Themis container: UEC2, 45 bytes",
  "server private key as REC2: 45 bytes",
  "server: mobile-app-7 connected (profile themis)",
  "app: established with server",
  "server reads from mobile-app-7: hello from WasmThemis",
  "app reads: 21 characters, mobile-app-7",
  "server reads from mobile-app-7: bye",
  "app reads: 3 characters, mobile-app-7",
  "server: mobile-app-7 left (transport_closed)",
  "server stopped",
];

Deno.test("the Themis interop example serves a WasmThemis app over WebSocket with the Themis profile", async () => {
  assert.deepEqual(await themisInterop(), EXPECTED);
});

Deno.test("the Themis interop example starts, exchanges and stops by itself when run", async () => {
  assert.deepEqual(
    await runExample("themis_interop.ts", ["--allow-net=127.0.0.1", "--allow-read", "--allow-env"]),
    EXPECTED,
  );
});
