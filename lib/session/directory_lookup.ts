/**
 * An exact-byte {@linkcode PublicKeyLookup} over a fixed directory of ids.
 *
 * @module
 */

import { toHex, utf8 } from "../crypto/_bytes.ts";
import { type PublicKeyInput, toVerifyKey } from "../crypto/identity.ts";
import type { PublicKeyLookup } from "./profile.ts";

/**
 * Builds a {@linkcode PublicKeyLookup} from a directory of ids and keys.
 *
 * The peer's id reaches `getPublicKeyForId` before the peer is authenticated,
 * as untrusted bytes. This lookup compares them exactly: a directory name
 * stands for its UTF-8 bytes and nothing else, so an id with a byte-order
 * mark, an invalid UTF-8 sequence or any other variant of a registered name
 * is unknown (a lookup that decodes ids with a lenient `TextDecoder` maps
 * `EF BB BF` + "alice" to "alice"). Every id costs one `Map` lookup of its
 * hex encoding, known or not; keys given as bytes or JWK are imported once,
 * on first use. A lookup that returns one key for every id
 * lets the peer choose its id: never write `() => publicKey`.
 *
 * @param entries Ids (strings as UTF-8, or bytes with a `Map`) and their public keys.
 * @returns The lookup: the key of an id listed exactly, else `null`.
 * @throws {TypeError} When `entries` is not an object or a `Map`.
 *
 * @example
 * ```ts
 * import { directoryLookup, generateIdentityKeyPair, SecureSession } from "@tessera/session";
 * import assert from "node:assert/strict";
 *
 * const alice = await generateIdentityKeyPair();
 * const bob = await generateIdentityKeyPair();
 * const getPublicKeyForId = directoryLookup({ alice: alice.publicKey, bob: bob.publicKey });
 * const id = (s: string) => new TextEncoder().encode(s);
 * assert.equal(await getPublicKeyForId(id("alice")), alice.publicKey);
 * assert.equal(await getPublicKeyForId(id("\uFEFFalice")), null); // a BOM is another id
 * assert.equal(await getPublicKeyForId(new Uint8Array([0xff])), null);
 *
 * const client = new SecureSession({ id: "alice", privateKey: alice.privateKey, getPublicKeyForId });
 * const server = new SecureSession({ id: "bob", privateKey: bob.privateKey, getPublicKeyForId });
 * await server.negotiate((await client.negotiate((await server.negotiate(await client.connectRequest()))!))!);
 * assert.deepEqual(server.peerId, id("alice"));
 * ```
 */
export function directoryLookup(
  entries:
    | Readonly<Record<string, PublicKeyInput>>
    | ReadonlyMap<string | Uint8Array, PublicKeyInput>,
): PublicKeyLookup {
  if (typeof entries !== "object" || entries === null) {
    throw new TypeError("entries must be an object or a Map");
  }
  const table = new Map<string, PublicKeyInput | Promise<CryptoKey>>();
  const pairs = entries instanceof Map
    ? [...entries.entries()]
    : Object.entries(entries as Record<string, PublicKeyInput>);
  for (const [id, key] of pairs) {
    table.set(toHex(typeof id === "string" ? utf8(id) : id), key);
  }
  return (id) => {
    const name = toHex(id);
    const found = table.get(name);
    if (found === undefined) return null;
    if (found instanceof CryptoKey || found instanceof Promise) return found;
    // Bytes or a JWK are imported once, on first use, and kept as a key.
    const imported = toVerifyKey(found);
    table.set(name, imported);
    imported.catch(() => table.set(name, found));
    return imported;
  };
}
