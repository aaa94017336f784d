/**
 * How long one adaptBatch call blocks the Node event loop, for the W1 and W2 shapes at
 * B in {1, 16, 256}, K = 10: once with the whole batch in one run, once split into runs of
 * `maxTasksPerRun` tasks. The block is the event loop's largest delay while the call runs
 * (perf_hooks.monitorEventLoopDelay at 1 ms resolution). Prints a markdown table.
 *
 *   npx tsx bench/engine-event-loop.ts [--chunk 32]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  fashionSpec,
  initialiseTheta,
  type LabelledSet,
  MappingEngine,
  type MappingSpec,
  sinusoidSpec,
} from '../src/engine/index.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({ options: { chunk: { type: 'string', default: '32' } } });
const chunk = Number(values.chunk);

const shapes: [string, MappingSpec, (random: Random) => LabelledSet][] = [
  [
    'W1',
    sinusoidSpec,
    (random) => {
      const inputs = Float32Array.from({ length: 10 }, () => random.uniform(-5, 5));
      return { inputs, rows: 10, targets: inputs.map(Math.sin) };
    },
  ],
  [
    'W2',
    fashionSpec(5),
    (random) => ({
      inputs: Float32Array.from({ length: 25 * 784 }, () => random.next()),
      rows: 25,
      targets: Int32Array.from({ length: 25 }, (_, r) => r % 5),
    }),
  ],
];

async function longestBlock(spec: MappingSpec, sets: LabelledSet[], maxTasksPerRun: number) {
  const engine = MappingEngine.create({ maxTasksPerRun });
  const random = new Random(9);
  const request = {
    theta0: sets.map(() => initialiseTheta(spec, random)),
    support: sets,
    steps: 10,
    learningRate: 0.001,
  };
  await engine.adaptBatch(spec, request);

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = performance.now();
  await engine.adaptBatch(spec, request);
  const total = performance.now() - start;
  // One more turn so the monitor records the delay of the last run.
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  await engine.dispose();
  return { total, block: histogram.max / 1e6 };
}

const rows = [
  `| shape | B | one run: block ms | runs of <= ${chunk}: block ms | total ms |`,
  '| --- | --- | --- | --- | --- |',
];
for (const [name, spec, makeSet] of shapes) {
  for (const B of [1, 16, 256]) {
    const random = new Random(8);
    const sets = Array.from({ length: B }, () => makeSet(random));
    const whole = await longestBlock(spec, sets, B);
    const split = await longestBlock(spec, sets, chunk);
    rows.push(
      `| ${name} | ${B} | ${whole.block.toFixed(1)} | ${split.block.toFixed(1)} | ` +
        `${split.total.toFixed(1)} |`,
    );
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
