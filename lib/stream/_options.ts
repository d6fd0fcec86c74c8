// Option checks shared by the secure stream helpers: each throws TypeError for a wrong type or an
// unknown key (naming it), RangeError for a value out of range.

import { SecureSession, type SecureSessionOptions } from "../session/secure_session.ts";

/**
 * The handshake deadline of a secure stream or server unless told otherwise: 10 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_HANDSHAKE_TIMEOUT } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_HANDSHAKE_TIMEOUT, 10_000);
 * ```
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * How many bytes a secure stream buffers in each direction unless told
 * otherwise: 2 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_STREAM_BUFFER_SIZE } from "@tessera/session/stream";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_STREAM_BUFFER_SIZE, 2 * 1024 * 1024);
 * ```
 */
export const DEFAULT_STREAM_BUFFER_SIZE = 2 * 1024 * 1024;

/** Throws a TypeError naming the first key of `options` that is not in `allowed`. */
export function checkKeys(options: unknown, allowed: readonly string[], where: string): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new TypeError(`${where}: unknown option "${key}"`);
  }
}

/** An integer option within [min, max], or its default. */
export function integerOption(
  value: unknown,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number`);
  }
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The largest delay `setTimeout` takes. */
export const MAX_TIMEOUT = 2 ** 31 - 1;

/** A function option, or undefined. */
export function functionOption<F>(value: unknown, name: string): F | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${name} must be a function`);
  }
  return value as F | undefined;
}

/** An AbortSignal option, or undefined. */
export function signalOption(value: unknown, name = "signal"): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(`${name} must be an AbortSignal`);
  }
  return value;
}

/**
 * The session options of a stream, checked by building (and dropping) a
 * session from them: the constructor checks every field, and starts nothing.
 */
export function sessionOption(
  value: unknown,
  where: string,
): Omit<SecureSessionOptions, "transport"> {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`${where}: session must be an object of SecureSession options`);
  }
  if ((value as SecureSessionOptions).transport !== undefined) {
    throw new TypeError(`${where}: session.transport is the stream's own; leave it out`);
  }
  new SecureSession(value as SecureSessionOptions);
  return { ...(value as SecureSessionOptions) };
}

/** Checked stream options. */
export interface StreamConfig {
  session: Omit<SecureSessionOptions, "transport">;
  handshakeTimeout: number;
  signal: AbortSignal | undefined;
  bufferSize: number;
}

/** Checks the options of a secure stream (and the fields servers and clients share). */
export function checkStreamOptions(
  options: {
    session?: unknown;
    handshakeTimeout?: unknown;
    signal?: unknown;
    bufferSize?: unknown;
  },
  where: string,
): StreamConfig {
  return {
    session: sessionOption(options.session, where),
    handshakeTimeout: integerOption(
      options.handshakeTimeout,
      "handshakeTimeout",
      1,
      MAX_TIMEOUT,
      DEFAULT_HANDSHAKE_TIMEOUT,
    ),
    signal: signalOption(options.signal),
    bufferSize: integerOption(
      options.bufferSize,
      "bufferSize",
      64 * 1024,
      2 ** 30,
      DEFAULT_STREAM_BUFFER_SIZE,
    ),
  };
}
