// What the WebSocket endpoints share (Deno.serve, Bun.serve, the client): their options, checked
// once; the handshake under a deadline, closed on failure; the peer hook folded into the
// handshake's peer policy, so a refused peer is told by an alert; and the hand-over to the app.
// Private: not part of the public API.

import { equalPublic, toBytes } from "../crypto/_bytes.ts";
import { HandshakeError, TesseraError } from "../errors.ts";
import type { PeerPolicy } from "../session/profile.ts";
import {
  SecureSession,
  type SecureSessionOptions,
  type SessionTransport,
} from "../session/secure_session.ts";

/** The default deadline of a connection's opening and handshake: 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** The default bound on handshakes running at once on one endpoint. */
export const DEFAULT_MAX_CONCURRENT_HANDSHAKES = 128;
/** Room for the record header and tag above `maxRecordSize` (as the session's own bound). */
export const MESSAGE_SLACK = 1024;

/** The session options of an endpoint: everything but the transport, which it makes. */
export type EndpointSessionOptions = Omit<SecureSessionOptions, "transport">;

/** Checks a deadline in milliseconds. */
export function checkTimeout(value: number | undefined, name: string): number {
  const ms = value ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) {
    throw new RangeError(`${name} must be 1 to 2^31-1 milliseconds`);
  }
  return ms;
}

/** Checks a positive count. */
export function checkCount(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer`);
  return n;
}

/** Checks an optional callback. */
export function checkFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${name} must be a function`);
  }
  return value;
}

/**
 * Checks the session options once, by building a session from them, and
 * returns a copy (the caller's object is never changed).
 */
export function checkSessionOptions(options: EndpointSessionOptions): EndpointSessionOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const copy = { ...options };
  new SecureSession(copy);
  return copy;
}

/** The largest record message a session with these options accepts. */
export function maxRecordMessage(options: EndpointSessionOptions): number {
  return (options.maxRecordSize ?? 16 * 1024 * 1024) + MESSAGE_SLACK;
}

/** The bounds of a socket's messages, checked once; messages default to the record bound. */
export interface SocketBounds {
  maxMessageSize: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

/** Checks `webSocket` bounds and fills in the defaults. */
export function checkSocketOptions(
  bounds: Partial<SocketBounds> | undefined,
  options: EndpointSessionOptions,
): SocketBounds {
  if (bounds !== undefined && (typeof bounds !== "object" || bounds === null)) {
    throw new TypeError("webSocket must be an object");
  }
  return {
    maxMessageSize: checkCount(
      bounds?.maxMessageSize,
      maxRecordMessage(options),
      "webSocket.maxMessageSize",
    ),
    maxQueuedMessages: checkCount(bounds?.maxQueuedMessages, 1024, "webSocket.maxQueuedMessages"),
    maxQueuedBytes: checkCount(
      bounds?.maxQueuedBytes,
      64 * 1024 * 1024,
      "webSocket.maxQueuedBytes",
    ),
  };
}

/**
 * The handshake's peer policy with the app's hook added: the peer must pass
 * `expectedPeer` (or, without it, not present this side's own id), then the
 * hook. A hook that throws refuses the peer; its error goes to `report`.
 */
export function peerPolicy<C>(
  options: EndpointSessionOptions,
  acceptPeer: ((peerId: Uint8Array, context: C) => boolean | Promise<boolean>) | undefined,
  context: C,
  report: (error: unknown) => void,
): PeerPolicy | undefined {
  const expected = options.expectedPeer;
  if (!acceptPeer) return expected;
  const own = toBytes(options.id);
  return async (id: Uint8Array): Promise<boolean> => {
    let known: boolean;
    if (expected === undefined) known = !equalPublic(own, id);
    else if (typeof expected === "function") {
      try {
        known = (await expected(id.slice())) === true;
      } catch {
        known = false;
      }
    } else known = equalPublic(toBytes(expected), id);
    if (!known) return false;
    try {
      return (await acceptPeer(id.slice(), context)) === true;
    } catch (err) {
      report(err);
      return false;
    }
  };
}

/**
 * Runs `handshake` (the session's `connect()` or `accept()`, plus whatever
 * must happen first) under a deadline. When it passes, the session is closed
 * (and with it the transport) and the result is `handshake_timeout`. On any
 * failure the session and its transport are closed before this rejects.
 */
export async function handshakeWithin(
  session: SecureSession,
  handshake: () => Promise<void>,
  ms: number,
): Promise<void> {
  const deadline: { closing: Promise<unknown> | null; silent: boolean } = {
    closing: null,
    silent: false,
  };
  const timer = setTimeout(() => {
    // Still idle: not one handshake message arrived (for a server, no ClientHello).
    deadline.silent = session.state === "idle";
    deadline.closing = session.close().catch(() => {});
  }, ms);
  let failure: unknown = null;
  try {
    await handshake();
    if (!deadline.closing) return;
  } catch (err) {
    failure = err;
  } finally {
    clearTimeout(timer);
  }
  await (deadline.closing ?? session.close().catch(() => {}));
  if (deadline.closing) {
    const why = deadline.silent
      ? `no handshake message arrived within ${ms} ms (is the peer a server too?)`
      : `the handshake did not complete within ${ms} ms`;
    throw new HandshakeError("handshake_timeout", why, {
      cause: failure ?? undefined,
    });
  }
  throw failure;
}

/** The default `onError` of the endpoints: typed errors are the peer's doing, others the app's. */
export function defaultOnError(error: unknown): void {
  if (!(error instanceof TesseraError)) console.error(error);
}

/**
 * Hands an established session to the app. When `onSession` returns a
 * promise, the session is closed once it settles; a throw or rejection goes
 * to `report` and closes the session.
 */
export async function handOver<C>(
  session: SecureSession,
  context: C,
  onSession: (session: SecureSession, context: C) => void | Promise<void>,
  report: (error: unknown) => void,
): Promise<void> {
  let result: unknown;
  try {
    result = onSession(session, context);
    if (result === undefined || typeof (result as { then?: unknown }).then !== "function") return;
    await result;
  } catch (err) {
    report(err);
  }
  await session.close().catch(report);
}

/**
 * Builds a session on `transport`; if the options are refused after all
 * (they were checked once already), the transport is closed.
 */
export function sessionOn(
  options: EndpointSessionOptions,
  expectedPeer: PeerPolicy | undefined,
  transport: SessionTransport,
): SecureSession {
  try {
    return new SecureSession({ ...options, expectedPeer, transport });
  } catch (err) {
    Promise.resolve().then(() => transport.close?.()).catch(() => {});
    throw err;
  }
}

/** Whether a request asks for a WebSocket upgrade. */
export function wantsWebSocket(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** The answer to a plain HTTP request on a WebSocket endpoint. */
export function upgradeRequired(): Response {
  return new Response("This endpoint speaks WebSocket only.\n", {
    status: 426,
    headers: { upgrade: "websocket", connection: "Upgrade", "content-type": "text/plain" },
  });
}

/** The answer when the endpoint already runs as many handshakes as it may. */
export function busy(): Response {
  return new Response("Too many handshakes in progress.\n", {
    status: 503,
    headers: { "retry-after": "1", "content-type": "text/plain" },
  });
}

/** A server endpoint's options, checked once. */
export interface ServerEndpoint {
  readonly sessionOptions: EndpointSessionOptions;
  readonly acceptPeer:
    | ((peerId: Uint8Array, request: Request) => boolean | Promise<boolean>)
    | undefined;
  readonly onError: (error: unknown, request: Request) => void;
  readonly onSession: (session: SecureSession, request: Request) => void | Promise<void>;
  readonly handshakeTimeout: number;
  readonly maxConcurrentHandshakes: number;
  readonly socket: SocketBounds;
}

/** The options every server endpoint takes, beside the session's. */
export interface ServerEndpointOptions extends EndpointSessionOptions {
  handshakeTimeout?: number;
  maxConcurrentHandshakes?: number;
  acceptPeer?: (peerId: Uint8Array, request: Request) => boolean | Promise<boolean>;
  onError?: (error: unknown, request: Request) => void;
  webSocket?: Partial<SocketBounds>;
}

/** Checks a server endpoint's options and `onSession` once. */
export function checkServerEndpoint(
  options: ServerEndpointOptions,
  onSession: ServerEndpoint["onSession"],
): ServerEndpoint {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const {
    handshakeTimeout,
    maxConcurrentHandshakes,
    acceptPeer,
    onError,
    webSocket,
    ...rest
  } = options;
  // The session's own options are checked by building a session from them: unknown names too.
  const sessionOptions = checkSessionOptions(rest);
  if (typeof onSession !== "function") throw new TypeError("onSession must be a function");
  return {
    sessionOptions,
    acceptPeer: checkFunction(acceptPeer, "acceptPeer"),
    onError: checkFunction(onError, "onError") ?? defaultOnError,
    onSession,
    handshakeTimeout: checkTimeout(handshakeTimeout, "handshakeTimeout"),
    maxConcurrentHandshakes: checkCount(
      maxConcurrentHandshakes,
      DEFAULT_MAX_CONCURRENT_HANDSHAKES,
      "maxConcurrentHandshakes",
    ),
    socket: checkSocketOptions(webSocket, sessionOptions),
  };
}

/**
 * Runs one connection of a server endpoint: the handshake within the
 * deadline (closing the transport on failure), `handshakeDone` once it has
 * settled either way, then the hand-over to `onSession`. Never rejects:
 * failures go to `onError`.
 */
export async function serveConnection(
  endpoint: ServerEndpoint,
  transport: SessionTransport,
  request: Request,
  handshakeDone: () => void,
): Promise<void> {
  const report = (error: unknown): void => {
    try {
      endpoint.onError(error, request);
    } catch {
      // onError itself failed: there is nobody left to tell.
    }
  };
  let session: SecureSession;
  try {
    const policy = peerPolicy(endpoint.sessionOptions, endpoint.acceptPeer, request, report);
    session = sessionOn(endpoint.sessionOptions, policy, transport);
    await handshakeWithin(session, () => session.accept(), endpoint.handshakeTimeout);
  } catch (err) {
    report(err);
    return;
  } finally {
    handshakeDone();
  }
  await handOver(session, request, endpoint.onSession, report);
}
