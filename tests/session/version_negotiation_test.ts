import assert from "node:assert/strict";
import { concat, u16 } from "../../lib/crypto/_bytes.ts";
import { bufferPair, rejectsWith, session } from "./_helpers.ts";

/** ClientHello layout: 01 01 n suites(2n) random(32) share(65) vec16(extensions). */
const EXTENSIONS_AT = 3 + 2 + 32 + 65;

/** Rebuilds a ClientHello with another extensions block. */
function withExtensions(hello: Uint8Array, extensions: Uint8Array): Uint8Array {
  return concat(hello.subarray(0, EXTENSIONS_AT), u16(extensions.length), extensions);
}

function versions(...offered: number[]): Uint8Array {
  return concat(u16(0x0002), u16(1 + offered.length), new Uint8Array([offered.length, ...offered]));
}

Deno.test("a tessera/1 client offers exactly version 01 in extension 0002", async () => {
  const hello = await session().connectRequest();
  // Then its record size limit (0004), 16 MiB by default.
  const limit = concat(u16(0x0004), u16(4), new Uint8Array([0x01, 0, 0, 0]));
  assert.deepEqual(hello.subarray(EXTENSIONS_AT), concat(u16(14), versions(0x01), limit));
});

Deno.test("a server selects 01 from an offer that also names later versions", async () => {
  const client = session();
  const server = session();
  const hello = await client.connectRequest();
  const reply = await server.negotiate(withExtensions(hello, versions(0x03, 0x02, 0x01)));
  assert.equal(reply![1], 0x01);
  // The client sent another offer than the server saw: a downgrade in transit is detected.
  await rejectsWith(client.negotiate(reply!), "handshake_decrypt_failed");
});

Deno.test("an offer without version 01 is handshake_unsupported_version; a bad list is malformed", async () => {
  const hello = await session().connectRequest();
  await rejectsWith(
    session().negotiate(withExtensions(hello, versions(0x02))),
    "handshake_unsupported_version",
  );
  const empty = concat(u16(0x0002), u16(1), new Uint8Array([0]));
  await rejectsWith(session().negotiate(withExtensions(hello, empty)), "handshake_malformed");
  const short = concat(u16(0x0002), u16(2), new Uint8Array([2, 1]));
  await rejectsWith(session().negotiate(withExtensions(hello, short)), "handshake_malformed");
});

Deno.test("stripping the version offer in transit is detected by the client (downgrade)", async () => {
  const client = session();
  const server = session();
  const hello = await client.connectRequest();
  const reply = await server.negotiate(withExtensions(hello, new Uint8Array(0)));
  await rejectsWith(client.negotiate(reply!), "handshake_decrypt_failed");
  assert.equal(client.state, "closed");
});

Deno.test("a ServerHello selecting a version the client did not offer is refused", async () => {
  const client = session();
  const server = session();
  const reply = (await server.negotiate(await client.connectRequest()))!.slice();
  reply[1] = 0x02;
  await rejectsWith(client.negotiate(reply), "handshake_unsupported_version");
});

Deno.test("a ClientHello whose frozen version byte is not 01 is refused", async () => {
  const hello = (await session().connectRequest()).slice();
  hello[1] = 0x02;
  await rejectsWith(session().negotiate(hello), "handshake_unsupported_version");
  await bufferPair(); // and the untouched handshake still works
});
