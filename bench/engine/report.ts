/**
 * What the engine benchmark prints: the machine it ran on, the MatMul reference, the
 * agreement check, and one markdown table row per shape, batch size and thread count.
 */
import os from 'node:os';
import { type MatMulReference, matMulGflops } from './matmul.js';
import type { TfjsBackend } from './tfjs.js';
import type { Timing } from './timing.js';

export interface Machine {
  readonly cpu: string;
  /** `os.cpus().length`. */
  readonly cores: number;
  readonly node: string;
  readonly onnxruntime: string;
  readonly tfjs: TfjsBackend;
  /** One-minute load averages when the run started and ended: other work skews the figures. */
  readonly loadAtStart: number;
  loadAtEnd?: number;
}

export function describeMachine(onnxruntime: string, tfjs: TfjsBackend): Machine {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    onnxruntime,
    tfjs,
    loadAtStart: os.loadavg()[0]!,
  };
}

/** Throughput of one implementation in one cell. */
export interface Throughput {
  readonly taskStepsPerSecond: number;
  readonly gflops: number;
  readonly timing: Timing;
}

export interface Cell {
  readonly workload: string;
  readonly shape: string;
  readonly tasks: number;
  readonly threads: number;
  readonly engine: Throughput;
  readonly shareOfMatMul: Shares;
  readonly reference: Throughput;
  readonly tfjs: Throughput;
}

/**
 * GFLOP/s over the mean MatMul reference: the engine's at its own thread count; the TS
 * reference's and TF.js's at the fewest threads measured (both run on one thread).
 */
export interface Shares {
  readonly engine: number;
  readonly reference: number;
  readonly tfjs: number;
}

export interface Agreement {
  readonly workload: string;
  readonly tasks: number;
  /** Largest `|theta_engine - theta_tfjs|` over every parameter of every task. */
  readonly maxThetaDifference: number;
  readonly maxAbsTheta: number;
  readonly maxLossDifference: number;
  readonly tolerance: number;
  readonly isAgreeing: boolean;
}

export function formatReport(
  machine: Machine,
  matmul: readonly MatMulReference[],
  agreements: readonly Agreement[],
  cells: readonly Cell[],
): string {
  return [
    ...machineLines(machine),
    '',
    ...matMulLines(matmul),
    '',
    ...agreements.map(agreementLine),
    '',
    ...table(cells),
  ].join('\n');
}

function machineLines(machine: Machine): string[] {
  const { tfjs } = machine;
  const load = `${machine.loadAtStart.toFixed(2)} -> ${machine.loadAtEnd?.toFixed(2) ?? '?'}`;
  return [
    `machine: ${machine.cpu}, ${machine.cores} cores (os.cpus()), load average ${load}`,
    `node ${machine.node}, onnxruntime-node ${machine.onnxruntime}, ` +
      `TF.js backend ${tfjs.name}${tfjs.simd ? ' (SIMD)' : ''}, ${tfjs.threads} thread(s)`,
  ];
}

/** One line per thread count: the reference at the start and the end, and their mean. */
function matMulLines(matmul: readonly MatMulReference[]): string[] {
  const threadCounts = [...new Set(matmul.map((m) => m.threads))];
  return threadCounts.map((threads) => {
    const taken = matmul.filter((m) => m.threads === threads);
    const size = taken[0]!.size;
    const figures = taken.map((m) => `${m.gflops.toFixed(1)} at the ${m.when}`).join(', ');
    const mean = matMulGflops(matmul, threads);
    const drift =
      (Math.max(...taken.map((m) => m.gflops)) - Math.min(...taken.map((m) => m.gflops))) / mean;
    const warning =
      drift > 0.2 ? ` (changed by ${(100 * drift).toFixed(0)}%: the machine was busy)` : '';
    return (
      `MatMul ${size}x${size} float32, ONNX Runtime, ${threads} thread(s): GFLOP/s ${figures}; ` +
      `mean ${mean.toFixed(1)} is the 100% of "% of MatMul"${warning}`
    );
  });
}

function agreementLine(a: Agreement): string {
  const verdict = a.isAgreeing ? 'agree' : 'DISAGREE';
  return (
    `theta* check ${a.workload}, B = ${a.tasks}, engine vs TF.js: ${verdict}, ` +
    `max |diff| ${a.maxThetaDifference.toExponential(2)} (tolerance ` +
    `${a.tolerance.toExponential(1)}, max |theta| ${a.maxAbsTheta.toFixed(3)}), ` +
    `max loss-trace |diff| ${a.maxLossDifference.toExponential(2)}`
  );
}

function table(cells: readonly Cell[]): string[] {
  const header = [
    'shape',
    'B',
    'threads',
    'engine task-steps/s',
    'engine GFLOP/s',
    '% of MatMul',
    'TS task-steps/s',
    'TS GFLOP/s (% of MatMul)',
    'TF.js task-steps/s',
    'TF.js GFLOP/s (% of MatMul)',
    'engine/TS',
    'engine/TF.js',
  ];
  const rows = cells.map((c) => [
    `${c.workload} ${c.shape}`,
    String(c.tasks),
    String(c.threads),
    figure(c.engine.taskStepsPerSecond),
    figure(c.engine.gflops),
    percent(c.shareOfMatMul.engine),
    figure(c.reference.taskStepsPerSecond),
    `${figure(c.reference.gflops)} (${percent(c.shareOfMatMul.reference)})`,
    figure(c.tfjs.taskStepsPerSecond),
    `${figure(c.tfjs.gflops)} (${percent(c.shareOfMatMul.tfjs)})`,
    `${figure(c.engine.taskStepsPerSecond / c.reference.taskStepsPerSecond)}x`,
    `${figure(c.engine.taskStepsPerSecond / c.tfjs.taskStepsPerSecond)}x`,
  ]);
  return [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`);
}

/** Whole percent from 10% up, two significant digits below. */
function percent(share: number): string {
  const value = 100 * share;
  return `${value >= 10 ? value.toFixed(0) : value.toPrecision(2)}%`;
}

/** Three significant digits, without an exponent. */
function figure(value: number): string {
  if (value >= 100) return Math.round(value).toString();
  return value.toPrecision(3);
}
