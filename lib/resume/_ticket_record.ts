// Ticket checks, lifetimes and the record format shared by the ticket stores.
// Private: not part of the public API.

import {
  concat,
  copy,
  fromBase64Url,
  fromUtf8,
  toBase64Url,
  toHex,
  utf8,
} from "../crypto/_bytes.ts";
import { aesGcmDecrypt, aesGcmEncrypt, GCM_NONCE_LENGTH } from "../crypto/aes_gcm.ts";
import { randomBytes } from "../crypto/random.ts";
import { sha256 } from "../crypto/sha256.ts";
import {
  MAX_TICKET_LIFETIME,
  type ServerTicket,
  type StoredTicket,
  type TicketAttributes,
} from "../session/resumption.ts";

/** Ticket ids are 16 to 64 bytes. */
export const MIN_TICKET_ID_LENGTH = 16;
export const MAX_TICKET_ID_LENGTH = 64;
const SECRET_LENGTH = 32;
const FINGERPRINT_LENGTH = 32;
const FAMILY_LENGTH = 16;
const BINDER_HASH_LENGTH = 32;
/** The session's `MAX_ID_LENGTH`. */
const MAX_PEER_ID_LENGTH = 1024;
/** Attributes are at most 32 KiB of JSON, so a sealed record stays under KV's 64 KiB. */
const MAX_ATTRIBUTES_LENGTH = 32 * 1024;
const MAX_JSON_DEPTH = 64;

/** How long a record outlives its end in storage, so that `find` can still say `expired`. */
export const RECORD_GRACE = 60_000;

/**
 * A ticket as a store keeps it: the issued fields without the id, with the
 * attributes as the JSON text they were checked as.
 */
export interface TicketBody {
  readonly secret: Uint8Array;
  readonly peerId: Uint8Array;
  readonly peerKeyFingerprint: Uint8Array;
  readonly attributesJson: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly family: Uint8Array;
  readonly authenticatedAt: number;
}

// ---------------------------------------------------------------------------
// Caller checks: TypeError for a wrong type, RangeError for a wrong size.

function checkBytes(value: unknown, name: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length < min || value.length > max) {
    throw new RangeError(
      min === max ? `${name} must be ${min} bytes` : `${name} must be ${min} to ${max} bytes`,
    );
  }
  return value;
}

function checkTime(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a finite number of milliseconds`);
  }
  return value;
}

/** Checks the `now` a caller passed. */
export function checkNow(now: unknown): number {
  return checkTime(now, "now");
}

/**
 * Checks a ticket id the client presented. A wrong type is the caller's
 * mistake; a wrong length is the client's, and finds nothing.
 */
export function isTicketId(id: unknown): boolean {
  if (!(id instanceof Uint8Array)) throw new TypeError("id must be a Uint8Array");
  return id.length >= MIN_TICKET_ID_LENGTH && id.length <= MAX_TICKET_ID_LENGTH;
}

/** Checks a binder hash. */
export function checkBinderHash(binderHash: unknown): Uint8Array {
  return checkBytes(binderHash, "binderHash", BINDER_HASH_LENGTH, BINDER_HASH_LENGTH);
}

/** Checks what `find` returned and gives its version. */
export function checkFound(found: unknown): string {
  const version = (found as { version?: unknown } | null)?.version;
  if (typeof found !== "object" || found === null || typeof version !== "string") {
    throw new TypeError("found must be the ticket that find returned");
  }
  return version;
}

/** `redeem`'s arguments once checked. */
export interface RedeemArguments {
  /** The version `find` returned. */
  version: string;
  /** The store's own copy of the binder hash. */
  binder: Uint8Array;
  /** The successor as a store keeps it, or `null`. */
  next: TicketBody | null;
  /** Whether `id` has a length a ticket id can have. */
  wellFormed: boolean;
}

/**
 * Checks the arguments of `TicketStore.redeem`, the same way for every store.
 *
 * @throws {TypeError | RangeError} For a caller's mistake (see `checkTicket`).
 */
export function checkRedeem(
  id: unknown,
  found: unknown,
  binderHash: unknown,
  successor: ServerTicket | null,
  now: unknown,
): RedeemArguments {
  checkNow(now);
  const version = checkFound(found);
  const binder = copy(checkBinderHash(binderHash));
  const next = successor === null ? null : checkTicket(successor, "successor");
  return { version, binder, next, wellFormed: isTicketId(id) };
}

function checkJson(value: unknown, depth: number): void {
  if (depth > MAX_JSON_DEPTH) throw new RangeError("ticket attributes are nested too deeply");
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("ticket attributes hold a non-finite number");
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, depth + 1);
    return;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError("ticket attributes hold an object that is not plain JSON");
    }
    for (const item of Object.values(value)) checkJson(item, depth + 1);
    return;
  }
  throw new TypeError(`ticket attributes hold a ${typeof value}, which JSON cannot restore`);
}

/**
 * Checks a ticket to issue and returns it as a store keeps it (its own copies).
 *
 * @throws {TypeError} For a missing field or a field of the wrong type.
 * @throws {RangeError} For a wrong length, `expiresAt <= issuedAt`, a lifetime
 *   over `MAX_TICKET_LIFETIME`, or attributes over 32 KiB of JSON.
 */
export function checkTicket(ticket: ServerTicket, name = "ticket"): TicketBody {
  if (typeof ticket !== "object" || ticket === null) {
    throw new TypeError(`${name} must be a ServerTicket`);
  }
  checkBytes(ticket.id, `${name}.id`, MIN_TICKET_ID_LENGTH, MAX_TICKET_ID_LENGTH);
  const secret = checkBytes(ticket.secret, `${name}.secret`, SECRET_LENGTH, SECRET_LENGTH);
  const peerId = checkBytes(ticket.peerId, `${name}.peerId`, 1, MAX_PEER_ID_LENGTH);
  const fingerprint = checkBytes(
    ticket.peerKeyFingerprint,
    `${name}.peerKeyFingerprint`,
    FINGERPRINT_LENGTH,
    FINGERPRINT_LENGTH,
  );
  const family = checkBytes(ticket.family, `${name}.family`, FAMILY_LENGTH, FAMILY_LENGTH);
  const issuedAt = checkTime(ticket.issuedAt, `${name}.issuedAt`);
  const expiresAt = checkTime(ticket.expiresAt, `${name}.expiresAt`);
  const authenticatedAt = checkTime(ticket.authenticatedAt, `${name}.authenticatedAt`);
  if (expiresAt <= issuedAt) throw new RangeError(`${name}.expiresAt must be after issuedAt`);
  if (expiresAt - issuedAt > MAX_TICKET_LIFETIME) {
    throw new RangeError(`${name} lifetime exceeds MAX_TICKET_LIFETIME (7 days)`);
  }
  const attributes: unknown = ticket.attributes;
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    throw new TypeError(`${name}.attributes must be a JSON object`);
  }
  checkJson(attributes, 0);
  const attributesJson = JSON.stringify(attributes);
  if (utf8(attributesJson).length > MAX_ATTRIBUTES_LENGTH) {
    throw new RangeError(`${name}.attributes exceed 32 KiB of JSON`);
  }
  return {
    secret: copy(secret),
    peerId: copy(peerId),
    peerKeyFingerprint: copy(fingerprint),
    attributesJson,
    issuedAt,
    expiresAt,
    family: copy(family),
    authenticatedAt,
  };
}

// ---------------------------------------------------------------------------
// Lifetimes.

/** When a ticket stops being usable: its `expiresAt`, or 7 days after its family began. */
export function ticketEnd(body: Pick<TicketBody, "expiresAt" | "authenticatedAt">): number {
  return Math.min(body.expiresAt, body.authenticatedAt + MAX_TICKET_LIFETIME);
}

/** Whether a ticket is past its end at `now`. */
export function isExpired(body: TicketBody, now: number): boolean {
  return ticketEnd(body) <= now;
}

/** Whether a peer revocation at `revokedAt` covers a ticket. */
export function isRevokedByPeer(
  body: Pick<TicketBody, "authenticatedAt">,
  revokedAt: number | null,
): boolean {
  return revokedAt !== null && revokedAt >= body.authenticatedAt;
}

/** The ticket `find` returns: fresh copies, attributes parsed again. */
export function storedTicket(
  body: TicketBody,
  redeemedWith: Uint8Array | null,
  version: string,
): StoredTicket {
  return {
    secret: copy(body.secret),
    peerId: copy(body.peerId),
    peerKeyFingerprint: copy(body.peerKeyFingerprint),
    attributes: JSON.parse(body.attributesJson) as TicketAttributes,
    issuedAt: body.issuedAt,
    expiresAt: body.expiresAt,
    family: copy(body.family),
    authenticatedAt: body.authenticatedAt,
    redeemedWith: redeemedWith === null ? null : copy(redeemedWith),
    version,
  };
}

/** Hex SHA-256 of a ticket id: the only form in which a store keeps it. */
export async function ticketIdHash(id: Uint8Array): Promise<string> {
  return toHex(await sha256(id));
}

// ---------------------------------------------------------------------------
// The KV record format. Every value is a Uint8Array holding UTF-8 JSON text.
//
// A record is {"v":"1","s":sealed,"r":binderHash,"w":redeemTag} ("r" and "w"
// only once redeemed). `sealed` is base64url(nonce ‖ AES-256-GCM(body)) with
// AAD = FORMAT ‖ 00 ‖ hex SHA-256 of the ticket id, so the record opens only
// under its own key and store key. The body is the JSON of every issued field
// but the id, secret and attributes included: a KV dump alone resumes
// nothing, reveals no attributes, and a changed field fails the seal.

const FORMAT = "tessera/ticket-record/v1";
const FORMAT_AAD = utf8(FORMAT);

function aadFor(idHash: string): Uint8Array {
  return concat(FORMAT_AAD, new Uint8Array([0]), utf8(idHash));
}

/** Seals a ticket body for the record keyed by `idHash`. */
export async function sealBody(key: CryptoKey, idHash: string, body: TicketBody): Promise<string> {
  const fields = JSON.stringify({
    secret: toBase64Url(body.secret),
    peerId: toBase64Url(body.peerId),
    fingerprint: toBase64Url(body.peerKeyFingerprint),
    family: toBase64Url(body.family),
    issuedAt: body.issuedAt,
    expiresAt: body.expiresAt,
    authenticatedAt: body.authenticatedAt,
  });
  // The attributes go in as the exact JSON text they were checked as.
  const plain = `${fields.slice(0, -1)},"attributes":${body.attributesJson}}`;
  const nonce = randomBytes(GCM_NONCE_LENGTH);
  const sealed = await aesGcmEncrypt(key, nonce, utf8(plain), aadFor(idHash));
  return toBase64Url(concat(nonce, sealed));
}

function bytesField(value: unknown, length: number | null): Uint8Array | null {
  if (typeof value !== "string") return null;
  const bytes = fromBase64Url(value);
  if (bytes === null) return null;
  if (length !== null ? bytes.length !== length : bytes.length === 0) return null;
  return bytes;
}

function timeField(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Opens a sealed body; `null` for a wrong key, a moved or tampered record. */
export async function openBody(
  key: CryptoKey,
  idHash: string,
  sealed: string,
): Promise<TicketBody | null> {
  const bytes = fromBase64Url(sealed);
  if (bytes === null || bytes.length <= GCM_NONCE_LENGTH) return null;
  const nonce = bytes.subarray(0, GCM_NONCE_LENGTH);
  const plain = await aesGcmDecrypt(key, nonce, bytes.subarray(GCM_NONCE_LENGTH), aadFor(idHash));
  if (plain === null) return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fromUtf8(plain));
  } catch {
    return null;
  }
  const secret = bytesField(json.secret, SECRET_LENGTH);
  const peerId = bytesField(json.peerId, null);
  const peerKeyFingerprint = bytesField(json.fingerprint, FINGERPRINT_LENGTH);
  const family = bytesField(json.family, FAMILY_LENGTH);
  const issuedAt = timeField(json.issuedAt);
  const expiresAt = timeField(json.expiresAt);
  const authenticatedAt = timeField(json.authenticatedAt);
  const attributes = json.attributes;
  if (
    secret === null || peerId === null || peerKeyFingerprint === null || family === null ||
    issuedAt === null || expiresAt === null || authenticatedAt === null ||
    typeof attributes !== "object" || attributes === null || Array.isArray(attributes)
  ) {
    return null;
  }
  return {
    secret,
    peerId,
    peerKeyFingerprint,
    attributesJson: JSON.stringify(attributes),
    issuedAt,
    expiresAt,
    family,
    authenticatedAt,
  };
}

/** A record as KV holds it, before its body is opened. */
export interface TicketRecord {
  /** base64url(nonce ‖ sealed body). */
  readonly sealed: string;
  /** The binder hash that redeemed it, or `null`. */
  readonly redeemedWith: Uint8Array | null;
  /** base64url of the random tag of the `redeem` call that redeemed it, or `null`. */
  readonly redeemTag: string | null;
}

/** Encodes a record as a KV value. */
export function encodeRecord(record: TicketRecord): Uint8Array {
  const json: Record<string, string> = { v: "1", s: record.sealed };
  if (record.redeemedWith !== null) json.r = toBase64Url(record.redeemedWith);
  if (record.redeemTag !== null) json.w = record.redeemTag;
  return utf8(JSON.stringify(json));
}

function parseJsonValue(value: unknown): Record<string, unknown> | null {
  if (!(value instanceof Uint8Array)) return null;
  try {
    const json: unknown = JSON.parse(fromUtf8(value));
    return typeof json === "object" && json !== null && !Array.isArray(json)
      ? json as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}

/** Decodes a KV value as a record; `null` for anything else. */
export function decodeRecord(value: unknown): TicketRecord | null {
  const json = parseJsonValue(value);
  if (json === null || json.v !== "1" || typeof json.s !== "string") return null;
  const redeemedWith = json.r === undefined ? null : bytesField(json.r, BINDER_HASH_LENGTH);
  if (json.r !== undefined && redeemedWith === null) return null;
  if (json.w !== undefined && typeof json.w !== "string") return null;
  return { sealed: json.s, redeemedWith, redeemTag: (json.w as string | undefined) ?? null };
}

/** What the peer and family index entries of a ticket hold (the same for both). */
export interface IndexEntry {
  /** The peer part of the key: hex SHA-256 of the peer id. */
  readonly peer: string;
  /** The family part of the key: hex family. */
  readonly family: string;
  readonly authenticatedAt: number;
}

/** Encodes an index entry as a KV value. */
export function encodeIndex(entry: IndexEntry): Uint8Array {
  return utf8(JSON.stringify({
    peer: entry.peer,
    family: entry.family,
    authenticatedAt: String(entry.authenticatedAt),
  }));
}

/** Decodes an index entry; `null` for anything else. */
export function decodeIndex(value: unknown): IndexEntry | null {
  const json = parseJsonValue(value);
  if (json === null) return null;
  const { peer, family, authenticatedAt } = json;
  const time = typeof authenticatedAt === "string" ? Number(authenticatedAt) : NaN;
  if (typeof peer !== "string" || typeof family !== "string" || !Number.isFinite(time)) {
    return null;
  }
  return { peer, family, authenticatedAt: time };
}

/** Encodes a revocation time as a KV value: the decimal string, as UTF-8 bytes. */
export function encodeTime(time: number): Uint8Array {
  return utf8(String(time));
}

/**
 * Decodes a revocation time. A marker that exists but does not parse counts
 * as revoked for ever (`Infinity`): failing closed.
 */
export function decodeTime(value: unknown): number {
  let text: string | null = null;
  if (typeof value === "string") text = value;
  else if (value instanceof Uint8Array) {
    try {
      text = fromUtf8(value);
    } catch {
      text = null;
    }
  }
  const time = text === null || text.trim() === "" ? NaN : Number(text);
  return Number.isFinite(time) ? time : Infinity;
}
