/**
 * Interoperability tests: a second, minimal implementation of both tessera/1
 * roles following docs/protocol.md, on plain `crypto.subtle`, talks to the
 * library through its public API only.
 */
import assert from "node:assert/strict";
import { generateIdentityKeyPair, SecureSession } from "../../mod.ts";

// ---------------------------------------------------------------------------
// Byte helpers

const te = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

function vec16(data: Uint8Array): Uint8Array {
  return concat(u16(data.length), data);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function random(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Errors of the independent peer carry the spec's error code. */
class PeerError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** A bounds-checked reader; any overrun is `handshake_malformed`. */
class Reader {
  #at = 0;
  constructor(readonly bytes: Uint8Array) {}
  get offset(): number {
    return this.#at;
  }
  get remaining(): number {
    return this.bytes.length - this.#at;
  }
  take(n: number): Uint8Array {
    if (n > this.remaining) throw new PeerError("handshake_malformed");
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
  vec16(min: number, max: number): Uint8Array {
    const n = this.u16();
    if (n < min || n > max) throw new PeerError("handshake_malformed");
    return this.take(n);
  }
  rest(): Uint8Array {
    return this.take(this.remaining);
  }
}

// ---------------------------------------------------------------------------
// Primitives (§2)

const ZERO32 = new Uint8Array(32);

/** Web Crypto wants ArrayBuffer-backed views; every view here is one. */
function bs(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}

function label(name: string, context: Uint8Array): Uint8Array {
  return concat(te.encode("tessera/1 "), te.encode(name), new Uint8Array([0]), context);
}

async function hkdf(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", bs(ikm), "HKDF", false, ["deriveBits"]);
  // An empty salt is HashLen zero bytes (RFC 5869 §2.2).
  const s = salt.length === 0 ? ZERO32 : salt;
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: bs(s), info: bs(info) },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bs(data)));
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    bs(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, bs(data)));
}

async function gcmKey(raw: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", bs(raw), "AES-GCM", false, ["encrypt", "decrypt"]);
}

async function gcmSeal(
  key: Uint8Array | CryptoKey,
  iv: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const k = key instanceof Uint8Array ? await gcmKey(key) : key;
  return new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: bs(iv), additionalData: bs(aad), tagLength: 128 },
      k,
      bs(plaintext),
    ),
  );
}

/** Returns null when authentication fails. */
async function gcmOpen(
  key: Uint8Array | CryptoKey,
  iv: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Promise<Uint8Array | null> {
  const k = key instanceof Uint8Array ? await gcmKey(key) : key;
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bs(iv), additionalData: bs(aad), tagLength: 128 },
        k,
        bs(sealed),
      ),
    );
  } catch {
    return null;
  }
}

async function ecdsaSign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, bs(data)),
  );
}

async function ecdsaVerify(
  publicKey: CryptoKey,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  return await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    publicKey,
    bs(signature),
    bs(data),
  );
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
  assert.equal(share.length, 65);
  assert.equal(share[0], 0x04);
  return { privateKey: pair.privateKey, share };
}

async function ecdh(own: CryptoKey, peerShare: Uint8Array): Promise<Uint8Array> {
  if (peerShare.length !== 65 || peerShare[0] !== 0x04) {
    throw new PeerError("handshake_bad_key_share");
  }
  let peer: CryptoKey;
  try {
    peer = await crypto.subtle.importKey(
      "raw",
      bs(peerShare),
      { name: "ECDH", namedCurve: "P-256" },
      false,
      [],
    );
  } catch {
    throw new PeerError("handshake_bad_key_share");
  }
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, own, 256),
  );
}

// ---------------------------------------------------------------------------
// Key schedule (§4)

interface HandshakeKeys {
  cHsKey: Uint8Array;
  cHsIv: Uint8Array;
  cFinished: Uint8Array;
  sHsKey: Uint8Array;
  sHsIv: Uint8Array;
  sFinished: Uint8Array;
  master: Uint8Array;
}

async function handshakeKeys(z: Uint8Array, ch: Uint8Array, shp: Uint8Array) {
  const hh = await sha256(concat(ch, shp));
  const d = (name: string, n: number) => hkdf(z, ZERO32, label(name, hh), n);
  const keys: HandshakeKeys = {
    cHsKey: await d("c hs key", 32),
    cHsIv: await d("c hs iv", 12),
    cFinished: await d("c finished", 32),
    sHsKey: await d("s hs key", 32),
    sHsIv: await d("s hs iv", 12),
    sFinished: await d("s finished", 32),
    master: await d("master", 32),
  };
  return keys;
}

interface ApplicationSecrets {
  cAp: Uint8Array;
  sAp: Uint8Array;
  sessionId: Uint8Array;
  res: Uint8Array;
}

async function applicationSecrets(
  master: Uint8Array,
  ch: Uint8Array,
  sh: Uint8Array,
  cf: Uint8Array,
): Promise<ApplicationSecrets> {
  const ht = await sha256(concat(ch, sh, cf));
  const empty = new Uint8Array(0);
  return {
    cAp: await hkdf(master, empty, label("c ap", ht), 32),
    sAp: await hkdf(master, empty, label("s ap", ht), 32),
    sessionId: await hkdf(master, empty, label("session id", ht), 16),
    res: await hkdf(master, empty, label("res master", ht), 32),
  };
}

// ---------------------------------------------------------------------------
// Handshake messages (§3)

const MAX_HANDSHAKE = 4096;
const SUITE = 0x0001;

function checkSize(message: Uint8Array): void {
  if (message.length === 0 || message.length > MAX_HANDSHAKE) {
    throw new PeerError("handshake_malformed");
  }
}

/** Parses an extensions block: strictly ascending types, 0001 last if present. */
function parseExtensions(block: Uint8Array): Map<number, Uint8Array> {
  const r = new Reader(block);
  const out = new Map<number, Uint8Array>();
  let last = -1;
  while (r.remaining > 0) {
    const type = r.u16();
    const data = r.vec16(0, 1024);
    if (type <= last) throw new PeerError("handshake_malformed");
    if (last === 0x0001) throw new PeerError("handshake_malformed");
    last = type;
    out.set(type, data);
  }
  return out;
}

type Lookup = (id: Uint8Array) => CryptoKey | undefined;

function lookupPeer(lookup: Lookup, id: Uint8Array): CryptoKey {
  let key: CryptoKey | undefined;
  try {
    key = lookup(id);
  } catch {
    throw new PeerError("handshake_lookup_failed");
  }
  if (key === undefined) throw new PeerError("handshake_unknown_peer");
  return key;
}

interface Auth {
  id: Uint8Array;
  signature: Uint8Array;
  finished: Uint8Array;
}

function parseAuth(plain: Uint8Array): Auth {
  const r = new Reader(plain);
  const id = r.vec16(1, 1024);
  const signature = r.take(64);
  const finished = r.take(32);
  if (r.remaining !== 0) throw new PeerError("handshake_malformed");
  return { id, signature, finished };
}

interface Identity {
  id: Uint8Array;
  privateKey: CryptoKey;
  lookup: Lookup;
}

interface ClientHelloOptions {
  suites?: number[];
  extensions?: Uint8Array;
}

/** The client role. */
class IndependentClient {
  #eph?: Ephemeral;
  #ch?: Uint8Array;
  channel?: Channel;
  peerId?: Uint8Array;

  constructor(readonly me: Identity) {}

  async hello(options: ClientHelloOptions = {}): Promise<Uint8Array> {
    const suites = options.suites ?? [SUITE];
    this.#eph = await ephemeral();
    this.#ch = concat(
      new Uint8Array([0x01, 0x01, suites.length]),
      ...suites.map(u16),
      random(32),
      this.#eph.share,
      vec16(options.extensions ?? new Uint8Array(0)),
    );
    return this.#ch;
  }

  /** Consumes ServerHello, returns ClientFinished; the channel is then open. */
  async finish(sh: Uint8Array): Promise<Uint8Array> {
    const ch = this.#ch!;
    checkSize(sh);
    const r = new Reader(sh);
    if (r.u8() !== 0x02) throw new PeerError("handshake_unexpected");
    if (r.u8() !== 0x01) throw new PeerError("handshake_unsupported_version");
    if (r.u16() !== SUITE) throw new PeerError("handshake_unsupported_suite");
    r.take(32);
    const share = r.take(65);
    const z = await ecdh(this.#eph!.privateKey, share);
    parseExtensions(r.vec16(0, 1024));
    const shp = sh.subarray(0, r.offset);
    const encrypted = r.rest();
    if (encrypted.length < 115) throw new PeerError("handshake_malformed");

    const hs = await handshakeKeys(z, ch, shp);
    const plain = await gcmOpen(hs.sHsKey, hs.sHsIv, shp, encrypted);
    if (plain === null) throw new PeerError("handshake_decrypt_failed");
    const auth = parseAuth(plain);
    const serverKey = lookupPeer(this.me.lookup, auth.id);
    const sidp = vec16(auth.id);
    const signed = concat(
      te.encode("tessera/1 server signature"),
      new Uint8Array([0]),
      ch,
      shp,
      sidp,
    );
    if (!(await ecdsaVerify(serverKey, auth.signature, signed))) {
      throw new PeerError("handshake_bad_signature");
    }
    const finished = await hmac(hs.sFinished, concat(ch, shp, sidp, auth.signature));
    if (!equalBytes(finished, auth.finished)) throw new PeerError("handshake_bad_finished");

    const cidp = vec16(this.me.id);
    const signature = await ecdsaSign(
      this.me.privateKey,
      concat(te.encode("tessera/1 client signature"), new Uint8Array([0]), ch, sh, cidp),
    );
    const cFinished = await hmac(hs.cFinished, concat(ch, sh, cidp, signature));
    const header = new Uint8Array([0x03, 0x01]);
    const cf = concat(
      header,
      await gcmSeal(hs.cHsKey, hs.cHsIv, header, concat(cidp, signature, cFinished)),
    );
    const app = await applicationSecrets(hs.master, ch, sh, cf);
    this.peerId = auth.id;
    this.channel = new Channel(app.cAp, app.sAp, app.sessionId);
    return cf;
  }
}

/** The server role. */
class IndependentServer {
  #ch?: Uint8Array;
  #sh?: Uint8Array;
  #hs?: HandshakeKeys;
  channel?: Channel;
  peerId?: Uint8Array;

  constructor(readonly me: Identity) {}

  /** Consumes ClientHello, returns ServerHello. */
  async respond(ch: Uint8Array): Promise<Uint8Array> {
    checkSize(ch);
    const r = new Reader(ch);
    if (r.u8() !== 0x01) throw new PeerError("handshake_unexpected");
    if (r.u8() !== 0x01) throw new PeerError("handshake_unsupported_version");
    const n = r.u8();
    if (n < 1 || n > 16) throw new PeerError("handshake_malformed");
    const suites: number[] = [];
    for (let i = 0; i < n; i++) suites.push(r.u16());
    r.take(32);
    const share = r.take(65);
    const extensions = r.vec16(0, 1024);
    if (r.remaining !== 0) throw new PeerError("handshake_malformed");
    if (!suites.includes(SUITE)) throw new PeerError("handshake_unsupported_suite");
    const eph = await ephemeral();
    const z = await ecdh(eph.privateKey, share);
    parseExtensions(extensions);

    const shp = concat(
      new Uint8Array([0x02, 0x01]),
      u16(SUITE),
      random(32),
      eph.share,
      vec16(new Uint8Array(0)),
    );
    const hs = await handshakeKeys(z, ch, shp);
    const sidp = vec16(this.me.id);
    const signature = await ecdsaSign(
      this.me.privateKey,
      concat(te.encode("tessera/1 server signature"), new Uint8Array([0]), ch, shp, sidp),
    );
    const finished = await hmac(hs.sFinished, concat(ch, shp, sidp, signature));
    const sh = concat(
      shp,
      await gcmSeal(hs.sHsKey, hs.sHsIv, shp, concat(sidp, signature, finished)),
    );
    this.#ch = ch;
    this.#sh = sh;
    this.#hs = hs;
    return sh;
  }

  /** Consumes ClientFinished; the channel is then open. */
  async finish(cf: Uint8Array): Promise<void> {
    const ch = this.#ch!, sh = this.#sh!, hs = this.#hs!;
    checkSize(cf);
    const r = new Reader(cf);
    if (r.u8() !== 0x03) throw new PeerError("handshake_unexpected");
    if (r.u8() !== 0x01) throw new PeerError("handshake_unsupported_version");
    const encrypted = r.rest();
    if (encrypted.length < 115) throw new PeerError("handshake_malformed");
    const plain = await gcmOpen(hs.cHsKey, hs.cHsIv, cf.subarray(0, 2), encrypted);
    if (plain === null) throw new PeerError("handshake_decrypt_failed");
    const auth = parseAuth(plain);
    const clientKey = lookupPeer(this.me.lookup, auth.id);
    const cidp = vec16(auth.id);
    const signed = concat(
      te.encode("tessera/1 client signature"),
      new Uint8Array([0]),
      ch,
      sh,
      cidp,
    );
    if (!(await ecdsaVerify(clientKey, auth.signature, signed))) {
      throw new PeerError("handshake_bad_signature");
    }
    const finished = await hmac(hs.cFinished, concat(ch, sh, cidp, auth.signature));
    if (!equalBytes(finished, auth.finished)) throw new PeerError("handshake_bad_finished");
    const app = await applicationSecrets(hs.master, ch, sh, cf);
    this.peerId = auth.id;
    this.channel = new Channel(app.sAp, app.cAp, app.sessionId);
  }
}

// ---------------------------------------------------------------------------
// Records (§4.1, §5)

const TYPE_DATA = 0x17;
const TYPE_CLOSE = 0x15;
const MAX_RECORD = 16 * 1024 * 1024;
const WINDOW = 128n;
const MASK = (1n << WINDOW) - 1n;

interface RecordKey {
  key: CryptoKey;
  iv: Uint8Array;
}

async function recordKey(base: Uint8Array, keyId: Uint8Array): Promise<RecordKey> {
  const empty = new Uint8Array(0);
  return {
    key: await gcmKey(await hkdf(base, empty, label("key", keyId), 32)),
    iv: await hkdf(base, empty, label("iv", keyId), 12),
  };
}

function nonce(iv: Uint8Array, seq: bigint): Uint8Array {
  const out = iv.slice();
  const s = u64(seq);
  for (let i = 0; i < 8; i++) out[4 + i]! ^= s[i]!;
  return out;
}

interface Opened {
  type: number;
  seq: bigint;
  keyId: Uint8Array;
  data: Uint8Array;
}

/** One established tessera/1 channel, datagram (`unwrap`-style) receive rules. */
class Channel {
  #sendKeyId = random(8);
  #sendKey?: Promise<RecordKey>;
  #nextSeq = 0n;
  #recvKeys: { keyId: Uint8Array; key: RecordKey }[] = [];
  #highest = -1n;
  #bitmap = 0n;
  #closedSending = false;
  #closedReceiving = false;

  constructor(
    readonly sendBase: Uint8Array,
    readonly recvBase: Uint8Array,
    readonly sessionId: Uint8Array,
  ) {}

  get sendKeyId(): Uint8Array {
    return this.#sendKeyId;
  }

  get receivedClose(): boolean {
    return this.#closedReceiving;
  }

  rekey(): void {
    this.#sendKeyId = random(8);
    this.#sendKey = undefined;
  }

  /** Seals a record; `seq` may be forced to build out-of-order streams in tests. */
  async seal(type: number, plaintext: Uint8Array, seq?: bigint): Promise<Uint8Array> {
    if (this.#closedSending) throw new PeerError("session_closed");
    let s: bigint;
    if (seq === undefined) {
      s = this.#nextSeq++;
    } else {
      s = seq;
      if (seq >= this.#nextSeq) this.#nextSeq = seq + 1n;
    }
    if (type === TYPE_CLOSE && plaintext.length === 0) this.#closedSending = true;
    this.#sendKey ??= recordKey(this.sendBase, this.#sendKeyId);
    const k = await this.#sendKey;
    const header = concat(new Uint8Array([type]), this.#sendKeyId, u64(s));
    return concat(header, await gcmSeal(k.key, nonce(k.iv, s), header, plaintext));
  }

  wrap(data: Uint8Array, seq?: bigint): Promise<Uint8Array> {
    return this.seal(TYPE_DATA, data, seq);
  }

  close(): Promise<Uint8Array> {
    return this.seal(TYPE_CLOSE, new Uint8Array(0));
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

  async #keyFor(keyId: Uint8Array): Promise<{ key: RecordKey; known: boolean }> {
    const hit = this.#recvKeys.find((e) => equalBytes(e.keyId, keyId));
    if (hit) return { key: hit.key, known: true };
    return { key: await recordKey(this.recvBase, keyId), known: false };
  }

  #remember(keyId: Uint8Array, key: RecordKey): void {
    this.#recvKeys = this.#recvKeys.filter((e) => !equalBytes(e.keyId, keyId));
    this.#recvKeys.unshift({ keyId: keyId.slice(), key });
    this.#recvKeys.length = Math.min(this.#recvKeys.length, 4);
  }

  /** Opens a record; returns what it carried or throws a PeerError. */
  async open(record: Uint8Array): Promise<Opened> {
    if (this.#closedReceiving) throw new PeerError("session_closed");
    if (record.length < 33) throw new PeerError("record_malformed");
    const type = record[0]!;
    if (type !== TYPE_DATA && type !== TYPE_CLOSE) throw new PeerError("record_malformed");
    if (record.length > 33 + MAX_RECORD) throw new PeerError("record_too_large");
    const header = record.subarray(0, 17);
    const keyId = record.subarray(1, 9);
    const seq = new DataView(record.buffer, record.byteOffset + 9, 8).getBigUint64(0);
    this.#windowCheck(seq);
    const { key } = await this.#keyFor(keyId);
    const data = await gcmOpen(key.key, nonce(key.iv, seq), header, record.subarray(17));
    if (data === null) throw new PeerError("record_auth_failed");
    if (type === TYPE_CLOSE && data.length !== 0) throw new PeerError("record_malformed");
    this.#windowCheck(seq);
    this.#windowMark(seq);
    this.#remember(keyId, key);
    if (type === TYPE_CLOSE) this.#closedReceiving = true;
    return { type, seq, keyId: keyId.slice(), data };
  }
}

// ---------------------------------------------------------------------------
// Test fixtures

interface Party {
  id: Uint8Array;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function independentParty(name: string): Promise<Party> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
    "verify",
  ]);
  return { id: te.encode(name), privateKey: pair.privateKey, publicKey: pair.publicKey };
}

async function tesseraParty(name: string): Promise<Party> {
  const pair = await generateIdentityKeyPair();
  return { id: te.encode(name), privateKey: pair.privateKey, publicKey: pair.publicKey };
}

function directory(...parties: Party[]): Lookup {
  return (id: Uint8Array) => parties.find((p) => equalBytes(p.id, id))?.publicKey;
}

function tesseraSession(me: Party, lookup: Lookup): SecureSession {
  return new SecureSession({
    id: new TextDecoder().decode(me.id),
    privateKey: me.privateKey,
    getPublicKeyForId: lookup,
  });
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.equal((e as { code?: string }).code, code);
    return true;
  });
}

function bytes(text: string): Uint8Array {
  return te.encode(text);
}

/** Independent client, tessera server, handshake done. */
async function independentClientPair() {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob.example");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const server = tesseraSession(bob, lookup);
  const sh = await server.negotiate(await client.hello());
  assert.ok(sh);
  const cf = await client.finish(sh);
  assert.equal(await server.negotiate(cf), null);
  return { client, channel: client.channel!, server, alice, bob };
}

/** Tessera client, independent server, handshake done. */
async function independentServerPair() {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave.server");
  const lookup = directory(carol, dave);
  const client = tesseraSession(carol, lookup);
  const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup });
  const sh = await server.respond(await client.connectRequest());
  const cf = await client.negotiate(sh);
  assert.ok(cf);
  await server.finish(cf);
  return { client, server, channel: server.channel!, carol, dave };
}

// ---------------------------------------------------------------------------
// 1. Independent client ↔ tessera server

Deno.test("independent client ↔ tessera server: handshake, session id, peer ids", async () => {
  const { client, channel, server, alice, bob } = await independentClientPair();
  assert.deepEqual(channel.sessionId, server.sessionId);
  assert.equal(channel.sessionId.length, 16);
  assert.deepEqual(server.peerId, alice.id);
  assert.deepEqual(client.peerId, bob.id);
});

Deno.test("independent client ↔ tessera server: data both ways", async () => {
  const { channel, server } = await independentClientPair();
  // The client may send right after ClientFinished.
  assert.deepEqual(
    await server.unwrap(await channel.wrap(bytes("hello server"))),
    bytes("hello server"),
  );
  assert.deepEqual(await server.unwrap(await channel.wrap(new Uint8Array(0))), new Uint8Array(0));
  const big = random(60_000);
  assert.deepEqual(await server.unwrap(await channel.wrap(big)), big);

  for (let i = 0; i < 3; i++) {
    const record = await server.wrap(bytes(`reply ${i}`));
    assert.equal(record.length, 33 + `reply ${i}`.length);
    const opened = await channel.open(record);
    assert.equal(opened.type, TYPE_DATA);
    assert.equal(opened.seq, BigInt(i));
    assert.deepEqual(opened.data, bytes(`reply ${i}`));
  }
});

Deno.test("independent client ↔ tessera server: rekey is followed by both receivers", async () => {
  const { channel, server } = await independentClientPair();
  const first = await channel.open(await server.wrap(bytes("before")));
  await server.rekey();
  const second = await channel.open(await server.wrap(bytes("after")));
  assert.deepEqual(second.data, bytes("after"));
  assert.notDeepEqual(second.keyId, first.keyId);
  // Sequence numbers continue across the key update.
  assert.equal(second.seq, first.seq + 1n);
  // A record under the old key id still in flight is accepted.
  const old = await server.wrap(bytes("third"));
  assert.deepEqual((await channel.open(old)).data, bytes("third"));

  // The other direction: our key update, tessera follows without any message.
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("a"))), bytes("a"));
  const oldKeyId = channel.sendKeyId;
  channel.rekey();
  assert.notDeepEqual(channel.sendKeyId, oldKeyId);
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("b"))), bytes("b"));
});

Deno.test("independent client ↔ tessera server: close from the independent side", async () => {
  const { channel, server } = await independentClientPair();
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("x"))), bytes("x"));
  const close = await channel.close();
  assert.equal(close.length, 33);
  assert.equal(close[0], TYPE_CLOSE);
  assert.equal(await server.unwrap(close), null);
  await rejectsWithCode(server.wrap(bytes("late")), "session_closed");
});

Deno.test("independent client ↔ tessera server: close from the tessera side", async () => {
  const { channel, server } = await independentClientPair();
  await channel.open(await server.wrap(bytes("x")));
  const close = await server.close();
  assert.ok(close);
  const opened = await channel.open(close);
  assert.equal(opened.type, TYPE_CLOSE);
  assert.equal(opened.seq, 1n);
  assert.equal(opened.data.length, 0);
  assert.ok(channel.receivedClose);
  await rejectsWithCode(server.wrap(bytes("after close")), "session_closed");
});

Deno.test("independent client ↔ tessera server: a forged close is refused", async () => {
  const { channel, server } = await independentClientPair();
  const close = await channel.close();
  close[close.length - 1]! ^= 1;
  await rejectsWithCode(server.unwrap(close), "record_auth_failed");
  // A close record with a non-empty plaintext is malformed.
  const { channel: c2, server: s2 } = await independentClientPair();
  const bad = await c2.seal(TYPE_CLOSE, bytes("!"));
  await rejectsWithCode(s2.unwrap(bad), "record_malformed");
});

Deno.test("independent client ↔ tessera server: unknown extensions are ignored", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const server = tesseraSession(bob, lookup);
  const extensions = concat(
    u16(0x0a0a),
    vec16(bytes("grease")),
    u16(0x7f00),
    vec16(new Uint8Array(0)),
  );
  const hello = await client.hello({ suites: [0x1234, SUITE], extensions });
  const sh = await server.negotiate(hello);
  assert.ok(sh);
  assert.equal(await server.negotiate(await client.finish(sh)), null);
  assert.deepEqual(client.channel!.sessionId, server.sessionId);
});

Deno.test("independent client ↔ tessera server: malformed ClientHellos are refused", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const cases: [Uint8Array, string][] = [];
  const good = await client.hello();
  const mutate = (f: (b: Uint8Array) => Uint8Array) => f(good.slice());
  cases.push([mutate((b) => ((b[0] = 0x02), b)), "handshake_unexpected"]);
  cases.push([mutate((b) => ((b[1] = 0x02), b)), "handshake_unsupported_version"]);
  cases.push([await client.hello({ suites: [0x0002] }), "handshake_unsupported_suite"]);
  cases.push([mutate((b) => ((b[3 + 2 + 32 + 10]! ^= 1), b)), "handshake_bad_key_share"]);
  cases.push([concat(good, new Uint8Array([0])), "handshake_malformed"]);
  cases.push([
    await client.hello({
      extensions: concat(u16(5), vec16(new Uint8Array(0)), u16(5), vec16(new Uint8Array(0))),
    }),
    "handshake_malformed",
  ]);
  for (const [message, code] of cases) {
    await rejectsWithCode(tesseraSession(bob, lookup).negotiate(message), code);
  }
});

// ---------------------------------------------------------------------------
// 2. Tessera client ↔ independent server

Deno.test("tessera client ↔ independent server: handshake, session id, peer ids", async () => {
  const { client, server, channel, carol, dave } = await independentServerPair();
  assert.deepEqual(client.sessionId, channel.sessionId);
  assert.deepEqual(client.peerId, dave.id);
  assert.deepEqual(server.peerId, carol.id);
});

Deno.test("tessera client ↔ independent server: data both ways", async () => {
  const { client, channel } = await independentServerPair();
  for (let i = 0; i < 3; i++) {
    const opened = await channel.open(await client.wrap(bytes(`request ${i}`)));
    assert.equal(opened.seq, BigInt(i));
    assert.deepEqual(opened.data, bytes(`request ${i}`));
  }
  assert.deepEqual(await client.unwrap(await channel.wrap(bytes("response"))), bytes("response"));
  assert.deepEqual(await client.unwrap(await channel.wrap(new Uint8Array(0))), new Uint8Array(0));
});

Deno.test("tessera client ↔ independent server: rekey is followed by both receivers", async () => {
  const { client, channel } = await independentServerPair();
  const before = await channel.open(await client.wrap(bytes("1")));
  await client.rekey();
  const after = await channel.open(await client.wrap(bytes("2")));
  assert.notDeepEqual(after.keyId, before.keyId);
  assert.equal(after.seq, 1n);
  // Several key updates in a row; each is followed without a message.
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    await client.rekey();
    const opened = await channel.open(await client.wrap(bytes(`k${i}`)));
    assert.deepEqual(opened.data, bytes(`k${i}`));
    seen.add(opened.keyId.join(","));
  }
  assert.equal(seen.size, 6);

  assert.deepEqual(await client.unwrap(await channel.wrap(bytes("x"))), bytes("x"));
  channel.rekey();
  assert.deepEqual(await client.unwrap(await channel.wrap(bytes("y"))), bytes("y"));
});

Deno.test("tessera client ↔ independent server: close from the independent side", async () => {
  const { client, channel } = await independentServerPair();
  assert.deepEqual(await client.unwrap(await channel.wrap(bytes("bye soon"))), bytes("bye soon"));
  assert.equal(await client.unwrap(await channel.close()), null);
  await rejectsWithCode(client.wrap(bytes("late")), "session_closed");
});

Deno.test("tessera client ↔ independent server: close from the tessera side", async () => {
  const { client, channel } = await independentServerPair();
  await channel.open(await client.wrap(bytes("x")));
  const close = await client.close();
  assert.ok(close);
  const opened = await channel.open(close);
  assert.equal(opened.type, TYPE_CLOSE);
  assert.equal(opened.data.length, 0);
  await rejectsWithCode(channel.open(close), "session_closed");
  await rejectsWithCode(client.wrap(bytes("after close")), "session_closed");
});

Deno.test("tessera client ↔ independent server: a tampered ServerHello is refused", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave");
  const lookup = directory(carol, dave);
  for (
    const [offset, code] of [[-1, "handshake_decrypt_failed"], [
      5,
      "handshake_decrypt_failed",
    ]] as const
  ) {
    const client = tesseraSession(carol, lookup);
    const server = new IndependentServer({ id: dave.id, privateKey: dave.privateKey, lookup });
    const sh = await server.respond(await client.connectRequest());
    sh[offset < 0 ? sh.length + offset : offset]! ^= 1;
    await rejectsWithCode(client.negotiate(sh), code);
    await rejectsWithCode(client.negotiate(sh), "session_failed");
  }
});

Deno.test("tessera client ↔ independent server: an unknown server id is refused", async () => {
  const carol = await tesseraParty("carol");
  const dave = await independentParty("dave");
  const client = tesseraSession(carol, directory(carol));
  const server = new IndependentServer({
    id: dave.id,
    privateKey: dave.privateKey,
    lookup: directory(carol, dave),
  });
  const sh = await server.respond(await client.connectRequest());
  await rejectsWithCode(client.negotiate(sh), "handshake_unknown_peer");
});

// ---------------------------------------------------------------------------
// 3. Replay window

Deno.test("replay window: tessera's receiver on records from the independent sender", async () => {
  const { channel, server } = await independentClientPair();
  const d = (n: bigint) => channel.wrap(bytes(`#${n}`), n);
  const ok = async (n: bigint) => assert.deepEqual(await server.unwrap(await d(n)), bytes(`#${n}`));

  await ok(0n);
  await ok(5n); // skipping ahead slides the window
  await ok(3n); // reordered, within the window
  await rejectsWithCode(server.unwrap(await d(3n)), "record_replayed");
  await rejectsWithCode(server.unwrap(await d(5n)), "record_replayed");
  await rejectsWithCode(server.unwrap(await d(0n)), "record_replayed");

  await ok(200n);
  // 200 − 127 = 73 is the oldest accepted; 72 is too old.
  await rejectsWithCode(server.unwrap(await d(72n)), "record_too_old");
  await rejectsWithCode(server.unwrap(await d(5n)), "record_too_old");
  await ok(73n);
  await rejectsWithCode(server.unwrap(await d(73n)), "record_replayed");
  await ok(199n);
  await ok(150n);

  // A refused record changes nothing: a forged record far ahead moves no window.
  const forged = await d(1000n);
  forged[20]! ^= 1;
  await rejectsWithCode(server.unwrap(forged), "record_auth_failed");
  await ok(100n);

  // The exact record replayed (same bytes) is refused as well.
  const once = await d(201n);
  assert.deepEqual(await server.unwrap(once), bytes("#201"));
  await rejectsWithCode(server.unwrap(once), "record_replayed");

  // Sequence numbers are shared across key ids: a rekey does not reopen old numbers.
  channel.rekey();
  await rejectsWithCode(server.unwrap(await d(150n)), "record_replayed");
  await ok(202n);
  // Jumping by more than the window clears it.
  await ok(202n + 500n);
  await rejectsWithCode(server.unwrap(await d(202n + 500n - 128n)), "record_too_old");
  await ok(202n + 500n - 127n);
});

Deno.test("replay window: the independent receiver on reordered tessera records", async () => {
  const { channel, server } = await independentClientPair();
  const records: Uint8Array[] = [];
  for (let i = 0; i < 140; i++) records.push(await server.wrap(bytes(`r${i}`)));
  const open = async (i: number) => {
    const opened = await channel.open(records[i]!);
    assert.equal(opened.seq, BigInt(i));
    assert.deepEqual(opened.data, bytes(`r${i}`));
  };
  await open(0);
  await open(4);
  await open(2); // reorder within the window
  await rejectsWithCode(channel.open(records[2]!), "record_replayed");
  await rejectsWithCode(channel.open(records[4]!), "record_replayed");
  await open(139);
  await rejectsWithCode(channel.open(records[11]!), "record_too_old");
  await open(12); // 139 − 127
  await rejectsWithCode(channel.open(records[12]!), "record_replayed");
  await open(138);
  // A corrupted record is refused and marks nothing.
  const corrupt = records[100]!.slice();
  corrupt[corrupt.length - 1]! ^= 0x80;
  await rejectsWithCode(channel.open(corrupt), "record_auth_failed");
  await open(100);
});

Deno.test("replay window: the first record may start anywhere", async () => {
  const { channel, server } = await independentClientPair();
  const d = (n: bigint) => channel.wrap(bytes(`#${n}`), n);
  assert.deepEqual(await server.unwrap(await d(200n)), bytes("#200"));
  assert.deepEqual(await server.unwrap(await d(100n)), bytes("#100"));
  await rejectsWithCode(server.unwrap(await d(0n)), "record_too_old");
});

Deno.test("replay window: the window check comes before authentication", async () => {
  const { channel, server } = await independentClientPair();
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("a"), 300n)), bytes("a"));
  const replay = await channel.wrap(bytes("a"), 300n);
  replay[replay.length - 1]! ^= 1;
  await rejectsWithCode(server.unwrap(replay), "record_replayed");
  const old = await channel.wrap(bytes("b"), 10n);
  old[old.length - 1]! ^= 1;
  await rejectsWithCode(server.unwrap(old), "record_too_old");
});

Deno.test("records: size limits and close payloads", async () => {
  const { channel, server } = await independentClientPair();
  const tooLarge = new Uint8Array(33 + 16 * 1024 * 1024 + 1);
  tooLarge[0] = TYPE_DATA;
  await rejectsWithCode(server.unwrap(tooLarge), "record_too_large");
  // A close record carrying data is malformed and changes nothing.
  await rejectsWithCode(
    server.unwrap(await channel.seal(TYPE_CLOSE, bytes("!"), 7n)),
    "record_malformed",
  );
  assert.deepEqual(await server.unwrap(await channel.wrap(bytes("d"), 7n)), bytes("d"));
});

Deno.test("handshake: ClientHello limits from the independent client", async () => {
  const alice = await independentParty("alice");
  const bob = await tesseraParty("bob");
  const lookup = directory(alice, bob);
  const client = new IndependentClient({ id: alice.id, privateKey: alice.privateKey, lookup });
  const refuse = async (hello: Uint8Array) =>
    await rejectsWithCode(tesseraSession(bob, lookup).negotiate(hello), "handshake_malformed");
  await refuse(await client.hello({ suites: [] }));
  await refuse(await client.hello({ suites: new Array(17).fill(SUITE) }));
  await refuse(await client.hello({ extensions: concat(u16(7), vec16(new Uint8Array(1021))) }));
  await refuse(concat(await client.hello(), new Uint8Array(5000)));
  await refuse(new Uint8Array(0));
  // 16 suites and a full 1024-byte extensions block are within bounds.
  const ok = await client.hello({
    suites: new Array(16).fill(SUITE),
    extensions: concat(u16(7), vec16(new Uint8Array(1020))),
  });
  const sh = await tesseraSession(bob, lookup).negotiate(ok);
  assert.ok(sh);
  await client.finish(sh);
});

Deno.test("replay window: both receivers refuse malformed records", async () => {
  const { channel, server } = await independentClientPair();
  const record = await channel.wrap(bytes("hi"));
  await rejectsWithCode(server.unwrap(record.subarray(0, 32)), "record_malformed");
  const retyped = record.slice();
  retyped[0] = 0x16;
  await rejectsWithCode(server.unwrap(retyped), "record_malformed");
  // Changing the type byte breaks the AAD.
  retyped[0] = TYPE_CLOSE;
  await rejectsWithCode(server.unwrap(retyped), "record_auth_failed");
  assert.deepEqual(await server.unwrap(record), bytes("hi"));

  const back = await server.wrap(bytes("ok"));
  await rejectsWithCode(channel.open(back.subarray(0, 32)), "record_malformed");
  assert.deepEqual((await channel.open(back)).data, bytes("ok"));
});
