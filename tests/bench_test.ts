import assert from "node:assert/strict";

Deno.test("the interleaved benchmark runs every workload against WasmThemis and raw subtle", async () => {
  const { interleaved } = await import("../bench/interleaved.ts");
  const lines = await interleaved(1);
  assert.equal(lines.length, 8);
  for (const line of lines.slice(2)) {
    const cells = line.split("|").map((c) => c.trim()).filter(Boolean);
    assert.equal(cells.length, 6, line);
    assert.ok(Number(cells[4]) > 0 && Number(cells[5]) > 0, line);
  }
});
