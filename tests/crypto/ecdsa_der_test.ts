import assert from "node:assert/strict";
import { derToP1363, p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { importPublicKey, verifyP256 } from "../../lib/crypto/identity.ts";
import { fromHex, toHex } from "../../lib/crypto/_bytes.ts";
import { KeyError } from "../../lib/errors.ts";
import { cases, loadWycheproof } from "../vectors/wycheproof/load.ts";

function malformed(err: unknown): boolean {
  return err instanceof KeyError && err.code === "signature_malformed";
}

function scalar(hex: string): Uint8Array {
  return fromHex(hex.padStart(64, "0"));
}

function sig(r: string, s: string): Uint8Array {
  const out = new Uint8Array(64);
  out.set(scalar(r), 0);
  out.set(scalar(s), 32);
  return out;
}

Deno.test("p1363ToDer() encodes small r and s minimally", () => {
  assert.equal(toHex(p1363ToDer(sig("01", "7f"))), "300602010102017f");
});

Deno.test("p1363ToDer() adds a leading zero only when the top bit is set", () => {
  assert.equal(toHex(p1363ToDer(sig("80", "7fff"))), "30080202008002027fff");
});

Deno.test("p1363ToDer() encodes the largest 256-bit values in 72 bytes", () => {
  const der = p1363ToDer(sig("ff".repeat(32), "ff".repeat(32)));
  assert.equal(der.length, 72);
  assert.equal(toHex(der), "3046022100" + "ff".repeat(32) + "022100" + "ff".repeat(32));
});

Deno.test("p1363ToDer() encodes values just below 2^255 without padding", () => {
  const der = p1363ToDer(sig("7f" + "ff".repeat(31), "01" + "00".repeat(31)));
  assert.equal(toHex(der), "30440220" + "7f" + "ff".repeat(31) + "0220" + "01" + "00".repeat(31));
});

Deno.test("p1363ToDer() refuses a zero r or a zero s", () => {
  assert.throws(() => p1363ToDer(sig("00", "01")), malformed);
  assert.throws(() => p1363ToDer(sig("01", "00")), malformed);
});

Deno.test("p1363ToDer() refuses a signature that is not 64 bytes", () => {
  for (const length of [0, 63, 65, 72]) {
    assert.throws(() => p1363ToDer(new Uint8Array(length).fill(1)), malformed);
  }
});

Deno.test("p1363ToDer() and derToP1363() reject a value that is not a Uint8Array", () => {
  assert.throws(() => p1363ToDer([1, 2] as unknown as Uint8Array), TypeError);
  assert.throws(() => derToP1363("30" as unknown as Uint8Array), TypeError);
});

Deno.test("derToP1363() inverts p1363ToDer() for random and edge-case signatures", () => {
  const samples: Uint8Array[] = [
    sig("01", "01"),
    sig("80", "80"),
    sig("ff".repeat(32), "ff".repeat(32)),
    sig("00ff" + "00".repeat(30), "0080" + "00".repeat(30)),
  ];
  for (let i = 0; i < 300; i++) {
    const s = crypto.getRandomValues(new Uint8Array(64));
    s.fill(0, 0, i % 34); // leading zero bytes in r, up to 33
    s.fill(0, 32, 32 + (i % 31)); // and in s
    if (s.subarray(0, 32).every((b) => b === 0)) s[31] = 1;
    if (s.subarray(32).every((b) => b === 0)) s[63] = 1;
    samples.push(s);
  }
  for (const s of samples) {
    const der = p1363ToDer(s);
    assert.deepEqual(derToP1363(der), s);
    assert.deepEqual(p1363ToDer(derToP1363(der)), der);
  }
});

Deno.test("derToP1363() left-pads short integers to 32 bytes", () => {
  assert.deepEqual(derToP1363(fromHex("3006020101020102")), sig("01", "02"));
});

Deno.test("derToP1363() accepts the largest 256-bit integers with their leading zero", () => {
  const der = fromHex("3046022100" + "ff".repeat(32) + "022100" + "ff".repeat(32));
  assert.deepEqual(derToP1363(der), sig("ff".repeat(32), "ff".repeat(32)));
});

const refused: [string, string][] = [
  ["an empty input", ""],
  ["a lone tag", "30"],
  ["a wrong outer tag", "3106020101020101"],
  ["a long-form outer length", "308106020101020101"],
  ["a long-form outer length with a zero length byte", "3080020101020101"],
  ["an outer length beyond the input", "3007020101020101"],
  ["trailing bytes", "300602010102010100"],
  ["an outer length that cuts the second integer", "3005020101020101"],
  ["a third integer inside the sequence", "3009020101020101020101"],
  ["a wrong integer tag", "3006030101020101"],
  ["a long-form integer length", "300702810101020101"],
  ["an empty integer", "30050200020101"],
  ["a negative integer", "3006020180020101"],
  ["a negative second integer", "3006020101020180"],
  ["a non-minimal integer", "300702020001020101"],
  ["a non-minimal zero-padded high value", "30080203000080020101"],
  ["a zero r", "3006020100020101"],
  ["a zero s", "3006020101020100"],
  ["an integer of 33 bytes without a sign byte", "3026022101" + "00".repeat(32) + "020101"],
  ["an integer of 2^256", "3027022201" + "00".repeat(33) + "020101"],
  ["an integer of 34 bytes with a sign byte", "302702220080" + "00".repeat(32) + "020101"],
  ["a missing second integer", "3003020101"],
  ["an integer that overruns the sequence", "3006020101020201"],
];

for (const [what, hex] of refused) {
  Deno.test(`derToP1363() refuses ${what}`, () => {
    assert.throws(() => derToP1363(fromHex(hex)), malformed);
  });
}

Deno.test("derToP1363() and verifyP256() agree with every Wycheproof DER ECDSA P-256 vector", async () => {
  const file = await loadWycheproof<
    { publicKey: { uncompressed: string } },
    { msg: string; sig: string }
  >("ecdsa_secp256r1_sha256_test.json");
  const seen = { valid: 0, refusedByParser: 0, refusedByVerify: 0, acceptable: 0 };
  let group: unknown = null;
  let key: CryptoKey | null = null;
  for (const [g, t] of cases(file)) {
    if (g !== group) {
      group = g;
      key = await importPublicKey(fromHex(g.publicKey.uncompressed), "raw");
    }
    const der = fromHex(t.sig);
    const msg = fromHex(t.msg);
    let p1363: Uint8Array | null = null;
    try {
      p1363 = derToP1363(der);
    } catch (err) {
      assert.ok(malformed(err), `tcId ${t.tcId}: unexpected error ${err}`);
    }
    if (t.result === "valid") {
      assert.ok(p1363, `tcId ${t.tcId} (${t.comment}): valid DER was refused`);
      assert.equal(await verifyP256(key!, p1363, msg), true, `tcId ${t.tcId}: did not verify`);
      // Strict DER has one encoding: converting back reproduces the input exactly.
      assert.deepEqual(p1363ToDer(p1363), der, `tcId ${t.tcId}: no byte-exact round trip`);
      seen.valid++;
    } else if (t.result === "invalid") {
      if (p1363 === null) seen.refusedByParser++;
      else {
        assert.equal(await verifyP256(key!, p1363, msg), false, `tcId ${t.tcId} (${t.comment})`);
        seen.refusedByVerify++;
      }
    } else {
      // "acceptable": either outcome is allowed; this file version has none.
      seen.acceptable++;
    }
  }
  // 310 invalid vectors: the 251 with an encoding flaw (BER, long-form or non-minimal lengths,
  // wrong tags, trailing or missing bytes, negative or oversized integers, ...) are refused by
  // the parser; the 59 that are well-formed DER with wrong values (r or s of 0, n, p, n + 1,
  // modified bytes, arithmetic edge cases) are refused by the engine.
  assert.deepEqual(seen, { valid: 174, refusedByParser: 251, refusedByVerify: 59, acceptable: 0 });
});
