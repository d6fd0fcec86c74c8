/**
 * Events a {@linkcode SecureSession} dispatches.
 *
 * @module
 */

import type { TesseraError } from "../errors.ts";
import type { TicketDeclineReason, TicketReport } from "./profile.ts";

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
  readonly kind: TicketReport["kind"];
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
