// Sealed values this transformer made or opened, with the text each opens to. Private.
//
// A sealed string that was authenticated once opens to the same text again under the same key
// and the same context, so a value seen again (the cookie a server set, coming back on the next
// request) skips its cipher call. Entries match only the exact string and the very binding
// (cookie name, purpose, key id) it was sealed under; the key's presence in the keyring is
// checked before the memo is. Bounded, oldest out first.

/** A bounded map from sealed values to the text they open to under one binding. */
export class OpenedMemo {
  readonly #max: number;
  readonly #entries = new Map<string, { binding: Uint8Array; text: string }>();

  /** @param max The most values kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The text `value` opened to under `binding`, if it is remembered. */
  get(value: string, binding: Uint8Array): string | undefined {
    const entry = this.#entries.get(value);
    return entry !== undefined && entry.binding === binding ? entry.text : undefined;
  }

  /** Remembers that `value`, authenticated under `binding`, opens to `text`. */
  remember(value: string, binding: Uint8Array, text: string): void {
    if (this.#entries.size >= this.#max && !this.#entries.has(value)) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(value, { binding, text });
  }
}
