// Themis UEC2 / REC2 key containers to and from tessera identity keys: WasmThemis's own keys,
// both point forms, both private forms, Wycheproof's points, and every malformed container.

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { generateIdentityKeyPair } from "../../lib/crypto/identity.ts";
import { signP256, verifyP256 } from "../../lib/crypto/identity.ts";
import { KeyError, ThemisError } from "../../lib/errors.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { tessera1 } from "../../lib/session/tessera1.ts";
import { encodeContainer } from "../../lib/themis/_container.ts";
import {
  exportThemisPrivateKey,
  exportThemisPublicKey,
  importThemisPrivateKey,
  importThemisPublicKey,
  themis,
} from "../../lib/themis/mod.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";
import { bytes, WasmThemis } from "./_wasm_themis.ts";

const UEC2 = 0x55454332;
const REC2 = 0x52454332;
const N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

function code(err: unknown): string {
  return err instanceof ThemisError || err instanceof KeyError ? err.code : String(err);
}

async function refused(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return code(err);
  }
  return "accepted";
}

Deno.test("WasmThemis key pairs import, sign and verify as identity keys, and export to the same bytes", async () => {
  for (let i = 0; i < 10; i++) {
    const pair = new WasmThemis.KeyPair();
    const privateKey = await importThemisPrivateKey(pair.privateKey, { extractable: true });
    const publicKey = await importThemisPublicKey(pair.publicKey);
    const message = bytes(`message ${i}`);
    assert.ok(await verifyP256(publicKey, await signP256(privateKey, message), message));
    assert.deepEqual(await exportThemisPrivateKey(privateKey), new Uint8Array(pair.privateKey));
    assert.deepEqual(await exportThemisPublicKey(publicKey), new Uint8Array(pair.publicKey));
  }
});

Deno.test("tessera key pairs export to containers that WasmThemis takes, both point forms included", async () => {
  const pair = await generateIdentityKeyPair({ extractable: true });
  const privateContainer = await exportThemisPrivateKey(pair.privateKey);
  const compressed = await exportThemisPublicKey(pair.publicKey);
  const uncompressed = await exportThemisPublicKey(pair.publicKey, { compressed: false });
  assert.deepEqual([privateContainer.length, compressed.length, uncompressed.length], [45, 45, 77]);
  assert.equal(privateContainer[12], 0); // 00 ‖ d
  new WasmThemis.PrivateKey(privateContainer);
  new WasmThemis.PublicKey(compressed);
  new WasmThemis.PublicKey(uncompressed);
  const viaCompressed = await importThemisPublicKey(compressed);
  const viaUncompressed = await importThemisPublicKey(uncompressed);
  const sig = await signP256(pair.privateKey, bytes("x"));
  assert.ok(await verifyP256(viaCompressed, sig, bytes("x")));
  assert.ok(await verifyP256(viaUncompressed, sig, bytes("x")));
});

Deno.test("a REC2 container of the bare 32-byte scalar (44 bytes) is read as well", async () => {
  const pair = new WasmThemis.KeyPair();
  const d = new Uint8Array(pair.privateKey).subarray(13);
  const short = encodeContainer(REC2, d);
  assert.equal(short.length, 44);
  const privateKey = await importThemisPrivateKey(short, { extractable: true });
  assert.deepEqual(await exportThemisPrivateKey(privateKey), new Uint8Array(pair.privateKey));
});

Deno.test("private keys import non-extractable unless asked, and only extractable ones export", async () => {
  const container = new Uint8Array(new WasmThemis.KeyPair().privateKey);
  const closed = await importThemisPrivateKey(container);
  assert.equal(closed.extractable, false);
  assert.deepEqual(closed.usages, ["sign"]);
  await assert.rejects(exportThemisPrivateKey(closed), { code: "key_not_extractable" });
  const open = await importThemisPrivateKey(container, { extractable: true });
  assert.equal(open.extractable, true);
  const { publicKey } = await generateIdentityKeyPair();
  await assert.rejects(exportThemisPrivateKey(publicKey), { code: "key_unsupported" });
  await assert.rejects(exportThemisPublicKey(open), { code: "key_unsupported" });
});

Deno.test("one key pair serves a tessera/1 session and a Themis session", async () => {
  const a = new WasmThemis.KeyPair();
  const b = new WasmThemis.KeyPair();
  const keys = {
    a: await importThemisPrivateKey(a.privateKey),
    b: await importThemisPrivateKey(b.privateKey),
  };
  const lookup = { a: a.publicKey as Uint8Array, b: b.publicKey as Uint8Array };
  const getPublicKeyForId = async (id: Uint8Array) => {
    const name = new TextDecoder().decode(id) as "a" | "b";
    return lookup[name] ? await importThemisPublicKey(lookup[name]) : null;
  };
  for (const profile of [tessera1, themis]) {
    const c = new SecureSession({ id: "a", privateKey: keys.a, getPublicKeyForId, profile });
    const s = new SecureSession({ id: "b", privateKey: keys.b, getPublicKeyForId, profile });
    let message: Uint8Array | null = await c.connectRequest();
    while (message) {
      message = await s.negotiate(message);
      if (message) message = await c.negotiate(message);
    }
    assert.deepEqual(await s.unwrap(await c.wrap(bytes(profile.name))), bytes(profile.name));
  }
});

Deno.test("a malformed container is themis_container_invalid", async () => {
  const good = new Uint8Array(new WasmThemis.KeyPair().publicKey);
  const goodPrivate = new Uint8Array(new WasmThemis.KeyPair().privateKey);
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["a header alone, cut", good.slice(0, 11)],
    ["cut before its end", good.slice(0, 44)],
    ["a byte appended", new Uint8Array([...good, 0])],
    ["a flipped CRC byte", good.map((b, i) => i === 9 ? b ^ 1 : b)],
    ["a flipped point byte", good.map((b, i) => i === 30 ? b ^ 1 : b)],
    ["a size below the header", good.map((b, i) => i === 7 ? 4 : b)],
    ["another tag", encodeContainer(0x54534944, good.subarray(12))],
  ];
  for (const [what, container] of cases) {
    assert.equal(await refused(importThemisPublicKey(container)), "themis_container_invalid", what);
  }
  const flipped = goodPrivate.map((b, i) => i === 20 ? b ^ 1 : b);
  assert.equal(await refused(importThemisPrivateKey(flipped)), "themis_container_invalid");
});

Deno.test("a container of the wrong kind or curve is key_unsupported; a wrong key inside is key_invalid", async () => {
  const pair = new WasmThemis.KeyPair();
  const publicData = new Uint8Array(pair.publicKey).subarray(12);
  const privateData = new Uint8Array(pair.privateKey).subarray(12);
  assert.equal(await refused(importThemisPublicKey(pair.privateKey)), "key_unsupported");
  assert.equal(await refused(importThemisPrivateKey(pair.publicKey)), "key_unsupported");
  // UEC3 / REC3 name P-384.
  assert.equal(
    await refused(importThemisPublicKey(encodeContainer(0x55454333, publicData))),
    "key_unsupported",
  );
  assert.equal(
    await refused(importThemisPrivateKey(encodeContainer(0x52454333, privateData))),
    "key_unsupported",
  );
  // Started one at a time: a promise created early and awaited late would reject unhandled.
  const invalid: [string, () => Promise<unknown>][] = [
    ["a 32-byte point", () => importThemisPublicKey(encodeContainer(UEC2, publicData.subarray(1)))],
    [
      "a point with prefix 05",
      () => importThemisPublicKey(encodeContainer(UEC2, publicData.map((b, i) => i === 0 ? 5 : b))),
    ],
    ["no point", () => importThemisPublicKey(encodeContainer(UEC2))],
    [
      "a 31-byte scalar",
      () => importThemisPrivateKey(encodeContainer(REC2, privateData.subarray(2))),
    ],
    [
      "a 33-byte scalar not led by 00",
      () =>
        importThemisPrivateKey(encodeContainer(REC2, privateData.map((b, i) => i === 0 ? 1 : b))),
    ],
    ["a zero scalar", () => importThemisPrivateKey(encodeContainer(REC2, new Uint8Array(33)))],
    ["the scalar n", () => importThemisPrivateKey(encodeContainer(REC2, fromHex("00" + N)))],
    [
      "a scalar above n",
      () => importThemisPrivateKey(encodeContainer(REC2, fromHex("00" + "ff".repeat(32)))),
    ],
  ];
  for (const [what, start] of invalid) assert.equal(await refused(start()), "key_invalid", what);
  await assert.rejects(importThemisPublicKey("UEC2" as unknown as Uint8Array), TypeError);
  await assert.rejects(importThemisPrivateKey(null as unknown as Uint8Array), TypeError);
  await assert.rejects(
    importThemisPrivateKey(pair.privateKey, { extractable: "yes" as unknown as boolean }),
    TypeError,
  );
  const { publicKey } = await generateIdentityKeyPair();
  await assert.rejects(
    exportThemisPublicKey(publicKey, { compressed: 1 as unknown as boolean }),
    TypeError,
  );
});

Deno.test("UEC2 containers of every Wycheproof P-256 point: valid ones import and agree on the shared secret, invalid ones are refused", async () => {
  const file = await loadWycheproof<
    Record<string, unknown>,
    { public: string; private: string; shared: string }
  >("ecdh_secp256r1_ecpoint_test.json");
  const seen = { valid: 0, invalid: 0, acceptable: 0 };
  const { scalarToPkcs8 } = await import("../../lib/crypto/_sec1.ts");
  const { ecdhSecret, importEcdhPoint } = await import("../../lib/crypto/ecdh.ts");
  for (const [, t] of cases(file)) {
    const container = encodeContainer(UEC2, fromHex(t.public));
    const outcome = await importThemisPublicKey(container).then(() => "accepted", code);
    if (t.result === "valid") {
      assert.equal(outcome, "accepted", `tcId ${t.tcId} (${t.comment})`);
      // The same point as an ephemeral key: the Themis shared secret is Wycheproof's.
      const scalar = fromHex(t.private.padStart(64, "0").slice(-64));
      const own = await crypto.subtle.importKey(
        "pkcs8",
        scalarToPkcs8(scalar),
        { name: "ECDH", namedCurve: "P-256" },
        false,
        ["deriveBits"],
      );
      const shared = await ecdhSecret(own, await importEcdhPoint(fromHex(t.public)));
      assert.equal(toHex(shared), t.shared, `tcId ${t.tcId}`);
      seen.valid++;
    } else if (t.result === "invalid") {
      assert.equal(outcome, "key_invalid", `tcId ${t.tcId} (${t.comment})`);
      seen.invalid++;
    } else {
      assert.ok(outcome === "accepted" || outcome === "key_invalid", `tcId ${t.tcId}`);
      seen.acceptable++;
    }
  }
  assert.deepEqual(seen, { valid: 330, invalid: 24, acceptable: 1 });
});
