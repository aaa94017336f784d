import * as ort from 'onnxruntime-node';
import { exportMapping } from './export.js';
import { type AdaptGraphOptions, type AdaptLayout, buildAdaptGraph } from './graphs/adapt.js';
import { buildEvaluateGraph, buildGradientGraph, buildPredictGraph } from './graphs/tasks.js';
import { parameterCount, parameterLayout } from './layout.js';
import {
  BufferPool,
  maxRows,
  packMask,
  packRows,
  packTargets,
  packTensors,
  row,
  stack,
  unpackTask,
} from './pack.js';
import { type ExecutionProvider, SessionCache } from './sessions.js';
import { type MappingSpec, specKey } from './spec.js';
import type {
  AdaptRequest,
  AdaptResult,
  EvaluateResult,
  ExportInfo,
  GradientRequest,
  GradientResult,
  LabelledSet,
  RowSet,
} from './types.js';
import {
  checkAdaptRequest,
  checkBatch,
  checkFloats,
  checkLabelledSet,
  checkRowSet,
  checkSpec,
  checkTheta,
  indexOfNonFinite,
} from './validate.js';

export type { AdaptLayout } from './graphs/adapt.js';
export type { ExecutionProvider } from './sessions.js';

export interface EngineOptions {
  /** Default `cpu`; `cuda` falls back to `cpu` with one warning where it is not installed. */
  readonly provider?: ExecutionProvider;
  /** Threads ONNX Runtime uses inside one operator; default 1 (see docs/engine.md). */
  readonly intraOpThreads?: number;
  /** Threads running independent operators in parallel; default 1. */
  readonly interOpThreads?: number;
  /**
   * The most tasks one ONNX Runtime `run` handles. A run blocks the Node event loop for its
   * whole duration, so a larger batch is split into runs of at most this many tasks, with a
   * turn of the event loop (`setImmediate`) between them. Default 16, which keeps a W2 run
   * (784-128-128-5, 25 support rows, K = 10, SGD) near 25-35 ms here (see docs/engine.md).
   */
  readonly maxTasksPerRun?: number;
  /** How the K steps are laid out in the adaptation graph; default `loop` (see adapt.ts). */
  readonly adaptLayout?: AdaptLayout;
  /**
   * A task whose support loss grows past this factor of its first-step loss is marked
   * `diverged`. Default 1000.
   */
  readonly divergenceFactor?: number;
}

type Settings = Required<EngineOptions>;

const defaults: Settings = {
  provider: 'cpu',
  intraOpThreads: 1,
  interOpThreads: 1,
  maxTasksPerRun: 16,
  adaptLayout: 'loop',
  divergenceFactor: 1000,
};

/**
 * Runs every numeric step on mappings with ONNX Runtime: prediction, adaptation of a batch of
 * tasks, gradients, evaluation, and export of standalone models. Graphs are built per spec and
 * kind the first time they are needed; their sessions are then reused.
 *
 * Every method checks its arguments first and throws `EngineInputError` before any run. No
 * method mutates its arguments; results are fresh arrays. A `run` blocks the event loop, so
 * batches are split into runs of at most `maxTasksPerRun` tasks (see `EngineOptions`).
 */
export class MappingEngine {
  private readonly sessions: SessionCache;
  /** Feed buffers reused across runs (see `BufferPool`). */
  private readonly buffers = new BufferPool();

  private constructor(private readonly settings: Settings) {
    this.sessions = new SessionCache(settings);
  }

  static create(options: EngineOptions = {}): MappingEngine {
    const settings = { ...defaults, ...options };
    for (const key of ['intraOpThreads', 'interOpThreads', 'maxTasksPerRun'] as const) {
      const value = settings[key];
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`engine option ${key}: received ${value}; allowed integers >= 1`);
      }
    }
    if (!(settings.divergenceFactor > 1 && Number.isFinite(settings.divergenceFactor))) {
      throw new RangeError(
        `engine option divergenceFactor: received ${settings.divergenceFactor}; allowed finite > 1`,
      );
    }
    return new MappingEngine(settings);
  }

  /** The provider sessions run on, after any fallback to `cpu`. */
  get provider(): ExecutionProvider {
    return this.sessions.provider;
  }

  /** The outputs (`rows x outputDim`: values, or logits for a classifier) of one mapping. */
  async predict(spec: MappingSpec, theta: Float32Array, inputs: RowSet): Promise<Float32Array> {
    checkSpec(spec);
    checkTheta('theta', theta, spec);
    checkRowSet('inputs', inputs, spec);

    const session = await this.session(spec, 'predict', () => buildPredictGraph(spec));
    const { y } = await session.run({
      theta: floats(theta, [theta.length]),
      x: floats(inputs.inputs, [inputs.rows, spec.inputDim]),
    });
    return (y!.data as Float32Array).slice();
  }

  /**
   * `K` steps of SGD or Adam on each task's support loss. All steps of a run happen inside one
   * ONNX Runtime `run`; a batch larger than `maxTasksPerRun` takes several runs.
   *
   * A task is `diverged` when a step's loss is NaN or infinite, grows past `divergenceFactor`
   * times the first step's loss (floored at 1e-8), or the final theta is not finite; its
   * `theta` is then a copy of its `theta0`, so no NaN mapping ever leaves the engine.
   */
  async adaptBatch(spec: MappingSpec, request: AdaptRequest): Promise<AdaptResult[]> {
    checkSpec(spec);
    checkAdaptRequest(spec, request);

    const graph = adaptGraphOptions(spec, request, this.settings.adaptLayout);
    const key = `adapt:${graph.layout}:${graph.optimizer}:${graph.rate}:${graph.firstLayerSpan}`;
    const session = await this.session(
      spec,
      graph.layout === 'unrolled' ? `${key}:${graph.steps}` : key,
      () => buildAdaptGraph(spec, graph),
    );
    const settingsFeeds = adaptSettingsFeeds(request, graph.layout);

    return this.inChunks(request.theta0.length, async (start, end) => {
      const theta0 = request.theta0.slice(start, end);
      const outputs = await this.run(session, (feeds) => {
        this.labelledFeeds(feeds, spec, request.support.slice(start, end));
        this.parameterFeeds(feeds, spec, theta0, 'theta0');
        Object.assign(feeds.tensors, settingsFeeds);
      });
      return this.adaptResults(spec, theta0, outputs, request.steps);
    });
  }

  /** The mean query loss of each task, and its accuracy for a classifier. */
  async evaluateBatch(
    spec: MappingSpec,
    thetas: readonly Float32Array[],
    querySets: readonly LabelledSet[],
  ): Promise<EvaluateResult[]> {
    checkSpec(spec);
    checkBatch({ thetas, querySets });
    for (const [b, theta] of thetas.entries()) checkTheta(`thetas[${b}]`, theta, spec);
    for (const [b, set] of querySets.entries()) checkLabelledSet(`querySets[${b}]`, set, spec);

    const session = await this.session(spec, 'evaluate', () => buildEvaluateGraph(spec));
    return this.inChunks(thetas.length, async (start, end) => {
      const sets = querySets.slice(start, end);
      const outputs = await this.run(session, (feeds) => {
        this.labelledFeeds(feeds, spec, sets);
        this.thetaFeed(feeds, spec, thetas.slice(start, end));
      });
      const loss = outputs.loss!.data as Float32Array;
      const accuracy = outputs.accuracy?.data as Float32Array | undefined;
      return sets.map((_, b) =>
        accuracy ? { loss: loss[b]!, accuracy: accuracy[b]! } : { loss: loss[b]! },
      );
    });
  }

  /**
   * The gradient with respect to theta (and the inputs, when `wantInputGradient`) of each
   * task's mean loss, or of `sum(upstream * outputs)` for a request with `upstream`.
   */
  async gradient(spec: MappingSpec, request: GradientRequest): Promise<GradientResult[]> {
    checkSpec(spec);
    checkGradientRequest(spec, request);

    const wantInputGradient = request.wantInputGradient ?? false;
    const seed = 'upstream' in request ? 'upstream' : 'loss';
    const session = await this.session(spec, `gradient:${seed}:${wantInputGradient}`, () =>
      buildGradientGraph(spec, { seed, wantInputGradient }),
    );

    return this.inChunks(request.thetas.length, async (start, end) => {
      const sets = request.sets.slice(start, end);
      const outputs = await this.run(session, (feeds) => {
        if ('upstream' in request) {
          this.upstreamFeeds(feeds, spec, sets, request.upstream.slice(start, end));
        } else {
          this.labelledFeeds(feeds, spec, request.sets.slice(start, end));
        }
        this.thetaFeed(feeds, spec, request.thetas.slice(start, end));
      });
      return gradientResults(spec, sets, outputs);
    });
  }

  /** A standalone ONNX model of the mapping with theta baked in (see export.ts). */
  exportModel(spec: MappingSpec, theta: Float32Array, info: ExportInfo): Uint8Array {
    checkSpec(spec);
    checkTheta('theta', theta, spec);
    return exportMapping(spec, theta, info);
  }

  /** Releases every session and kept buffer; the engine cannot be used after. */
  dispose(): Promise<void> {
    this.buffers.clear();
    return this.sessions.dispose();
  }

  // ---- internals ------------------------------------------------------------------------

  private session(spec: MappingSpec, kind: string, build: Parameters<SessionCache['get']>[1]) {
    return this.sessions.get(`${specKey(spec)}|${kind}`, build);
  }

  /**
   * Runs `work` on consecutive chunks of at most `maxTasksPerRun` tasks and concatenates the
   * results. Between chunks the event loop gets a turn (a run itself cannot be interrupted).
   */
  private async inChunks<T>(tasks: number, work: (start: number, end: number) => Promise<T[]>) {
    const results: T[] = [];
    for (let start = 0; start < tasks; start += this.settings.maxTasksPerRun) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      const end = Math.min(tasks, start + this.settings.maxTasksPerRun);
      results.push(...(await work(start, end)));
    }
    return results;
  }

  /**
   * One run of `session` on the feeds `pack` writes. Feeds packed into pooled buffers go back
   * to the pool when the run is over (ONNX Runtime reads its inputs only during the run).
   */
  private async run(
    session: ort.InferenceSession,
    pack: (feeds: PackedFeeds) => void,
  ): Promise<ort.InferenceSession.ReturnType> {
    const feeds = new PackedFeeds(this.buffers);
    try {
      pack(feeds);
      return await session.run(feeds.tensors);
    } finally {
      feeds.release();
    }
  }

  private thetaFeed(feeds: PackedFeeds, spec: MappingSpec, thetas: readonly Float32Array[]) {
    const P = parameterCount(spec);
    stack(feeds.buffer('theta', [thetas.length, P]), thetas, P);
  }

  /** `x`, `targets` and `mask` of a batch of labelled sets, padded to its largest set. */
  private labelledFeeds(feeds: PackedFeeds, spec: MappingSpec, sets: readonly LabelledSet[]) {
    const B = sets.length;
    const N = maxRows(sets);
    const inputs = sets.map((s) => s.inputs);
    packRows(feeds.buffer('x', [B, N, spec.inputDim]), inputs, sets, N, spec.inputDim);
    packTargets(feeds.buffer('targets', [B, N, spec.outputDim]), spec, sets, N);
    packMask(feeds.buffer('mask', [B, N]), sets, N);
  }

  /** `x` and `upstream` of a batch of row sets, padded to its largest set. */
  private upstreamFeeds(
    feeds: PackedFeeds,
    spec: MappingSpec,
    sets: readonly RowSet[],
    upstream: readonly Float32Array[],
  ) {
    const B = sets.length;
    const N = maxRows(sets);
    const inputs = sets.map((s) => s.inputs);
    packRows(feeds.buffer('x', [B, N, spec.inputDim]), inputs, sets, N, spec.inputDim);
    const packedUpstream = feeds.buffer('upstream', [B, N, spec.outputDim]);
    packRows(packedUpstream, upstream, sets, N, spec.outputDim);
  }

  /** The batched parameter tensors as feeds `<prefix>.layer<l>.weight` `[B, out, in]`, ... */
  private parameterFeeds(
    feeds: PackedFeeds,
    spec: MappingSpec,
    thetas: readonly Float32Array[],
    prefix: string,
  ) {
    const layout = parameterLayout(spec);
    const blocks = layout.tensors.map((tensor) => {
      const [out, fanIn] = tensor.role === 'weight' ? tensor.shape : [tensor.shape[0], 1];
      return feeds.buffer(`${prefix}.${tensor.name}`, [thetas.length, out!, fanIn!]);
    });
    packTensors(blocks, layout, thetas);
  }

  /**
   * Each task's result. Diverged tasks are never unpacked; an adapted task's theta is read in
   * JavaScript only when the graph's `theta_sum` is not finite (see graphs/adapt.ts).
   */
  private adaptResults(
    spec: MappingSpec,
    theta0: readonly Float32Array[],
    outputs: ort.InferenceSession.ReturnType,
    steps: number,
  ): AdaptResult[] {
    const layout = parameterLayout(spec);
    const blocks = layout.tensors.map((t) => outputs[`theta.${t.name}`]!.data as Float32Array);
    const traces = outputs.loss_trace!.data as Float32Array;
    const sums = outputs.theta_sum!.data as Float32Array;

    return theta0.map((initial, b): AdaptResult => {
      const lossTrace = row(traces, b, steps);
      const diverged = () => ({ theta: initial.slice(), lossTrace, status: 'diverged' }) as const;
      if (hasDiverged(lossTrace, this.settings.divergenceFactor)) return diverged();

      const theta = unpackTask(layout, blocks, b);
      const isFiniteTheta = Number.isFinite(sums[b]!) || indexOfNonFinite(theta) < 0;
      return isFiniteTheta ? { theta, lossTrace, status: 'adapted' } : diverged();
    });
  }
}

/**
 * The feeds of one run, each packed into a buffer from the engine's pool; `release` hands the
 * buffers back once the run is over.
 */
class PackedFeeds {
  readonly tensors: Record<string, ort.Tensor> = {};
  private readonly taken: [string, Float32Array][] = [];

  constructor(private readonly pool: BufferPool) {}

  /** A buffer of `dims` for the float feed `name`, for the caller to fill. */
  buffer(name: string, dims: readonly number[]): Float32Array {
    const length = dims.reduce((product, d) => product * d, 1);
    const data = this.pool.take(name, length);
    this.taken.push([name, data]);
    this.tensors[name] = floats(data, dims);
    return data;
  }

  release(): void {
    for (const [name, data] of this.taken) this.pool.give(name, data);
    this.taken.length = 0;
  }
}

function checkGradientRequest(spec: MappingSpec, request: GradientRequest): void {
  checkBatch({ thetas: request.thetas, sets: request.sets });
  if ('upstream' in request) checkBatch({ sets: request.sets, upstream: request.upstream });
  for (const [b, theta] of request.thetas.entries()) checkTheta(`thetas[${b}]`, theta, spec);

  if (!('upstream' in request)) {
    for (const [b, set] of request.sets.entries()) checkLabelledSet(`sets[${b}]`, set, spec);
    return;
  }
  for (const [b, set] of request.sets.entries()) {
    checkRowSet(`sets[${b}]`, set, spec);
    checkFloats(`upstream[${b}]`, request.upstream[b], set.rows * spec.outputDim);
  }
}

function gradientResults(
  spec: MappingSpec,
  sets: readonly RowSet[],
  outputs: ort.InferenceSession.ReturnType,
): GradientResult[] {
  const P = parameterCount(spec);
  const dTheta = outputs.dtheta!.data as Float32Array;
  const loss = outputs.loss?.data as Float32Array | undefined;
  const dx = outputs.dx?.data as Float32Array | undefined;
  const N = maxRows(sets);

  return sets.map((set, b) => {
    const rowWidth = spec.inputDim;
    const start = b * N * rowWidth;
    return {
      dTheta: row(dTheta, b, P),
      ...(loss && { loss: loss[b]! }),
      ...(dx && { dInputs: dx.slice(start, start + set.rows * rowWidth) }),
    };
  });
}

/**
 * Which adaptation graph a request needs. The first-layer shortcut replaces the `[out, in]`
 * weight by `[out, N]` coefficients and adds an `[out, N] x [N, N]` product per step, so it
 * pays only when the support sets have fewer rows than the mapping has inputs (W2: 25 rows,
 * 784 inputs); W1 (1 input) adapts its first weight directly.
 */
function adaptGraphOptions(
  spec: MappingSpec,
  request: AdaptRequest,
  layout: AdaptLayout,
): AdaptGraphOptions {
  const { learningRate } = request;
  const isPerParameter = typeof learningRate === 'object' && 'perParameter' in learningRate;
  return {
    layout,
    steps: request.steps,
    optimizer: request.optimizer?.kind ?? 'sgd',
    rate: isPerParameter ? 'perParameter' : 'perStep',
    firstLayerSpan: maxRows(request.support) < spec.inputDim,
  };
}

/** The feeds of an adaptation that are the same for every task: rates, Adam settings, K. */
function adaptSettingsFeeds(request: AdaptRequest, layout: AdaptLayout) {
  const { steps, optimizer } = request;
  return {
    learning_rate: floats(learningRateVector(request.learningRate, steps)),
    ...(optimizer?.kind === 'adam' && adamFeeds(optimizer, steps)),
    ...(layout === 'loop' && { steps: new ort.Tensor('int64', [BigInt(steps)], []) }),
  };
}

/** Per-step rates as a `[K]` vector (a number repeated), or the per-parameter vector. */
function learningRateVector(rate: AdaptRequest['learningRate'], steps: number): Float32Array {
  if (typeof rate === 'number') return new Float32Array(steps).fill(rate);
  return 'perStep' in rate ? rate.perStep : rate.perParameter;
}

/**
 * Adam's settings as feeds. The bias corrections `1 / (1 - beta^t)` are computed here in
 * float64: in float32 `beta2^t` for beta2 = 0.999 would lose most of `1 - beta2^t`'s digits.
 */
function adamFeeds(optimizer: { beta1?: number; beta2?: number; epsilon?: number }, K: number) {
  const beta1 = optimizer.beta1 ?? 0.9;
  const beta2 = optimizer.beta2 ?? 0.999;
  const correction = (beta: number) =>
    Float32Array.from({ length: K }, (_, k) => 1 / (1 - beta ** (k + 1)));
  return {
    beta1: floats(Float32Array.of(beta1), []),
    beta2: floats(Float32Array.of(beta2), []),
    epsilon: floats(Float32Array.of(optimizer.epsilon ?? 1e-8), []),
    correction1: floats(correction(beta1)),
    correction2: floats(correction(beta2)),
  };
}

function hasDiverged(lossTrace: Float32Array, factor: number): boolean {
  const limit = factor * Math.max(lossTrace[0]!, 1e-8);
  return lossTrace.some((loss) => !Number.isFinite(loss) || loss > limit);
}

function floats(data: Float32Array, dims: readonly number[] = [data.length]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}
