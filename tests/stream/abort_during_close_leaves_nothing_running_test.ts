// abort() while the stream's close record is being sealed must resolve (and `closed` settle) only
// once no Web Crypto operation of the stream is left running, as after any other abort. The close
// record is sealed inside SecureSession.close(), which marks the session closed as soon as the
// seal starts; the stream's #finish() then sees a closed session, counts no operation under way
// (the close seal is not among the stream's #ops) and settles `closed` while the seal still runs:
// a test ending there trips Deno 2.5's operation sanitizer.

import assert from "node:assert/strict";
import { watchingCrypto } from "../_watching_crypto.ts";
import { establish, TappedPair } from "./_helpers.ts";

for (const rekeyed of [false, true]) {
  const when = rekeyed ? "under new keys still being derived" : "with its keys at hand";
  Deno.test(`abort() while the close record is being sealed (${when}) leaves nothing running`, async () => {
    await watchingCrypto(async (pending) => {
      const tap = new TappedPair();
      const [client, server] = await establish(tap.client, tap.server);
      // The server hears nothing more from the client: every operation below is the client's.
      tap.hold();
      assert.deepEqual(pending(), []);
      if (rekeyed) client.session.rekey(); // the close record then waits for the next epoch's keys
      let aborting: Promise<void> | null = null;
      client.session.addEventListener("statechange", () => {
        // Fired as the session is marked closed, right after the close record's seal started.
        if (client.session.state === "closed") aborting ??= client.abort();
      });
      const closing = client.close();
      closing.catch(() => {});
      while (aborting === null) await new Promise((resolve) => setTimeout(resolve, 0));
      await aborting;
      const afterAbort = pending();
      await client.closed.catch(() => {});
      const afterClosed = pending();
      // Let what is left settle, so that only the assertions below report it.
      while (pending().length > 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await closing.catch(() => {});
      await server.abort();
      await server.closed.catch(() => {});
      assert.deepEqual(afterAbort, [], `abort() resolved with ${afterAbort} still running`);
      assert.deepEqual(afterClosed, [], `closed settled with ${afterClosed} still running`);
    });
  });
}
