// The symbols an entry point exports, as `deno doc --json` lists them (for the documentation and
// public-surface tests).

import assert from "node:assert/strict";

/** The repository root. */
export const root: URL = new URL("../", import.meta.url);

/** One exported symbol: its name and its declarations with their JSDoc. */
export interface DocSymbol {
  name: string;
  declarations: { kind: string; jsDoc?: { doc?: string; tags?: { kind: string }[] } }[];
}

/** The symbols `entry` (a path relative to the root) exports. */
export async function symbols(entry: string): Promise<DocSymbol[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const key = Object.keys(doc.nodes).find((k) => k.endsWith(entry.replace(/^\.\//, "")))!;
  return doc.nodes[key].symbols;
}
