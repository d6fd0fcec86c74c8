/**
 * Secure Session: the facade, the tessera/1 profile and the profile interface
 * a second protocol (the Themis-compatible one) plugs into.
 *
 * @example
 * ```ts
 * import { SecureSession, tessera1 } from "@tessera/session/session";
 * import assert from "node:assert/strict";
 *
 * assert.equal(typeof SecureSession, "function");
 * assert.equal(tessera1.name, "tessera/1");
 * ```
 *
 * @module
 */

export * from "./directory_lookup.ts";
export * from "./profile.ts";
export * from "./resumption.ts";
export * from "./secure_session.ts";
export * from "./session_events.ts";
export * from "./tessera1.ts";
