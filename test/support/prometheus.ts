import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A real Prometheus server for tests: the Debian `prometheus` binary, scraping the
 * given targets every second, on a free loopback port, with its storage in a temp dir.
 *
 * ```ts
 * const prometheus = await startPrometheus({ targets: [`127.0.0.1:${server.port}`] });
 * try {
 *   await prometheus.waitFor('allmap_episodes_consumed_total > 0');
 * } finally {
 *   await prometheus.stop();
 * }
 * ```
 */
export interface PrometheusOptions {
  /** `host:port` of each `/metrics` endpoint to scrape. */
  targets: string[];
  /** Default 1 s, so that a test sees a series within a couple of seconds. */
  scrapeIntervalSeconds?: number;
  /** Default `$PROMETHEUS_BIN`, else `/usr/bin/prometheus` (Debian package `prometheus`). */
  binary?: string;
  /** How long to wait for `/-/ready`; default 30 s. */
  readyTimeoutMs?: number;
}

/** One element of an instant vector; `value` is parsed from Prometheus' string form. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface ScrapeTarget {
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface WaitOptions {
  /** Default 20 s. */
  timeoutMs?: number;
  /** When the result is good enough; default: at least one sample. */
  until?: (samples: Sample[]) => boolean;
}

export interface Prometheus {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Runs an instant query through `/api/v1/query`. */
  query(promql: string): Promise<Sample[]>;
  /** Repeats `query` until `until` holds; on timeout the error shows the targets' health. */
  waitFor(promql: string, options?: WaitOptions): Promise<Sample[]>;
  /** The scrape targets and whether their last scrape worked. */
  targets(): Promise<ScrapeTarget[]>;
  /** Stops the server (SIGKILL after 10 s); its storage goes with it. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Runs the binary under a small shell guard. The guard holds our end of a pipe on its
 * standard input; when that pipe closes, because `stop()` closed it or because this
 * process died without cleaning up, it sends Prometheus SIGTERM, waits for it and
 * deletes its temp dir. So no Prometheus outlives the test run, even when a worker
 * is killed.
 */
const GUARD = [
  'exec 3<&0',
  '"$0" "$@" </dev/null 3<&- &',
  'child=$!',
  '(cat <&3 >/dev/null 2>&1; kill -TERM "$child" 2>/dev/null) 2>/dev/null &',
  'wait "$child"',
  'status=$?',
  'rm -rf "$PROMETHEUS_TEST_DIR"',
  'exit $status',
].join('\n');

const LOG_LINES_KEPT = 40;
const running = new Set<ChildProcess>();
const logs = new WeakMap<ChildProcess, string[]>();

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const binary = options.binary ?? process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

  // A free port can be taken between our probe and Prometheus' bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'allmap-prometheus-'));
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, scrapeConfig(options));

    const port = await freePort();
    const child = spawnGuarded(binary, dir, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ]);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilReady(child, binary, url, options.readyTimeoutMs ?? 30_000);
      return handle(child, url);
    } catch (error) {
      lastError = error;
      await stopChild(child);
    }
  }
  throw lastError;
}

function scrapeConfig(options: PrometheusOptions): string {
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    scrape_configs: [
      {
        job_name: 'allmap',
        scrape_interval: interval,
        scrape_timeout: interval,
        static_configs: [{ targets: options.targets }],
      },
    ],
  };
  // JSON is YAML, so Prometheus reads it as it is.
  return JSON.stringify(config, null, 2);
}

function spawnGuarded(binary: string, dir: string, args: string[]): ChildProcess {
  const child = spawn('/bin/sh', ['-c', GUARD, binary, ...args], {
    env: { ...process.env, PROMETHEUS_TEST_DIR: dir },
    stdio: ['pipe', 'ignore', 'pipe'],
    // Its own process group, so that a SIGKILL fallback reaches Prometheus too.
    detached: true,
  });
  const log: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    log.push(...chunk.split('\n').filter((line) => line.length > 0));
    log.splice(0, Math.max(0, log.length - LOG_LINES_KEPT));
  });
  logs.set(child, log);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

function logTail(child: ChildProcess): string {
  return (logs.get(child) ?? []).join('\n');
}

async function waitUntilReady(
  child: ChildProcess,
  binary: string,
  url: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${binary} exited before it was ready (install the Debian package prometheus, ` +
          `or point PROMETHEUS_BIN at a Prometheus binary):\n${logTail(child)}`,
      );
    }
    const response = await fetch(`${url}/-/ready`).catch(() => undefined);
    if (response?.ok) return;
    await sleep(100);
  }
  throw new Error(`prometheus not ready at ${url} after ${timeoutMs} ms:\n${logTail(child)}`);
}

function handle(child: ChildProcess, url: string): Prometheus {
  let stopping: Promise<void> | undefined;

  const prometheus: Prometheus = {
    url,
    query: (promql) => query(url, promql),
    targets: () => targets(url),
    waitFor: (promql, options = {}) => waitFor(prometheus, promql, options),
    stop: () => {
      stopping ??= stopChild(child);
      return stopping;
    },
  };
  return prometheus;
}

async function query(url: string, promql: string): Promise<Sample[]> {
  const body = await getJson(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const data = body.data as { resultType: string; result: unknown };

  if (data.resultType === 'scalar') {
    const [, value] = data.result as [number, string];
    return [{ metric: {}, value: Number(value) }];
  }
  if (data.resultType !== 'vector') {
    throw new Error(`query ${promql}: expected an instant vector, got a ${data.resultType}`);
  }
  const result = data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
  return result.map((sample) => ({ metric: sample.metric, value: Number(sample.value[1]) }));
}

async function targets(url: string): Promise<ScrapeTarget[]> {
  const body = await getJson(`${url}/api/v1/targets?state=active`);
  const data = body.data as { activeTargets: ScrapeTarget[] };
  return data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({
    scrapeUrl,
    health,
    lastError,
  }));
}

async function waitFor(
  prometheus: Prometheus,
  promql: string,
  options: WaitOptions,
): Promise<Sample[]> {
  const until = options.until ?? ((samples: Sample[]) => samples.length > 0);
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);

  let samples: Sample[] = [];
  while (Date.now() < deadline) {
    samples = await prometheus.query(promql);
    if (until(samples)) return samples;
    await sleep(250);
  }

  const health = JSON.stringify(await prometheus.targets());
  const last = JSON.stringify(samples);
  throw new Error(`timed out waiting for ${promql}; last result ${last}; targets ${health}`);
}

async function getJson(url: string): Promise<{ status: string; data?: unknown; error?: string }> {
  const response = await fetch(url);
  const body = (await response.json()) as { status: string; data?: unknown; error?: string };
  if (body.status !== 'success') {
    throw new Error(`prometheus ${url}: ${response.status} ${body.error ?? 'no error message'}`);
  }
  return body;
}

/** Closes the guard's stdin (Prometheus gets SIGTERM), then SIGKILLs the group if stuck. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    child.stdin?.destroy();
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();

  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone: nothing left to stop.
  }
}

// Last resort when a test file ends without stop(): the pipe closing also does this.
process.once('exit', () => {
  for (const child of running) killGroup(child, 'SIGTERM');
});

/** A port of 127.0.0.1 that was free a moment ago, for a server a test starts next. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

// --- reading PromQL: which series a query (a dashboard panel's, say) selects ---

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, range
 * selectors and grouping clauses go first; what remains is functions (followed by a
 * parenthesis), keywords, numbers and metric names. Grafana's `label_values(metric,
 * label)` names its metric as the first argument.
 */
export function metricNamesIn(expression: string): string[] {
  const labelValues = /^\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(expression);
  if (labelValues) return [labelValues[1]!];

  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[\w$]+/g, ' ');

  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.$])[a-zA-Z_:][\w:]*/g)) {
    const rest = stripped.slice(match.index + match[0].length);
    const isCall = /^\s*\(/.test(rest);
    if (!isCall && !PROMQL_KEYWORDS.has(match[0].toLowerCase())) names.add(match[0]);
  }
  return [...names];
}
