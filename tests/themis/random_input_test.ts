// Property tests of the Themis profile against hostile input: arbitrary bytes and well-formed
// containers of arbitrary content at every handshake step, arbitrary and mutated data messages,
// arbitrary key containers. Every outcome is a typed error (or, for data, an accepted message
// that was valid); never another exception, never a hang.

import assert from "node:assert/strict";
import fc from "npm:fast-check@3.23.2";
import "../_fast_check_seed.ts";
import { HandshakeError, KeyError, RecordError, ThemisError } from "../../lib/errors.ts";
import type { SecureSession } from "../../lib/session/secure_session.ts";
import { encodeContainer, TAG_TSID, TAG_TSPM, TAG_UEC2 } from "../../lib/themis/_container.ts";
import { importThemisPrivateKey, importThemisPublicKey } from "../../lib/themis/mod.ts";
import { client, server, tesseraPair, tesseraSession } from "./_wasm_themis.ts";

const SETTLE_MS = 10_000;

/** Awaits `promise`, failing on a hang; returns the error or null. */
async function outcome(promise: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<"hang">((resolve) =>
    timer = setTimeout(() => resolve("hang"), SETTLE_MS)
  );
  try {
    const result = await Promise.race([promise.then(() => null, (e: unknown) => e), hang]);
    assert.notEqual(result, "hang", "the call did not settle");
    return result;
  } finally {
    clearTimeout(timer);
  }
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max });

/** A TSPM holding a TSID, a UEC2 and a tail, each of arbitrary content. */
const idMessage = fc.tuple(
  bytes(40),
  fc.oneof(
    fc.uint8Array({ minLength: 33, maxLength: 33 }),
    fc.uint8Array({ minLength: 65, maxLength: 65 }),
    bytes(80),
  ),
  bytes(80),
).map(([id, point, tail]) =>
  encodeContainer(TAG_TSPM, encodeContainer(TAG_TSID, id), encodeContainer(TAG_UEC2, point), tail)
);

/** Any handshake message: raw bytes, a TSPM of arbitrary data, or an id message. */
const handshakeInput = fc.oneof(
  bytes(300),
  bytes(150).map((data) => encodeContainer(TAG_TSPM, data)),
  idMessage,
);

async function clientWaitingFor2(): Promise<SecureSession> {
  const c = tesseraSession(client);
  await c.connectRequest();
  return c;
}

async function serverWaitingFor3(): Promise<SecureSession> {
  const s = tesseraSession(server);
  await s.negotiate(await tesseraSession(client).connectRequest());
  return s;
}

async function clientWaitingFor4(): Promise<SecureSession> {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await c.negotiate((await s.negotiate(await c.connectRequest()))!);
  return c;
}

const steps: [string, () => Promise<SecureSession>][] = [
  ["a new server", () => Promise.resolve(tesseraSession(server))],
  ["a client waiting for message 2", clientWaitingFor2],
  ["a server waiting for message 3", serverWaitingFor3],
  ["a client waiting for message 4", clientWaitingFor4],
];

for (const [who, at] of steps) {
  Deno.test(`${who} refuses arbitrary handshake input with a HandshakeError`, async () => {
    await fc.assert(
      fc.asyncProperty(handshakeInput, async (input) => {
        const session = await at();
        const error = await outcome(session.negotiate(input));
        assert.ok(error instanceof HandshakeError, `got ${error}`);
        assert.equal(session.isEstablished(), false);
        assert.equal(session.state, "closed");
      }),
      { numRuns: 60 },
    );
  });
}

Deno.test("an established session refuses arbitrary and mutated data messages with typed errors", async () => {
  const c = tesseraSession(client);
  const s = tesseraSession(server);
  await tesseraPair(c, s);
  const sessionId = s.sessionId!;
  const input = fc.oneof(
    bytes(200),
    bytes(200).map((tail) => new Uint8Array([...sessionId, ...tail])),
    fc.tuple(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    )
      .map(([data, positions]) => ({ data, positions })),
  );
  await fc.assert(
    fc.asyncProperty(input, async (value) => {
      let message: Uint8Array;
      if (value instanceof Uint8Array) message = value;
      else {
        message = await c.wrap(value.data);
        for (const p of value.positions) message[p % message.length]! ^= 0x5a;
      }
      const error = await outcome(s.unwrap(message));
      if (error !== null) {
        assert.ok(
          error instanceof RecordError || error instanceof ThemisError,
          `got ${error}`,
        );
      }
      assert.equal(s.isEstablished(), true);
    }),
    { numRuns: 300 },
  );
});

Deno.test("arbitrary key containers are refused with ThemisError or KeyError", async () => {
  const container = fc.oneof(
    bytes(100),
    fc.tuple(fc.constantFrom(0x55454332, 0x52454332, 0x55454333), bytes(70))
      .map(([tag, data]) => encodeContainer(tag, data)),
  );
  await fc.assert(
    fc.asyncProperty(container, async (input) => {
      for (const attempt of [importThemisPublicKey(input), importThemisPrivateKey(input)]) {
        const error = await outcome(attempt);
        if (error !== null) {
          assert.ok(error instanceof ThemisError || error instanceof KeyError, `got ${error}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
