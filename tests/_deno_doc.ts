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
  if (doc.version === 1) {
    // Deno 2.5 writes version 1: one node per declaration, the module's docs among them.
    const byName = new Map<string, DocSymbol>();
    for (const node of doc.nodes as (DocSymbol["declarations"][number] & { name: string })[]) {
      if (node.kind === "moduleDoc") continue;
      const symbol = byName.get(node.name) ?? { name: node.name, declarations: [] };
      symbol.declarations.push(node);
      byName.set(node.name, symbol);
    }
    return [...byName.values()];
  }
  const key = Object.keys(doc.nodes).find((k) => k.endsWith(entry.replace(/^\.\//, "")))!;
  return doc.nodes[key].symbols;
}
