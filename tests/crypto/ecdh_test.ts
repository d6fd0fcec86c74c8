import assert from "node:assert/strict";
import {
  ecdhSecret,
  exportPoint,
  generateEphemeralKeyPair,
  generateEphemeralShare,
  importEcdhPoint,
  importEcdhShare,
} from "../../lib/crypto/ecdh.ts";
import { exportPublicKey, importPublicKey } from "../../lib/crypto/identity.ts";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { KeyError } from "../../lib/errors.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;
/** PKCS#8 for a P-256 scalar without the optional public key; `d` follows. */
const PKCS8_PREFIX = "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420";

/** Test-only: lib/crypto has no ECDH private-key import, so the vectors' scalar goes in as PKCS#8. */
function importEcdhScalar(hex: string): Promise<CryptoKey> {
  const d = hex.replace(/^(00)+/, "").padStart(64, "0");
  assert.equal(d.length, 64);
  return crypto.subtle.importKey(
    "pkcs8",
    fromHex(PKCS8_PREFIX + d) as Uint8Array<ArrayBuffer>,
    ECDH_P256,
    false,
    [
      "deriveBits",
    ],
  );
}

/** Returns the KeyError code of a failed step, or the value. */
async function attempt<T>(step: () => Promise<T>): Promise<T | KeyError> {
  try {
    return await step();
  } catch (err) {
    assert.ok(err instanceof KeyError, `expected a KeyError, got ${err}`);
    return err;
  }
}

Deno.test("ecdhSecret() gives both peers the same 32-byte secret", async () => {
  const a = await generateEphemeralKeyPair();
  const b = await generateEphemeralKeyPair();
  const ab = await ecdhSecret(a.privateKey, await importEcdhPoint(await exportPoint(b.publicKey)));
  const ba = await ecdhSecret(b.privateKey, await importEcdhPoint(await exportPoint(a.publicKey)));
  assert.equal(ab.length, 32);
  assert.deepEqual(ab, ba);
});

Deno.test("importEcdhPoint() refuses bytes that are not a SEC1 point shape with key_invalid", async () => {
  for (
    const hex of [
      "",
      "00",
      "04",
      "05" + "11".repeat(64),
      "04" + "11".repeat(63),
      "01" + "11".repeat(32),
    ]
  ) {
    await assert.rejects(importEcdhPoint(fromHex(hex)), { code: "key_invalid" });
  }
});

/** Each Wycheproof point vector through `importer` and `ecdhSecret()`: where it was refused. */
async function pointVectors(importer: (point: Uint8Array) => Promise<CryptoKey>) {
  const file = await loadWycheproof<
    { curve: string },
    { public: string; private: string; shared: string }
  >(
    "ecdh_secp256r1_ecpoint_test.json",
  );
  const counts = { valid: 0, acceptable: 0, refusedAtImport: 0, refusedAtDerive: 0 };
  for (const [group, t] of cases(file)) {
    assert.equal(group.curve, "secp256r1");
    const privateKey = await importEcdhScalar(t.private);
    const imported = await attempt(() => importer(fromHex(t.public)));
    const secret = imported instanceof KeyError
      ? imported
      : await attempt(() => ecdhSecret(privateKey, imported));
    if (t.result === "invalid") {
      assert.ok(secret instanceof KeyError, `tcId ${t.tcId} (${t.comment}) was accepted`);
      assert.equal(secret.code, "key_invalid");
      if (imported instanceof KeyError) counts.refusedAtImport++;
      else counts.refusedAtDerive++;
    } else {
      // The one "acceptable" vector is a compressed point (tcId 2). Web Crypto makes compressed
      // import optional; Deno and Bun both support it, so it must give the expected secret.
      assert.ok(!(secret instanceof KeyError), `tcId ${t.tcId} (${t.comment}): ${secret}`);
      assert.equal(toHex(secret), t.shared, `tcId ${t.tcId} (${t.comment})`);
      counts[t.result]++;
    }
  }
  return counts;
}

Deno.test("importEcdhPoint() and ecdhSecret() agree with every Wycheproof ECDH P-256 point vector", async () => {
  const counts = await pointVectors(importEcdhPoint);
  assert.equal(counts.valid, 330);
  assert.equal(counts.acceptable, 1);
  // 24 invalid points: off-curve, empty, bad compressed x, twist points. importEcdhPoint must
  // refuse every one itself (engines that defer validation are forced to validate there).
  assert.equal(counts.refusedAtImport, 24);
  assert.equal(counts.refusedAtDerive, 0);
});

Deno.test("importEcdhShare() and ecdhSecret() refuse every invalid Wycheproof point, at import or at agreement", async () => {
  const counts = await pointVectors(importEcdhShare);
  assert.equal(counts.valid + counts.acceptable, 331);
  assert.equal(counts.refusedAtImport + counts.refusedAtDerive, 24);
});

Deno.test("importPublicKey() takes Wycheproof peer JWKs to the expected ECDH secret", async () => {
  const file = await loadWycheproof<
    { curve: string },
    { public: JsonWebKey; private: JsonWebKey; shared: string }
  >("ecdh_secp256r1_webcrypto_test.json");
  const counts = { valid: 0, invalid: 0, wrongCurve: 0 };
  for (const [, t] of cases(file)) {
    const imported = await attempt(() => importPublicKey(t.public, "jwk"));
    if (t.result === "valid") {
      assert.ok(!(imported instanceof KeyError), `tcId ${t.tcId} (${t.comment}): ${imported}`);
      // The identity key's point goes to the ECDH layer through its raw export.
      const point = await exportPublicKey(imported, "raw");
      const privateKey = await crypto.subtle.importKey("jwk", t.private, ECDH_P256, false, [
        "deriveBits",
      ]);
      const secret = await ecdhSecret(privateKey, await importEcdhPoint(point));
      assert.equal(toHex(secret), t.shared, `tcId ${t.tcId} (${t.comment})`);
      counts.valid++;
    } else {
      assert.ok(imported instanceof KeyError, `tcId ${t.tcId} (${t.comment}) was accepted`);
      const wrongCurve = t.public.crv !== "P-256";
      assert.equal(imported.code, wrongCurve ? "key_unsupported" : "key_invalid", `tcId ${t.tcId}`);
      if (wrongCurve) counts.wrongCurve++;
      counts.invalid++;
    }
  }
  assert.deepEqual(counts, { valid: 330, invalid: 23, wrongCurve: 5 });
});

Deno.test("generateEphemeralShare() returns the same point as a raw export, fresh each time", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const { pair, point } = await generateEphemeralShare();
    assert.equal(point.length, 65);
    assert.deepEqual(point, await exportPoint(pair.publicKey));
    seen.add(toHex(point));
    // The pair works for ECDH with the point it announced.
    const peer = await generateEphemeralKeyPair();
    assert.deepEqual(
      await ecdhSecret(pair.privateKey, await importEcdhPoint(await exportPoint(peer.publicKey))),
      await ecdhSecret(peer.privateKey, await importEcdhPoint(point)),
    );
  }
  assert.equal(seen.size, 20);
});
