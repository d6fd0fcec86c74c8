// Property-based tests of the Secure Session against hostile input: arbitrary and mutated
// handshake messages, records and saved states, and random interleavings of two live peers.

import assert from "node:assert/strict";
import fc from "npm:fast-check@3.23.2";
import "../_fast_check_seed.ts";
import { concat } from "../../lib/crypto/_bytes.ts";
import {
  HandshakeError,
  KeyError,
  RecordError,
  SavedStateError,
  SessionStateError,
  type TesseraError,
} from "../../lib/errors.ts";
import { openState, sealState } from "../../lib/session/_saved_state.ts";
import { REPLAY_WINDOW_SIZE } from "../../lib/session/replay_window.ts";
import { SecureSession } from "../../lib/session/secure_session.ts";
import { bob, bufferPair, recordHandshake, session } from "../session/_helpers.ts";

// ------------------------------------------------------------------------------- tools

/** How long any single call may take before it counts as a hang. */
const SETTLE_MS = 10_000;

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Waits for `promise` to settle, failing the property if it does not within `SETTLE_MS`. */
async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), SETTLE_MS);
  });
  try {
    const outcome = await Promise.race([
      promise.then(
        (value) => ({ ok: true as const, value }),
        (error) => ({ ok: false as const, error }),
      ),
      hang,
    ]);
    if (outcome === "hang") assert.fail(`the call did not settle within ${SETTLE_MS} ms`);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}(${(error as TesseraError).code ?? ""}): ${error.message}`
    : String(error);
}

/** Asserts a rejection with a `TesseraError` of `errorClass` whose code is one of `codes`. */
function assertRefused(
  outcome: Outcome<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => TesseraError,
  codes: readonly string[],
): TesseraError {
  assert.ok(!outcome.ok, "expected a rejection, but the call resolved");
  const { error } = outcome;
  assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${describe(error)}`);
  assert.ok(codes.includes(error.code), `unexpected code ${error.code}`);
  return error;
}

const HANDSHAKE_CODES = [
  "handshake_malformed",
  "handshake_unexpected",
  "handshake_unsupported_version",
  "handshake_unsupported_suite",
  "handshake_decrypt_failed",
  "handshake_unknown_peer",
  "handshake_lookup_failed",
  "handshake_bad_signature",
  "handshake_bad_finished",
  "handshake_bad_key_share",
  "handshake_peer_rejected",
  "handshake_refused",
] as const;

/** What a refused record may be refused for, outside a stream. */
const RECORD_CODES = [
  "record_malformed",
  "record_too_large",
  "record_auth_failed",
  "record_replayed",
  "record_too_old",
] as const;

const STATE_CODES = ["state_malformed", "state_unsupported_version", "state_auth_failed"] as const;

/** Asserts that a session that failed its handshake refuses every later call with session_failed. */
async function assertFailedForGood(s: SecureSession, cause: TesseraError): Promise<void> {
  assert.equal(s.state, "closed");
  assert.equal(s.isEstablished(), false);
  assert.equal(s.sessionId, null);
  assert.equal(s.error?.code, cause.code);
  const failed = (outcome: Outcome<unknown>) =>
    assertRefused(outcome, SessionStateError, ["session_failed"]);
  failed(await settle(s.connectRequest()));
  failed(await settle(s.negotiate(new Uint8Array([1, 1, 1]))));
  failed(await settle(s.wrap(new Uint8Array([1]))));
  failed(await settle(s.unwrap(new Uint8Array(64))));
  failed(await settle(s.save(new Uint8Array(32))));
  assert.throws(() => s.rekey(), (err: unknown) => {
    assert.ok(err instanceof SessionStateError && err.code === "session_failed", describe(err));
    return true;
  });
  assert.equal(await s.close(), null, "a failed session has no close record to send");
  failed(await settle(s.wrap(new Uint8Array([2]))));
  assert.equal(s.state, "closed");
}

// -------------------------------------------------------------------------- mutations

/** One edit of a byte string. Positions are taken modulo the current length. */
type Edit =
  | { kind: "flip"; at: number; mask: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "extend"; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "graft"; at: number; donor: number; start: number; length: number; replace: boolean };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("extend" as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant("graft" as const),
    at: fc.nat(),
    donor: fc.nat(),
    start: fc.nat(),
    length: fc.integer({ min: 1, max: 200 }),
    replace: fc.boolean(),
  }),
);

/** Zero to four edits: zero (or edits that cancel out) leave the message as it was. */
const editsArb = fc.array(editArb, { minLength: 0, maxLength: 4 });

/** Applies `edits` to `base`; grafts copy a slice of one of the `donors` (real messages). */
function applyEdits(
  base: Uint8Array,
  edits: readonly Edit[],
  donors: readonly Uint8Array[],
): Uint8Array {
  let out = base.slice();
  const pos = (at: number, room = out.length + 1) => (room === 0 ? 0 : at % room);
  for (const e of edits) {
    switch (e.kind) {
      case "flip":
        if (out.length > 0) out[pos(e.at, out.length)]! ^= e.mask;
        break;
      case "set":
        if (out.length > 0) out[pos(e.at, out.length)] = e.value;
        break;
      case "truncate":
        out = out.slice(0, pos(e.at, out.length));
        break;
      case "extend":
        out = concat(out, e.bytes);
        break;
      case "delete": {
        const at = pos(e.at, out.length);
        out = concat(out.subarray(0, at), out.subarray(at + e.count));
        break;
      }
      case "insert": {
        const at = pos(e.at);
        out = concat(out.subarray(0, at), e.bytes, out.subarray(at));
        break;
      }
      case "graft": {
        if (donors.length === 0) break;
        const donor = donors[e.donor % donors.length]!;
        const start = pos(e.start, donor.length);
        const piece = donor.subarray(start, start + e.length);
        const at = pos(e.at);
        const resume = e.replace ? at + piece.length : at;
        out = concat(out.subarray(0, at), piece, out.subarray(resume));
        break;
      }
    }
  }
  return out;
}

// -------------------------------------------------------------------------- handshake

const recorded = await recordHandshake();
const { ch, sh, cf } = recorded.transcript;
const realMessages = [ch, sh, cf];

/** Bytes that begin like a handshake message of some type and version, then anything. */
const plausibleHandshake = fc.tuple(
  fc.integer({ min: 0, max: 4 }),
  fc.constantFrom(0, 1, 2, 255),
  fc.uint8Array({ maxLength: 300 }),
).map(([type, version, tail]) => concat(new Uint8Array([type, version]), tail));

/** Random bytes of any size around the handshake bound, and plausible prefixes. */
const randomHandshakeBytes = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 400 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 4090, maxLength: 4200 }) },
  { weight: 3, arbitrary: plausibleHandshake },
);

/** A mutation of one of the three recorded handshake messages, mostly of the ClientHello. */
const mutatedHandshake = fc.tuple(fc.constantFrom(0, 0, 0, 1, 2), editsArb).map(([i, edits]) =>
  applyEdits(realMessages[i]!, edits, realMessages)
);

/** Random bytes, or a mutation of a recorded handshake message. */
const anyHandshakeBytes = fc.oneof(
  { weight: 1, arbitrary: randomHandshakeBytes },
  { weight: 2, arbitrary: mutatedHandshake },
);

Deno.test("a fresh server given any bytes either answers with a ServerHello or fails for good with a handshake code", async () => {
  await fc.assert(
    fc.asyncProperty(anyHandshakeBytes, async (message) => {
      const server = session({}, bob);
      const outcome = await settle(server.negotiate(message));
      assert.equal(server.isEstablished(), false, "one message can never establish a server");
      if (outcome.ok) {
        const reply = outcome.value;
        assert.ok(reply instanceof Uint8Array && reply[0] === 0x02, "only a ServerHello answers");
        assert.equal(server.state, "negotiating");
        assert.equal(server.role, "server");
        const early = await settle(server.wrap(new Uint8Array([1])));
        assertRefused(early, SessionStateError, ["session_not_established"]);
        return;
      }
      const error = assertRefused(outcome, HandshakeError, HANDSHAKE_CODES);
      await assertFailedForGood(server, error);
    }),
    { numRuns: 300 },
  );
});

Deno.test("a client given anything but the exact ServerHello fails for good with a handshake code", async () => {
  const input = fc.oneof(
    { weight: 3, arbitrary: editsArb.map((edits) => applyEdits(sh, edits, realMessages)) },
    { weight: 1, arbitrary: randomHandshakeBytes },
  );
  await fc.assert(
    fc.asyncProperty(input, async (message) => {
      const client = await recorded.clientAwaitingServerHello();
      const outcome = await settle(client.negotiate(message));
      if (equalBytes(message, sh)) {
        assert.ok(
          outcome.ok,
          `the recorded ServerHello must be accepted: ${outcome.ok || describe(outcome.error)}`,
        );
        assert.deepEqual(outcome.value, cf);
        assert.equal(client.isEstablished(), true);
        return;
      }
      assert.equal(client.isEstablished(), false);
      const error = assertRefused(outcome, HandshakeError, HANDSHAKE_CODES);
      await assertFailedForGood(client, error);
    }),
    { numRuns: 150 },
  );
});

Deno.test("a server awaiting ClientFinished given anything but the exact message fails for good", async () => {
  const input = fc.oneof(
    { weight: 3, arbitrary: editsArb.map((edits) => applyEdits(cf, edits, realMessages)) },
    { weight: 1, arbitrary: randomHandshakeBytes },
  );
  await fc.assert(
    fc.asyncProperty(input, async (message) => {
      const server = await recorded.serverAwaitingFinished();
      const outcome = await settle(server.negotiate(message));
      if (equalBytes(message, cf)) {
        assert.ok(
          outcome.ok,
          `the recorded ClientFinished must be accepted: ${outcome.ok || describe(outcome.error)}`,
        );
        assert.equal(outcome.value, null);
        assert.equal(server.isEstablished(), true);
        return;
      }
      assert.equal(server.isEstablished(), false);
      const error = assertRefused(outcome, HandshakeError, HANDSHAKE_CODES);
      await assertFailedForGood(server, error);
    }),
    { numRuns: 120 },
  );
});

// ---------------------------------------------------------------------------- records

type RecordInput =
  | { kind: "random"; bytes: Uint8Array }
  | { kind: "forged"; index: number; seq: number | null; body: Uint8Array }
  | { kind: "mutant"; index: number; edits: Edit[] };

/** A record's header (marker, flags, epoch, sequence number, optionally replaced) over a random body. */
function forge(record: Uint8Array, seq: number | null, body: Uint8Array): Uint8Array {
  const header = record.slice(0, 14);
  if (seq !== null) new DataView(header.buffer).setBigUint64(6, BigInt(seq));
  return concat(header, body);
}

Deno.test("unwrap() of any bytes or any mutated record yields only an untampered, unaccepted record's plaintext", async () => {
  const scenario = fc.record({
    fromServer: fc.boolean(),
    records: fc.array(
      fc.record({ plaintext: fc.uint8Array({ maxLength: 48 }), deliverFirst: fc.boolean() }),
      { minLength: 1, maxLength: 4 },
    ),
    input: fc.oneof(
      fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 160 }) }),
      fc.record({
        kind: fc.constant("forged" as const),
        index: fc.nat(),
        seq: fc.option(fc.integer({ min: 0, max: 6 })),
        body: fc.uint8Array({ minLength: 16, maxLength: 80 }),
      }),
      fc.record({ kind: fc.constant("mutant" as const), index: fc.nat(), edits: editsArb }),
      fc.record({
        kind: fc.constant("mutant" as const),
        index: fc.nat(),
        edits: fc.array(editArb, { minLength: 1, maxLength: 2 }),
      }),
    ) as fc.Arbitrary<RecordInput>,
  });
  await fc.assert(
    fc.asyncProperty(scenario, async ({ fromServer, records, input }) => {
      const pair = await bufferPair();
      const [sender, receiver] = fromServer
        ? [pair.server, pair.client]
        : [pair.client, pair.server];
      const sealed: Uint8Array[] = [];
      for (const r of records) sealed.push(await sender.wrap(r.plaintext));
      const accepted = new Set<number>();
      for (const [i, r] of records.entries()) {
        if (!r.deliverFirst) continue;
        assert.deepEqual(await receiver.unwrap(sealed[i]!), r.plaintext);
        accepted.add(i);
      }
      const bytes = input.kind === "random"
        ? input.bytes
        : input.kind === "forged"
        ? forge(sealed[input.index % sealed.length]!, input.seq, input.body)
        : applyEdits(sealed[input.index % sealed.length]!, input.edits, [
          ...sealed,
          ...realMessages,
        ]);

      const outcome = await settle(receiver.unwrap(bytes));
      const same = sealed.findIndex((s) => equalBytes(s, bytes));
      if (same >= 0 && !accepted.has(same)) {
        assert.ok(
          outcome.ok,
          `an untampered record must open: ${outcome.ok || describe(outcome.error)}`,
        );
        assert.deepEqual(outcome.value, records[same]!.plaintext);
        accepted.add(same);
      } else if (same >= 0) {
        assertRefused(outcome, RecordError, ["record_replayed"]);
      } else {
        assertRefused(outcome, RecordError, RECORD_CODES);
      }

      // Still usable: a refused record burns no sequence number and breaks nothing.
      assert.equal(receiver.state, "established");
      for (const [i, s] of sealed.entries()) {
        if (accepted.has(i)) continue;
        assert.deepEqual(await receiver.unwrap(s), records[i]!.plaintext);
      }
      const fresh = new Uint8Array([7, 7, 7]);
      assert.deepEqual(await receiver.unwrap(await sender.wrap(fresh)), fresh);
    }),
    { numRuns: 150 },
  );
});

// --------------------------------------------------------------------------- the model

type Side = 0 | 1;
type Op =
  | { op: "wrap"; from: Side; size: number }
  | { op: "burst"; from: Side; count: number }
  | { op: "edge"; from: Side; behind: number }
  | { op: "rekey"; side: Side }
  | { op: "deliver"; from: Side; pick: Pick }
  | { op: "deliverAtOnce"; from: Side; picks: Pick[] };
/**
 * Which sent record to deliver: one of the latest few (duplicates, reordering), any, or one
 * about a window's width behind the highest delivered (the edge of the replay window).
 */
type Pick = { recent: number } | { any: number } | { behind: number };

const sideArb = fc.constantFrom<Side>(0, 1);
const pickArb: fc.Arbitrary<Pick> = fc.oneof(
  fc.record({ recent: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ any: fc.nat() }),
  fc.record({ behind: fc.integer({ min: REPLAY_WINDOW_SIZE - 3, max: REPLAY_WINDOW_SIZE + 2 }) }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("edge" as const),
      from: sideArb,
      behind: fc.integer({ min: REPLAY_WINDOW_SIZE - 2, max: REPLAY_WINDOW_SIZE + 1 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("wrap" as const),
      from: sideArb,
      size: fc.integer({ min: 0, max: 24 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("burst" as const),
      from: sideArb,
      count: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(REPLAY_WINDOW_SIZE + 4)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("rekey" as const), side: sideArb }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant("deliver" as const), from: sideArb, pick: pickArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("deliverAtOnce" as const),
      from: sideArb,
      picks: fc.array(pickArb, { minLength: 2, maxLength: 5 }),
    }),
  },
);

/** One direction as the specification sees it: what was sent, what was delivered. */
class DirectionModel {
  readonly sent: { record: Uint8Array; data: Uint8Array }[] = [];
  readonly delivered = new Set<number>();
  highest = -1;

  pick(p: Pick): number | null {
    const n = this.sent.length;
    if (n === 0) return null;
    if ("recent" in p) return Math.max(0, n - 1 - p.recent);
    if ("any" in p) return p.any % n;
    return Math.max(0, this.highest - p.behind);
  }

  /** The verdict of delivering record `seq` now, and its effect on the model. */
  deliver(seq: number): string {
    if (seq > this.highest) {
      this.highest = seq;
      this.delivered.add(seq);
      return "ok";
    }
    if (this.highest - seq >= REPLAY_WINDOW_SIZE) return "record_too_old";
    if (this.delivered.has(seq)) return "record_replayed";
    this.delivered.add(seq);
    return "ok";
  }
}

Deno.test("random interleavings of wrap, unwrap, rekey, reordering and duplication deliver each record at most once", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
      const { client, server } = await bufferPair();
      const sides = [client, server] as const;
      const models = [new DirectionModel(), new DirectionModel()] as const;
      let counter = 0;

      const wrap = async (from: Side, size: number) => {
        const data = new Uint8Array(4 + size);
        new DataView(data.buffer).setUint32(0, counter++);
        crypto.getRandomValues(data.subarray(4));
        models[from].sent.push({ record: await sides[from].wrap(data), data });
      };
      // A duplicate is refused as replayed or too old; concurrent calls pre-check against the
      // window as it was when they were made, so only the pair of codes is fixed for them.
      const check = (
        from: Side,
        seq: number,
        outcome: Outcome<Uint8Array | null>,
        concurrent: boolean,
      ) => {
        const model = models[from];
        const duplicate = model.delivered.has(seq);
        const expected = model.deliver(seq);
        if (expected === "ok") {
          assert.ok(
            outcome.ok,
            `record ${seq} must be delivered: ${outcome.ok || describe(outcome.error)}`,
          );
          assert.deepEqual(
            outcome.value,
            model.sent[seq]!.data,
            "delivered bytes that were not sent",
          );
        } else if (duplicate) {
          const codes = concurrent ? ["record_replayed", "record_too_old"] : [expected];
          assertRefused(outcome, RecordError, codes);
        } else {
          assertRefused(outcome, RecordError, [expected]);
        }
      };

      for (const op of ops) {
        switch (op.op) {
          case "wrap":
            await wrap(op.from, op.size);
            break;
          case "burst":
            for (let i = 0; i < op.count; i++) await wrap(op.from, 0);
            break;
          case "edge": {
            // A window's width of records, the newest delivered, then one near the window's edge.
            for (let i = 0; i <= REPLAY_WINDOW_SIZE + 1; i++) await wrap(op.from, 0);
            const to = sides[1 - op.from]!;
            const sent = models[op.from].sent;
            for (const seq of [sent.length - 1, sent.length - 1 - op.behind]) {
              check(op.from, seq, await settle(to.unwrap(sent[seq]!.record)), false);
            }
            break;
          }
          case "rekey":
            sides[op.side].rekey();
            break;
          case "deliver": {
            const seq = models[op.from].pick(op.pick);
            if (seq === null) break;
            const to = sides[1 - op.from]!;
            check(op.from, seq, await settle(to.unwrap(models[op.from].sent[seq]!.record)), false);
            break;
          }
          case "deliverAtOnce": {
            // Concurrent unwrap() calls are decided in call order.
            const seqs = op.picks.map((p) => models[op.from].pick(p)).filter((s) => s !== null);
            const to = sides[1 - op.from]!;
            const outcomes = await Promise.all(
              seqs.map((seq) => settle(to.unwrap(models[op.from].sent[seq]!.record))),
            );
            seqs.forEach((seq, i) => check(op.from, seq, outcomes[i]!, true));
            break;
          }
        }
      }
      assert.equal(client.state, "established");
      assert.equal(server.state, "established");
    }),
    { numRuns: 60 },
  );
});

// ----------------------------------------------------------------------- save/restore

Deno.test("restore() refuses arbitrary bytes and every mutation of a saved state with a saved-state code", async () => {
  const { client, server } = await bufferPair();
  const other = await bufferPair();
  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const aesKey = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  const sessionId = client.sessionId;
  const saved = await client.save(rawKey);
  const otherSaved = await other.server.save(rawKey);
  const wrongKind = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const shortAes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, [
    "encrypt",
    "decrypt",
  ]);

  const keyArb = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constant({ key: rawKey as Uint8Array | CryptoKey, right: true, usable: true }),
    },
    {
      weight: 2,
      arbitrary: fc.constant({ key: aesKey as Uint8Array | CryptoKey, right: true, usable: true }),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => ({
        key: k as Uint8Array | CryptoKey,
        right: equalBytes(k, rawKey),
        usable: true,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(wrongKind, shortAes).map((key) => ({
        key: key as Uint8Array | CryptoKey,
        right: false,
        usable: false,
      })),
    },
  );
  const stateArb = fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((tail) =>
        concat(new Uint8Array([0x54, 0x53, 0x53, 2, 1]), tail)
      ),
    },
    {
      weight: 4,
      arbitrary: editsArb.map((edits) => applyEdits(saved, edits, [saved, otherSaved])),
    },
  );
  await fc.assert(
    fc.asyncProperty(stateArb, keyArb, async (state, { key, right, usable }) => {
      const outcome = await settle(SecureSession.restore(state, key));
      if (!usable) {
        assertRefused(outcome, KeyError, ["key_unsupported"]);
        return;
      }
      if (right && equalBytes(state, saved)) {
        assert.ok(
          outcome.ok,
          `the saved state must restore: ${outcome.ok || describe(outcome.error)}`,
        );
        const restored = outcome.value;
        assert.equal(restored.role, "client");
        assert.deepEqual(restored.sessionId, sessionId);
        const data = new Uint8Array([4, 2]);
        assert.deepEqual(await restored.unwrap(await server.wrap(data)), data);
        return;
      }
      assertRefused(outcome, SavedStateError, STATE_CODES);
    }),
    { numRuns: 300 },
  );
});

Deno.test("restore() of authentic but arbitrary contents either restores a session or refuses with a saved-state code", async () => {
  const { client } = await bufferPair();
  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const key = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  // The inner bytes of a real saved state: what save() sealed.
  const { inner } = await openState(key, await client.save(rawKey), new Uint8Array(0));
  const contents = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    editsArb.map((edits) => applyEdits(inner, edits, [inner])),
    fc.array(editArb.filter((e) => e.kind === "flip" || e.kind === "set"), {
      minLength: 1,
      maxLength: 3,
    }).map((edits) => applyEdits(inner, edits, [inner])),
  );
  await fc.assert(
    fc.asyncProperty(contents, fc.constantFrom(0, 1, 2, 255), async (bytes, profileId) => {
      const sealed = await sealState(
        key,
        profileId,
        1,
        new Uint8Array(0),
        bytes,
        (out) => crypto.getRandomValues(out),
      );
      const outcome = await settle(SecureSession.restore(sealed, rawKey));
      if (outcome.ok) {
        assert.equal(profileId, 1, "only tessera/1 states are known");
        assert.equal(outcome.value.isEstablished(), true);
        // Whatever it holds, the restored session can seal a record.
        const record = await settle(outcome.value.wrap(new Uint8Array([1])));
        if (!record.ok) assertRefused(record, RecordError, ["record_sequence_exhausted"]);
        return;
      }
      assertRefused(outcome, SavedStateError, ["state_malformed", "state_unsupported_version"]);
    }),
    { numRuns: 200 },
  );
});
