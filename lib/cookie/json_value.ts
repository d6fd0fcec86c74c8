/**
 * What a session can hold: JSON values, checked where they are set, so that
 * what `get()` returns is exactly what was set, in type and at run time.
 *
 * @module
 */

/**
 * A JSON value: what survives a round trip through a session unchanged.
 *
 * @example
 * ```ts
 * import type { JsonValue } from "@tessera/session/cookie";
 *
 * const cart: JsonValue = { items: [{ sku: "tea", qty: 2 }], coupon: null };
 * console.log(JSON.stringify(cart));
 * ```
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue | undefined };

/**
 * `T` where every part would survive JSON, and `never` where a part would
 * not (a `Date`, which would come back a string; a `Map`, a function, a
 * `bigint`, a typed array, a class instance's methods). Session data types
 * are checked against it, so `Session<{ when: Date }>` does not compile.
 *
 * @example
 * ```ts
 * import type { JsonSafe } from "@tessera/session/cookie";
 *
 * type Good = JsonSafe<{ user: string; roles: string[]; seen?: number }>; // unchanged
 * type Bad = JsonSafe<{ when: Date }>; // { when: never }: no value fits
 * const good: Good = { user: "ann", roles: ["admin"] };
 * const bad: Bad = { when: undefined as never };
 * console.log(good, bad);
 * ```
 */
export type JsonSafe<T> = T extends string | number | boolean | null | undefined ? T
  : T extends
    | ((...args: never[]) => unknown)
    | bigint
    | symbol
    | Date
    | RegExp
    | Map<unknown, unknown>
    | Set<unknown>
    | ArrayBufferView
    | ArrayBuffer
    | Promise<unknown> ? never
  : T extends (infer U)[] ? JsonSafe<U>[]
  : T extends readonly (infer U)[] ? readonly JsonSafe<U>[]
  : T extends object ? { [K in keyof T]: JsonSafe<T[K]> }
  : never;

/**
 * The constraint on a session's data type `T`: an object whose values are
 * all JSON ({@linkcode JsonSafe}). Interfaces and type aliases both fit.
 *
 * @example
 * ```ts
 * import { Session, type SessionData } from "@tessera/session/cookie";
 *
 * interface Cart {
 *   items: { sku: string; qty: number }[];
 *   coupon?: string;
 * }
 * const fits: SessionData<Cart> = { items: [{ sku: "tea", qty: 2 }] };
 * const session = new Session<Cart>(); // Session<{ when: Date }> would not compile
 * session.set("items", fits.items);
 * console.log(session.get("items")?.[0]?.qty); // 2
 * ```
 */
export type SessionData<T> = object & { [K in keyof T]: JsonSafe<T[K]> };
