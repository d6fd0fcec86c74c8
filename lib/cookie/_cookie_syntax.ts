// Cookie syntax (RFC 6265 §4.1.1) and a strict, bounded Cookie header parser.
// Private: not part of the public API.

/** RFC 7230 `token`: the only characters allowed in a cookie or header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6265 `cookie-octet`: printable ASCII except space, `"`, `,`, `;` and `\`. */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** An attribute value (Path, Domain): printable ASCII except `;`. */
const ATTRIBUTE_VALUE = /^[\x20-\x3A\x3C-\x7E]*$/;
/** A host name for the Domain attribute: labels of letters, digits and hyphens. */
const DOMAIN =
  /^\.?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The longest Cookie header the parser looks at; anything after it is ignored. */
export const MAX_COOKIE_HEADER = 32 * 1024;
/** The most cookie pairs the parser looks at. */
export const MAX_COOKIE_PAIRS = 256;

/** Whether `name` is a valid cookie or header name (an RFC 7230 token). */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/** Whether `value` consists of RFC 6265 cookie-octets only. */
export function isCookieValue(value: string): boolean {
  return COOKIE_OCTETS.test(value);
}

/** Whether `value` may appear as a Path attribute value. */
export function isAttributeValue(value: string): boolean {
  return ATTRIBUTE_VALUE.test(value);
}

/** Whether `value` may appear as a Domain attribute value. */
export function isDomain(value: string): boolean {
  return value.length <= 253 && DOMAIN.test(value);
}

/**
 * Parses a Cookie request header. Pairs with an invalid name or value are
 * skipped, the first occurrence of a name wins (browsers send the cookie with
 * the most specific path first), and input beyond {@linkcode MAX_COOKIE_HEADER}
 * characters (including the pair the bound cuts) or {@linkcode MAX_COOKIE_PAIRS}
 * pairs is ignored. Never throws.
 */
export function parseCookieHeader(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  let text = header;
  if (text.length > MAX_COOKIE_HEADER) {
    // Drop the pair cut by the bound: a truncated value must not pass for a whole one.
    text = text.slice(0, MAX_COOKIE_HEADER);
    text = text.slice(0, Math.max(0, text.lastIndexOf(";")));
  }
  let pairs = 0;
  for (const part of text.split(";")) {
    if (++pairs > MAX_COOKIE_PAIRS) break;
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (!isToken(name) || !isCookieValue(value) || cookies.has(name)) continue;
    cookies.set(name, value);
  }
  return cookies;
}

/** Attributes of a Set-Cookie header, already validated by the caller. */
export interface CookieAttributes {
  readonly path: string;
  readonly domain: string | undefined;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: "Strict" | "Lax" | "None";
  readonly partitioned: boolean;
}

/**
 * Serializes one Set-Cookie header value. `maxAge` in whole seconds; `0`
 * deletes the cookie, `undefined` makes it a browser-session cookie.
 */
export function serializeCookie(
  name: string,
  value: string,
  attributes: CookieAttributes,
  maxAge: number | undefined,
): string {
  let out = `${name}=${value}`;
  if (maxAge !== undefined) {
    out += `; Max-Age=${maxAge}`;
    if (maxAge === 0) out += "; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
  }
  if (attributes.domain !== undefined) out += `; Domain=${attributes.domain}`;
  out += `; Path=${attributes.path}`;
  if (attributes.secure) out += "; Secure";
  if (attributes.httpOnly) out += "; HttpOnly";
  out += `; SameSite=${attributes.sameSite}`;
  if (attributes.partitioned) out += "; Partitioned";
  return out;
}
