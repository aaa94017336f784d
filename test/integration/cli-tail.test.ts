import { createHash } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runCli, startCli } from '../support/cli-process.js';
import {
  type LearnerOutput,
  learnerOutput,
  metricsRecord,
  modelRecord,
} from '../support/cli-records.js';

/**
 * `allmap tail` end to end: records are written to the output topics with the codec (as the
 * learner writes them), and the command runs as a child process against the test broker.
 */

const brokers = inject('kafkaBrokers');
let output: LearnerOutput | undefined;

afterEach(async () => {
  await output?.close();
  output = undefined;
});

function lines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line !== '');
}

describe('allmap tail', () => {
  it('prints one line per model from the beginning and stops after --max', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('curve-a', 1, Buffer.alloc(2_000, 1)));
    await output.sendModel(modelRecord('curve-b', 2, Buffer.alloc(3_500, 2)));

    const result = await runCli(['tail', 'models', '--from-beginning', '--max', '2'], {
      env: output.env,
    });

    expect(result.code, result.stderr).toBe(0);
    // Partitions interleave in any order; each line stands on its own.
    expect(lines(result.stdout).sort()).toEqual([
      expect.stringMatching(
        /^model curve-a \(sinusoid, meta v1\): loss 4.5 -> 0.125 in 10 steps, onnx 2.00 kB \[p\d@0\]$/,
      ),
      expect.stringMatching(/^model curve-b \(sinusoid, meta v2\): .*, onnx 3.50 kB \[p\d@\d\]$/),
    ]);
  });

  it('writes JSON lines with the ONNX bytes replaced by their size and sha256', async () => {
    output = await learnerOutput(brokers);
    const onnx = Buffer.from('not really onnx, but bytes all the same');
    await output.sendModel(modelRecord('curve-j', 4, onnx));

    const result = await runCli(['tail', 'models', '--from-beginning', '--max', '1', '--json'], {
      env: output.env,
    });

    expect(result.code, result.stderr).toBe(0);
    const [line] = lines(result.stdout);
    const json = JSON.parse(line!);
    expect(json).toMatchObject({ topic: output.topics.models, key: 'curve-j', offset: '0' });
    expect(json.value).toMatchObject({ taskId: 'curve-j', family: 'sinusoid', metaVersion: 4 });
    expect(json.value.onnx).toEqual({
      bytes: onnx.length,
      sha256: createHash('sha256').update(onnx).digest('hex'),
    });
  });

  it('prints episode metrics with query loss and accuracy before and after', async () => {
    output = await learnerOutput(brokers);
    await output.sendMetrics(metricsRecord('shirts-1'));

    const result = await runCli(['tail', 'metrics', '--from-beginning', '--max', '1'], {
      env: output.env,
    });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^metrics shirts-1 \(fashion-mnist-5way, meta v2\): query loss 1.609 -> 0.5, accuracy 20.0% -> 80.0%, 10 steps, support 5, query 75, 250 ms end to end \[p\d@0\]\n$/,
    );
  });

  it('prints a dead letter with its reason, source and size from the headers', async () => {
    output = await learnerOutput(brokers);
    await output.sendDeadLetter('broken-7', Buffer.alloc(321), {
      reason: 'decode',
      sourceTopic: output.topics.episodes,
      sourcePartition: 3,
      sourceOffset: '1234',
      error: 'cannot decode Episode (truncated, 321 bytes)',
    });

    const result = await runCli(['tail', 'dead-letter', '--from-beginning', '--max', '1'], {
      env: output.env,
    });

    expect(result.code, result.stderr).toBe(0);
    const source = output.topics.episodes.replaceAll('.', '\\.');
    expect(result.stdout).toMatch(
      new RegExp(
        `^dead-letter broken-7: decode from ${source}/3@1234, 321 B: ` +
          'cannot decode Episode \\(truncated, 321 bytes\\) \\[p\\d@0\\]\n$',
      ),
    );
  });

  it('starts at the end by default: shows records written after it starts only', async () => {
    output = await learnerOutput(brokers);
    await output.sendModel(modelRecord('before-start', 1, Buffer.alloc(10)));
    const running = startCli(['tail', 'models', '--max', '1', '--timeout', '60'], {
      env: output.env,
    });

    await running.waitForStderr(/following .* from the end/);
    await output.sendModel(modelRecord('after-start', 2, Buffer.alloc(10)));
    const result = await running.result;

    expect(result.code, result.stderr).toBe(0);
    expect(lines(result.stdout)).toEqual([expect.stringMatching(/^model after-start /)]);
  });

  it('stops after --timeout seconds without a record, printing nothing', async () => {
    output = await learnerOutput(brokers);

    const result = await runCli(['tail', 'metrics', '--timeout', '1'], { env: output.env });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('stopped after 0 records');
  });
});
