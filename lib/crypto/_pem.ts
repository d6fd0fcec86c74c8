// PEM text (RFC 7468) for identity keys: `PUBLIC KEY` (SPKI), `PRIVATE KEY` (PKCS#8) and
// `EC PRIVATE KEY` (SEC1), as OpenSSL reads and writes them. Private: not part of the public API.
//
// The parser is strict and bounded: at most 16 KiB of text; lines end in LF or CRLF, spaces and
// tabs around a line are ignored, blank lines are allowed only outside a block; one block whose
// END label repeats its BEGIN label (for `EC PRIVATE KEY`, an `EC PARAMETERS` block naming P-256
// may come first, as `openssl ecparam -genkey` writes it); no other text before, between or after
// blocks; the body is standard base64 with padding, in lines of any length, without headers.
// Every failure is a KeyError.

import { KeyError } from "../errors.ts";
import { fromBase64, toBase64 } from "./_bytes.ts";
import { checkNamedCurve, decodeSec1, scalarToPkcs8 } from "./_sec1.ts";

/** The longest PEM text read, in UTF-16 code units. A P-256 key is well under 1 KiB. */
export const PEM_MAX_LENGTH = 16 * 1024;

/** What to run on an encrypted key, said in every refusal of one. */
const DECRYPT_HINT = "decrypt it first, e.g. with `openssl pkcs8 -topk8 -nocrypt -in key.pem`";

/** One decoded PEM block. */
export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

const LABEL = "([!-,.-~]+(?: [!-,.-~]+)*)";
const BEGIN_LINE = new RegExp(`^-----BEGIN ${LABEL}-----$`);
const END_LINE = new RegExp(`^-----END ${LABEL}-----$`);
const ENCRYPTED_HEADER = /^Proc-Type:[ \t]*4,[ \t]*ENCRYPTED$/i;

function invalid(message: string): KeyError {
  return new KeyError("key_invalid", message);
}

function unsupported(message: string): KeyError {
  return new KeyError("key_unsupported", message);
}

/** Removes spaces and tabs around a line, and the CR of a CRLF. */
function trimLine(line: string): string {
  let start = 0;
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 0x0d) end--;
  while (start < end && (line[start] === " " || line[start] === "\t")) start++;
  while (end > start && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  return line.slice(start, end);
}

/**
 * Decodes every PEM block of `text`, in order.
 *
 * @throws {TypeError} When `text` is not a string.
 * @throws {KeyError} `key_invalid` for text that breaks the rules above,
 * `key_unsupported` for an encrypted block (`Proc-Type: 4,ENCRYPTED`).
 */
export function decodePem(text: string): PemBlock[] {
  if (typeof text !== "string") throw new TypeError("expected PEM text");
  if (text.length > PEM_MAX_LENGTH) throw invalid("the PEM text is longer than 16 KiB");
  const blocks: PemBlock[] = [];
  let label: string | null = null;
  let body: string[] = [];
  let headers = false;
  let encrypted = false;
  for (const rawLine of text.split("\n")) {
    const line = trimLine(rawLine);
    if (label === null) {
      if (line === "") continue;
      const begin = BEGIN_LINE.exec(line);
      if (begin) {
        label = begin[1]!;
        body = [];
        headers = false;
        encrypted = false;
        continue;
      }
      if (line.startsWith("-----")) throw invalid("malformed PEM boundary line");
      throw invalid(
        blocks.length === 0 ? "text before the PEM block" : "text after the PEM block",
      );
    }
    if (line.startsWith("-----")) {
      const end = END_LINE.exec(line);
      if (!end) throw invalid("malformed PEM boundary line");
      if (end[1] !== label) throw invalid("the PEM END label does not match its BEGIN label");
      if (encrypted) throw unsupported(`the PEM key is encrypted; ${DECRYPT_HINT}`);
      if (headers) throw invalid("PEM headers are not supported");
      const der = fromBase64(body.join(""));
      if (der === null || der.length === 0) throw invalid("the PEM body is not valid base64");
      blocks.push({ label, der });
      label = null;
      continue;
    }
    if (line.includes(":")) {
      headers = true;
      if (ENCRYPTED_HEADER.test(line)) encrypted = true;
    } else if (line === "") {
      if (!headers || body.length > 0) throw invalid("blank line inside the PEM block");
    } else {
      body.push(line);
    }
  }
  if (label !== null) throw invalid("the PEM block has no END line");
  if (blocks.length === 0) throw invalid("no PEM block found");
  return blocks;
}

/** Encodes one PEM block as OpenSSL writes it: 64-character lines, LF endings. */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = toBase64(der);
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < base64.length; i += 64) out += base64.slice(i, i + 64) + "\n";
  return out + `-----END ${label}-----\n`;
}

/** Names a label in a message, when it is short enough to be one. */
function found(label: string): string {
  return label.length <= 40 ? `, found ${label}` : "";
}

/** The one block of a public key's PEM text: returns its SPKI DER. */
export function decodePublicKeyPem(text: string): Uint8Array {
  const blocks = decodePem(text);
  if (blocks.length !== 1) throw invalid("expected one PEM block");
  const { label, der } = blocks[0]!;
  if (label !== "PUBLIC KEY") throw unsupported(`expected a PUBLIC KEY PEM block${found(label)}`);
  return der;
}

/** A private key read from PEM text, as PKCS#8 for the engine. */
export interface PemPrivateKey {
  /** PKCS#8 DER: the block itself, or a SEC1 key rewrapped. */
  readonly pkcs8: Uint8Array;
  /** The public point a SEC1 key carries, to compare with the one the engine derives. */
  readonly publicPoint: Uint8Array | null;
  /** Whether `pkcs8` was built here from a SEC1 key (scalar only, no public key). */
  readonly rewrapped: boolean;
}

/** The private key of PEM text: `PRIVATE KEY`, or `EC PRIVATE KEY` rewrapped as PKCS#8. */
export function decodePrivateKeyPem(text: string): PemPrivateKey {
  const blocks = decodePem(text);
  let key = blocks[0]!;
  if (
    blocks.length === 2 && key.label === "EC PARAMETERS" && blocks[1]!.label === "EC PRIVATE KEY"
  ) {
    checkNamedCurve(key.der);
    key = blocks[1]!;
  } else if (blocks.length !== 1) {
    throw invalid("expected one PEM block");
  }
  switch (key.label) {
    case "PRIVATE KEY":
      return { pkcs8: key.der, publicPoint: null, rewrapped: false };
    case "EC PRIVATE KEY": {
      const { d, publicPoint } = decodeSec1(key.der);
      return { pkcs8: scalarToPkcs8(d), publicPoint, rewrapped: true };
    }
    case "ENCRYPTED PRIVATE KEY":
      throw unsupported(`the PEM key is encrypted; ${DECRYPT_HINT}`);
    default:
      throw unsupported(`expected a PRIVATE KEY or EC PRIVATE KEY PEM block${found(key.label)}`);
  }
}
