import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * `allmap` commands as child processes, as an operator runs them: `node --import tsx
 * src/cli/entry.ts <args>`, configured through `ALLMAP_*` variables. The process's JSON log
 * lines (standard error) are kept and parsed, so tests can wait for what it says.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Consumer group timings short enough for tests; the broker allows sessions from 6 s. */
export const FAST_GROUP_ENV = {
  ALLMAP_KAFKA_SESSION_TIMEOUT_MS: '6000',
  ALLMAP_KAFKA_HEARTBEAT_INTERVAL_MS: '500',
  ALLMAP_KAFKA_REBALANCE_TIMEOUT_MS: '10000',
  ALLMAP_KAFKA_MAX_WAIT_TIME_MS: '200',
};

export interface LogLine {
  readonly msg?: string;
  readonly level?: number;
  readonly [key: string]: unknown;
}

export class AllmapProcess {
  readonly logs: LogLine[] = [];
  readonly stdout: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private partial = '';

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ALLMAP_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.stdout.push(chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => this.read(chunk.toString()));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first log line `matches` accepts, waiting for it up to `timeoutMs`. */
  async waitForLog(matches: (line: LogLine) => boolean, what: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logs.find(matches);
      if (line !== undefined) return line;
      if (this.child.exitCode !== null) {
        throw new Error(
          `allmap exited (${this.child.exitCode}) before logging ${what}:\n${this.tail()}`,
        );
      }
      if (Date.now() > deadline)
        throw new Error(`no log line ${what} in ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Resolves once the learner consumes and its group assigned it partitions of `topic`. */
  async waitUntilConsuming(topic: string, timeoutMs = 60_000): Promise<void> {
    await this.waitForLog((line) => line.msg === 'consuming episodes', 'consuming', timeoutMs);
    await this.waitForLog(
      (line) =>
        line.msg === 'consumer group rebalanced' &&
        Array.isArray(line.assigned) &&
        line.assigned.some((partition) => String(partition).startsWith(`${topic}:`)),
      `an assignment of ${topic}`,
      timeoutMs,
    );
  }

  /** Partitions of `topic` in the latest assignment this process logged. */
  assignedPartitions(topic: string): number[] {
    const line = this.logs.findLast(
      (entry) =>
        entry.msg === 'consumer group rebalanced' &&
        String(entry.groupId ?? '').startsWith('allmap-follower') === false &&
        Array.isArray(entry.assigned) &&
        (entry.assigned as string[]).every((partition) => partition.startsWith(`${topic}:`)),
    );
    return ((line?.assigned as string[] | undefined) ?? []).map((p) => Number(p.split(':').at(-1)));
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** The last log lines, for a failure message. */
  tail(lines = 30): string {
    return this.logs
      .slice(-lines)
      .map((line) => JSON.stringify(line).slice(0, 400))
      .join('\n');
  }

  private read(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        // A line that is not JSON (a runtime warning) is not a log line of ours.
      }
    }
  }
}

/** Metrics of a running learner, scraped from its `/metrics` endpoint. */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}
