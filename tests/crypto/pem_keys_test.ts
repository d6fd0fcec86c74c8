import assert from "node:assert/strict";
import {
  exportPrivateKeyJwk,
  exportPrivateKeyPem,
  exportPublicKey,
  exportPublicKeyPem,
  generateIdentityKeyPair,
  importPrivateKey,
  importPublicKey,
  publicKeyFromPrivate,
  signP256,
  verifyP256,
} from "../../lib/crypto/identity.ts";
import { derToP1363, p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { fromBase64Url, toBase64 } from "../../lib/crypto/_bytes.ts";
import { KeyError, type KeyErrorCode } from "../../lib/errors.ts";

const data = new TextEncoder().encode("a message signed on one side and verified on the other");

function fixture(name: string): Promise<string> {
  return Deno.readTextFile(new URL(`../vectors/pem/${name}`, import.meta.url));
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: KeyErrorCode,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof KeyError, `expected a KeyError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Wraps DER in a PEM block by hand, without the library's encoder. */
function pem(label: string, der: Uint8Array): string {
  const body = toBase64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function der(pemText: string): Uint8Array {
  const body = pemText.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (b) => parseInt(b, 16));
}

const opensslAvailable = await new Deno.Command("openssl", { args: ["version"] }).output()
  .then((out) => out.success, () => false);

async function openssl(args: string[], stdin?: Uint8Array | string): Promise<Uint8Array> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await writer.close();
  }
  const out = await child.output();
  const error = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `openssl ${args.join(" ")} failed: ${error}`);
  return out.stdout;
}

// ---------------------------------------------------------------- round trips

Deno.test("exportPublicKeyPem() and importPublicKey() round-trip a generated key", async () => {
  const keys = await generateIdentityKeyPair();
  const text = await exportPublicKeyPem(keys.publicKey);
  assert.match(
    text,
    /^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PUBLIC KEY-----\n$/,
  );
  assert.deepEqual(der(text), await exportPublicKey(keys.publicKey, "spki"));
  for (const imported of [await importPublicKey(text), await importPublicKey(text, "pem")]) {
    assert.equal(imported.type, "public");
    assert.ok(await verifyP256(imported, await signP256(keys.privateKey, data), data));
  }
});

Deno.test("exportPrivateKeyPem() writes PKCS#8 or SEC1, and both import to a key that signs for the same public key", async () => {
  const keys = await generateIdentityKeyPair({ extractable: true });
  const jwk = await exportPrivateKeyJwk(keys.privateKey);
  const pkcs8 = await exportPrivateKeyPem(keys.privateKey);
  const sec1 = await exportPrivateKeyPem(keys.privateKey, { format: "sec1" });
  assert.equal(await exportPrivateKeyPem(keys.privateKey, { format: "pkcs8" }), pkcs8);
  assert.ok(pkcs8.startsWith("-----BEGIN PRIVATE KEY-----\n"));
  assert.ok(sec1.startsWith("-----BEGIN EC PRIVATE KEY-----\n"));
  for (const text of [pkcs8, sec1]) {
    const closed = await importPrivateKey(text);
    assert.equal(closed.extractable, false);
    assert.ok(await verifyP256(keys.publicKey, await signP256(closed, data), data));
    await rejectsWith(exportPrivateKeyPem(closed), "key_not_extractable");
    await rejectsWith(exportPrivateKeyPem(closed, { format: "sec1" }), "key_not_extractable");

    const open = await importPrivateKey(text, { format: "pem", extractable: true });
    assert.equal(open.extractable, true);
    assert.deepEqual(await exportPrivateKeyJwk(open), jwk);
    assert.equal(await exportPrivateKeyPem(open), pkcs8);
    assert.equal(await exportPrivateKeyPem(open, { format: "sec1" }), sec1);
  }
});

Deno.test("PEM export refuses keys of the wrong kind, non-extractable keys and unknown formats", async () => {
  const keys = await generateIdentityKeyPair();
  await rejectsWith(exportPrivateKeyPem(keys.privateKey), "key_not_extractable");
  await rejectsWith(exportPrivateKeyPem(keys.publicKey), "key_unsupported");
  await rejectsWith(exportPublicKeyPem(keys.privateKey), "key_unsupported");
  const closedPublic = await crypto.subtle.importKey(
    "raw",
    await exportPublicKey(keys.publicKey, "raw"),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  await rejectsWith(exportPublicKeyPem(closedPublic), "key_not_extractable");
  const open = await generateIdentityKeyPair({ extractable: true });
  await assert.rejects(
    exportPrivateKeyPem(open.privateKey, { format: "jwk" as "sec1" }),
    TypeError,
  );
  await assert.rejects(exportPublicKeyPem({} as CryptoKey), TypeError);
});

// ---------------------------------------------------------------- openssl fixtures

Deno.test("importPrivateKey() reads the openssl EC PRIVATE KEY, with or without its EC PARAMETERS block, and its PKCS#8 as one key", async () => {
  const names = ["p256_ec.pem", "p256_ec_params.pem", "p256_pkcs8.pem"];
  const jwks = [];
  for (const name of names) {
    const key = await importPrivateKey(await fixture(name), { extractable: true });
    jwks.push(await exportPrivateKeyJwk(key));
    assert.equal((await importPrivateKey(await fixture(name))).extractable, false);
  }
  assert.deepEqual(jwks[1], jwks[0]);
  assert.deepEqual(jwks[2], jwks[0]);
  const publicKey = await importPublicKey(await fixture("p256_public.pem"));
  const derived = await publicKeyFromPrivate(
    await importPrivateKey(await fixture("p256_ec.pem"), { extractable: true }),
  );
  assert.deepEqual(
    await exportPublicKey(derived, "raw"),
    await exportPublicKey(publicKey, "raw"),
  );
});

Deno.test("PEM export writes the same text as openssl for the same key", async () => {
  const privateKey = await importPrivateKey(await fixture("p256_ec_params.pem"), {
    extractable: true,
  });
  assert.equal(
    await exportPrivateKeyPem(privateKey, { format: "sec1" }),
    await fixture("p256_ec.pem"),
  );
  assert.equal(await exportPrivateKeyPem(privateKey), await fixture("p256_pkcs8.pem"));
  const publicKey = await importPublicKey(await fixture("p256_public.pem"));
  assert.equal(await exportPublicKeyPem(publicKey), await fixture("p256_public.pem"));
});

Deno.test("a signature by the imported openssl private key verifies with the imported openssl public key", async () => {
  const publicKey = await importPublicKey(await fixture("p256_public.pem"));
  for (const name of ["p256_ec.pem", "p256_ec_params.pem", "p256_pkcs8.pem"]) {
    const privateKey = await importPrivateKey(await fixture(name));
    assert.ok(await verifyP256(publicKey, await signP256(privateKey, data), data), name);
  }
});

Deno.test({
  name: "openssl verifies a signature made with its key through signP256(), and the reverse",
  ignore: !opensslAvailable,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const privateKey = await importPrivateKey(await fixture("p256_ec.pem"));
      const publicKey = await importPublicKey(await fixture("p256_public.pem"));
      await Deno.writeFile(`${dir}/data`, data);
      await Deno.writeFile(`${dir}/sig.der`, p1363ToDer(await signP256(privateKey, data)));
      const verified = await openssl([
        "dgst",
        "-sha256",
        "-verify",
        new URL("../vectors/pem/p256_public.pem", import.meta.url).pathname,
        "-signature",
        `${dir}/sig.der`,
        `${dir}/data`,
      ]);
      assert.match(new TextDecoder().decode(verified), /Verified OK/);

      const signed = await openssl([
        "dgst",
        "-sha256",
        "-sign",
        new URL("../vectors/pem/p256_ec.pem", import.meta.url).pathname,
        `${dir}/data`,
      ]);
      assert.ok(await verifyP256(publicKey, derToP1363(signed), data));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "openssl reads the PEM keys exportPrivateKeyPem() and exportPublicKeyPem() write",
  ignore: !opensslAvailable,
  async fn() {
    const keys = await generateIdentityKeyPair({ extractable: true });
    const publicPem = await exportPublicKeyPem(keys.publicKey);
    for (const format of ["pkcs8", "sec1"] as const) {
      const text = await exportPrivateKeyPem(keys.privateKey, { format });
      // openssl derives the public key from the private key it read: it must be ours.
      const derived = new TextDecoder().decode(await openssl(["pkey", "-pubout"], text));
      assert.equal(derived, publicPem);
    }
  },
});

// ---------------------------------------------------------------- refused keys

Deno.test("P-384, RSA and explicit-curve keys from openssl are refused with key_unsupported", async () => {
  for (const name of ["p384_ec.pem", "p384_pkcs8.pem", "rsa_pkcs8.pem", "p256_ec_explicit.pem"]) {
    await rejectsWith(importPrivateKey(await fixture(name)), "key_unsupported");
  }
  await rejectsWith(
    importPrivateKey(await fixture("p256_ec_explicit.pem")),
    "key_unsupported",
    /explicit/,
  );
  for (const name of ["p384_public.pem", "rsa_public.pem"]) {
    await rejectsWith(importPublicKey(await fixture(name)), "key_unsupported");
  }
});

Deno.test("encrypted private keys are refused with key_unsupported and told how to decrypt them", async () => {
  for (const name of ["p256_pkcs8_encrypted.pem", "p256_ec_encrypted.pem"]) {
    await rejectsWith(
      importPrivateKey(await fixture(name)),
      "key_unsupported",
      /encrypted.*openssl pkcs8 -topk8 -nocrypt/,
    );
    await rejectsWith(importPublicKey(await fixture(name)), "key_unsupported");
  }
});

Deno.test("a PEM block of another kind than asked is refused with key_unsupported", async () => {
  const publicPem = await fixture("p256_public.pem");
  const privatePem = await fixture("p256_pkcs8.pem");
  const ecPem = await fixture("p256_ec.pem");
  await rejectsWith(importPublicKey(privatePem), "key_unsupported", /PUBLIC KEY/);
  await rejectsWith(importPublicKey(ecPem), "key_unsupported");
  await rejectsWith(importPrivateKey(publicPem), "key_unsupported", /PRIVATE KEY/);
  const spki = der(publicPem);
  for (const label of ["RSA PUBLIC KEY", "CERTIFICATE", "EC PARAMETERS", "X"]) {
    await rejectsWith(importPublicKey(pem(label, spki)), "key_unsupported");
    await rejectsWith(importPrivateKey(pem(label, spki)), "key_unsupported");
  }
  // The right label on the wrong content: the DER says what it is.
  await rejectsWith(importPublicKey(pem("PUBLIC KEY", der(privatePem))), "key_invalid");
  await rejectsWith(importPrivateKey(pem("PRIVATE KEY", spki)), "key_invalid");
  await rejectsWith(importPrivateKey(pem("EC PRIVATE KEY", der(privatePem))), "key_invalid");
});

Deno.test("an EC PARAMETERS block must name P-256 and come just before the EC PRIVATE KEY", async () => {
  const withParams = await fixture("p256_ec_params.pem");
  const ec = await fixture("p256_ec.pem");
  const params = withParams.slice(0, withParams.length - ec.length);
  const p384Params = pem("EC PARAMETERS", hex("06052b81040022"));
  const explicitParams = pem("EC PARAMETERS", hex("3000"));
  await rejectsWith(importPrivateKey(p384Params + ec), "key_unsupported");
  await rejectsWith(importPrivateKey(explicitParams + ec), "key_unsupported");
  await rejectsWith(importPrivateKey(pem("EC PARAMETERS", hex("0408ffff")) + ec), "key_invalid");
  await rejectsWith(importPrivateKey(ec + params), "key_invalid");
  await rejectsWith(importPrivateKey(params + params + ec), "key_invalid");
  await rejectsWith(importPrivateKey(params + await fixture("p256_pkcs8.pem")), "key_invalid");
  await rejectsWith(importPublicKey(params + await fixture("p256_public.pem")), "key_invalid");
});

// ---------------------------------------------------------------- malformed text

Deno.test("PEM text is read with LF or CRLF, indentation, one long line and blank lines around the block", async () => {
  const text = await fixture("p256_public.pem");
  const expected = await exportPublicKey(await importPublicKey(text), "raw");
  const lines = text.trimEnd().split("\n");
  const variants = [
    text.replaceAll("\n", "\r\n"),
    text.trimEnd(),
    "\n\n" + text + "\n\n",
    lines.map((l) => "    " + l + " \t").join("\n"),
    [lines[0], lines.slice(1, -1).join(""), lines.at(-1)].join("\n"),
  ];
  for (const variant of variants) {
    assert.deepEqual(await exportPublicKey(await importPublicKey(variant), "raw"), expected);
  }
  const ec = await fixture("p256_ec_params.pem");
  await importPrivateKey(ec.replaceAll("\n", "\r\n"));
  await importPrivateKey(
    ec.replace("-----END EC PARAMETERS-----\n", "-----END EC PARAMETERS-----\n\n"),
  );
});

Deno.test("malformed PEM text is refused with key_invalid", async () => {
  const text = await fixture("p256_public.pem");
  const [begin, line1, line2, end] = text.trimEnd().split("\n") as [string, string, string, string];
  const malformed: [string, string][] = [
    ["empty", ""],
    ["whitespace only", " \n\t\n"],
    ["not PEM", "hello"],
    ["base64 without boundaries", line1 + "\n" + line2],
    ["text before BEGIN", "Bag Attributes\n" + text],
    ["trailing garbage after END", text + "garbage\n"],
    ["trailing garbage on the END line", text.trimEnd() + "x\n"],
    ["two blocks", text + text],
    ["two blocks of different kinds", text + (await fixture("p256_pkcs8.pem"))],
    ["END label differs", [begin, line1, line2, "-----END PRIVATE KEY-----"].join("\n")],
    ["no END line", [begin, line1, line2].join("\n")],
    ["BEGIN inside the block", [begin, line1, begin, line2, end].join("\n")],
    [
      "malformed BEGIN line",
      text.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN PUBLIC KEY----"),
    ],
    ["lower-case boundary", text.replace("BEGIN", "begin")],
    ["double space in label", text.replaceAll("PUBLIC KEY", "PUBLIC  KEY")],
    ["empty body", [begin, end].join("\n")],
    ["blank line inside the body", [begin, line1, "", line2, end].join("\n")],
    [
      "space inside a body line",
      [begin, line1.slice(0, 10) + " " + line1.slice(10), line2, end].join("\n"),
    ],
    ["character outside base64", [begin, line1.slice(0, -1) + "!", line2, end].join("\n")],
    ["base64url alphabet", [begin, line1.replace("+", "-"), line2, end].join("\n")],
    ["padding removed", [begin, line1, line2.replace(/=+$/, ""), end].join("\n")],
    ["padding in the middle", [begin, line1 + "==", line2, end].join("\n")],
    ["non-canonical trailing bits", [begin, line1, line2.replace(/.==$/, "x=="), end].join("\n")],
    ["one character missing", [begin, line1.slice(1), line2, end].join("\n")],
    ["PEM header", [begin, "Comment: a key", "", line1, line2, end].join("\n")],
    ["lone CR line endings", text.replaceAll("\n", "\r")],
    ["NUL inside", text.replace("\n", "\n\0")],
    ["base64 of garbage", pem("PUBLIC KEY", new Uint8Array([1, 2, 3]))],
  ];
  for (const [name, input] of malformed) {
    await rejectsWith(importPublicKey(input), "key_invalid").catch((err) => {
      throw new Error(`${name}: ${err.message}`);
    });
  }
  for (const name of ["empty", "trailing garbage after END", "two blocks"]) {
    const input = malformed.find(([n]) => n === name)![1];
    await rejectsWith(importPrivateKey(input.replaceAll("PUBLIC", "PRIVATE")), "key_invalid");
  }
});

Deno.test("PEM text longer than 16 KiB is refused with key_invalid before it is parsed", async () => {
  const text = await fixture("p256_public.pem");
  const limit = 16 * 1024;
  const fits = text + " ".repeat(limit - text.length);
  assert.equal(fits.length, limit);
  await importPublicKey(fits);
  await rejectsWith(importPublicKey(fits + " "), "key_invalid", /16 KiB/);
  await rejectsWith(importPrivateKey("-".repeat(limit + 1)), "key_invalid", /16 KiB/);
  await rejectsWith(importPublicKey("\n".repeat(10 * limit)), "key_invalid", /16 KiB/);
});

Deno.test("PEM import refuses text where the format asks for other data, and other data where it asks for text, with TypeError", async () => {
  const text = await fixture("p256_public.pem");
  await assert.rejects(importPublicKey(der(text), "pem"), TypeError);
  await assert.rejects(importPublicKey(text, "spki"), TypeError);
  await assert.rejects(importPublicKey(text, "jwk"), TypeError);
  await assert.rejects(importPrivateKey(der(text), { format: "pem" }), TypeError);
  await assert.rejects(importPrivateKey({} as JsonWebKey, { format: "pem" }), TypeError);
  await assert.rejects(
    importPrivateKey(await fixture("p256_pkcs8.pem"), { format: "jwk" }),
    TypeError,
  );
});

// ---------------------------------------------------------------- SEC1 structure

/** The parts of the fixture's EC PRIVATE KEY, to build variants from. */
async function sec1Parts(): Promise<{ d: Uint8Array; point: Uint8Array }> {
  const key = await importPrivateKey(await fixture("p256_ec.pem"), { extractable: true });
  const jwk = await exportPrivateKeyJwk(key);
  const point = new Uint8Array([4, ...fromBase64Url(jwk.x!)!, ...fromBase64Url(jwk.y!)!]);
  return { d: fromBase64Url(jwk.d!)!, point };
}

function tlv(tag: number, ...parts: (Uint8Array | number[])[]): Uint8Array {
  const body = parts.flatMap((p) => [...p]);
  assert.ok(body.length < 128);
  return new Uint8Array([tag, body.length, ...body]);
}

const P256 = hex("06082a8648ce3d030107");

function sec1(
  d: Uint8Array,
  options: { version?: number; params?: Uint8Array | null; point?: Uint8Array | null } = {},
): Uint8Array {
  const parts = [tlv(0x02, [options.version ?? 1]), tlv(0x04, d)];
  if (options.params !== null) parts.push(tlv(0xa0, options.params ?? P256));
  if (options.point) parts.push(tlv(0xa1, tlv(0x03, [0], options.point)));
  return tlv(0x30, ...parts);
}

Deno.test("an EC PRIVATE KEY without parameters or public key, or with a compressed public key, is read as P-256", async () => {
  const { d, point } = await sec1Parts();
  const expected = await exportPrivateKeyJwk(
    await importPrivateKey(await fixture("p256_ec.pem"), { extractable: true }),
  );
  const compressed = new Uint8Array([2 | (point[64]! & 1), ...point.subarray(1, 33)]);
  const variants = [
    sec1(d, { params: null, point: null }),
    sec1(d, { point: null }),
    sec1(d, { params: null, point }),
    sec1(d, { point: compressed }),
  ];
  for (const variant of variants) {
    const key = await importPrivateKey(pem("EC PRIVATE KEY", variant), { extractable: true });
    assert.deepEqual(await exportPrivateKeyJwk(key), expected);
  }
});

Deno.test("a malformed EC PRIVATE KEY is refused with key_invalid", async () => {
  const { d, point } = await sec1Parts();
  const other = await exportPublicKey((await generateIdentityKeyPair()).publicKey, "raw");
  const good = sec1(d, { point });
  const flippedParity = new Uint8Array([2 | (~point[64]! & 1), ...point.subarray(1, 33)]);
  const malformed: [string, Uint8Array][] = [
    ["version 0", sec1(d, { version: 0, point })],
    ["version 2", sec1(d, { version: 2, point })],
    ["31-byte scalar", sec1(d.subarray(1), { point })],
    ["33-byte scalar", sec1(new Uint8Array([0, ...d]), { point })],
    ["zero scalar", sec1(new Uint8Array(32), { point: null })],
    [
      "scalar equal to the order",
      sec1(hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"), {
        point: null,
      }),
    ],
    ["public key of another key", sec1(d, { point: other })],
    ["compressed public key of the wrong parity", sec1(d, { point: flippedParity })],
    ["public key not a point", sec1(d, { point: point.subarray(0, 64) })],
    [
      "public key with unused bits",
      (() => {
        const bytes = good.slice();
        bytes[bytes.length - 66] = 1;
        return bytes;
      })(),
    ],
    [
      "parameters after the public key",
      tlv(0x30, tlv(0x02, [1]), tlv(0x04, d), tlv(0xa1, tlv(0x03, [0], point)), tlv(0xa0, P256)),
    ],
    ["unknown field", tlv(0x30, tlv(0x02, [1]), tlv(0x04, d), tlv(0xa2, [5, 0]))],
    ["empty parameters", sec1(d, { params: new Uint8Array(0), point })],
    ["trailing bytes after the key", new Uint8Array([...good, 0])],
    ["truncated", good.subarray(0, good.length - 1)],
    ["not a sequence", new Uint8Array([0x31, ...good.subarray(1)])],
    ["non-minimal length", new Uint8Array([0x30, 0x81, ...good.subarray(1)])],
  ];
  for (const [name, bytes] of malformed) {
    await rejectsWith(importPrivateKey(pem("EC PRIVATE KEY", bytes)), "key_invalid").catch(
      (err) => {
        throw new Error(`${name}: ${err.message}`);
      },
    );
  }
  await rejectsWith(
    importPrivateKey(pem("EC PRIVATE KEY", sec1(d, { params: hex("06052b81040022"), point }))),
    "key_unsupported",
  );
});

Deno.test("no change to one character of a PEM key escapes as anything but a KeyError", async () => {
  const alphabet = "A/+=-\r \n";
  for (const name of ["p256_ec_params.pem", "p256_public.pem"]) {
    const text = await fixture(name);
    const isPublic = name.includes("public");
    const load = (input: string) =>
      isPublic ? importPublicKey(input) : importPrivateKey(input, { extractable: true });
    const original = isPublic ? await exportPublicKey(await importPublicKey(text), "raw") : null;
    for (let i = 0; i < text.length; i++) {
      for (const c of alphabet) {
        if (text[i] === c) continue;
        const changed = text.slice(0, i) + c + text.slice(i + 1);
        try {
          const key = await load(changed);
          // Accepted only where the change is whitespace around the lines, or the key is unchanged.
          if (original) assert.deepEqual(await exportPublicKey(key, "raw"), original);
        } catch (err) {
          assert.ok(err instanceof KeyError, `position ${i}, ${JSON.stringify(c)}: ${err}`);
        }
      }
      const cut = text.slice(0, i);
      await load(cut).catch((err) => assert.ok(err instanceof KeyError, `cut at ${i}: ${err}`));
    }
  }
});
