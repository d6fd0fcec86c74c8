import assert from "node:assert/strict";
import fc from "npm:fast-check@3.23.2";
import "../_fast_check_seed.ts";
import { RecordError } from "../../lib/errors.ts";
import { REPLAY_WINDOW_SIZE, ReplayWindow } from "../../lib/session/replay_window.ts";

/** The specification of the window, as a set: what must be accepted or refused. */
function modelVerdict(accepted: Set<bigint>, highest: bigint, seq: bigint): string {
  if (seq > highest) return "ok";
  if (highest - seq >= BigInt(REPLAY_WINDOW_SIZE)) return "record_too_old";
  return accepted.has(seq) ? "record_replayed" : "ok";
}

Deno.test("the replay window agrees with a set-based model on random sequences", () => {
  fc.assert(
    fc.property(
      fc.array(fc.bigInt({ min: 0n, max: 400n }), { minLength: 50, maxLength: 300 }),
      (seqs) => {
        const window = new ReplayWindow();
        const accepted = new Set<bigint>();
        let highest = -1n;
        for (const seq of seqs) {
          const expected = modelVerdict(accepted, highest, seq);
          let actual = "ok";
          try {
            window.accept(seq, false);
          } catch (err) {
            assert.ok(err instanceof RecordError);
            actual = err.code;
          }
          assert.equal(actual, expected, `seq ${seq} after highest ${highest}`);
          if (actual === "ok") {
            accepted.add(seq);
            if (seq > highest) highest = seq;
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a window restored from its state behaves like the original", () => {
  fc.assert(
    fc.property(
      fc.array(fc.bigInt({ min: 0n, max: 300n }), { minLength: 20, maxLength: 100 }),
      fc.array(fc.bigInt({ min: 0n, max: 300n }), { minLength: 20, maxLength: 100 }),
      (before, after) => {
        const original = new ReplayWindow();
        for (const seq of before) {
          try {
            original.accept(seq, false);
          } catch { /* refused ones do not matter here */ }
        }
        const { highest, bits } = original.state;
        const copy = ReplayWindow.from(highest, bits);
        for (const seq of after) {
          const verdict = (w: ReplayWindow): string => {
            try {
              w.accept(seq, false);
              return "ok";
            } catch (err) {
              return (err as RecordError).code;
            }
          };
          assert.equal(verdict(copy), verdict(original));
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("ordered mode accepts exactly the next sequence number", () => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 20n }), { maxLength: 60 }), (seqs) => {
      const window = new ReplayWindow();
      let next = 0n;
      for (const seq of seqs) {
        let code = "ok";
        try {
          window.accept(seq, true);
        } catch (err) {
          code = (err as RecordError).code;
        }
        const expected = seq === next
          ? "ok"
          : seq < next
          ? "record_replayed"
          : "record_out_of_order";
        assert.equal(code, expected);
        if (code === "ok") next++;
      }
    }),
    { numRuns: 200 },
  );
});
