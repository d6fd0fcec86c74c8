import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

async function runDemo(): Promise<{ code: number; out: string; err: string }> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  // The exact command `deno task demo` runs, minus the leading "deno".
  const args = (config.tasks.demo as string).split(/\s+/).slice(1);
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  return { code: result.code, out: decode(result.stdout), err: decode(result.stderr) };
}

Deno.test("the demo task runs as the README says and reports every step", async () => {
  const { code, out, err } = await runDemo();
  assert.equal(code, 0, err);
  for (
    const expected of [
      "handshake",
      "client sees peer  bob@example",
      "server sees peer  alice@example",
      "same on both sides: true",
      "replayed record   refused: record_replayed",
      'peer follows: "under a new key"',
      'peer reads "restored"',
      "server unwrap -> null, state closed",
      "negotiating -> established -> closed",
      'server got ["ping 1","ping 2"], client got "pong"',
      "client keeps a ticket",
      "resumed true",
      '{"role":"member","level":2} restored on the server',
      'data              "back again"',
      "Cookie sessions",
      "counter: 1, 2, 3",
      "tampered cookie:",
      "cookie_tampered",
      "logout: cookie deleted",
    ]
  ) {
    assert.ok(out.includes(expected), `demo output lacks ${JSON.stringify(expected)}:\n${out}`);
  }
});
