/**
 * Option checks shared by the factories: unknown keys are refused, naming the
 * nearest known key, so a misspelt or misplaced option never passes silently.
 *
 * @module
 */

/**
 * Throws a `TypeError` for the first own key of `options` that is not in
 * `known`, naming the nearest known key when one is close.
 *
 * @param options The options object the caller passed.
 * @param known Every key the factory reads.
 * @param what The factory, for the message (e.g. `"sessions()"`).
 * @param hints Keys other libraries use, mapped to ours (e.g. `ttl` to `maxAge`).
 * @throws {TypeError} For an unknown key.
 */
export function checkKnownKeys(
  options: object,
  known: readonly string[],
  what: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = Object.hasOwn(hints, key) ? hints[key]! : nearest(key, known);
    throw new TypeError(
      `${what} has no option "${key}"` + (near === null ? "" : ` (did you mean "${near}"?)`),
    );
  }
}

/** The known key closest to `key` (case-insensitive edit distance), if close enough. */
function nearest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  const lower = key.toLowerCase();
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    const d = c.includes(lower) || lower.includes(c) ? 1 : distance(lower, c);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

/** Levenshtein distance, bounded inputs (option names). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
