import { type ChildProcess, spawn } from 'node:child_process';

/**
 * Runs the allmap command line as a child process, as a person or a script would, so that
 * exit codes, standard output and standard error are the real ones.
 */

export interface CliResult {
  /** The exit status; `null` when a signal ended the process. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to the environment; a variable set to `undefined` is removed. */
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed. */
  input?: string;
  /** Killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Resolves when standard error has shown `pattern`; rejects when the process ends first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly result: Promise<CliResult>;
}

const ENTRY = ['--import', 'tsx', 'src/cli/entry.ts'];

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  const env: NodeJS.ProcessEnv = { ...process.env, ALLMAP_LOG_LEVEL: 'info' };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }

  const child = spawn(process.execPath, [...ENTRY, ...args], { env, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  child.stdin.end(options.input ?? '');

  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      for (const listener of listeners) listener();
      resolve({ code, stdout, stderr });
    });
  });

  const waitForStderr = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(
          new Error(`standard error did not show ${pattern} within ${timeoutMs} ms:\n${stderr}`),
        );
      }, timeoutMs);
      const check = () => {
        if (pattern.test(stderr)) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          listeners.delete(check);
          reject(new Error(`the command ended before showing ${pattern}:\n${stderr}`));
        }
      };
      listeners.add(check);
      check();
    });

  return { child, waitForStderr, result };
}
