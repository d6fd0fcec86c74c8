/**
 * The receive-side sequence window: every sequence number is accepted at most
 * once; numbers up to {@linkcode REPLAY_WINDOW_SIZE} − 1 behind the highest
 * accepted one may still arrive (datagram reordering); older ones are refused.
 *
 * @module
 */

import { RecordError } from "../errors.ts";

/**
 * How many sequence numbers the window tracks (the highest included).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import { REPLAY_WINDOW_SIZE } from "./replay_window.ts";
 * import { directoryLookup } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const { privateKey, publicKey } = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ c: publicKey, s: publicKey });
 * const client = new SecureSession({ id: "c", privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "s", privateKey, getPublicKeyForId });
 * const reply = await server.negotiate(await client.connectRequest());
 * await server.negotiate((await client.negotiate(reply!))!);
 * const records: Uint8Array[] = [];
 * for (let i = 0; i <= REPLAY_WINDOW_SIZE; i++) {
 *   records.push(await client.wrap(new Uint8Array([i])));
 * }
 * await server.unwrap(records[REPLAY_WINDOW_SIZE]!); // the newest first
 * assert.ok(await server.unwrap(records[1]!)); // REPLAY_WINDOW_SIZE - 1 behind: accepted
 * await assert.rejects(server.unwrap(records[0]!), { code: "record_too_old" });
 * ```
 */
export const REPLAY_WINDOW_SIZE: number = 128;
const SIZE = BigInt(REPLAY_WINDOW_SIZE);
const MASK = (1n << SIZE) - 1n;

/**
 * Tracks accepted sequence numbers. `check` is a cheap pre-test before
 * decryption; `accept` re-checks and marks atomically after authentication,
 * so two concurrent openings of the same record cannot both succeed.
 */
export class ReplayWindow {
  /** The highest accepted sequence number, or -1n when none. */
  #highest = -1n;
  /** Bit i set: sequence number (highest - i) was accepted. */
  #bits = 0n;

  /**
   * Restores a window from {@linkcode ReplayWindow.state}.
   *
   * @param highest The highest accepted sequence number, or -1n.
   * @param bits The acceptance bitmap.
   * @returns The window.
   */
  static from(highest: bigint, bits: bigint): ReplayWindow {
    const w = new ReplayWindow();
    w.#highest = highest;
    w.#bits = bits & MASK;
    return w;
  }

  /** The state to save: highest accepted number and bitmap. */
  get state(): { highest: bigint; bits: bigint } {
    return { highest: this.#highest, bits: this.#bits };
  }

  /**
   * Throws the `RecordError` that accepting `seq` would throw, without marking it.
   *
   * @param seq The sequence number.
   * @param ordered Whether only `highest + 1` is acceptable (stream transports).
   * @throws {RecordError} `record_replayed`, `record_too_old` or `record_out_of_order`.
   */
  check(seq: bigint, ordered: boolean): void {
    if (ordered) {
      if (seq === this.#highest + 1n) return;
      if (seq <= this.#highest) {
        throw new RecordError("record_replayed", "sequence number already seen on a stream");
      }
      throw new RecordError("record_out_of_order", "stream record arrived out of order");
    }
    if (seq > this.#highest) return;
    const back = this.#highest - seq;
    if (back >= SIZE) throw new RecordError("record_too_old", "record is older than the window");
    if ((this.#bits >> back) & 1n) {
      throw new RecordError("record_replayed", "sequence number already accepted");
    }
  }

  /**
   * Checks and marks `seq` as accepted.
   *
   * @param seq The sequence number.
   * @param ordered Whether only `highest + 1` is acceptable.
   * @throws {RecordError} As {@linkcode ReplayWindow.check}.
   */
  accept(seq: bigint, ordered: boolean): void {
    this.check(seq, ordered);
    if (seq > this.#highest) {
      const shift = seq - this.#highest;
      this.#bits = shift >= SIZE ? 1n : ((this.#bits << shift) | 1n) & MASK;
      this.#highest = seq;
    } else {
      this.#bits |= 1n << (this.#highest - seq);
    }
  }
}
