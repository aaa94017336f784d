/**
 * The mapping engine's benchmark: adaptation throughput of `MappingEngine.adaptBatch`, side by
 * side with the plain TypeScript reference of the same steps and with TensorFlow.js, for the
 * W1 and W2 shapes, K = 10 SGD steps and B in {1, 16, 256}, against the GFLOP/s ONNX Runtime
 * reaches on one 2048 x 2048 MatMul at the same thread count. See docs/bench-engine.md.
 *
 *   npm run bench:engine -- [--quick] [--json out.json] [--threads 1,2] [--batches 1,16,256]
 *
 * The table goes to stdout; progress goes to stderr.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '../src/config/load.js';
import { MappingEngine } from '../src/engine/index.js';
import { referenceAdapt } from '../src/engine/reference.js';
import { type MatMulReference, matMulGflops, measureMatMul } from './engine/matmul.js';
import {
  type Agreement,
  type Cell,
  describeMachine,
  formatReport,
  type Throughput,
} from './engine/report.js';
import { adaptWithTfjs, startTfjs } from './engine/tfjs.js';
import { type Timing, type TimingPlan, timeCalls } from './engine/timing.js';
import {
  makeBatch,
  stepFlops,
  type TaskBatch,
  type Workload,
  workloads,
} from './engine/workloads.js';

const steps = 10;
const matMulSize = 2048;
const agreementTasks = 16;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    threads: { type: 'string' },
    batches: { type: 'string' },
  },
});

// A quick run keeps the small batches, one thread and short samples: a smoke test of the
// bench itself, not figures to quote.
const plan: TimingPlan = values.quick
  ? { budgetSeconds: 0.3, samples: 3, minSamples: 1, longCallSeconds: 1, warmupCalls: 1 }
  : { budgetSeconds: 2, samples: 5, minSamples: 3, longCallSeconds: 5, warmupCalls: 1 };
const batches = numberList(values.batches ?? (values.quick ? '1,16' : '1,16,256'));
const threadCounts = numberList(values.threads ?? defaultThreads(values.quick));

const tfjsBackend = await startTfjs();
const machine = describeMachine(ort.env.versions.node ?? 'unknown', tfjsBackend);

const matMulAtStart = await measureMatMuls('start');

const engines = new Map(
  threadCounts.map((threads) => [
    threads,
    // One run per batch: maxTasksPerRun at least the largest B, so no batch is split.
    MappingEngine.create({ intraOpThreads: threads, maxTasksPerRun: Math.max(...batches) }),
  ]),
);

const agreements: Agreement[] = [];
const cells: Omit<Cell, 'shareOfMatMul'>[] = [];
for (const workload of workloads) {
  progress(`${workload.id}: theta* agreement, engine vs TF.js`);
  agreements.push(await checkAgreement(workload, engines.get(threadCounts[0]!)!));

  progress(`${workload.id}: TypeScript reference`);
  const reference = await measureReference(workload);

  for (const tasks of batches) {
    const batch = makeBatch(workload, tasks, tasks);
    progress(`${workload.id} B = ${tasks}: TF.js`);
    const tfjs = await measureTfjs(workload, batch);

    for (const [threads, engine] of engines) {
      progress(`${workload.id} B = ${tasks}: engine, ${threads} thread(s)`);
      const measured = await measureEngine(workload, batch, engine);
      cells.push({
        workload: workload.id,
        shape: workload.shape,
        tasks,
        threads,
        engine: measured,
        reference,
        tfjs,
      });
    }
  }
}
for (const engine of engines.values()) await engine.dispose();

// The reference is taken again at the end: other work on the machine shows as a change.
const matmul = [...matMulAtStart, ...(await measureMatMuls('end'))];
const singleThread = matMulGflops(matmul, Math.min(...threadCounts));
const finished: Cell[] = cells.map((cell) => ({
  ...cell,
  shareOfMatMul: {
    engine: cell.engine.gflops / matMulGflops(matmul, cell.threads),
    reference: cell.reference.gflops / singleThread,
    tfjs: cell.tfjs.gflops / singleThread,
  },
}));

machine.loadAtEnd = os.loadavg()[0]!;
process.stdout.write(`${formatReport(machine, matmul, agreements, finished)}\n`);
if (values.json) {
  const report = { machine, steps, plan, matmul, agreements, cells: finished };
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}
if (agreements.some((a) => !a.isAgreeing)) process.exitCode = 1;

// ---- measurements -----------------------------------------------------------------------

async function measureMatMuls(when: MatMulReference['when']): Promise<MatMulReference[]> {
  const references: MatMulReference[] = [];
  for (const threads of threadCounts) {
    progress(`MatMul ${matMulSize}^2, ${threads} thread(s), ${when}`);
    references.push(await measureMatMul(matMulSize, threads, plan, when));
  }
  return references;
}

async function measureEngine(
  workload: Workload,
  batch: TaskBatch,
  engine: MappingEngine,
): Promise<Throughput> {
  const request = { ...batch, steps, learningRate: workload.learningRate };
  const timing = await timeCalls(plan, () => engine.adaptBatch(workload.spec, request));
  return throughput(workload, batch.theta0.length, timing);
}

async function measureTfjs(workload: Workload, batch: TaskBatch): Promise<Throughput> {
  const timing = await timeCalls(plan, () =>
    adaptWithTfjs(workload.spec, batch, steps, workload.learningRate),
  );
  return throughput(workload, batch.theta0.length, timing);
}

/**
 * The reference adapts one task at a time, so its throughput does not depend on B: it is
 * timed once per shape, one task per call, cycling through a batch of distinct tasks.
 */
async function measureReference(workload: Workload): Promise<Throughput> {
  const batch = makeBatch(workload, 16, 99);
  const options = { steps, learningRate: workload.learningRate };
  let next = 0;
  const timing = await timeCalls(plan, async () => {
    const b = next++ % batch.theta0.length;
    return referenceAdapt(workload.spec, batch.theta0[b]!, batch.support[b]!, options, 'float32');
  });
  return throughput(workload, 1, timing);
}

function throughput(workload: Workload, tasks: number, timing: Timing): Throughput {
  const taskSteps = tasks * steps;
  return {
    taskStepsPerSecond: taskSteps / (timing.medianMs / 1e3),
    gflops: (taskSteps * stepFlops(workload).total) / (timing.medianMs * 1e6),
    timing,
  };
}

/** Both implementations adapt the same batch; their theta* must agree to float32 rounding. */
async function checkAgreement(workload: Workload, engine: MappingEngine): Promise<Agreement> {
  const batch = makeBatch(workload, agreementTasks, 7);
  const adapted = await engine.adaptBatch(workload.spec, {
    ...batch,
    steps,
    learningRate: workload.learningRate,
  });
  const tfjs = await adaptWithTfjs(workload.spec, batch, steps, workload.learningRate);

  const thetas = Float32Array.from(adapted.flatMap((result) => [...result.theta]));
  const traces = Float32Array.from(adapted.flatMap((result) => [...result.lossTrace]));
  const maxAbsTheta = maxAbs(thetas);
  // Ten float32 steps summed in different orders: differences of a few ulps per step.
  const tolerance = 1e-4 * Math.max(1, maxAbsTheta);
  const maxThetaDifference = maxAbsDifference(thetas, tfjs.thetas);
  return {
    workload: workload.id,
    tasks: agreementTasks,
    maxThetaDifference,
    maxAbsTheta,
    maxLossDifference: maxAbsDifference(traces, tfjs.lossTraces),
    tolerance,
    isAgreeing:
      adapted.every((result) => result.status === 'adapted') && maxThetaDifference <= tolerance,
  };
}

function maxAbs(values: Float32Array): number {
  return values.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
}

/** NaN when either side holds a NaN, so a NaN never passes as agreement. */
function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.NaN;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = Math.abs(a[i]! - b[i]!);
    if (!(difference <= max)) max = difference;
  }
  return max;
}

// ---- options ----------------------------------------------------------------------------

function numberList(text: string): number[] {
  const list = text.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`received '${text}'; allowed a comma-separated list of integers >= 1`);
  }
  return list;
}

/** The configured intra-op thread count (config file, env), 1, and the machine's cores. */
function defaultThreads(isQuick: boolean): string {
  const configured = loadConfig({ env: process.env }).engine.intraOpThreads;
  const counts = isQuick ? [1] : [1, configured, os.cpus().length];
  return [...new Set(counts)].sort((a, b) => a - b).join(',');
}

function progress(message: string): void {
  process.stderr.write(`bench:engine ${message}\n`);
}
