import type { Estimate } from '../stats.js';

/** Scores of one method after each number of steps K (keys are K as text: JSON objects). */
export type MethodScores = Record<string, Estimate>;

/** The meta-test of one setting: every method on the same held-out episodes. */
export interface SettingResult {
  readonly setting: string;
  readonly episodes: number;
  readonly methods: Record<string, MethodScores>;
}

/** One point of the learning curve: scores on a small test slice after `episodes` seen. */
export interface CurvePoint {
  readonly episodes: number;
  readonly metaVersion: number;
  /** By setting, then method, then K. */
  readonly scores: Record<string, Record<string, Record<string, number>>>;
}

/** What one meta-update did, as the stream saw it. */
export interface UpdateRecord {
  readonly metaVersion: number;
  readonly adopted: boolean;
  /** Episodes streamed when the update started. */
  readonly atEpisode: number;
  readonly trainingLoss: number;
  readonly heldOutLoss?: number;
  readonly currentHeldOutLoss?: number;
  readonly bankSize: number;
  readonly steps: number;
  readonly trainMs: number;
  readonly judgeMs: number;
  readonly wallMs: number;
}

/** W3: accuracy on each task after each task of the sequence was learned. */
export interface ForgettingResult {
  readonly tasks: readonly { readonly sequenceIndex: number; readonly classes: string }[];
  /** `accuracy[method][after][task]`: mean query accuracy (%) on `task` after learning `after`. */
  readonly accuracy: Record<string, number[][]>;
  /** Per method, per earlier task: accuracy right after it was learned minus at the end. */
  readonly forgetting: Record<string, number[]>;
  /** Per method, the mean forgetting over every task but the last, in points. */
  readonly meanForgetting: Record<string, number>;
  /** Test episodes per task, and the adaptation steps the accuracies are after. */
  readonly episodesPerTask: number;
  readonly steps: number;
}

export interface EvalReport {
  readonly workload: string;
  readonly family: string;
  readonly metric: 'mse' | 'accuracy';
  readonly seed: number;
  readonly episodes: number;
  readonly testEpisodes: number;
  readonly steps: readonly number[];
  readonly settings: Record<string, unknown>;
  readonly metaTest: readonly SettingResult[];
  readonly learningCurve: readonly CurvePoint[];
  readonly codeRankCorrelation?: { readonly value: number; readonly tasks: number };
  readonly forgetting?: ForgettingResult;
  readonly updates: readonly UpdateRecord[];
  /**
   * Wall-clock costs in seconds. These and the milliseconds of each update are the only
   * figures that differ between two runs with the same seed: the seed fixes the rest.
   */
  readonly cost: Record<string, number>;
}

/** Method names as the tables show them. */
export const METHOD_LABELS: Record<string, string> = {
  random: 'random init',
  shared: 'shared init (Reptile)',
  fomaml: 'first-order MAML init',
  allmap: 'allmap psi(phi(T))',
};

/** The report as a Markdown document: settings, meta-test tables, curve, extras. */
export function toMarkdown(report: EvalReport): string {
  const lower = report.metric === 'mse';
  const lines = [
    `# allmap eval: ${report.workload} (${report.family})`,
    '',
    `Seed ${report.seed}; ${report.episodes} meta-training episodes streamed; ` +
      `${report.testEpisodes} held-out test episodes per setting. ` +
      `Scores: ${lower ? 'query MSE (lower is better)' : 'query accuracy in % (higher is better)'}, ` +
      'mean ± 95% confidence half-width, after K adaptation steps.',
    '',
    ...report.metaTest.flatMap((result) => settingTable(result, report.steps, lower)),
    ...curveTable(report),
    ...codeLines(report),
    ...forgettingLines(report),
    ...updateLines(report),
    '## Settings',
    '',
    '```json',
    JSON.stringify(report.settings, null, 2),
    '```',
    '',
  ];
  return lines.join('\n');
}

function settingTable(result: SettingResult, steps: readonly number[], lower: boolean): string[] {
  const header = `| method | ${steps.map((K) => `K = ${K}`).join(' | ')} |`;
  const rule = `| --- | ${steps.map(() => '---').join(' | ')} |`;
  const rows = Object.entries(result.methods).map(([method, scores]) => {
    const cells = steps.map((K) =>
      formatEstimate(scores[String(K)], lower, isBest(result, method, K, lower)),
    );
    return `| ${METHOD_LABELS[method] ?? method} | ${cells.join(' | ')} |`;
  });
  return [
    `## Meta-test: ${result.setting} (${result.episodes} episodes)`,
    '',
    header,
    rule,
    ...rows,
    '',
  ];
}

function isBest(result: SettingResult, method: string, K: number, lower: boolean): boolean {
  const means = Object.values(result.methods).map(
    (scores) => scores[String(K)]?.mean ?? Number.NaN,
  );
  const own = result.methods[method]?.[String(K)]?.mean ?? Number.NaN;
  const best = lower ? Math.min(...means) : Math.max(...means);
  return own === best;
}

function formatEstimate(estimate: Estimate | undefined, lower: boolean, best: boolean): string {
  if (!estimate) return '—';
  const digits = lower ? 3 : 1;
  const text = `${estimate.mean.toFixed(digits)} ± ${estimate.halfWidth.toFixed(digits)}`;
  return best ? `**${text}**` : text;
}

function curveTable(report: EvalReport): string[] {
  if (report.learningCurve.length === 0) return [];
  const first = report.learningCurve[0]!;
  const columns = Object.entries(first.scores).flatMap(([setting, methods]) =>
    Object.entries(methods).flatMap(([method, byK]) =>
      Object.keys(byK).map((K) => ({ setting, method, K })),
    ),
  );
  const digits = report.metric === 'mse' ? 3 : 1;
  const header = `| episodes | meta version | ${columns.map((c) => `${c.method} K=${c.K} (${c.setting})`).join(' | ')} |`;
  const rule = `| --- | --- | ${columns.map(() => '---').join(' | ')} |`;
  const rows = report.learningCurve.map((point) => {
    const cells = columns.map(
      (c) => point.scores[c.setting]?.[c.method]?.[c.K]?.toFixed(digits) ?? '—',
    );
    return `| ${point.episodes} | ${point.metaVersion} | ${cells.join(' | ')} |`;
  });
  return ['## Learning curve (small test slice)', '', header, rule, ...rows, ''];
}

function codeLines(report: EvalReport): string[] {
  const code = report.codeRankCorrelation;
  if (!code) return [];
  return [
    '## Codes and tasks',
    '',
    `Spearman rank correlation between pairwise code distances and pairwise true ` +
      `(amplitude, phase) distances over ${code.tasks} test tasks: **${code.value.toFixed(3)}**.`,
    '',
  ];
}

function forgettingLines(report: EvalReport): string[] {
  const result = report.forgetting;
  if (!result) return [];
  const lines = [
    `## Forgetting (accuracy after K = ${result.steps} steps, ${result.episodesPerTask} test episodes per task)`,
    '',
    '| method | task | classes | right after learning it | at the end | forgetting (points) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const last = result.tasks.length - 1;
  for (const [method, matrix] of Object.entries(result.accuracy)) {
    for (const [j, task] of result.tasks.entries()) {
      const after = matrix[j]?.[j] ?? Number.NaN;
      const end = matrix[last]?.[j] ?? Number.NaN;
      lines.push(
        `| ${METHOD_LABELS[method] ?? method} | ${task.sequenceIndex} | ${task.classes} | ` +
          `${after.toFixed(1)} | ${end.toFixed(1)} | ${(after - end).toFixed(1)} |`,
      );
    }
  }
  lines.push('');
  for (const [method, mean] of Object.entries(result.meanForgetting)) {
    lines.push(
      `- mean forgetting, ${METHOD_LABELS[method] ?? method}: **${mean.toFixed(2)} points**`,
    );
  }
  return [...lines, ''];
}

function updateLines(report: EvalReport): string[] {
  const adopted = report.updates.filter((update) => update.adopted).length;
  const train = report.updates.reduce((sum, update) => sum + update.trainMs, 0) / 1000;
  return [
    '## Meta-updates',
    '',
    `${report.updates.length} meta-updates, ${adopted} adopted; ${train.toFixed(0)} s of ` +
      'meta-training in the worker thread. Costs of the whole run (s): ' +
      Object.entries(report.cost)
        .map(([name, seconds]) => `${name} ${seconds.toFixed(0)}`)
        .join(', ') +
      '.',
    '',
  ];
}
