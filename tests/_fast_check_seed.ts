// Property tests run with a fixed seed, so that the suite gives the same verdict on every
// run. Set FAST_CHECK_SEED to a number to explore another part of the input space, or to
// "random" for a fresh seed each run; a failure prints the seed that reproduces it.

import fc from "npm:fast-check@3.23.2";

const requested = Deno.env.get("FAST_CHECK_SEED");
const seed = requested === "random"
  ? undefined
  : requested !== undefined && /^-?\d+$/.test(requested)
  ? Number(requested)
  : 20261123;
if (seed !== undefined) fc.configureGlobal({ seed });
