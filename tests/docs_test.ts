import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const entryPoints = Object.values(config.exports as Record<string, string>);

interface DocTag {
  kind: string;
}
interface DocSymbol {
  name: string;
  declarations: { kind: string; jsDoc?: { doc?: string; tags?: DocTag[] } }[];
}

async function symbols(entry: string): Promise<DocSymbol[]> {
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
