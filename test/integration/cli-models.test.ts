import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { exportMapping } from '../../src/engine/export.js';
import { initialiseTheta } from '../../src/engine/layout.js';
import { referenceForward } from '../../src/engine/reference.js';
import { sinusoidSpec } from '../../src/engine/spec.js';
import { Random } from '../../src/util/random.js';
import { runCli } from '../support/cli-process.js';
import { type LearnerOutput, learnerOutput, modelRecord } from '../support/cli-records.js';

/**
 * `allmap models get` end to end: real ONNX models of sinusoid mappings are written to the
 * models topic with the codec, fetched by the command as a child process, and run with
 * onnxruntime-node alone, as docs/cli.md shows.
 */

const brokers = inject('kafkaBrokers');
let output: LearnerOutput | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'allmap-models-'));
});

afterEach(async () => {
  await output?.close();
  output = undefined;
});

function sinusoidModel(taskId: string, metaVersion: number, seed: number) {
  const theta = initialiseTheta(sinusoidSpec, new Random(seed));
  const onnx = exportMapping(sinusoidSpec, theta, { family: 'sinusoid', metaVersion, taskId });
  return { theta, onnx };
}

describe('allmap models get', () => {
  it("writes the latest of several versions of a task's model, runnable as it is", async () => {
    output = await learnerOutput(brokers);
    const versions = [1, 2, 3].map((version) => sinusoidModel('curve-1', version, 10 + version));
    for (const [i, { onnx }] of versions.entries()) {
      await output.sendModel(modelRecord('curve-1', i + 1, onnx));
    }
    await output.sendModel(modelRecord('curve-2', 9, sinusoidModel('curve-2', 9, 99).onnx));
    const file = join(dir, 'curve-1.onnx');

    const result = await runCli(['models', 'get', 'curve-1', '-o', file], { env: output.env });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^wrote the model of task curve-1 \(sinusoid, meta v3; loss 4.5 -> 0.125 in 10 steps\)/,
    );
    const latest = versions[2]!;
    const bytes = await readFile(file);
    expect(Buffer.compare(bytes, Buffer.from(latest.onnx))).toBe(0);

    // What docs/cli.md shows: onnxruntime-node alone runs the file.
    const session = await InferenceSession.create(bytes);
    const x = Float32Array.from([-2, 0, 2.5]);
    const { y } = await session.run({ x: new Tensor('float32', x, [3, 1]) });
    const expected = referenceForward(sinusoidSpec, latest.theta, { inputs: x, rows: 3 }).outputs;
    expect(y!.dims).toEqual([3, 1]);
    for (let row = 0; row < 3; row++) {
      expect((y!.data as Float32Array)[row]).toBeCloseTo(expected[row]!, 5);
    }
  });

  it('exits non-zero with a clear message when the task has no model', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('curve-1', 1, sinusoidModel('curve-1', 1, 1).onnx));

    const result = await runCli(['models', 'get', 'nobody', '-o', join(dir, 'nobody.onnx')], {
      env: output.env,
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `allmap: no model of task "nobody" on topic '${output.topics.models}': no record has this key`,
    );
  });

  it('exits non-zero with one clear line when the output folder does not exist', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('curve-1', 1, sinusoidModel('curve-1', 1, 1).onnx));
    const file = join(dir, 'missing-folder', 'curve-1.onnx');

    const result = await runCli(['models', 'get', 'curve-1', '-o', file], { env: output.env });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`allmap: cannot write the model to ${file}: ENOENT`);
  });

  it('exits non-zero when the latest adaptation of the task failed', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('curve-f', 1, sinusoidModel('curve-f', 1, 1).onnx));
    const failure = { status: 'failed' as const, failure: 'query loss became NaN at step 3' };
    await output.sendModel(modelRecord('curve-f', 2, new Uint8Array(0), failure));

    const result = await runCli(['models', 'get', 'curve-f', '-o', join(dir, 'f.onnx')], {
      env: output.env,
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'its latest adaptation (meta v2) failed: query loss became NaN at step 3',
    );
  });

  it('lists the latest model of every task', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('curve-1', 1, sinusoidModel('curve-1', 1, 1).onnx));
    await output.sendModel(modelRecord('curve-1', 2, sinusoidModel('curve-1', 2, 2).onnx));
    await output.sendModel(modelRecord('curve-2', 1, sinusoidModel('curve-2', 1, 3).onnx));

    const result = await runCli(['models', 'list'], { env: output.env });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^model curve-1 \(sinusoid, meta v2\): .*\nmodel curve-2 \(/);
    expect(result.stdout.trim().split('\n')).toHaveLength(2);
  });
});
