import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { LearnerMetrics } from '../../src/observability/metrics.js';

/** docs/operations.md, the Prometheus config and the compose file agree with the code. */

const ROOT = new URL('../../', import.meta.url);

async function readText(path: string): Promise<string> {
  return readFile(new URL(path, ROOT), 'utf8');
}

interface MetricDescription {
  name: string;
  type: string;
  labelNames: string[];
}

function allmapMetrics(): MetricDescription[] {
  const metrics = new LearnerMetrics({ families: [], collectProcessMetrics: false });
  // prom-client keeps each metric's type and label names on the instance.
  const described = metrics.registry.getMetricsAsArray() as unknown as MetricDescription[];
  return described.map(({ name, type, labelNames }) => ({ name, type, labelNames }));
}

/** Rows of the metrics table in docs/operations.md: name -> [type, labels]. */
function documentedMetrics(markdown: string): Map<string, [string, string]> {
  const rows = markdown
    .split('\n')
    .map((line) => /^\| `(allmap_\w+)` \| (\w+) \| ([^|]+) \|/.exec(line))
    .filter((match) => match !== null);
  return new Map(rows.map((match) => [match[1]!, [match[2]!, match[3]!.trim()]]));
}

describe('docs/operations.md', () => {
  it('lists every allmap metric with its type and labels, and no other', async () => {
    const documented = documentedMetrics(await readText('docs/operations.md'));

    const metrics = allmapMetrics();
    for (const metric of metrics) {
      const labels = metric.labelNames.length > 0 ? metric.labelNames.join(', ') : 'none';
      expect(documented.get(metric.name), metric.name).toEqual([metric.type, labels]);
    }
    expect([...documented.keys()].sort()).toEqual(metrics.map((metric) => metric.name).sort());
  });
});

describe('deploy/prometheus/prometheus.yml', () => {
  const file = fileURLToPath(new URL('deploy/prometheus/prometheus.yml', ROOT));

  it('passes promtool check config', async () => {
    const { stdout } = await promisify(execFile)('promtool', ['check', 'config', file]);

    expect(stdout).toContain('SUCCESS');
  });

  it('scrapes the compose learner service on its metrics port', async () => {
    const config = YAML.parse(await readFile(file, 'utf8')) as {
      scrape_configs: Array<{
        job_name: string;
        dns_sd_configs?: Array<{ names: string[]; port: number }>;
      }>;
    };
    const compose = YAML.parse(await readText('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { command?: string[]; ports?: string[] }>;
    };

    const job = config.scrape_configs.find((scrape) => scrape.job_name === 'allmap');
    expect(job?.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['learner'], port: 9464 }),
    ]);
    expect(compose.services.learner?.ports).toContain('9464:9464');
  });
});

describe('docker-compose.yml', () => {
  it('runs one learner and one sinusoid producer against the compose broker', async () => {
    const compose = YAML.parse(await readText('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { image?: string; build?: string; command?: string[] }>;
    };
    const { learner, producer, kafka, prometheus, grafana } = compose.services;

    expect(learner?.command).toEqual(['run', '--brokers', 'kafka:9092']);
    expect(producer?.command).toEqual([
      'produce',
      'sinusoid',
      '--rate',
      '20',
      '--brokers',
      'kafka:9092',
    ]);
    expect(learner?.build).toBe('.');
    expect(kafka?.image).toMatch(/^apache\/kafka:4\./);
    expect(prometheus?.image).toMatch(/^prom\/prometheus:/);
    expect(grafana?.image).toMatch(/^grafana\/grafana:/);
  });
});

describe('Dockerfile', () => {
  it('installs with the project .npmrc and runs allmap as its entrypoint', async () => {
    const dockerfile = await readText('Dockerfile');

    const npmrc = dockerfile.indexOf('.npmrc');
    expect(npmrc).toBeGreaterThan(0);
    expect(npmrc).toBeLessThan(dockerfile.indexOf('npm ci'));
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\}/m);
    expect(dockerfile).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(dockerfile).toContain('ENTRYPOINT ["allmap"]');
  });
});
