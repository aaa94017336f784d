import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `allmap run` with no broker: the embedded demo `npm start` runs, as a newcomer sees it. */
describe('allmap run without a broker', () => {
  it('runs the embedded demo to the end and prints a summary', async () => {
    const { code, stdout, stderr } = await run(['run', '--episodes', '120', '--rate', '0']);

    expect(code, stderr.slice(-2000)).toBe(0);
    expect(stdout).toMatch(/^allmap run: summary$/m);
    expect(stdout).toMatch(/^ {2}episodes {2,}120$/m);
    expect(stdout).toMatch(/^ {2}models published {2,}120$/m);
    expect(stdout).toMatch(/^ {2}dead letters {2,}0 \(diverged 0\)$/m);
    expect(stdout).toMatch(/^ {2}sinusoid\n {4}meta versions used by episodes {2,}v0/m);
    expect(stdout).toMatch(/query loss, first 120 episodes: +before \d+\.?\d* +after \d+\.?\d*/);
    expect(stdout).not.toMatch(/NaN/);
    expect(stderr).toMatch(/embedded demo: feeding sinusoid tasks/);
  }, 60_000);
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], {
      cwd: ROOT,
      // A config from the environment of the machine must not change what is tested here.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ALLMAP_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
