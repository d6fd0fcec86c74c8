/**
 * Lifetimes in options are whole seconds, as the `Max-Age` attribute,
 * iron-session's `ttl` and Hono's cookie options count them.
 *
 * @module
 */

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis §5.5); so do we. */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 60 * 60;

/**
 * Checks a lifetime option given in seconds and returns it in milliseconds.
 *
 * @param name The option's name, for the message.
 * @param value What the caller passed (`undefined` takes `fallback`).
 * @param fallback The default, in seconds.
 * @param min The smallest allowed value, in seconds.
 * @param max The largest allowed value, in seconds.
 * @returns The value in milliseconds.
 * @throws {RangeError} When the value is not an integer from `min` to `max`;
 *   the message names the unit, the range and the value, and asks whether
 *   milliseconds were meant when the value would fit as milliseconds.
 */
export function secondsOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  const seconds = value ?? fallback;
  if (
    typeof seconds !== "number" || !Number.isSafeInteger(seconds) || seconds < min || seconds > max
  ) {
    const shown = typeof seconds === "number" ? String(seconds) : typeof seconds;
    const ms = typeof seconds === "number" && seconds > max && seconds / 1000 <= max;
    throw new RangeError(
      `${name} is in seconds: an integer from ${min} to ${max}, not ${shown}` +
        (ms ? ` (milliseconds? ${seconds} ms is ${seconds / 1000} s)` : ""),
    );
  }
  return seconds * 1000;
}
