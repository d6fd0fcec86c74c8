/**
 * The run-time half of {@linkcode JsonSafe}: values are checked where they
 * enter a session, so that what comes out is what went in.
 *
 * @module
 */

/** How deep a session value may nest. */
const MAX_DEPTH = 64;

/**
 * Serializes a value that must survive JSON unchanged, or throws a
 * `TypeError` naming where it does not: a `Date` (it would come back a
 * string), `NaN` or an infinity (`null`), a `Map`, `Set`, typed array or
 * class instance (`{}`), a function or symbol (dropped), a `bigint`, a cycle,
 * an `undefined` array element (`null`), or nesting deeper than 64.
 * `undefined` object properties are left out, as an optional property.
 *
 * @param value The value.
 * @param what What it is, for the message (e.g. `session value "cart"`).
 * @returns The JSON text, or `undefined` for `undefined`.
 * @throws {TypeError} When the value would not survive a round trip.
 */
export function toJson(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  check(value, what, "", 0, new Set());
  return JSON.stringify(value);
}

function check(value: unknown, what: string, path: string, depth: number, seen: Set<object>) {
  const fail = (problem: string): never => {
    throw new TypeError(`${what}${path === "" ? "" : ` at ${path}`} ${problem}`);
  };
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) fail(`is ${value}, which JSON turns into null`);
      return;
    case "object":
      break;
    case "undefined":
      return fail("is undefined in an array, which JSON turns into null");
    default:
      return fail(`is a ${typeof value}, which JSON cannot hold`);
  }
  if (value === null) return;
  if (depth >= MAX_DEPTH) fail(`nests deeper than ${MAX_DEPTH} levels`);
  if (seen.has(value)) fail("is a cycle");
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) check(value[i], what, `${path}[${i}]`, depth + 1, seen);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as object).constructor?.name ?? "an object with a prototype";
      const hint = value instanceof Date ? " (store date.toISOString() or date.getTime())" : "";
      fail(`is a ${name}, which would not come back as one${hint}`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) fail("has symbol keys");
    for (const [key, inner] of Object.entries(value)) {
      if (inner === undefined) continue;
      check(inner, what, `${path}.${key}`, depth + 1, seen);
    }
  }
  seen.delete(value);
}
