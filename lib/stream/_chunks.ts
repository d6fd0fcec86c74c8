// Queues of byte chunks for secure streams: first in, first out, with the total byte count, and
// taking a number of bytes across chunk boundaries.

const EMPTY = new Uint8Array(0);

/** A FIFO of chunks that knows how many bytes it holds. */
export class ChunkQueue {
  #items: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;

  /** The bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a chunk (kept as it is: not copied). */
  push(chunk: Uint8Array): void {
    this.#items.push(chunk);
    this.#bytes += chunk.length;
  }

  /** Removes and returns the first chunk, or `undefined` when empty. */
  shift(): Uint8Array | undefined {
    if (this.#head === this.#items.length) return undefined;
    const chunk = this.#items[this.#head]!;
    this.#items[this.#head++] = EMPTY;
    this.#bytes -= chunk.length;
    this.#compact();
    return chunk;
  }

  /**
   * Removes the first `n` bytes (at most `bytes`) and returns them: the
   * first chunk itself or a view of it when it holds them all, else a copy.
   */
  take(n: number): Uint8Array {
    const head = this.#items[this.#head]!;
    let out: Uint8Array;
    if (head.length === n) {
      out = head;
      this.#items[this.#head++] = EMPTY;
    } else if (head.length > n) {
      out = head.subarray(0, n);
      this.#items[this.#head] = head.subarray(n);
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#items[this.#head]!;
        const count = Math.min(chunk.length, n - filled);
        out.set(count === chunk.length ? chunk : chunk.subarray(0, count), filled);
        filled += count;
        if (count === chunk.length) this.#items[this.#head++] = EMPTY;
        else this.#items[this.#head] = chunk.subarray(count);
      }
    }
    this.#bytes -= n;
    this.#compact();
    return out;
  }

  /** Drops everything. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Wakes everything waiting on it; waiters check their condition again. */
export class Signal {
  #waiters: (() => void)[] = [];

  /** Resolves at the next `notify()`. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves every pending `wait()`. */
  notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
