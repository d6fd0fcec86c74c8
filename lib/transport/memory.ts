/**
 * An in-memory, in-order message transport pair: what one side sends, the
 * other receives. For tests, demos and same-process peers.
 *
 * @module
 */

import type { SessionTransport } from "../session/secure_session.ts";

/**
 * One end of a {@linkcode memoryTransportPair}.
 *
 * @example
 * ```ts
 * import { memoryTransportPair, type MemoryTransport } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const [a, b]: [MemoryTransport, MemoryTransport] = memoryTransportPair();
 * const pending = b.receive();
 * a.close();
 * assert.equal(await pending, null);
 * assert.equal(await b.receive(), null);
 * ```
 */
export interface MemoryTransport extends SessionTransport {
  /** Ends this direction: the peer's pending and later `receive()` calls resolve to `null`. */
  close(): void;
}

class Queue {
  #items: Uint8Array[] = [];
  #waiters: ((m: Uint8Array | null) => void)[] = [];
  #closed = false;

  push(message: Uint8Array): void {
    if (this.#closed) throw new Error("transport closed");
    const copy = message.slice();
    const waiter = this.#waiters.shift();
    if (waiter) waiter(copy);
    else this.#items.push(copy);
  }

  pop(): Promise<Uint8Array | null> {
    const item = this.#items.shift();
    if (item) return Promise.resolve(item);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}

/**
 * Creates two connected in-memory transports. Messages are copied on send,
 * delivered in order, one `receive()` per `send()`.
 *
 * @returns `[a, b]`: what `a` sends, `b` receives, and the other way round.
 *
 * @example
 * ```ts
 * import { memoryTransportPair } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = memoryTransportPair();
 * a.send(new Uint8Array([1]));
 * assert.deepEqual(await b.receive(), new Uint8Array([1]));
 * a.close();
 * assert.equal(await b.receive(), null);
 * ```
 */
export function memoryTransportPair(): [MemoryTransport, MemoryTransport] {
  const ab = new Queue();
  const ba = new Queue();
  return [
    { send: (m) => ab.push(m), receive: () => ba.pop(), close: () => ab.close() },
    { send: (m) => ba.push(m), receive: () => ab.pop(), close: () => ba.close() },
  ];
}
