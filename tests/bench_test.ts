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

Deno.test("the resumption benchmark resumes on every store and times both refusals", async () => {
  const { resumptionTable } = await import("../bench/resumption.ts");
  const lines = await resumptionTable(1);
  assert.equal(lines.length, 10);
  for (const line of lines.slice(2, 5)) {
    const cells = line.split("|").map((c) => c.trim()).filter(Boolean);
    assert.equal(cells.length, 5, line);
    assert.ok(Number(cells[3]) > 0 && Number(cells[4]) > 0, line);
  }
});
