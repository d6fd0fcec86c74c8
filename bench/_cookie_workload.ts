// The session both cookie benchmarks seal: about 200 bytes of JSON, as a logged-in app keeps.

import type { TransformContext } from "../lib/cookie/transformer.ts";

/** A typical session: a user, roles, a CSRF token, a small cart and preferences. */
export const SESSION = {
  user: { id: 123456, name: "Ada Lovelace", email: "ada@example.com" },
  roles: ["admin", "editor"],
  csrf: "q8Zt3xK1vY7bN2mR5wP0",
  cart: [101, 202, 303],
  theme: "dark",
  locale: "en-GB",
  issuedAt: 1732300000,
};
/** {@linkcode SESSION} as JSON. */
export const JSON_SESSION: string = JSON.stringify(SESSION);
/** The cookie name and purpose the transformers bind. */
export const CONTEXT: TransformContext = { name: "__Host-session", purpose: "session" };
/** iron-session's password (iron needs at least 32 characters). */
export const PASSWORD = "complex_password_at_least_32_characters_long";

if (JSON_SESSION.length < 180 || JSON_SESSION.length > 220) {
  throw new Error(`session is ${JSON_SESSION.length} bytes, expected about 200`);
}
