import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeEpisode } from '../../src/codec/codec.js';
import type { Episode } from '../../src/episode/episode.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../../src/sources/fashion-mnist-data.js';
import { connectKafka, type KafkaTransport } from '../../src/transport/kafka.js';
import { readToEnd } from '../../src/transport/read-to-end.js';
import { runCli, startCli } from '../support/cli-process.js';

/**
 * `allmap produce` end to end: the command runs as a child process against the test broker,
 * and the episodes topic is read back with the codec.
 */

const brokers = inject('kafkaBrokers');
let transport: KafkaTransport;

beforeAll(async () => {
  transport = await connectKafka({ brokers, clientId: 'cli-produce-test' });
});

afterAll(async () => {
  await transport?.close();
});

/** Every test writes topics of its own prefix, so no test sees another's episodes. */
function freshPrefix(): string {
  return `cli-produce-${randomUUID().slice(0, 8)}.`;
}

function brokerEnv(prefix: string) {
  return {
    ALLMAP_KAFKA_BROKERS: brokers.join(','),
    ALLMAP_KAFKA_TOPIC_PREFIX: prefix,
    ALLMAP_CONFIG: undefined,
  };
}

async function readEpisodes(
  topic: string,
): Promise<Array<{ key: string | null; episode: Episode }>> {
  const episodes: Array<{ key: string | null; episode: Episode }> = [];
  await readToEnd(transport, topic, (record) => {
    episodes.push({
      key: record.key,
      episode: decodeEpisode(record.value!, record.headers, record),
    });
  });
  return episodes;
}

const SUMMARY =
  /^produced (\d+) episodes \(([\d.]+ k?M?B)\) to (\S+) in ([\d.]+) s: ([\d.]+) episodes\/s, ([\d.]+) MB\/s/m;

function sinusoidLine(taskId: string, label?: string): string {
  return JSON.stringify({
    taskId,
    family: 'sinusoid',
    support: { inputs: [[-1], [0.5]], targets: [[0.2], [0.9]] },
    query: { inputs: [[2]], targets: [[0.7]] },
    ...(label === undefined ? {} : { metadata: { label } }),
  });
}

describe('allmap produce', () => {
  it('sends N sinusoid episodes keyed by task id and reports the count and rate', async () => {
    const prefix = freshPrefix();

    const result = await runCli(['produce', 'sinusoid', '--count', '50', '--seed', '4'], {
      env: brokerEnv(prefix),
    });

    expect(result.code, result.stderr).toBe(0);
    const summary = SUMMARY.exec(result.stdout);
    expect(summary, result.stdout).not.toBeNull();
    expect(summary![1]).toBe('50');
    expect(summary![3]).toBe(`${prefix}episodes`);
    expect(Number(summary![5])).toBeGreaterThan(0);
    expect(Number(summary![6])).toBeGreaterThan(0);

    const episodes = await readEpisodes(`${prefix}episodes`);
    expect(episodes).toHaveLength(50);
    for (const { key, episode } of episodes) expect(key).toBe(episode.taskId);
    const ids = episodes.map(({ key }) => key).sort();
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => `sinusoid-4-${i}`).sort());
  });

  it('stops at an invalid jsonl line, naming it, after sending the lines before it', async () => {
    const prefix = freshPrefix();
    const dir = await mkdtemp(join(tmpdir(), 'allmap-cli-'));
    const file = join(dir, 'episodes.jsonl');
    const lines = [sinusoidLine('a'), sinusoidLine('b'), '{"taskId": "c",', sinusoidLine('d')];
    await writeFile(file, `${lines.join('\n')}\n`);

    const result = await runCli(['produce', 'jsonl', file], { env: brokerEnv(prefix) });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`allmap: ${file} line 3 (invalid-json)`);
    expect(SUMMARY.exec(result.stdout)?.[1]).toBe('2');
    const keys = (await readEpisodes(`${prefix}episodes`)).map(({ key }) => key).sort();
    expect(keys).toEqual(['a', 'b']);
  });

  it('skips invalid lines from standard input with --on-invalid skip, reporting each', async () => {
    const prefix = freshPrefix();
    // 1e39 is past float32's range: it becomes infinite, which validation refuses.
    const bad = JSON.stringify({
      taskId: 'x',
      family: 'sinusoid',
      support: { inputs: [[1]], targets: [[1e39]] },
      query: { inputs: [[1]], targets: [[1]] },
    });
    const input = [sinusoidLine('a'), sinusoidLine('b'), bad, sinusoidLine('d')].join('\n');

    const result = await runCli(['produce', 'jsonl', '-', '--on-invalid', 'skip'], {
      env: brokerEnv(prefix),
      input,
    });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^produced 3 episodes .*\(skipped 1 invalid lines\)$/m);
    expect(result.stderr).toMatch(/"line":3,"reason":"non-finite"/);
    const keys = (await readEpisodes(`${prefix}episodes`)).map(({ key }) => key).sort();
    expect(keys).toEqual(['a', 'b', 'd']);
  });

  it('stops cleanly on SIGINT after sending what it read', async () => {
    const prefix = freshPrefix();
    const running = startCli(['produce', 'sinusoid', '--count', '0', '--rate', '200'], {
      env: brokerEnv(prefix),
    });

    await running.waitForStderr(/sending episodes to/);
    await new Promise((resolve) => setTimeout(resolve, 700));
    running.child.kill('SIGINT');
    const result = await running.result;

    expect(result.code, result.stderr).toBe(130);
    expect(result.stdout).toMatch(/\(interrupted\)$/m);
    const sent = Number(SUMMARY.exec(result.stdout)?.[1]);
    expect(sent).toBeGreaterThan(0);
    expect(await readEpisodes(`${prefix}episodes`)).toHaveLength(sent);
  });

  it('exits non-zero saying how to point it at a broker when none is configured', async () => {
    const result = await runCli(['produce', 'sinusoid'], {
      env: { ALLMAP_KAFKA_BROKERS: undefined, ALLMAP_CONFIG: undefined },
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('allmap: produce needs a Kafka broker');
    expect(result.stderr).toContain('ALLMAP_KAFKA_BROKERS');
    expect(result.stderr).toContain('`npm start` runs the whole loop');
    expect(result.stdout).toBe('');
  });
});

const hasFashionMnist = existsSync(join(DEFAULT_FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));

// Needs the Debian package dataset-fashion-mnist (which .ci/run installs).
describe.skipIf(!hasFashionMnist)('allmap produce with Fashion-MNIST', () => {
  it('sends N-way K-shot episodes of the chosen split', async () => {
    const prefix = freshPrefix();
    const args = [
      '--count',
      '4',
      '--ways',
      '3',
      '--shots',
      '2',
      '--queries',
      '5',
      '--split',
      'test',
    ];

    const result = await runCli(['produce', 'fashion-mnist', ...args], { env: brokerEnv(prefix) });

    expect(result.code, result.stderr).toBe(0);
    const episodes = await readEpisodes(`${prefix}episodes`);
    expect(episodes).toHaveLength(4);
    for (const { episode } of episodes) {
      expect(episode.family).toBe('fashion-mnist-3way');
      expect(episode.support.inputs.length).toBe(3 * 2 * 784);
      expect(episode.query.inputs.length).toBe(3 * 5 * 784);
      expect(episode.metadata?.split).toBe('test');
    }
  });

  it('sends a continual sequence: each task learnt, then revisited', async () => {
    const prefix = freshPrefix();
    const args = ['--task', '0,1', '--task', '2,3', '--episodes-per-task', '2', '--revisit', '1'];

    const result = await runCli(
      ['produce', 'fashion-mnist-continual', ...args, '--split', 'test'],
      { env: brokerEnv(prefix) },
    );

    expect(result.code, result.stderr).toBe(0);
    expect(SUMMARY.exec(result.stdout)?.[1]).toBe('6');
    const episodes = await readEpisodes(`${prefix}episodes`);
    const phases = (task: string) =>
      episodes.filter(({ key }) => key === task).map(({ episode }) => episode.metadata?.phase);
    // Records of one key share a partition, so a task's episodes come back in order.
    expect(phases('fashion-mnist-continual-0')).toEqual(['learn', 'learn', 'revisit']);
    expect(phases('fashion-mnist-continual-1')).toEqual(['learn', 'learn', 'revisit']);
  });
});
