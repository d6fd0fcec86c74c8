// Options are checked when they are given: an unknown key is a TypeError naming it, a wrong type
// a TypeError, a value out of range a RangeError; nothing is listened on or connected to first.

import assert from "node:assert/strict";
import { connectSecure, SecureStream, serveSecure } from "../../lib/stream/mod.ts";
import { clientSession, serverSession, webPair } from "./_helpers.ts";

const echo = () => {};

Deno.test("SecureStream.connect() and accept() refuse unknown keys, wrong types and values out of range", async () => {
  const session = clientSession();
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ session, timeout: 5 }, TypeError, /unknown option "timeout"/],
    [{ session, handshakeTimout: 5 }, TypeError, /unknown option "handshakeTimout"/],
    [{}, TypeError, /session must be an object/],
    [{ session: { ...session, transport: webPair()[0] } }, TypeError, /session.transport/],
    [{ session: { ...session, id: "" } }, RangeError, /id must be 1 to/],
    [{ session, handshakeTimeout: "10s" }, TypeError, /handshakeTimeout must be a number/],
    [{ session, handshakeTimeout: 0 }, RangeError, /handshakeTimeout/],
    [{ session, handshakeTimeout: 2 ** 31 }, RangeError, /handshakeTimeout/],
    [{ session, bufferSize: 1024 }, RangeError, /bufferSize/],
    [{ session, signal: "stop" }, TypeError, /signal must be an AbortSignal/],
  ];
  for (const [options, type, message] of cases) {
    for (const method of [SecureStream.connect, SecureStream.accept]) {
      await assert.rejects(method(webPair()[0], options as never), (err) => {
        assert.ok(err instanceof type, `${JSON.stringify(Object.keys(options))}: ${err}`);
        assert.match((err as Error).message, message);
        return true;
      });
    }
  }
});

Deno.test("SecureStream.connect() refuses a transport that is not a byte stream pair, or locked", async () => {
  await assert.rejects(SecureStream.connect({} as never, { session: clientSession() }), TypeError);
  const [end] = webPair();
  end.readable.getReader();
  await assert.rejects(SecureStream.connect(end, { session: clientSession() }), /locked/);
});

Deno.test("serveSecure() checks its options before it listens", () => {
  const session = serverSession();
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ session, port: 0, handshakeTimout: 1 }, TypeError, /unknown option "handshakeTimout"/],
    [{ session, port: 0, maxConnections: 1 }, TypeError, /unknown option "maxConnections"/],
    [{ session }, TypeError, /a port, a path or a listener/],
    [{ session, port: 0, path: "/tmp/x.sock" }, TypeError, /either a path/],
    [{ session, port: "80" }, TypeError, /port must be a number/],
    [{ session, port: 70_000 }, RangeError, /port/],
    [{ session, port: 0, hostname: 127 }, TypeError, /hostname/],
    [{ session, port: 0, maxConcurrentHandshakes: 0 }, RangeError, /maxConcurrentHandshakes/],
    [{ session, port: 0, maxConcurrentHandshakes: 1.5 }, RangeError, /maxConcurrentHandshakes/],
    [{ session, port: 0, acceptPeer: true }, TypeError, /acceptPeer must be a function/],
    [{ session, port: 0, onError: "log" }, TypeError, /onError must be a function/],
    [{ session, port: 0, listener: {} }, TypeError, /either a listener/],
    [{ session: { ...session, privateKey: "key" }, port: 0 }, TypeError, /./],
    [{ port: 0 }, TypeError, /session must be an object/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => serveSecure(options as never, echo), (err) => {
      assert.ok(err instanceof type, `${JSON.stringify(Object.keys(options))}: ${err}`);
      assert.match((err as Error).message, message);
      return true;
    });
  }
  assert.throws(() => serveSecure({ session, port: 0 }, "handler" as never), TypeError);
  assert.throws(() => serveSecure(null as never, echo), TypeError);
});

Deno.test("connectSecure() checks its options before it connects", async () => {
  const session = clientSession();
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ session, port: 1, handshakeTimeout: 5 }, TypeError, /unknown option "handshakeTimeout"/],
    [{ session }, TypeError, /a port or a path/],
    [{ session, port: 1, path: "/tmp/x.sock" }, TypeError, /either a path/],
    [{ session, port: 0 }, RangeError, /port/],
    [{ session, port: 1, timeout: 0 }, RangeError, /timeout/],
    [{ session, port: 1, hostname: 1 }, TypeError, /hostname/],
    [{ port: 1 }, TypeError, /session must be an object/],
  ];
  for (const [options, type, message] of cases) {
    await assert.rejects(connectSecure(options as never), (err) => {
      assert.ok(err instanceof type, `${JSON.stringify(Object.keys(options))}: ${err}`);
      assert.match((err as Error).message, message);
      return true;
    });
  }
});
