// Loads a Wycheproof JSON file stored beside this module. A missing or malformed file throws,
// so the test that asked for it fails loudly instead of testing nothing.

/** The outcome Wycheproof expects of one test case. */
export type WycheproofResult = "valid" | "invalid" | "acceptable";

/** Fields every Wycheproof test case has. */
export interface WycheproofCase {
  tcId: number;
  comment: string;
  flags: string[];
  result: WycheproofResult;
}

/** A group of test cases sharing parameters (key, sizes, ...). */
export type WycheproofGroup<G, T> = G & { type: string; tests: (T & WycheproofCase)[] };

/** One Wycheproof file. */
export interface WycheproofFile<G, T> {
  algorithm: string;
  numberOfTests: number;
  testGroups: WycheproofGroup<G, T>[];
}

/**
 * Reads and checks `name` from this directory: `testGroups[].tests[]` must be present, every
 * case must have a known `result`, and the case count must equal `numberOfTests`.
 */
export async function loadWycheproof<G = Record<string, unknown>, T = Record<string, unknown>>(
  name: string,
): Promise<WycheproofFile<G, T>> {
  const url = new URL(`./${name}`, import.meta.url);
  let text: string;
  try {
    text = await Deno.readTextFile(url);
  } catch (cause) {
    throw new Error(`Wycheproof vector file ${name} is missing from tests/vectors/wycheproof`, {
      cause,
    });
  }
  const file = JSON.parse(text) as WycheproofFile<G, T>;
  if (!Array.isArray(file.testGroups) || typeof file.numberOfTests !== "number") {
    throw new Error(`Wycheproof vector file ${name} has no testGroups`);
  }
  let count = 0;
  for (const group of file.testGroups) {
    if (!Array.isArray(group.tests)) throw new Error(`${name}: a group has no tests`);
    for (const test of group.tests) {
      if (!["valid", "invalid", "acceptable"].includes(test.result)) {
        throw new Error(`${name}: tcId ${test.tcId} has an unknown result`);
      }
      count++;
    }
  }
  if (count !== file.numberOfTests || count === 0) {
    throw new Error(`${name}: holds ${count} tests, header says ${file.numberOfTests}`);
  }
  return file;
}

/** Every case of a file with its group, in file order. */
export function* cases<G, T>(
  file: WycheproofFile<G, T>,
): Generator<[WycheproofGroup<G, T>, T & WycheproofCase]> {
  for (const group of file.testGroups) for (const test of group.tests) yield [group, test];
}
