/**
 * Transports for the callback API of `SecureSession`.
 *
 * @example
 * ```ts
 * import { memoryTransportPair } from "@tessera/session/transport";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = memoryTransportPair();
 * await a.send(new Uint8Array([7]));
 * assert.deepEqual(await b.receive(), new Uint8Array([7]));
 * ```
 *
 * @module
 */

export * from "./memory.ts";
export * from "./framed_stream.ts";
export * from "./websocket.ts";
export * from "./secure_websocket_handler.ts";
export * from "./connect_websocket.ts";
export * from "./bun_websocket_sessions.ts";
