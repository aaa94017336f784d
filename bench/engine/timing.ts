/**
 * Timing of one benchmark cell: warm-up calls first (session creation, JIT, first
 * allocations), then timed samples. A sample repeats the call enough times to last a fair
 * share of the cell's time budget, so fast calls are not drowned in timer noise; the
 * reported time is the median over samples of the time per call. The last warm-up call
 * sizes the samples.
 */

export interface TimingPlan {
  /** Seconds the timed samples of one cell should last together. */
  readonly budgetSeconds: number;
  /** The most samples per cell. */
  readonly samples: number;
  /** The fewest samples per cell, however far they overrun the budget. */
  readonly minSamples: number;
  /** A call longer than this gets one timed sample: its one-time costs are then noise. */
  readonly longCallSeconds: number;
  readonly warmupCalls: number;
}

export interface Timing {
  /** Median over samples of the milliseconds of one call. */
  readonly medianMs: number;
  /** The fastest and slowest sample, per call. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly samples: number;
  readonly callsPerSample: number;
}

/** Times `call` (awaited, one at a time) following `plan`. */
export async function timeCalls(plan: TimingPlan, call: () => Promise<unknown>): Promise<Timing> {
  let lastMs = 0;
  for (let w = 0; w < Math.max(1, plan.warmupCalls); w++) lastMs = await elapsedMs(call);
  // A call below the timer's resolution must not divide the budget by zero.
  lastMs = Math.max(lastMs, 1e-3);

  const budgetMs = plan.budgetSeconds * 1e3;
  const samples =
    lastMs > plan.longCallSeconds * 1e3
      ? 1
      : Math.max(plan.minSamples, Math.min(plan.samples, Math.floor(budgetMs / lastMs)), 1);
  const callsPerSample = Math.max(1, Math.round(budgetMs / (samples * lastMs)));

  const perCall: number[] = [];
  for (let s = 0; s < samples; s++) {
    const ms = await elapsedMs(async () => {
      for (let c = 0; c < callsPerSample; c++) await call();
    });
    perCall.push(ms / callsPerSample);
  }
  return {
    medianMs: median(perCall),
    minMs: Math.min(...perCall),
    maxMs: Math.max(...perCall),
    samples,
    callsPerSample,
  };
}

async function elapsedMs(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
