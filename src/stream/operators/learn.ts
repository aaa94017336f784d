/**
 * The stages that learn, one micro-batch at a time: encode (phi), generate (psi), adapt
 * (omega, one engine run for the whole batch), evaluate on the query sets, export the
 * adapted mappings as standalone ONNX models, and remember them in the bank. Each stage
 * adds its result to a new batch object and records its duration.
 */
import { concatMap, type OperatorFunction } from 'rxjs';
import type { AvroCodec } from '../../codec/index.js';
import type { AdaptResult, EvaluateResult, MappingEngine } from '../../engine/index.js';
import type { LearnerMetrics, PipelineStage } from '../../observability/metrics.js';
import { type LearnerPort, type RememberedTask, toEngineSet } from '../learner-port.js';
import { bankRecord } from '../records.js';
import type {
  AdaptedBatch,
  EncodedBatch,
  EpisodeBatch,
  EvaluatedBatch,
  ExportedBatch,
  GeneratedBatch,
  RememberedBatch,
  StageTimes,
} from '../types.js';
import { startClock } from './checks.js';

/** encode: fixes the batch's meta version, then phi gives each task its code z. */
export function encodeTasks(
  port: LearnerPort,
  metrics?: LearnerMetrics,
): OperatorFunction<EpisodeBatch, EncodedBatch> {
  return timed('encode', metrics, async (batch) => {
    const context = port.startBatch(batch.family);
    const supports = batch.items.map((item) => toEngineSet(item.episode.support));
    return { ...batch, context, z: await port.encode(context, supports) };
  });
}

/** generate: psi turns each code into an initial mapping theta0. */
export function generateMappings(
  port: LearnerPort,
  metrics?: LearnerMetrics,
): OperatorFunction<EncodedBatch, GeneratedBatch> {
  return timed('generate', metrics, async (batch) => ({
    ...batch,
    theta0: await port.generate(batch.context, batch.z),
  }));
}

/** adapt: omega, a few gradient steps on each support set, all tasks in one engine run. */
export function adaptMappings(
  engine: MappingEngine,
  metrics?: LearnerMetrics,
): OperatorFunction<GeneratedBatch, AdaptedBatch> {
  return timed('adapt', metrics, async (batch) => {
    const started = performance.now();
    const adapted = await runAdaptation(engine, batch);
    const seconds = (performance.now() - started) / 1000;
    metrics?.observeAdapt(batch.family.name, seconds, batch.items.length);
    return { ...batch, adapted };
  });
}

async function runAdaptation(engine: MappingEngine, batch: GeneratedBatch) {
  const { steps, learningRate, optimizer } = batch.context;
  // Zero steps is a valid setting (judge the generated mapping alone); the engine needs one.
  if (steps === 0) {
    return batch.theta0.map(
      (theta): AdaptResult => ({
        theta,
        lossTrace: new Float32Array(0),
        status: 'adapted',
      }),
    );
  }
  return engine.adaptBatch(batch.spec, {
    theta0: batch.theta0,
    support: batch.items.map((item) => toEngineSet(item.episode.support)),
    steps,
    learningRate,
    optimizer,
  });
}

/**
 * evaluate: each task's query loss (and accuracy) before adaptation (theta0) and after
 * (theta*), in one engine run over both. A diverged task has no "after".
 */
export function evaluateMappings(
  engine: MappingEngine,
  metrics?: LearnerMetrics,
): OperatorFunction<AdaptedBatch, EvaluatedBatch> {
  return timed('evaluate', metrics, async (batch) => {
    const queries = batch.items.map((item) => toEngineSet(item.episode.query));
    const thetas = [...batch.theta0, ...batch.adapted.map((result) => result.theta)];
    const results = await engine.evaluateBatch(batch.spec, thetas, [...queries, ...queries]);

    const count = batch.items.length;
    const before = results.slice(0, count);
    const after = results.slice(count).map((result, i): EvaluateResult => {
      return batch.adapted[i]!.status === 'diverged' ? { loss: Number.NaN } : result;
    });
    recordEvaluations(batch, before, after, metrics);
    return { ...batch, before, after };
  });
}

function recordEvaluations(
  batch: AdaptedBatch,
  before: EvaluateResult[],
  after: EvaluateResult[],
  metrics: LearnerMetrics | undefined,
): void {
  if (metrics === undefined) return;
  const family = batch.family.name;
  const adapted = batch.adapted.filter((result) => result.status === 'adapted').length;
  if (adapted > 0) metrics.recordAdapted(family, adapted);

  for (const [i, result] of batch.adapted.entries()) {
    if (result.status === 'diverged') continue;
    metrics.observeEvaluation(family, {
      lossBefore: before[i]!.loss,
      lossAfter: after[i]!.loss,
      ...(before[i]!.accuracy !== undefined && { accuracyBefore: before[i]!.accuracy }),
      ...(after[i]!.accuracy !== undefined && { accuracyAfter: after[i]!.accuracy }),
    });
  }
}

/** export: every adapted mapping as a standalone ONNX model; a diverged one is never exported. */
export function exportModels(
  engine: MappingEngine,
  metrics?: LearnerMetrics,
): OperatorFunction<EvaluatedBatch, ExportedBatch> {
  return timed('export', metrics, async (batch) => {
    const onnx = batch.items.map((item, i) => {
      const result = batch.adapted[i]!;
      if (result.status === 'diverged') return undefined;
      return engine.exportModel(batch.spec, result.theta, {
        family: batch.family.name,
        metaVersion: batch.context.metaVersion,
        taskId: item.episode.taskId,
      });
    });
    return { ...batch, onnx };
  });
}

/**
 * remember: offers each adapted task to the family's bank, and turns what the bank changed
 * (the task stored, a task it displaced) into bank-topic records with `headers`.
 */
export function rememberTasks(
  port: LearnerPort,
  codec: AvroCodec,
  headers: Record<string, string>,
  metrics?: LearnerMetrics,
): OperatorFunction<ExportedBatch, RememberedBatch> {
  return concatMap(async (batch) => {
    const adaptMs = (batch.stageMs.adapt ?? 0) / batch.items.length;
    const indices = batch.adapted.flatMap((result, i) => (result.status === 'adapted' ? [i] : []));
    const tasks = indices.map((i) => rememberedTask(batch, i, adaptMs));
    const changes = port.remember(batch.family, tasks);

    const bankRecords = batch.items.map((): ReturnType<typeof bankRecord>[] => []);
    for (const [k, i] of indices.entries()) {
      bankRecords[i] = changes[k]!.map((change) => bankRecord(codec, change, headers));
    }
    metrics?.setBankSize(batch.family.name, port.bankSize(batch.family.name));
    return { ...batch, bankRecords };
  });
}

function rememberedTask(batch: ExportedBatch, i: number, adaptMs: number): RememberedTask {
  const before = batch.before[i]!;
  const after = batch.after[i]!;
  return {
    episode: batch.items[i]!.episode,
    theta: batch.adapted[i]!.theta,
    metaVersion: batch.context.metaVersion,
    metrics: {
      lossBefore: before.loss,
      lossAfter: after.loss,
      ...(before.accuracy !== undefined && { accuracyBefore: before.accuracy }),
      ...(after.accuracy !== undefined && { accuracyAfter: after.accuracy }),
      steps: batch.context.steps,
      status: 'ok',
      adaptMs,
    },
  };
}

/** One async step over a whole batch, its duration added to the batch's stage times. */
function timed<In extends { stageMs: StageTimes }, Out extends In>(
  stage: PipelineStage,
  metrics: LearnerMetrics | undefined,
  step: (batch: In) => Promise<Out>,
): OperatorFunction<In, Out> {
  return concatMap(async (batch) => {
    const stop = metrics?.startStage(stage) ?? startClock();
    const next = await step(batch);
    return { ...next, stageMs: { ...next.stageMs, [stage]: stop() * 1000 } };
  });
}
