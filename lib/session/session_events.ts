/**
 * Events a {@linkcode SecureSession} dispatches.
 *
 * @module
 */

import type { TesseraError } from "../errors.ts";
import type { TicketDeclineReason, TicketReport } from "./profile.ts";

/**
 * What happened to a ticket: `resumed`, `declined` (see the reason), `issued`,
 * `issue_failed` or `revoke_failed`.
 *
 * @example
 * ```ts
 * import type { TicketEventKind } from "@tessera/session";
 *
 * const kind: TicketEventKind = "resumed";
 * console.log(kind);
 * ```
 */
export type TicketEventKind =
  | "resumed"
  | "declined"
  | "issued"
  | "issue_failed"
  | "revoke_failed";

/**
 * The life cycle of a session: `idle` → `negotiating` → `established` → `closed`.
 * A failed handshake or a broken transport also ends in `closed`, after an
 * `error` event.
 *
 * @example
 * ```ts
 * import {
 *   generateIdentityKeyPair,
 *   SecureSession,
 *   type SessionState,
 *   SessionStateEvent,
 * } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * const seen: SessionState[] = [session.state];
 * session.addEventListener("statechange", (e) => seen.push((e as SessionStateEvent).state));
 * await session.connectRequest();
 * await session.close();
 * assert.deepEqual(seen, ["idle", "negotiating", "closed"]);
 * ```
 */
export type SessionState = "idle" | "negotiating" | "established" | "closed";

/**
 * Dispatched as `"statechange"` on every state transition.
 *
 * @example
 * ```ts
 * import { SessionStateEvent } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const e = new SessionStateEvent("negotiating", "established");
 * assert.equal(e.type, "statechange");
 * assert.equal(e.state, "established");
 * ```
 */
export class SessionStateEvent extends Event {
  /** The state before the transition. */
  readonly previous: SessionState;
  /** The new state. */
  readonly state: SessionState;

  /**
   * Creates the event.
   *
   * @param previous The state before.
   * @param state The state after.
   */
  constructor(previous: SessionState, state: SessionState) {
    super("statechange");
    this.previous = previous;
    this.state = state;
  }
}

/**
 * Dispatched as `"error"` when the session fails for good (handshake failure,
 * transport failure). Refused records do not fail the session and do not
 * dispatch it: their promise rejects instead.
 *
 * @example
 * ```ts
 * import { SessionErrorEvent } from "@tessera/session";
 * import { HandshakeError } from "@tessera/session/errors";
 * import assert from "node:assert/strict";
 *
 * const e = new SessionErrorEvent(new HandshakeError("handshake_unknown_peer", "unknown"));
 * assert.equal(e.error.code, "handshake_unknown_peer");
 * ```
 */
export class SessionErrorEvent extends Event {
  /** The failure. */
  readonly error: TesseraError;

  /**
   * Creates the event.
   *
   * @param error The failure.
   */
  constructor(error: TesseraError) {
    super("error");
    this.error = error;
  }
}

/**
 * Dispatched as `"ticket"` when tickets were used, declined, issued or could
 * not be kept (docs/protocol.md §3.5). A server operator watches `declined`
 * with reason `reused` (a copied ticket secret: its family was revoked) and
 * `issue_failed` (the store failed).
 *
 * @example
 * ```ts
 * import { TicketEvent } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const e = new TicketEvent({ kind: "declined", reason: "expired", count: 0 });
 * assert.equal(e.type, "ticket");
 * assert.equal(e.reason, "expired");
 * ```
 */
export class TicketEvent extends Event {
  /** `resumed`, `declined`, `issued`, `issue_failed` or `revoke_failed`. */
  readonly kind: TicketEventKind;
  /** Why, for `declined` and `issue_failed`; else `null`. */
  readonly reason: TicketDeclineReason | null;
  /** How many tickets were issued or kept, for `issued`. */
  readonly count: number;

  /**
   * Creates the event.
   *
   * @param report What happened.
   */
  constructor(report: TicketReport) {
    super("ticket");
    this.kind = report.kind;
    this.reason = report.reason;
    this.count = report.count;
  }
}

/**
 * Dispatched once as `"handshake"` when a handshake completes: how long it
 * took on this side (from the first handshake call to established), whether
 * it resumed a ticket, this side's role and the authenticated peer.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const a = await generateIdentityKeyPair();
 * const b = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
 * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId });
 * let done: { ms: number; resumed: boolean; role: string } | undefined;
 * server.addEventListener("handshake", (e) => {
 *   done = { ms: e.durationMs, resumed: e.resumed, role: e.role };
 * });
 * const finished = await client.negotiate((await server.negotiate(await client.connectRequest()))!);
 * await server.negotiate(finished!);
 * assert.equal(done?.resumed, false);
 * assert.equal(done?.role, "server");
 * assert.ok(done!.ms >= 0);
 * ```
 */
export class HandshakeEvent extends Event {
  /** Milliseconds from this side's first handshake call to established. */
  readonly durationMs: number;
  /** Whether a ticket was resumed (no signatures). */
  readonly resumed: boolean;
  /** This side's role. */
  readonly role: "client" | "server";
  /** The authenticated peer id. */
  readonly peerId: Uint8Array;

  /**
   * Creates the event.
   *
   * @param durationMs How long the handshake took on this side.
   * @param resumed Whether it resumed a ticket.
   * @param role This side's role.
   * @param peerId The authenticated peer id.
   */
  constructor(
    durationMs: number,
    resumed: boolean,
    role: "client" | "server",
    peerId: Uint8Array,
  ) {
    super("handshake");
    this.durationMs = durationMs;
    this.resumed = resumed;
    this.role = role;
    this.peerId = peerId;
  }
}

/**
 * Dispatched as `"keyupdate"` when a direction moves to a new key epoch:
 * `send` when this side's records start using fresh keys (`rekey()`, the
 * automatic update before the AES-GCM limits, or the peer's request),
 * `receive` when the peer's first record under its new keys is accepted.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const a = await generateIdentityKeyPair();
 * const b = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ a: a.publicKey, b: b.publicKey });
 * const client = new SecureSession({ id: "a", privateKey: a.privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "b", privateKey: b.privateKey, getPublicKeyForId });
 * await server.negotiate((await client.negotiate((await server.negotiate(await client.connectRequest()))!))!);
 * const updates: string[] = [];
 * client.addEventListener("keyupdate", (e) => updates.push(`client ${e.direction} ${e.epoch}`));
 * server.addEventListener("keyupdate", (e) => updates.push(`server ${e.direction} ${e.epoch}`));
 * client.rekey();
 * await server.unwrap(await client.wrap(new Uint8Array([1])));
 * assert.deepEqual(updates, ["client send 1", "server receive 1"]);
 * ```
 */
export class KeyUpdateEvent extends Event {
  /** Which direction got fresh keys. */
  readonly direction: "send" | "receive";
  /** The new epoch (0 is the first). */
  readonly epoch: number;

  /**
   * Creates the event.
   *
   * @param direction Which direction got fresh keys.
   * @param epoch The new epoch.
   */
  constructor(direction: "send" | "receive", epoch: number) {
    super("keyupdate");
    this.direction = direction;
    this.epoch = epoch;
  }
}

/**
 * Dispatched once as `"close"` when the session ends, after the
 * `statechange` to `closed`: `clean` when it was closed by `close()` or by
 * the peer's authenticated close, not when it failed (then `error` is the
 * failure, also given by the `error` event before it) or was saved.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * const ends: string[] = [];
 * session.addEventListener("close", (e) => ends.push(e.clean ? "clean" : e.error!.code));
 * await session.close();
 * assert.deepEqual(ends, ["clean"]);
 * ```
 */
export class SessionCloseEvent extends Event {
  /** `true` for `close()` or the peer's authenticated close. */
  readonly clean: boolean;
  /** The failure that ended the session, or `null`. */
  readonly error: TesseraError | null;

  /**
   * Creates the event.
   *
   * @param error The failure that ended the session, or `null` for a clean close.
   */
  constructor(error: TesseraError | null) {
    super("close");
    this.clean = error === null;
    this.error = error;
  }
}

/**
 * Traffic counters of a session ({@linkcode SecureSession.stats}): application
 * records and their plaintext bytes, each way, and key updates. Handshake
 * messages, close records and refused records are not counted.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession, type SessionStats } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = await generateIdentityKeyPair();
 * const session = new SecureSession({ id: "me", privateKey, getPublicKeyForId: () => null });
 * const stats: SessionStats = session.stats;
 * assert.deepEqual(stats, {
 *   recordsSent: 0,
 *   recordsReceived: 0,
 *   bytesSent: 0,
 *   bytesReceived: 0,
 *   keyUpdates: 0,
 * });
 * ```
 */
export interface SessionStats {
  /** Application records sealed. */
  readonly recordsSent: number;
  /** Application records accepted. */
  readonly recordsReceived: number;
  /** Plaintext bytes sealed. */
  readonly bytesSent: number;
  /** Plaintext bytes accepted. */
  readonly bytesReceived: number;
  /** Key epochs entered, both directions. */
  readonly keyUpdates: number;
}
