import assert from "node:assert/strict";
import {
  exportPublicKey,
  exportPublicKeyJwk,
  exportPublicKeyPem,
  formatFingerprint,
  generateIdentityKeyPair,
  importPrivateKey,
  importPublicKey,
  publicKeyFingerprint,
  publicKeyFromPrivate,
} from "../../lib/crypto/identity.ts";
import { toHex } from "../../lib/crypto/_bytes.ts";

function fixture(name: string): Promise<string> {
  return Deno.readTextFile(new URL(`../vectors/pem/${name}`, import.meta.url));
}

const opensslAvailable = await new Deno.Command("openssl", { args: ["version"] }).output()
  .then((out) => out.success, () => false);

/** Runs openssl with `input` on stdin and returns its standard output. */
async function openssl(args: string[], input: Uint8Array | string): Promise<Uint8Array> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test("publicKeyFingerprint() equals the SHA-256 that openssl computed over the SPKI DER", async () => {
  const expected = (await fixture("p256_public.sha256")).trim();
  assert.match(expected, /^[0-9a-f]{64}$/);
  const publicKey = await importPublicKey(await fixture("p256_public.pem"));
  assert.equal(toHex(await publicKeyFingerprint(publicKey)), expected);
  // The same key through every other door gives the same fingerprint.
  const privateKey = await importPrivateKey(await fixture("p256_ec_params.pem"), {
    extractable: true,
  });
  const inputs = [
    await publicKeyFromPrivate(privateKey),
    await exportPublicKey(publicKey, "raw"),
    await exportPublicKey(publicKey, "compressed"),
    await exportPublicKey(publicKey, "spki"),
    await exportPublicKeyJwk(publicKey),
  ];
  for (const input of inputs) assert.equal(toHex(await publicKeyFingerprint(input)), expected);
});

Deno.test("formatFingerprint() writes sha256// and the base64 that openssl printed", async () => {
  const base64 = (await fixture("p256_public.sha256.b64")).trim();
  const publicKey = await importPublicKey(await fixture("p256_public.pem"));
  const formatted = formatFingerprint(await publicKeyFingerprint(publicKey));
  assert.equal(formatted, `sha256//${base64}`);
  assert.equal(formatted.length, 52);
});

Deno.test("formatFingerprint() writes standard base64 with padding, and takes exactly 32 bytes", () => {
  assert.equal(formatFingerprint(new Uint8Array(32)), "sha256//" + "A".repeat(43) + "=");
  assert.equal(
    formatFingerprint(new Uint8Array(32).fill(0xff)),
    "sha256//" + "/".repeat(42) + "8=",
  );
  assert.equal(
    formatFingerprint(Uint8Array.from({ length: 32 }, (_, i) => i * 8)),
    "sha256//AAgQGCAoMDhASFBYYGhweICIkJigqLC4wMjQ2ODo8Pg=",
  );
  assert.throws(() => formatFingerprint(new Uint8Array(31)), RangeError);
  assert.throws(() => formatFingerprint(new Uint8Array(33)), RangeError);
  assert.throws(() => formatFingerprint("00".repeat(32) as unknown as Uint8Array), TypeError);
});

Deno.test({
  name: "the fingerprints of generated keys equal what openssl computes from their PEM",
  ignore: !opensslAvailable,
  async fn() {
    for (let i = 0; i < 4; i++) {
      const { publicKey } = await generateIdentityKeyPair();
      const spki = await openssl(
        ["pkey", "-pubin", "-outform", "DER"],
        await exportPublicKeyPem(publicKey),
      );
      const digest = new TextDecoder().decode(await openssl(["dgst", "-sha256", "-r"], spki));
      assert.equal(toHex(await publicKeyFingerprint(publicKey)), digest.split(" ")[0]);
      const base64 = new TextDecoder().decode(
        await openssl(["base64"], await openssl(["dgst", "-sha256", "-binary"], spki)),
      );
      assert.equal(
        formatFingerprint(await publicKeyFingerprint(publicKey)),
        `sha256//${base64.trim()}`,
      );
    }
  },
});
