import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { toSvg } from '../../learner/eval/plot.js';
import { toMarkdown } from '../../learner/eval/report.js';
import { runEvaluation } from '../../learner/eval/run.js';
import type { WorkloadId } from '../../learner/eval/workloads.js';
import { resolveContext } from '../context.js';

/** Episodes streamed when `--episodes` is not given: what fits in about ten minutes here. */
const DEFAULT_EPISODES: Record<WorkloadId, number> = { w1: 50_000, w2: 4_000, w3: 2_000 };

interface EvalFlags {
  workload: WorkloadId;
  episodes?: number;
  testEpisodes: number;
  seed: number;
  out: string;
  curvePoints: number;
  curveEpisodes: number;
  everyEpisodes?: number;
  stepsPerUpdate?: number;
  bankCapacity?: number;
  dataDir?: string;
}

/**
 * `allmap eval`: streams meta-training episodes of a workload through the learner as the
 * live service would, then meta-tests allmap's generated initial mappings against random,
 * shared (Reptile) and first-order MAML initialisations on held-out episodes, and writes
 * `<workload>.json`, `<workload>.md` and `<workload>.svg` into `--out`.
 */
export function register(program: Command): void {
  program
    .command('eval')
    .description('evaluate the learner on a workload (w1 sinusoid, w2 few-shot, w3 continual)')
    .addOption(
      new Option('--workload <id>', 'w1, w2 or w3')
        .choices(['w1', 'w2', 'w3'])
        .makeOptionMandatory(),
    )
    .option('--episodes <n>', 'meta-training episodes to stream (default per workload)', integer(1))
    .option('--test-episodes <n>', 'held-out meta-test episodes per setting', integer(1), 600)
    .option('--seed <n>', 'fixes every random choice of the run', integer(0), 1)
    // Not docs/eval: a trial run must not overwrite the reports the project records there.
    .option('--out <dir>', 'folder for the JSON, Markdown and SVG reports', 'out/eval')
    .option('--curve-points <n>', 'learning-curve checkpoints over the stream', integer(1), 8)
    .option('--curve-episodes <n>', 'test episodes per setting at each checkpoint', integer(1), 100)
    .option(
      '--every-episodes <n>',
      'meta-update every n episodes (default per workload)',
      integer(1),
    )
    .option(
      '--steps-per-update <n>',
      'meta-training steps per update (default per workload)',
      integer(1),
    )
    .option('--bank-capacity <n>', 'mapping bank capacity (default per workload)', integer(1))
    .option('--data-dir <dir>', 'folder of the Fashion-MNIST files (env: ALLMAP_DATA)')
    .action(async (flags: EvalFlags, command: Command) => {
      const { log } = resolveContext(command);
      const report = await runEvaluation({
        ...flags,
        episodes: flags.episodes ?? DEFAULT_EPISODES[flags.workload],
      });

      await mkdir(flags.out, { recursive: true });
      const base = join(flags.out, flags.workload);
      await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
      const markdown = toMarkdown(report);
      await writeFile(`${base}.md`, markdown);
      await writeFile(`${base}.svg`, toSvg(report));
      log.info({ files: [`${base}.json`, `${base}.md`, `${base}.svg`] }, 'eval: reports written');

      // The tables are what a person running the evaluation came for.
      process.stdout.write(markdown);
    });
}

function integer(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}; received ${value}`);
    }
    return parsed;
  };
}
