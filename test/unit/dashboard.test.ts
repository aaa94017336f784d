import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { LearnerMetrics } from '../../src/observability/metrics.js';
import { metricNamesIn } from '../support/prometheus.js';

/**
 * The Grafana dashboard may only plot series that `LearnerMetrics` exports, and its
 * provisioning must find both the dashboard and the data source its panels name.
 */

const ROOT = new URL('../../', import.meta.url);
const DASHBOARD = 'deploy/grafana/dashboards/allmap.json';

interface Target {
  expr?: string;
  datasource?: { uid?: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  annotations: { list: Array<{ expr?: string; datasource?: { uid?: string } }> };
  templating: {
    list: Array<{ name: string; query: { query: string }; datasource?: { uid?: string } }>;
  };
}

async function readText(path: string): Promise<string> {
  return readFile(new URL(path, ROOT), 'utf8');
}

async function readDashboard(): Promise<Dashboard> {
  return JSON.parse(await readText(DASHBOARD)) as Dashboard;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every PromQL expression of the dashboard: panel targets, annotations, variables. */
function expressions(dashboard: Dashboard): string[] {
  const targets = allPanels(dashboard.panels).flatMap((panel) => panel.targets ?? []);
  const annotations = dashboard.annotations.list.flatMap((annotation) => annotation.expr ?? []);
  const variables = dashboard.templating.list.map((variable) => variable.query.query);
  return [...targets.flatMap((target) => target.expr ?? []), ...annotations, ...variables];
}

describe('metricNamesIn', () => {
  it('finds the series behind functions, matchers, ranges and grouping', () => {
    const expression =
      'histogram_quantile(0.95, sum by (le, stage) ' +
      '(rate(allmap_stage_duration_seconds_bucket{stage=~"a|b", x!="{y}"}[$__rate_interval])))';

    expect(metricNamesIn(expression)).toEqual(['allmap_stage_duration_seconds_bucket']);
  });

  it('finds both sides of a binary operation with vector matching and skips numbers', () => {
    const expression =
      '60 * sum(rate(a_total[5m])) / on(family) group_left(version) b offset 1h > 1e3';

    expect(metricNamesIn(expression)).toEqual(['a_total', 'b']);
  });

  it('reads the metric of a Grafana label_values variable', () => {
    expect(metricNamesIn('label_values(allmap_episodes_consumed_total, family)')).toEqual([
      'allmap_episodes_consumed_total',
    ]);
  });
});

describe('Grafana dashboard', () => {
  const exported = new Set(new LearnerMetrics({ families: [] }).metricNames());

  it('uses only series LearnerMetrics exports, histograms by suffixed series', async () => {
    const dashboard = await readDashboard();

    const used = expressions(dashboard).flatMap((expression) =>
      metricNamesIn(expression).map((name) => ({ name, expression })),
    );

    expect(used.length).toBeGreaterThan(20);
    const unknown = used.filter(({ name }) => !exported.has(name));
    expect(unknown).toEqual([]);
  });

  it('plots every allmap metric somewhere', async () => {
    const dashboard = await readDashboard();

    const used = new Set(expressions(dashboard).flatMap(metricNamesIn));
    const families = [...exported]
      .filter((name) => name.startsWith('allmap_'))
      .map((name) => name.replace(/_(bucket|sum|count)$/, ''));
    const unplotted = [...new Set(families)].filter(
      (family) => ![...used].some((name) => name === family || name.startsWith(`${family}_`)),
    );
    expect(unplotted).toEqual([]);
  });

  it('groups every histogram_quantile by le over a _bucket series', async () => {
    const dashboard = await readDashboard();

    const quantiles = expressions(dashboard).filter((e) => e.includes('histogram_quantile'));

    expect(quantiles.length).toBeGreaterThan(5);
    for (const expression of quantiles) {
      expect(expression).toMatch(/_bucket[{[]/);
      expect(expression).toMatch(/by \((?:[\w, ]*, )?le\b/);
    }
  });

  it('has the panels an operator looks for', async () => {
    const dashboard = await readDashboard();

    const titles = allPanels(dashboard.panels).map((panel) => panel.title);

    expect(titles).toEqual(
      expect.arrayContaining([
        'Throughput',
        'Adaptation latency',
        'End-to-end latency',
        'Query loss before and after adaptation',
        'Query accuracy before and after adaptation',
        'Meta version',
        'Consumer lag',
        'Dead letters by reason',
        'Micro-batch size',
        'Event-loop lag',
      ]),
    );
  });

  it('lays panels out on the 24-column grid with unique ids', async () => {
    const panels = allPanels((await readDashboard()).panels);

    for (const { gridPos } of panels) expect(gridPos.x + gridPos.w).toBeLessThanOrEqual(24);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  });

  it('names only the provisioned Prometheus data source', async () => {
    const dashboard = await readDashboard();
    const provisioned = YAML.parse(
      await readText('deploy/grafana/provisioning/datasources/prometheus.yml'),
    ) as { datasources: Array<{ uid: string; type: string; url: string }> };

    const uids = new Set([
      ...allPanels(dashboard.panels).flatMap((panel) => [
        panel.datasource?.uid,
        ...(panel.targets ?? []).map((target) => target.datasource?.uid),
      ]),
      ...dashboard.annotations.list.map((annotation) => annotation.datasource?.uid),
      ...dashboard.templating.list.map((variable) => variable.datasource?.uid),
    ]);
    uids.delete(undefined);
    // Grafana's own annotation source is built in, not provisioned.
    uids.delete('-- Grafana --');

    const prometheus = provisioned.datasources.find((source) => source.type === 'prometheus');
    expect([...uids]).toEqual([prometheus?.uid]);
    expect(prometheus?.url).toBe('http://prometheus:9090');
  });

  it('is loaded by the dashboard provider from the folder compose mounts it into', async () => {
    const provider = YAML.parse(
      await readText('deploy/grafana/provisioning/dashboards/allmap.yml'),
    ) as { providers: Array<{ type: string; options: { path: string } }> };
    const compose = YAML.parse(await readText('docker-compose.yml'), { merge: true }) as {
      services: { grafana: { volumes: string[]; environment: Record<string, string> } };
    };

    const mounts = new Map(
      compose.services.grafana.volumes.map((volume) => {
        const [source, target] = volume.split(':');
        return [source, target];
      }),
    );
    const path = provider.providers[0]?.options.path;
    expect(provider.providers[0]?.type).toBe('file');
    expect(mounts.get('./deploy/grafana/dashboards')).toBe(path);
    expect(mounts.get('./deploy/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    expect(compose.services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${path}/allmap.json`,
    );
  });

  it('holds PromQL that Prometheus itself parses (promtool check rules)', async () => {
    const dashboard = await readDashboard();
    const queries = expressions(dashboard).filter((e) => !e.startsWith('label_values('));

    // Grafana fills in its variables before Prometheus sees a query.
    const rules = queries.map((expression, index) => ({
      record: `allmap_dashboard:query_${index}`,
      expr: expression
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__interval', '15s')
        .replaceAll('$family', '.*'),
    }));

    const dir = await mkdtemp(join(tmpdir(), 'allmap-dashboard-'));
    try {
      const file = join(dir, 'rules.yml');
      await writeFile(file, YAML.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', file]);
      expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
