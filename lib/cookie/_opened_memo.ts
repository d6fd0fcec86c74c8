// Sealed values this transformer made or opened, with the text each opens to. Private.
//
// A sealed string that was authenticated once opens to the same text again under the same key
// and the same context, so a value seen again (the cookie a server set, coming back on the next
// request) skips its cipher call. Entries match only the exact string and the very binding
// (cookie name, purpose, key id) it was sealed under; the key's presence in the keyring is
// checked before the memo is. Bounded in entries and in characters: two generations of at most
// half of each bound; when the newer one fills, the older one is dropped whole (constant time,
// unlike evicting one entry at a time from a Map, whose iteration slows down as deleted entries
// pile up). Values longer than a cookie (4096 bytes) are not remembered.

type Entry = { binding: Uint8Array; text: string };

/** Characters (value and text) one generation holds at most: 2 MiB of UTF-16. */
const GENERATION_CHARS = 1024 * 1024;
/** The longest value remembered, in characters: one cookie's worth. */
const MAX_REMEMBERED = 4096;

/** A bounded map from sealed values to the text they open to under one binding. */
export class OpenedMemo {
  readonly #half: number;
  #newer = new Map<string, Entry>();
  #older = new Map<string, Entry>();
  #newerChars = 0;

  /** @param max The most values kept (at least 2). */
  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  /** The text `value` opened to under `binding`, if it is remembered. */
  get(value: string, binding: Uint8Array): string | undefined {
    const entry = this.#newer.get(value) ?? this.#older.get(value);
    return entry !== undefined && entry.binding === binding ? entry.text : undefined;
  }

  /** Remembers that `value`, authenticated under `binding`, opens to `text`. */
  remember(value: string, binding: Uint8Array, text: string): void {
    if (value.length > MAX_REMEMBERED) return;
    const chars = value.length + text.length;
    if (this.#newer.size >= this.#half || this.#newerChars + chars > GENERATION_CHARS) {
      this.#older = this.#newer;
      this.#newer = new Map();
      this.#newerChars = 0;
    }
    this.#newer.set(value, { binding, text });
    this.#newerChars += chars;
  }
}
