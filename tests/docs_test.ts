import assert from "node:assert/strict";
import { root, symbols } from "./_deno_doc.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const entryPoints = Object.values(config.exports as Record<string, string>);

for (const entry of entryPoints) {
  Deno.test(`every export of ${entry} has a summary and a runnable example`, async () => {
    const missing: string[] = [];
    for (const symbol of await symbols(entry)) {
      const docs = symbol.declarations.map((d) => d.jsDoc ?? {});
      const summary = docs.some((d) => (d.doc ?? "").trim().length > 0);
      const example = docs.some((d) => (d.tags ?? []).some((t) => t.kind === "example"));
      if (!summary || !example) {
        missing.push(
          `${symbol.name}${summary ? "" : " (no summary)"}${example ? "" : " (no example)"}`,
        );
      }
    }
    assert.deepEqual(missing, [], `undocumented exports of ${entry}`);
  });
}

/** The README and the examples: where an application learns the API. */
async function usage(): Promise<string> {
  let text = await Deno.readTextFile(new URL("README.md", root));
  for await (const entry of Deno.readDir(new URL("examples/", root))) {
    if (entry.name.endsWith(".ts")) {
      text += await Deno.readTextFile(new URL(`examples/${entry.name}`, root));
    }
  }
  return text;
}

for (const entry of entryPoints) {
  Deno.test(`every function, class and constant of ${entry} is used in the README or an example`, async () => {
    const text = await usage();
    const unused: string[] = [];
    for (const symbol of await symbols(entry)) {
      const kinds = symbol.declarations.map((d) => d.kind);
      // Types are exempt: options and results are named where their functions are used.
      if (kinds.every((kind) => kind === "interface" || kind === "typeAlias")) continue;
      if (!new RegExp(`\\b${symbol.name}\\b`).test(text)) unused.push(symbol.name);
    }
    // Something exported that no application needs is a sign that it should not be public.
    assert.deepEqual(unused, [], `exports of ${entry} that the README and examples never use`);
  });
}
