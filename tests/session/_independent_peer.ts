/**
 * A second, minimal implementation of both roles of tessera/1, written from
 * docs/protocol.md alone on plain `crypto.subtle`. It imports nothing from
 * the library; `independent_peer_test.ts` makes it talk to the library.
 *
 * Section numbers (§) refer to docs/protocol.md.
 */

// ---------------------------------------------------------------------------
// Bytes

export const te = new TextEncoder();
const EMPTY = new Uint8Array(0);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const u8 = (n: number): Uint8Array => new Uint8Array([n & 0xff]);
export const u16 = (n: number): Uint8Array => new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);

export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

export const vec8 = (data: Uint8Array): Uint8Array => concat(u8(data.length), data);
export const vec16 = (data: Uint8Array): Uint8Array => concat(u16(data.length), data);

/** Constant-time comparison (§2). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** A failure of the independent peer, with the spec's code (and an alert for the peer). */
export class PeerError extends Error {
  constructor(
    readonly code: string,
    readonly alert: Uint8Array | null = null,
    readonly alertClass: number | null = null,
  ) {
    super(code);
  }
}

/** The failure that an alert caused, or an alert that failed: never answered (§3.6). */
class AlertError extends PeerError {}

/** A bounds-checked reader; an overrun throws `code`. */
export class Reader {
  #at = 0;
  constructor(readonly bytes: Uint8Array, readonly code = "handshake_malformed") {}
  get offset(): number {
    return this.#at;
  }
  get remaining(): number {
    return this.bytes.length - this.#at;
  }
  take(n: number): Uint8Array {
    if (n > this.remaining) throw new PeerError(this.code);
    const out = this.bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }
  u32(): number {
    return new DataView(this.take(4).slice().buffer).getUint32(0);
  }
  vec8(min: number, max: number): Uint8Array {
    return this.#bounded(this.u8(), min, max);
  }
  vec16(min: number, max: number): Uint8Array {
    return this.#bounded(this.u16(), min, max);
  }
  #bounded(n: number, min: number, max: number): Uint8Array {
    if (n < min || n > max) throw new PeerError(this.code);
    return this.take(n);
  }
  rest(): Uint8Array {
    return this.take(this.remaining);
  }
  end(): void {
    if (this.remaining !== 0) throw new PeerError(this.code);
  }
}

// ---------------------------------------------------------------------------
// Primitives (§2)

const ZERO32 = new Uint8Array(32);

/** Web Crypto wants ArrayBuffer-backed views; every view here is one. */
const bs = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

/** `Label(label, context) = "tessera/1 " ‖ label ‖ 00 ‖ context`. */
export const label = (name: string, context: Uint8Array = EMPTY): Uint8Array =>
  concat(te.encode(`tessera/1 ${name}`), u8(0), context);

/** HKDF-SHA256; an empty salt is 32 zero bytes. */
export async function hkdf(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", bs(ikm), "HKDF", false, ["deriveBits"]);
  const params = {
    name: "HKDF",
    hash: "SHA-256",
    salt: bs(salt.length === 0 ? ZERO32 : salt),
    info: bs(info),
  };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, length * 8));
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bs(data)));
}

export async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    bs(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, bs(data)));
}

/** `nonce(iv, n) = iv XOR (00000000 ‖ u64(n))`. */
export function nonce(iv: Uint8Array, n: bigint): Uint8Array {
  const out = iv.slice();
  const s = u64(n);
  for (let i = 0; i < 8; i++) out[4 + i]! ^= s[i]!;
  return out;
}

export async function gcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", bs(key), "AES-GCM", false, ["encrypt"]);
  const params = { name: "AES-GCM", iv: bs(iv), additionalData: bs(aad), tagLength: 128 };
  return new Uint8Array(await crypto.subtle.encrypt(params, k, bs(plaintext)));
}

/** Returns null when authentication fails. */
export async function gcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Promise<Uint8Array | null> {
  const k = await crypto.subtle.importKey("raw", bs(key), "AES-GCM", false, ["decrypt"]);
  const params = { name: "AES-GCM", iv: bs(iv), additionalData: bs(aad), tagLength: 128 };
  try {
    return new Uint8Array(await crypto.subtle.decrypt(params, k, bs(sealed)));
  } catch {
    return null;
  }
}

const ECDSA = { name: "ECDSA", hash: "SHA-256" };

async function sign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ECDSA, privateKey, bs(data)));
}

async function verify(publicKey: CryptoKey, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  try {
    return await crypto.subtle.verify(ECDSA, publicKey, bs(sig), bs(data));
  } catch {
    return false;
  }
}

/** `H(SPKI DER of the public key)`. */
export async function fingerprint(publicKey: CryptoKey): Promise<Uint8Array> {
  return await sha256(new Uint8Array(await crypto.subtle.exportKey("spki", publicKey)));
}

interface Ephemeral {
  privateKey: CryptoKey;
  share: Uint8Array;
}

async function ephemeral(): Promise<Ephemeral> {
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]);
  const share = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, share };
}

/** Z, the X coordinate of d·Q; a share that is not a point is `handshake_bad_key_share`. */
async function ecdh(own: CryptoKey, share: Uint8Array): Promise<Uint8Array> {
  if (share.length !== 65 || share[0] !== 0x04) throw new PeerError("handshake_bad_key_share");
  let peer: CryptoKey;
  try {
    peer = await crypto.subtle.importKey(
      "raw",
      bs(share),
      { name: "ECDH", namedCurve: "P-256" },
      false,
      [],
    );
  } catch {
    throw new PeerError("handshake_bad_key_share");
  }
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, own, 256));
}

// ---------------------------------------------------------------------------
// Key schedule (§4.1, §4.3)

export interface HandshakeSecrets {
  cHsKey: Uint8Array;
  cHsIv: Uint8Array;
  cFinished: Uint8Array;
  sHsKey: Uint8Array;
  sHsIv: Uint8Array;
  sFinished: Uint8Array;
  master: Uint8Array;
  res: Uint8Array;
}

/** `S0` of a resumed handshake. */
/** §4.1: the PSK keys are bound to the id of the server that issued the ticket (SIDP). */
const sidp = (serverId: Uint8Array) => concat(u16(serverId.length), serverId);
export const resSalt = (psk: Uint8Array, serverId: Uint8Array) =>
  hkdf(psk, EMPTY, label("res salt", sidp(serverId)), 32);
export const binderKey = (psk: Uint8Array, serverId: Uint8Array) =>
  hkdf(psk, EMPTY, label("binder", sidp(serverId)), 32);
export const ticketSecret = (res: Uint8Array, id: Uint8Array) =>
  hkdf(res, EMPTY, label("ticket", id), 32);

async function handshakeSecrets(
  z: Uint8Array,
  s0: Uint8Array,
  ch: Uint8Array,
  shp: Uint8Array,
): Promise<HandshakeSecrets> {
  const hh = await sha256(concat(ch, shp));
  const d = (name: string, n: number) => hkdf(z, s0, label(name, hh), n);
  const master = await d("master", 32);
  return {
    cHsKey: await d("c hs key", 32),
    cHsIv: await d("c hs iv", 12),
    cFinished: await d("c finished", 32),
    sHsKey: await d("s hs key", 32),
    sHsIv: await d("s hs iv", 12),
    sFinished: await d("s finished", 32),
    master,
    res: await hkdf(master, EMPTY, label("res master", hh), 32),
  };
}

interface TrafficSecrets {
  cAp: Uint8Array;
  sAp: Uint8Array;
  sessionId: Uint8Array;
  exp: Uint8Array;
}

async function trafficSecrets(
  master: Uint8Array,
  ch: Uint8Array,
  sh: Uint8Array,
  cf: Uint8Array,
): Promise<TrafficSecrets> {
  const ht = await sha256(concat(ch, sh, cf));
  const d = (name: string, n: number) => hkdf(master, EMPTY, label(name, ht), n);
  return {
    cAp: await d("c ap", 32),
    sAp: await d("s ap", 32),
    sessionId: await d("session id", 16),
    exp: await d("exporter", 32),
  };
}

/** §4.3 */
export async function exporter(
  exp: Uint8Array,
  name: Uint8Array,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const info = concat(u8(name.length), name, await sha256(context), u16(length));
  return await hkdf(exp, EMPTY, label("exporter value", info), length);
}

// ---------------------------------------------------------------------------
// Extensions (§3.1) and alerts (§3.6)

export const EXT_RESUMPTION = 0x0001;
export const EXT_VERSIONS = 0x0002;
export const EXT_TICKETS = 0x0003;
export const EXT_RECORD_SIZE_LIMIT = 0x0004;
export const SUITE = 0x0001;
/** §3.1: the record size limit of a peer that declares none, and the largest one may declare. */
export const DEFAULT_RECORD_LIMIT = 2 ** 24;
export const MAX_RECORD_LIMIT = 2 ** 30;
const MAX_HANDSHAKE = 4096;
const MAX_EXTENSIONS = 2048;
const MAX_LIFETIME = 604_800;

export interface Extension {
  type: number;
  data: Uint8Array;
}

/** The entries of an extensions block, without the block's own length. */
export const entries = (list: Extension[]): Uint8Array =>
  concat(...list.map((e) => concat(u16(e.type), vec16(e.data))));

/** Parses entries: strictly ascending types, except `0001`, which may only come last. */
export function parseExtensions(block: Uint8Array): Extension[] {
  const r = new Reader(block);
  const out: Extension[] = [];
  while (r.remaining > 0) {
    const type = r.u16();
    const data = r.vec16(0, MAX_EXTENSIONS);
    const previous = out.at(-1);
    if (previous && (previous.type === EXT_RESUMPTION || type <= previous.type)) {
      if (type !== EXT_RESUMPTION || previous.type === EXT_RESUMPTION) {
        throw new PeerError("handshake_malformed");
      }
    }
    out.push({ type, data });
  }
  return out;
}

const find = (list: Extension[], type: number) => list.find((e) => e.type === type)?.data;

export interface IssuedTicket {
  id: Uint8Array;
  lifetime: number;
}

function parseTickets(data: Uint8Array): IssuedTicket[] {
  const r = new Reader(data);
  const n = r.u8();
  if (n < 1 || n > 16) throw new PeerError("handshake_malformed");
  const out: IssuedTicket[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.vec8(16, 64);
    const lifetime = r.u32();
    if (lifetime < 1 || lifetime > MAX_LIFETIME) throw new PeerError("handshake_malformed");
    out.push({ id, lifetime });
  }
  r.end();
  return out;
}

/** §3.1: the data of `0004` is exactly a `u32` of 1 to 2^30; absent, 2^24. */
function parseRecordSizeLimit(data: Uint8Array | undefined): number {
  if (data === undefined) return DEFAULT_RECORD_LIMIT;
  const r = new Reader(data);
  const limit = r.u32();
  r.end();
  if (limit < 1 || limit > MAX_RECORD_LIMIT) throw new PeerError("handshake_malformed");
  return limit;
}

/** Extension `0004` with `data`, or nothing when `data` is `null`. */
const limitExtension = (data: Uint8Array | null): Extension[] =>
  data ? [{ type: EXT_RECORD_SIZE_LIMIT, data }] : [];

const ticketsExtension = (tickets: IssuedTicket[]): Extension => ({
  type: EXT_TICKETS,
  data: concat(u8(tickets.length), ...tickets.map((t) => concat(vec8(t.id), u32(t.lifetime)))),
});

export const ALERT_REFUSED = 1, ALERT_PROTOCOL = 2, ALERT_UNSUPPORTED = 3, ALERT_INTERNAL = 4;

function alertClass(code: string): number {
  if (/unknown_peer|bad_signature|bad_finished|peer_rejected/.test(code)) return ALERT_REFUSED;
  if (/unsupported/.test(code)) return ALERT_UNSUPPORTED;
  if (/lookup_failed/.test(code)) return ALERT_INTERNAL;
  return ALERT_PROTOCOL;
}

const ALERT_PROTECTED_HEADER = new Uint8Array([0x15, 0x01, 0x01]);

export const plainAlert = (cls: number): Uint8Array => new Uint8Array([0x15, 0x01, 0x00, cls]);

export async function protectedAlert(key: Uint8Array, iv: Uint8Array, cls: number) {
  const sealed = await gcmSeal(key, nonce(iv, 1n), ALERT_PROTECTED_HEADER, u8(cls));
  return concat(ALERT_PROTECTED_HEADER, sealed);
}

/**
 * Accepts an alert (§3.6): throws `handshake_refused` with its class. `keys` are the
 * sender's handshake key and IV when a protected alert is acceptable here.
 */
async function acceptAlert(
  message: Uint8Array,
  keys: { key: Uint8Array; iv: Uint8Array } | null,
  plainOk: boolean,
  failCode = "handshake_decrypt_failed",
): Promise<never> {
  if (plainOk && message.length === 4 && message[1] === 0x01 && message[2] === 0x00) {
    throw new AlertError("handshake_refused", null, message[3]!);
  }
  if (keys && message.length === 20 && equalBytes(message.subarray(0, 3), ALERT_PROTECTED_HEADER)) {
    const cls = await gcmOpen(
      keys.key,
      nonce(keys.iv, 1n),
      ALERT_PROTECTED_HEADER,
      message.subarray(3),
    );
    if (cls === null || cls.length !== 1) throw new AlertError(failCode);
    throw new AlertError("handshake_refused", null, cls[0]!);
  }
  throw new AlertError(plainOk ? "handshake_unexpected" : "record_malformed");
}

// ---------------------------------------------------------------------------
// Identities

export type Lookup = (id: Uint8Array) => CryptoKey | null;

export interface PeerIdentity {
  id: Uint8Array;
  privateKey: CryptoKey;
  lookup: Lookup;
  /** The largest record content this peer accepts, declared in `0004` (§3.1). Default 2^24. */
  maxRecordSize?: number;
}

function lookupPeer(lookup: Lookup, id: Uint8Array): CryptoKey | null {
  try {
    return lookup(id) ?? null;
  } catch {
    throw new PeerError("handshake_lookup_failed");
  }
}

let fixedKey: Promise<CryptoKey> | undefined;

/** Verifies `sig` by the key of `id`; an unknown id costs a verification against a fixed key. */
async function authenticate(lookup: Lookup, id: Uint8Array, sig: Uint8Array, data: Uint8Array) {
  const key = lookupPeer(lookup, id);
  fixedKey ??= crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
    "verify",
  ]).then((p) => p.publicKey);
  const ok = await verify(key ?? await fixedKey, sig, data);
  if (key === null) throw new PeerError("handshake_unknown_peer");
  if (!ok) throw new PeerError("handshake_bad_signature");
  return key;
}

const signed = (who: "server" | "client", ...parts: Uint8Array[]) =>
  concat(te.encode(`tessera/1 ${who} signature`), u8(0), ...parts);

/** Runs a handshake step; a failure carries the alert to send (protected once keys exist). */
async function withAlert<T>(
  keys: () => { key: Uint8Array; iv: Uint8Array } | null,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof PeerError) || err instanceof AlertError) throw err;
    const k = keys();
    const cls = alertClass(err.code);
    const alert = k ? await protectedAlert(k.key, k.iv, cls) : plainAlert(cls);
    throw new PeerError(err.code, alert, cls);
  }
}

// ---------------------------------------------------------------------------
// Client (§3.2, §3.3, §3.4, §3.5)

/** A ticket kept by the client. */
export interface ClientTicket {
  id: Uint8Array;
  secret: Uint8Array;
  serverId: Uint8Array;
  fingerprint: Uint8Array;
  expiresAt: number;
}

export interface HelloOptions {
  suites?: number[];
  /** Versions for extension `0002`; `null` leaves it out. Default `[01]`. */
  versions?: number[] | null;
  /** More extensions (unknown types), placed in ascending order. */
  extra?: Extension[];
  /** The ticket to offer. */
  ticket?: ClientTicket;
  /** The data of extension `0004`; `null` leaves it out. Default: `u32` of `maxRecordSize`. */
  recordSizeLimit?: Uint8Array | null;
}

/** What a completed client handshake gives. */
export interface ClientResult {
  clientFinished: Uint8Array;
  channel: Channel;
  peerId: Uint8Array;
  resumed: boolean;
  tickets: ClientTicket[];
}

export class IndependentClient {
  /** Tickets of completed handshakes, oldest first. */
  tickets: ClientTicket[] = [];

  constructor(
    readonly me: PeerIdentity,
    readonly expectedPeer: Uint8Array | null = null,
    readonly now: () => number = Date.now,
  ) {}

  /** Takes the newest ticket whose server key is still the one it recorded. */
  async takeTicket(): Promise<ClientTicket | undefined> {
    while (this.tickets.length > 0) {
      const t = this.tickets.pop()!;
      const key = lookupPeer(this.me.lookup, t.serverId);
      if (t.expiresAt > this.now() && key && equalBytes(await fingerprint(key), t.fingerprint)) {
        return t;
      }
    }
    return undefined;
  }

  async hello(options: HelloOptions = {}): Promise<ClientHandshake> {
    const suites = options.suites ?? [SUITE];
    const versions = options.versions === undefined ? [0x01] : options.versions;
    const list: Extension[] = [...(options.extra ?? [])];
    if (versions) {
      list.push({ type: EXT_VERSIONS, data: concat(u8(versions.length), ...versions.map(u8)) });
    }
    const limit = options.recordSizeLimit === undefined
      ? u32(this.me.maxRecordSize ?? DEFAULT_RECORD_LIMIT)
      : options.recordSizeLimit;
    list.push(...limitExtension(limit));
    list.sort((a, b) => a.type - b.type);
    const ticket = options.ticket;
    if (ticket) {
      list.push({ type: EXT_RESUMPTION, data: concat(vec8(ticket.id), new Uint8Array(32)) });
    }
    const eph = await ephemeral();
    const ch = concat(
      new Uint8Array([0x01, 0x01, suites.length]),
      ...suites.map(u16),
      random(32),
      eph.share,
      vec16(entries(list)),
    );
    if (ticket) {
      const binder = await hmac(
        await binderKey(ticket.secret, ticket.serverId),
        ch.subarray(0, ch.length - 32),
      );
      ch.set(binder, ch.length - 32);
    }
    return new ClientHandshake(this, eph, ch, versions ?? [0x01], suites, ticket);
  }
}

export class ClientHandshake {
  /** Handshake keys of the last ServerHello opened, for a late protected alert. */
  secrets: HandshakeSecrets | null = null;

  constructor(
    readonly client: IndependentClient,
    readonly eph: Ephemeral,
    readonly message: Uint8Array,
    readonly versions: number[],
    readonly suites: number[],
    readonly ticket: ClientTicket | undefined,
  ) {}

  /** Consumes a ServerHello (or an alert); returns ClientFinished and the channel. */
  finish(sh: Uint8Array): Promise<ClientResult> {
    let keys: HandshakeSecrets | null = null;
    return withAlert(
      () => keys && { key: keys.cHsKey, iv: keys.cHsIv },
      async () => {
        const ch = this.message;
        const me = this.client.me;
        if (sh[0] === 0x15) await acceptAlert(sh, null, true);
        if (sh.length === 0 || sh.length > MAX_HANDSHAKE) {
          throw new PeerError("handshake_malformed");
        }
        const r = new Reader(sh);
        if (r.u8() !== 0x02) throw new PeerError("handshake_unexpected");
        const version = r.u8();
        if (!this.versions.includes(version) || version !== 0x01) {
          throw new PeerError("handshake_unsupported_version");
        }
        const suite = r.u16();
        if (!this.suites.includes(suite) || suite !== SUITE) {
          throw new PeerError("handshake_unsupported_suite");
        }
        r.take(32);
        const share = r.take(65);
        const ext = parseExtensions(r.vec16(0, MAX_EXTENSIONS));
        const accepted = find(ext, EXT_RESUMPTION);
        if (accepted && !this.ticket) throw new PeerError("handshake_unexpected");
        if (accepted && accepted.length !== 0) throw new PeerError("handshake_malformed");
        const resumed = accepted !== undefined;
        const shp = sh.subarray(0, r.offset);
        const encrypted = r.rest();
        if (encrypted.length < (resumed ? 50 : 117)) throw new PeerError("handshake_malformed");
        const z = await ecdh(this.eph.privateKey, share);
        const s0 = resumed ? await resSalt(this.ticket!.secret, this.ticket!.serverId) : ZERO32;
        keys = await handshakeSecrets(z, s0, ch, shp);
        this.secrets = keys;
        const plain = await gcmOpen(keys.sHsKey, nonce(keys.sHsIv, 0n), shp, encrypted);
        if (plain === null) throw new PeerError("handshake_decrypt_failed");

        const a = new Reader(plain);
        let peerId: Uint8Array;
        let print: Uint8Array;
        let ee: Extension[];
        let peerLimit: number;
        let clientAuth: Uint8Array;
        if (resumed) {
          const eep = vec16(a.vec16(0, MAX_EXTENSIONS));
          const fin = a.take(32);
          a.end();
          ee = parseExtensions(eep.subarray(2));
          peerLimit = parseRecordSizeLimit(find(ee, EXT_RECORD_SIZE_LIMIT));
          if (!equalBytes(await hmac(keys.sFinished, concat(ch, shp, eep)), fin)) {
            throw new PeerError("handshake_bad_finished");
          }
          peerId = this.ticket!.serverId;
          print = this.ticket!.fingerprint;
          clientAuth = await hmac(keys.cFinished, concat(ch, sh));
        } else {
          const sidp = vec16(a.vec16(1, 1024));
          const eep = vec16(a.vec16(0, MAX_EXTENSIONS));
          const sig = a.take(64);
          const fin = a.take(32);
          a.end();
          ee = parseExtensions(eep.subarray(2));
          peerLimit = parseRecordSizeLimit(find(ee, EXT_RECORD_SIZE_LIMIT));
          peerId = sidp.subarray(2);
          const key = await authenticate(
            me.lookup,
            peerId,
            sig,
            signed("server", ch, shp, sidp, eep),
          );
          print = await fingerprint(key);
          if (!equalBytes(await hmac(keys.sFinished, concat(ch, shp, sidp, eep, sig)), fin)) {
            throw new PeerError("handshake_bad_finished");
          }
          const expected = this.client.expectedPeer;
          if (expected ? !equalBytes(expected, peerId) : equalBytes(me.id, peerId)) {
            throw new PeerError("handshake_peer_rejected");
          }
          const cidp = vec16(me.id);
          const csig = await sign(me.privateKey, signed("client", ch, sh, cidp));
          clientAuth = concat(cidp, csig, await hmac(keys.cFinished, concat(ch, sh, cidp, csig)));
        }
        const issued = find(ee, EXT_TICKETS);
        const offered = issued ? parseTickets(issued) : [];
        const header = new Uint8Array([0x03, 0x01]);
        const cf = concat(
          header,
          await gcmSeal(keys.cHsKey, nonce(keys.cHsIv, 0n), header, clientAuth),
        );
        const app = await trafficSecrets(keys.master, ch, sh, cf);
        const now = this.client.now();
        const tickets: ClientTicket[] = [];
        for (const t of offered) {
          tickets.push({
            id: t.id.slice(),
            secret: await ticketSecret(keys.res, t.id),
            serverId: peerId.slice(),
            fingerprint: print,
            expiresAt: now + Math.min(t.lifetime, MAX_LIFETIME) * 1000,
          });
        }
        this.client.tickets.push(...tickets);
        const channel = await new Channel(app.cAp, app.sAp, app.sessionId, app.exp, {
          key: keys.sHsKey,
          iv: keys.sHsIv,
        }, { accept: me.maxRecordSize ?? DEFAULT_RECORD_LIMIT, peer: peerLimit }).ready();
        return { clientFinished: cf, channel, peerId: peerId.slice(), resumed, tickets };
      },
    );
  }
}

// ---------------------------------------------------------------------------
// Server (§3.2 to §3.5)

/** A ticket kept by the server. */
export interface ServerTicket {
  id: Uint8Array;
  secret: Uint8Array;
  clientId: Uint8Array;
  fingerprint: Uint8Array;
  expiresAt: number;
  family: string;
  redeemed: Uint8Array | null;
}

export class ServerTicketStore {
  tickets = new Map<string, ServerTicket>();
  revoked = new Set<string>();
  /** What the decisions were, as the server's application would see them. */
  reports: string[] = [];
}

export interface ServerOptions {
  store?: ServerTicketStore;
  /** Tickets sent in a full handshake. Default 1 with a store. */
  tickets?: number;
  /** Ticket lifetime in seconds. */
  lifetime?: number;
  now?: () => number;
  /** The data of `0004` in EE; `null` leaves it out. Default: `u32` of `maxRecordSize`. */
  recordSizeLimit?: Uint8Array | null;
}

export interface ServerResult {
  channel: Channel;
  peerId: Uint8Array;
  resumed: boolean;
}

export class IndependentServer {
  constructor(readonly me: PeerIdentity, readonly options: ServerOptions = {}) {}

  /** Consumes a ClientHello; returns the handshake, whose `message` is the ServerHello. */
  accept(ch: Uint8Array): Promise<ServerHandshake> {
    return withAlert(() => null, () => this.#accept(ch));
  }

  async #accept(ch: Uint8Array): Promise<ServerHandshake> {
    if (ch.length === 0 || ch.length > MAX_HANDSHAKE) throw new PeerError("handshake_malformed");
    const r = new Reader(ch);
    if (r.u8() !== 0x01) throw new PeerError("handshake_unexpected");
    if (r.u8() !== 0x01) throw new PeerError("handshake_unsupported_version");
    const n = r.u8();
    if (n < 1 || n > 16) throw new PeerError("handshake_malformed");
    const suites: number[] = [];
    for (let i = 0; i < n; i++) suites.push(r.u16());
    r.take(32);
    const share = r.take(65);
    const ext = parseExtensions(r.vec16(0, MAX_EXTENSIONS));
    r.end();
    const clientLimit = parseRecordSizeLimit(find(ext, EXT_RECORD_SIZE_LIMIT));
    let offer: { id: Uint8Array; binder: Uint8Array } | undefined;
    const offerData = find(ext, EXT_RESUMPTION);
    if (offerData) {
      const o = new Reader(offerData);
      offer = { id: o.vec8(16, 64), binder: o.take(32) };
      o.end();
    }
    const versionData = find(ext, EXT_VERSIONS);
    if (versionData) {
      const v = new Reader(versionData);
      const count = v.u8();
      if (count < 1 || count > 16) throw new PeerError("handshake_malformed");
      const versions = Array.from(v.take(count));
      v.end();
      if (!versions.includes(0x01)) throw new PeerError("handshake_unsupported_version");
    }
    if (!suites.includes(SUITE)) throw new PeerError("handshake_unsupported_suite");
    const eph = await ephemeral();
    const z = await ecdh(eph.privateKey, share);
    const ticket = await this.#decide(ch, offer);

    const shp = concat(
      new Uint8Array([0x02, 0x01]),
      u16(SUITE),
      random(32),
      eph.share,
      vec16(ticket ? entries([{ type: EXT_RESUMPTION, data: EMPTY }]) : EMPTY),
    );
    const s0 = ticket ? await resSalt(ticket.secret, this.me.id) : ZERO32;
    const keys = await handshakeSecrets(z, s0, ch, shp);
    const store = this.options.store;
    const lifetime = this.options.lifetime ?? 3600;
    const count = ticket ? 1 : store ? (this.options.tickets ?? 1) : 0;
    const issued = Array.from({ length: count }, () => ({ id: random(16), lifetime }));
    const ownLimit = this.options.recordSizeLimit === undefined
      ? u32(this.me.maxRecordSize ?? DEFAULT_RECORD_LIMIT)
      : this.options.recordSizeLimit;
    const eep = vec16(entries([
      ...(issued.length > 0 ? [ticketsExtension(issued)] : []),
      ...limitExtension(ownLimit),
    ]));
    const now = (this.options.now ?? Date.now)();
    const keep = async (clientId: Uint8Array, print: Uint8Array, family: string) => {
      for (const t of issued) {
        store!.tickets.set(hex(t.id), {
          id: t.id,
          secret: await ticketSecret(keys.res, t.id),
          clientId,
          fingerprint: print,
          expiresAt: now + lifetime * 1000,
          family,
          redeemed: null,
        });
      }
    };
    let auth: Uint8Array;
    if (ticket) {
      // Redeem and store the successor in one step (§3.5, 6).
      ticket.redeemed = await sha256(offer!.binder);
      await keep(ticket.clientId, ticket.fingerprint, ticket.family);
      auth = concat(eep, await hmac(keys.sFinished, concat(ch, shp, eep)));
    } else {
      const sidp = vec16(this.me.id);
      const sig = await sign(this.me.privateKey, signed("server", ch, shp, sidp, eep));
      auth = concat(sidp, eep, sig, await hmac(keys.sFinished, concat(ch, shp, sidp, eep, sig)));
    }
    const sh = concat(shp, await gcmSeal(keys.sHsKey, nonce(keys.sHsIv, 0n), shp, auth));
    return new ServerHandshake(
      this,
      ch,
      sh,
      keys,
      ticket,
      store && !ticket ? keep : null,
      clientLimit,
    );
  }

  /** The server decision (§3.5); returns the ticket to resume with, or null. */
  async #decide(
    ch: Uint8Array,
    offer: { id: Uint8Array; binder: Uint8Array } | undefined,
  ): Promise<ServerTicket | null> {
    const store = this.options.store;
    if (!store || !offer) return null;
    const decline = (reason: string) => (store.reports.push(`declined ${reason}`), null);
    const ticket = store.tickets.get(hex(offer.id));
    if (!ticket) return decline("unknown");
    if (ticket.expiresAt <= (this.options.now ?? Date.now)()) return decline("expired");
    if (store.revoked.has(ticket.family)) return decline("revoked");
    const binder = await hmac(
      await binderKey(ticket.secret, this.me.id),
      ch.subarray(0, ch.length - 32),
    );
    if (!equalBytes(binder, offer.binder)) return decline("binder_invalid");
    if (ticket.redeemed) {
      if (equalBytes(ticket.redeemed, await sha256(offer.binder))) return decline("replayed");
      store.revoked.add(ticket.family);
      return decline("reused");
    }
    const key = lookupPeer(this.me.lookup, ticket.clientId);
    if (!key || !equalBytes(await fingerprint(key), ticket.fingerprint)) {
      return decline("peer_key_changed");
    }
    store.reports.push("resumed");
    return ticket;
  }
}

export class ServerHandshake {
  constructor(
    readonly server: IndependentServer,
    readonly clientHello: Uint8Array,
    readonly message: Uint8Array,
    readonly secrets: HandshakeSecrets,
    readonly ticket: ServerTicket | null,
    readonly keep: ((id: Uint8Array, print: Uint8Array, family: string) => Promise<void>) | null,
    /** The record size limit the client declared (§3.1). */
    readonly clientLimit: number,
  ) {}

  get resumed(): boolean {
    return this.ticket !== null;
  }

  /** Consumes ClientFinished (or an alert); a failure carries a protected alert. */
  finish(cf: Uint8Array): Promise<ServerResult> {
    const keys = this.secrets;
    return withAlert(() => ({ key: keys.sHsKey, iv: keys.sHsIv }), async () => {
      const ch = this.clientHello, sh = this.message, me = this.server.me;
      if (cf[0] === 0x15) await acceptAlert(cf, { key: keys.cHsKey, iv: keys.cHsIv }, true);
      if (cf.length === 0 || cf.length > MAX_HANDSHAKE) throw new PeerError("handshake_malformed");
      const r = new Reader(cf);
      if (r.u8() !== 0x03) throw new PeerError("handshake_unexpected");
      if (r.u8() !== 0x01) throw new PeerError("handshake_unsupported_version");
      const encrypted = r.rest();
      if (this.ticket ? encrypted.length !== 48 : encrypted.length < 115) {
        throw new PeerError("handshake_malformed");
      }
      const plain = await gcmOpen(keys.cHsKey, nonce(keys.cHsIv, 0n), cf.subarray(0, 2), encrypted);
      if (plain === null) throw new PeerError("handshake_decrypt_failed");
      let peerId: Uint8Array;
      if (this.ticket) {
        if (!equalBytes(await hmac(keys.cFinished, concat(ch, sh)), plain)) {
          throw new PeerError("handshake_bad_finished");
        }
        peerId = this.ticket.clientId;
      } else {
        const a = new Reader(plain);
        const cidp = vec16(a.vec16(1, 1024));
        const sig = a.take(64);
        const fin = a.take(32);
        a.end();
        peerId = cidp.subarray(2);
        const key = await authenticate(me.lookup, peerId, sig, signed("client", ch, sh, cidp));
        if (!equalBytes(await hmac(keys.cFinished, concat(ch, sh, cidp, sig)), fin)) {
          throw new PeerError("handshake_bad_finished");
        }
        if (equalBytes(peerId, me.id)) throw new PeerError("handshake_peer_rejected");
        await this.keep?.(peerId.slice(), await fingerprint(key), hex(random(8)));
      }
      const app = await trafficSecrets(keys.master, ch, sh, cf);
      const channel = await new Channel(app.sAp, app.cAp, app.sessionId, app.exp, null, {
        accept: me.maxRecordSize ?? DEFAULT_RECORD_LIMIT,
        peer: this.clientLimit,
      }).ready();
      return { channel, peerId: peerId.slice(), resumed: this.ticket !== null };
    });
  }
}

// ---------------------------------------------------------------------------
// Records (§4.2, §5): datagram receive rules

export const RECORD = 0x17, DATA = 0x17, UPDATE_REQUEST = 0x18, CLOSE = 0x15;
const WINDOW = 128n;
const MASK = (1n << WINDOW) - 1n;
const LAST_SEQ = (1n << 64n) - 1n;

/** The keys of one epoch. */
interface Epoch {
  epoch: number;
  ts: Uint8Array;
  key: Uint8Array;
  iv: Uint8Array;
  fork: Uint8Array | null;
}

async function epochKeys(epoch: number, ts: Uint8Array, fork: Uint8Array | null): Promise<Epoch> {
  return {
    epoch,
    ts,
    key: await hkdf(ts, EMPTY, label("key"), 32),
    iv: await hkdf(ts, EMPTY, label("iv"), 12),
    fork,
  };
}

const nextSecret = (ts: Uint8Array, e: number) => hkdf(ts, EMPTY, label("next", u32(e)), 32);
const forkSecret = (ts: Uint8Array, r: Uint8Array, e: number) =>
  hkdf(ts, r, label("fork", u32(e)), 32);
const forkProof = async (ts: Uint8Array, r: Uint8Array, e: number) =>
  await hmac(await hkdf(ts, EMPTY, label("fork key"), 32), concat(u32(e), r));

export interface Opened {
  type: number;
  epoch: number;
  seq: bigint;
  fork: Uint8Array | null;
  data: Uint8Array;
  padding: number;
}

export interface SealOptions {
  /** Forces the sequence number (tests of the receiver). */
  seq?: bigint;
  /** Zero bytes of padding. */
  padding?: number;
  /** Replaces the fork proof in the header (a forgery). */
  proof?: Uint8Array;
  /** Leaves out the fork extension in a forked epoch. */
  omitFork?: boolean;
  /** Seals content longer than the peer's declared record size limit (a faulty sender). */
  ignorePeerLimit?: boolean;
}

/** The largest record content each side accepts (§3.1): this one's, and the one its peer declared. */
export interface RecordLimits {
  accept: number;
  peer: number;
}

/** One established tessera/1 channel. */
export class Channel {
  #send!: Epoch;
  #sendProof: Uint8Array | null = null;
  #sendReady: Promise<void>;
  #nextSeq = 0n;
  #update = false;
  #request = false;
  #sendClosed = false;

  #recv!: Epoch;
  #prev: { keys: Epoch; first: bigint } | null = null;
  #next: Promise<Epoch> | null = null;
  #forks = new Map<string, Epoch>();
  #highest = -1n;
  #bitmap = 0n;
  #dataAccepted = 0n;
  #recvReady: Promise<void>;
  #closed = false;
  #acceptedAny = false;

  constructor(
    sendTs: Uint8Array,
    recvTs: Uint8Array,
    readonly sessionId: Uint8Array,
    readonly exp: Uint8Array,
    /** The server's handshake key and IV (client side): a protected alert may follow. */
    readonly alertKeys: { key: Uint8Array; iv: Uint8Array } | null,
    /** What this side accepts, and what its peer declared it accepts. */
    readonly limits: RecordLimits = { accept: DEFAULT_RECORD_LIMIT, peer: DEFAULT_RECORD_LIMIT },
    /** Padding policy: zero bytes for a content length. */
    public padding: (length: number) => number = () => 0,
  ) {
    this.#sendReady = epochKeys(0, sendTs, null).then((k) => void (this.#send = k));
    this.#recvReady = epochKeys(0, recvTs, null).then((k) => void (this.#recv = k));
  }

  /** Resolves once both directions' first keys are derived: a new channel leaves none running. */
  async ready(): Promise<this> {
    await Promise.all([this.#sendReady, this.#recvReady]);
    return this;
  }

  get sendEpoch(): number {
    return this.#send.epoch;
  }
  get receiveEpoch(): number {
    return this.#recv.epoch;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** The current traffic secrets of both directions (for checks of a peer's saved state). */
  get secrets(): { send: Uint8Array; receive: Uint8Array } {
    return { send: this.#send.ts, receive: this.#recv.ts };
  }

  exportKeyingMaterial(name: string, context: Uint8Array, length: number): Promise<Uint8Array> {
    return exporter(this.exp, te.encode(name), context, length);
  }

  /** Updates the sending direction before the next record (§4.2). */
  rekey(options: { requestPeer?: boolean } = {}): void {
    this.#update = true;
    if (options.requestPeer) this.#request = true;
  }

  /** Forks the sending direction now, as a restored session does (§4.2). */
  async fork(): Promise<void> {
    await this.#sendReady;
    const e = this.#send.epoch + 1;
    const r = random(16);
    this.#sendProof = await forkProof(this.#send.ts, r, e);
    this.#send = await epochKeys(e, await forkSecret(this.#send.ts, r, e), r);
    this.#update = false;
  }

  async seal(type: number, content: Uint8Array, options: SealOptions = {}): Promise<Uint8Array> {
    if (this.#sendClosed || this.#closed) throw new PeerError("session_closed");
    // §5: never more content than the peer declared it accepts.
    if (content.length > this.limits.peer && !options.ignorePeerLimit) {
      throw new PeerError("record_too_large");
    }
    const seq = options.seq ?? this.#nextSeq;
    if (seq >= this.#nextSeq) this.#nextSeq = seq + 1n;
    if (type === CLOSE && content.length === 0) this.#sendClosed = true;
    if (type === DATA && this.#request) type = UPDATE_REQUEST;
    this.#request = false;
    await this.#sendReady;
    if (this.#update) {
      this.#update = false;
      const e = this.#send.epoch + 1;
      this.#send = await epochKeys(e, await nextSecret(this.#send.ts, e), null);
      this.#sendProof = null;
    }
    const k = this.#send;
    const fork = k.fork && !options.omitFork
      ? concat(k.fork, options.proof ?? this.#sendProof!)
      : EMPTY;
    const header = concat(u8(RECORD), u8(fork.length ? 1 : 0), u32(k.epoch), u64(seq), fork);
    const pad = options.padding ?? this.padding(content.length);
    const inner = concat(content, u8(type), new Uint8Array(pad));
    return concat(header, await gcmSeal(k.key, nonce(k.iv, seq), header, inner));
  }

  wrap(data: Uint8Array, options?: SealOptions): Promise<Uint8Array> {
    return this.seal(DATA, data, options);
  }

  close(): Promise<Uint8Array> {
    return this.seal(CLOSE, EMPTY);
  }

  #windowCheck(seq: bigint): void {
    if (this.#highest < 0n || seq > this.#highest) return;
    const behind = this.#highest - seq;
    if (behind >= WINDOW) throw new PeerError("record_too_old");
    if ((this.#bitmap >> behind) & 1n) throw new PeerError("record_replayed");
  }

  #windowMark(seq: bigint): void {
    if (this.#highest < 0n) {
      this.#highest = seq;
      this.#bitmap = 1n;
    } else if (seq > this.#highest) {
      const shift = seq - this.#highest;
      this.#bitmap = shift >= WINDOW ? 1n : ((this.#bitmap << shift) | 1n) & MASK;
      this.#highest = seq;
    } else {
      this.#bitmap |= 1n << (this.#highest - seq);
    }
  }

  /** Chooses the key of a record's epoch (§4.2, Receiving). */
  async #keysFor(e: number, seq: bigint, fork: { r: Uint8Array; proof: Uint8Array } | null) {
    const c = this.#recv;
    const sameFork = (keys: Epoch) =>
      keys.fork === null ? fork === null : fork !== null && equalBytes(keys.fork, fork.r);
    if (e === c.epoch) {
      if (!sameFork(c)) throw new PeerError("record_auth_failed");
      return c;
    }
    if (e === c.epoch + 1) {
      if (!fork) {
        return await (this.#next ??= nextSecret(c.ts, e).then((ts) => epochKeys(e, ts, null)));
      }
      if (!equalBytes(await forkProof(c.ts, fork.r, e), fork.proof)) {
        throw new PeerError("record_auth_failed");
      }
      const known = this.#forks.get(hex(fork.r));
      if (known) return known;
      const keys = await epochKeys(e, await forkSecret(c.ts, fork.r, e), fork.r.slice());
      this.#forks.set(hex(fork.r), keys);
      return keys;
    }
    if (e === c.epoch - 1 && this.#prev) {
      if (seq >= this.#prev.first) throw new PeerError("record_malformed");
      if (!sameFork(this.#prev.keys)) throw new PeerError("record_auth_failed");
      return this.#prev.keys;
    }
    throw new PeerError(e > c.epoch ? "record_malformed" : "record_too_old");
  }

  /** Opens one record (datagram rules); throws a PeerError when refused. */
  async open(record: Uint8Array): Promise<Opened> {
    if (this.#closed) throw new PeerError("session_closed");
    if (record[0] === 0x15 && this.alertKeys && !this.#acceptedAny) {
      try {
        await acceptAlert(record, this.alertKeys, false, "record_auth_failed");
      } catch (err) {
        if ((err as PeerError).code === "handshake_refused") this.#closed = true;
        throw err;
      }
    }
    await this.#recvReady;
    const flags = record[1];
    if (record.length < 31 || record[0] !== RECORD || (flags !== 0 && flags !== 1)) {
      throw new PeerError("record_malformed");
    }
    const h = flags === 1 ? 62 : 14;
    if (record.length < h + 17) throw new PeerError("record_malformed");
    if (record.length > h + this.limits.accept + 1 + 256 + 16) {
      throw new PeerError("record_too_large");
    }
    const view = new DataView(record.buffer, record.byteOffset, record.length);
    const e = view.getUint32(2);
    const seq = view.getBigUint64(6);
    if (seq === LAST_SEQ) throw new PeerError("record_malformed");
    this.#windowCheck(seq);
    const fork = flags === 1
      ? { r: record.subarray(14, 30), proof: record.subarray(30, 62) }
      : null;
    const keys = await this.#keysFor(e, seq, fork);
    const header = record.subarray(0, h);
    const inner = await gcmOpen(keys.key, nonce(keys.iv, seq), header, record.subarray(h));
    if (inner === null) throw new PeerError("record_auth_failed");
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) throw new PeerError("record_malformed");
    const type = inner[end - 1]!;
    const data = inner.slice(0, end - 1);
    if (type !== DATA && type !== UPDATE_REQUEST && type !== CLOSE) {
      throw new PeerError("record_malformed");
    }
    if (type === CLOSE && data.length !== 0) throw new PeerError("record_malformed");
    if (data.length > this.limits.accept) throw new PeerError("record_too_large");
    this.#windowCheck(seq);
    this.#windowMark(seq);
    this.#acceptedAny = true;
    if (e === this.#recv.epoch + 1) {
      this.#prev = { keys: this.#recv, first: seq };
      this.#recv = keys;
      this.#next = null;
      this.#forks.clear();
    }
    // The grace for c−1 ends once no record of it could pass the window.
    if (this.#prev && this.#highest - this.#prev.first >= WINDOW - 1n) this.#prev = null;
    const opened = {
      type,
      epoch: e,
      seq,
      fork: fork?.r.slice() ?? null,
      data,
      padding: inner.length - end,
    };
    if (type === CLOSE) {
      this.#closed = true;
      if (this.#dataAccepted !== seq) throw new PeerError("session_truncated");
      return opened;
    }
    this.#dataAccepted++;
    if (type === UPDATE_REQUEST) this.#update = true;
    return opened;
  }
}
