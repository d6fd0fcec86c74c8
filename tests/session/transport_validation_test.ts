// The transport a caller gives a session is checked at construction, and whatever its methods do
// (throw, return garbage) reaches the caller as a typed rejection of the call that used them,
// never as an unhandled rejection.

import assert from "node:assert/strict";
import { TransportError } from "../../lib/errors.ts";
import { SecureSession, type SessionTransport } from "../../lib/session/secure_session.ts";
import { memoryTransportPair } from "../../lib/transport/memory.ts";
import { alice, bob, bytes, callbackPair, lookupOf, rejectsWith, session } from "./_helpers.ts";

/**
 * Runs `fn` with an `unhandledrejection` listener installed, lets timers and microtasks run a
 * little after it, and asserts the listener never fired.
 */
async function withoutUnhandledRejections(fn: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const listener = (event: PromiseRejectionEvent): void => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    globalThis.removeEventListener("unhandledrejection", listener);
  }
  assert.deepEqual(unhandled, [], "no rejection may go unhandled");
}

const wrongTransports: [string, unknown, RegExp][] = [
  ["no receive()", { send() {} }, /transport\.receive\(\) is missing/],
  ["no send()", { receive: () => Promise.resolve(null) }, /transport\.send\(\) is missing/],
  ["receive that is not a function", { send() {}, receive: 7 }, /transport\.receive\(\)/],
  ["a string", "ws://example", /transport must be an object/],
  [
    "limit that is not a function",
    { send() {}, receive: () => Promise.resolve(null), limit: 1 },
    /transport\.limit must be a method/,
  ],
  [
    "close that is not a function",
    { send() {}, receive: () => Promise.resolve(null), close: true },
    /transport\.close must be a method/,
  ],
];

Deno.test("new SecureSession() refuses a transport without send() or receive() with a TypeError naming it", () => {
  for (const [what, transport, message] of wrongTransports) {
    assert.throws(
      () => session({ transport: transport as SessionTransport }),
      (err: unknown) => err instanceof TypeError && message.test(err.message),
      what,
    );
  }
});

Deno.test("SecureSession.restore() refuses a transport without receive() with a TypeError", async () => {
  const { client } = await callbackPair();
  const key = crypto.getRandomValues(new Uint8Array(32));
  const saved = await client.save(key);
  await assert.rejects(
    SecureSession.restore(saved, key, { transport: { send() {} } as unknown as SessionTransport }),
    (err: unknown) => err instanceof TypeError && /transport\.receive\(\)/.test(err.message),
  );
});

Deno.test("a transport whose receive() throws synchronously rejects connect() with transport_failed, nothing unhandled", async () => {
  await withoutUnhandledRejections(async () => {
    const cause = new Error("not wired up yet");
    const transport: SessionTransport = {
      send() {},
      receive() {
        throw cause;
      },
    };
    const client = session({ transport });
    const err = await rejectsWith(client.connect(), "transport_failed", TransportError);
    assert.equal(err.cause, cause);
    assert.equal(client.state, "closed");
  });
});

Deno.test("a transport whose receive() throws synchronously rejects accept() and receive() with transport_failed", async () => {
  await withoutUnhandledRejections(async () => {
    const cause = new Error("boom");
    const throwing = (): SessionTransport => ({
      send() {},
      receive() {
        throw cause;
      },
    });
    const viaAccept = await rejectsWith(
      session({ transport: throwing() }, bob).accept(),
      "transport_failed",
      TransportError,
    );
    assert.equal(viaAccept.cause, cause);
    const viaReceive = await rejectsWith(
      session({ transport: throwing() }, bob).receive(),
      "transport_failed",
      TransportError,
    );
    assert.equal(viaReceive.cause, cause);
  });
});

Deno.test("a transport whose send() throws synchronously rejects connect() with transport_failed, nothing unhandled", async () => {
  await withoutUnhandledRejections(async () => {
    const cause = new RangeError("socket not open");
    const transport: SessionTransport = {
      send() {
        throw cause;
      },
      receive: () => new Promise(() => {}),
    };
    const err = await rejectsWith(session({ transport }).connect(), "transport_failed");
    assert.equal(err.cause, cause);
  });
});

Deno.test("a receive() that returns no promise, or send() that returns garbage, is transport_failed with a TypeError cause", async () => {
  await withoutUnhandledRejections(async () => {
    const garbage: [string, SessionTransport, "connect" | "accept"][] = [
      [
        "receive() returning undefined",
        { send() {}, receive: (() => undefined) as unknown as () => Promise<null> },
        "connect",
      ],
      [
        "receive() returning bytes without a promise",
        { send() {}, receive: (() => new Uint8Array(4)) as unknown as () => Promise<null> },
        "accept",
      ],
      [
        "send() returning a number",
        {
          send: (() => 42) as unknown as () => void,
          receive: () => new Promise(() => {}),
        },
        "connect",
      ],
    ];
    for (const [what, transport, call] of garbage) {
      const s = session({ transport }, call === "accept" ? bob : alice);
      const err = await rejectsWith(s[call](), "transport_failed", TransportError);
      assert.ok(err.cause instanceof TypeError, what);
      assert.match((err.cause as TypeError).message, /must return/, what);
    }
  });
});

Deno.test("a transport whose limit() throws fails the handshake with transport_failed", async () => {
  await withoutUnhandledRejections(async () => {
    const [a] = memoryTransportPair();
    const cause = new Error("no limits here");
    const transport: SessionTransport = {
      send: (m) => a.send(m),
      receive: () => a.receive(),
      limit() {
        throw cause;
      },
    };
    const err = await rejectsWith(session({ transport }).connect(), "transport_failed");
    assert.equal(err.cause, cause);
  });
});

Deno.test("on an established session, a send() or receive() that throws synchronously rejects that call with transport_failed", async () => {
  await withoutUnhandledRejections(async () => {
    for (const broken of ["send", "receive"] as const) {
      const [a, b] = memoryTransportPair();
      let fail = false;
      const cause = new Error(`${broken} broke`);
      const transport: SessionTransport = {
        send(m) {
          if (fail && broken === "send") throw cause;
          return a.send(m);
        },
        receive() {
          if (fail && broken === "receive") throw cause;
          return a.receive();
        },
        close: () => a.close(),
      };
      const client = session({ transport, getPublicKeyForId: lookupOf(alice, bob) });
      const server = session({ self: bob, transport: b });
      await Promise.all([client.connect(), server.accept()]);
      fail = true;
      const call = broken === "send" ? client.send(bytes("x")) : client.receive();
      const err = await rejectsWith(call, "transport_failed", TransportError);
      assert.equal(err.cause, cause);
      assert.equal(client.state, "closed");
      // The failed session closed its transport: the peer sees the end, not a clean close.
      await rejectsWith(server.receive(), "transport_closed", TransportError);
    }
  });
});

Deno.test("a transport whose close() throws does not make close() reject", async () => {
  await withoutUnhandledRejections(async () => {
    const [a, b] = memoryTransportPair();
    const transport: SessionTransport = {
      send: (m) => a.send(m),
      receive: () => a.receive(),
      close() {
        throw new Error("already gone");
      },
    };
    const client = session({ transport });
    const server = session({ self: bob, transport: b });
    await Promise.all([client.connect(), server.accept()]);
    assert.ok(await client.close());
    assert.equal(await server.receive(), null);
  });
});

Deno.test("a transport class instance keeps its this in send() and receive()", async () => {
  class Wrapped implements SessionTransport {
    #inner = memoryTransportPair();
    sent = 0;
    send(message: Uint8Array): void {
      this.sent++;
      this.#inner[0].send(message);
    }
    receive(): Promise<Uint8Array | null> {
      return this.#inner[1].receive();
    }
  }
  const transport = new Wrapped();
  const s = session({ transport });
  // A loopback: the client reads its own hello back, which is no ServerHello.
  await rejectsWith(s.connect(), "handshake_unexpected");
  assert.equal(transport.sent, 2); // the hello and the alert
});
