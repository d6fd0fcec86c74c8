// Counts the Web Crypto operations a piece of code leaves running. Test helper.

const METHODS = [
  "encrypt",
  "decrypt",
  "sign",
  "verify",
  "digest",
  "generateKey",
  "deriveKey",
  "deriveBits",
  "importKey",
  "exportKey",
] as const;

/**
 * Runs `body` with every `crypto.subtle` operation counted and slowed down: each settles a
 * timer tick after the engine is done, so an operation nobody awaits is still running when the
 * code that started it moves on. `pending()` names the operations started and not yet settled.
 */
export async function watchingCrypto(
  body: (pending: () => string[]) => Promise<void>,
): Promise<void> {
  const subtle = crypto.subtle as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const running = new Map<number, string>();
  let next = 0;
  const later = () => new Promise((resolve) => setTimeout(resolve, 1));
  for (const name of METHODS) {
    const original = subtle[name]!;
    subtle[name] = async (...args: unknown[]) => {
      const n = next++;
      running.set(n, name);
      try {
        return await original.apply(crypto.subtle, args);
      } finally {
        await later();
        running.delete(n);
      }
    };
  }
  try {
    await body(() => [...running.values()]);
  } finally {
    for (const name of METHODS) delete subtle[name];
  }
}
