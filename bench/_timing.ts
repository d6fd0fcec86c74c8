// Timing helpers shared by the interleaved benchmarks.

/** Runs `work` `iterations` times in a row and returns the mean time of one, in ms. */
export async function timeRound(work: () => unknown, iterations: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await work();
  return (performance.now() - start) / iterations;
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** A duration in ms as "1.23 ms" or "456 µs". */
export function format(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}
