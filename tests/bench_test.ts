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

Deno.test("the Themis benchmark times the Themis profile beside WasmThemis and states each target", async () => {
  const { themisTable } = await import("../bench/themis_bench.ts");
  const lines = await themisTable(1);
  assert.equal(lines.length, 6);
  for (const line of lines.slice(2)) {
    const cells = line.split("|").map((c) => c.trim()).filter(Boolean);
    assert.equal(cells.length, 6, line);
    assert.ok(Number(cells[3]) > 0 && Number(cells[4]) > 0, line);
  }
  assert.match(lines[2]!, /^\| full handshake, both sides .*\| time ≤ 0\.8: (met|missed) \|$/);
  assert.match(lines[5]!, /^\| wrap\+unwrap 16 KiB .*\| speed ≥ 10: (met|missed) \|$/);
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

Deno.test("the cookie HTTP benchmark serves every handler and times encrypt() beside iron-session", async () => {
  const { cookieHttpTable, sealTable } = await import("../bench/cookie_http.ts");
  const http = await cookieHttpTable(1, 2);
  assert.equal(http.length, 10);
  for (const line of http.slice(2)) {
    const cells = line.split("|").map((c) => c.trim()).filter(Boolean);
    assert.equal(cells.length, 3, line);
    assert.ok(Number(cells[1]) > 0 && Number(cells[2]) > 0, line);
  }
  const seal = await sealTable(1, 2);
  assert.equal(seal.length, 6);
  for (const line of seal.slice(2)) assert.match(line, /\| \d+ µs \| \d+\.\d \|$/);
});

Deno.test("the stream benchmark runs every workload over tessera, Deno TLS and plain TCP", async () => {
  const { streamBench } = await import("../bench/stream_bench.ts");
  const lines = await streamBench(1, {
    bulkBytes: 3 * 1024 * 1024,
    messages: 500,
    roundTrips: 20,
    handshakes: 5,
  });
  const tables = lines.join("\n").split("\n\n").filter((t) => t.trim());
  assert.equal(tables.length, 5);
  const targets = tables.pop()!.split("\n").slice(2).filter((row) => row.trim());
  assert.equal(targets.length, 3);
  for (const row of targets) assert.match(row, /^\| .* ≥ \d\.\d \| \d+\.\d\d \| (met|missed) \|$/);
  assert.match(tables[0]!, /\| crypto\.subtle AES-GCM alone, no I\/O \|/);
  assert.match(tables[1]!, /\| WasmThemis wrap\+unwrap, no I\/O \|/);
  for (const table of tables) {
    const rows = table.split("\n").slice(2).filter((row) => row.trim());
    assert.ok(rows.some((row) => row.startsWith("| Deno TLS 1.3 |")), table);
    assert.ok(rows.some((row) => row.startsWith("| tessera stream |")), table);
    for (const row of rows) {
      const cells = row.split("|").map((c) => c.trim()).filter(Boolean);
      assert.equal(cells.length, 3, row);
      assert.ok(Number(cells[1]) > 0 && Number(cells[2]) > 0, row);
    }
  }
});

Deno.test("the Deploy budget benchmark times handshakes and cookie requests and holds idle sessions", async () => {
  const { deployBudgetTable } = await import("../bench/deploy_budget.ts");
  const lines = await deployBudgetTable({ handshakes: 2, requests: 2, sessions: 20 });
  assert.equal(lines.length, 15);
  for (const line of lines.slice(2, 7)) {
    assert.match(line, /\| \d+\.\d\d ms \| \d+\.\d % \/ \d+\.\d % \|/, line);
    const cpu = Number(line.split("|")[2]!.trim().split(" ")[0]);
    assert.ok(cpu > 0, line);
  }
  assert.match(lines[8]!, /^\| 20 idle established server sessions/);
  assert.match(lines[10]!, /\| -?\d+\.\d KiB \|/);
  assert.match(lines[14]!, /^\| RSS peak of the process .* \| \d+\.\d MB \| \d+\.\d % \|$/);
});
