import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeEpisode, defaultCodec } from '../../src/codec/codec.js';
import type { ClassificationTargets } from '../../src/episode/episode.js';
import {
  FASHION_MNIST_FILES,
  resolveFashionMnistDir,
} from '../../src/sources/fashion-mnist-data.js';
import { AllmapProcess, scrapeMetrics } from '../support/learner-process.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { isFullyCommitted, readAll, readModels, waitFor } from '../support/stream-topics.js';

const { dir } = resolveFashionMnistDir();
const hasFiles = Object.values(FASHION_MNIST_FILES).every((files) =>
  Object.values(files).every((name) => existsSync(join(dir, name))),
);
const EPISODES = 24;

/**
 * The README's walk-through on real data: `allmap produce fashion-mnist` writes 5-way 1-shot
 * episodes, `allmap run` adapts one model per task, and the models topic holds standalone
 * ONNX models that ONNX Runtime loads and runs, whose query accuracy the metrics record.
 * Skipped where the Fashion-MNIST files are absent, except under CI.
 */
describe.skipIf(!hasFiles && !process.env.CI)(
  'Fashion-MNIST through allmap produce and allmap run',
  () => {
    let setup: StreamSetup;
    let learner: AllmapProcess | undefined;
    afterAll(async () => {
      learner?.kill('SIGKILL');
      await setup?.close();
    });

    it('publishes loadable ONNX models whose query accuracy is in the metrics', async () => {
      setup = await streamSetup('fashion', {
        ALLMAP_STREAM_MAX_EPISODE_BYTES: String(16 << 20),
        ALLMAP_ADAPT_STEPS: '10',
      });
      const { transport, topics, groupId, env } = setup;
      const producer = new AllmapProcess(
        ['produce', 'fashion-mnist', '--count', String(EPISODES), '--ways', '5', '--shots', '1'],
        env,
      );
      expect((await producer.exited).code).toBe(0);

      learner = new AllmapProcess(['run'], env);
      await waitFor(
        () => isFullyCommitted(transport, groupId, topics.episodes),
        'commits',
        90_000,
        250,
      );

      const models = await readModels(transport, topics.models);
      expect(models).toHaveLength(EPISODES);
      const model = models[0]!;
      expect(model.family).toBe('fashion-mnist-5way');
      expect(model.metrics.status).toBe('ok');

      // The model alone, on its task's query images: the accuracy it was published with.
      const episodes = await readAll(transport, topics.episodes);
      const record = episodes.find((entry) => entry.key === model.taskId)!;
      const episode = decodeEpisode(record.value!, record.headers, record);
      const session = await ort.InferenceSession.create(model.onnx);
      const rows = episode.query.inputs.length / 784;
      const { probabilities } = await session.run({
        x: new ort.Tensor('float32', episode.query.inputs, [rows, 784]),
      });
      const labels = (episode.query.targets as ClassificationTargets).labels;
      const accuracy = accuracyOf(probabilities!.data as Float32Array, labels, 5);
      expect(accuracy).toBeCloseTo(model.metrics.accuracyAfter!, 5);

      const codec = defaultCodec();
      const metrics = (await readAll(transport, topics.metrics)).map((entry) =>
        codec.decode('EpisodeMetrics', entry.value!, entry.headers, entry),
      );
      const ofModel = metrics.find((entry) => entry.taskId === model.taskId)!;
      expect(ofModel.queryAccuracyAfter).toBeCloseTo(accuracy, 5);
      const mean =
        metrics.reduce((sum, entry) => sum + entry.queryAccuracyAfter!, 0) / metrics.length;
      // Five classes: chance is 0.2; one adapted example per class does much better.
      expect(mean).toBeGreaterThan(0.35);

      const port = Number(
        learner.logs.find((line) => line.msg?.startsWith('serving /metrics'))!.port,
      );
      const scraped = await scrapeMetrics(port);
      const series =
        'allmap_query_accuracy_ratio_count{family="fashion-mnist-5way",adaptation="after"}';
      expect(scraped.get(series)).toBe(EPISODES);
      process.stderr.write(
        `[fashion-mnist] mean query accuracy after adaptation ${mean.toFixed(3)}\n`,
      );

      learner.kill('SIGTERM');
      expect((await learner.exited).code).toBe(0);
    });
  },
);

function accuracyOf(probabilities: Float32Array, labels: Int32Array, ways: number): number {
  let correct = 0;
  labels.forEach((label, row) => {
    const scores = probabilities.subarray(row * ways, (row + 1) * ways);
    if (scores.indexOf(Math.max(...scores)) === label) correct += 1;
  });
  return correct / labels.length;
}
