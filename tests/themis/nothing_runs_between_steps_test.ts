// Each side of a Themis handshake starts work beside the peer's verification (its own
// signature, the key agreement, the master key). None of it may still be running when a step
// returns its message: a session left waiting for the peer's next message (which may never
// come) must hold keys, not operations in flight. Every `crypto.subtle` call is counted and
// slowed down, so one left behind is still pending when the step returns.

import assert from "node:assert/strict";
import { watchingCrypto } from "../_watching_crypto.ts";
import { client, server, tesseraSession } from "./_wasm_themis.ts";

Deno.test("no Web Crypto operation is running when a Themis handshake step returns", async () => {
  await watchingCrypto(async (pending) => {
    const c = tesseraSession(client);
    const s = tesseraSession(server);
    const step = async <T>(name: string, run: Promise<T>): Promise<T> => {
      const out = await run;
      assert.deepEqual(pending(), [], `still running after ${name}`);
      return out;
    };
    const m1 = await step("message 1", c.connectRequest());
    const m2 = await step("message 2", s.negotiate(m1));
    const m3 = await step("message 3", c.negotiate(m2!));
    const m4 = await step("message 4", s.negotiate(m3!));
    assert.equal(await step("the client's last step", c.negotiate(m4!)), null);
    assert.equal(c.isEstablished() && s.isEstablished(), true);
  });
});
