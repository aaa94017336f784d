import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = ['--import', 'tsx', 'src/cli/entry.ts'];

async function allmap(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run('node', [...cli, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the allmap command', () => {
  it('prints its usage with --help', async () => {
    const result = await allmap(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: allmap \[options\] \[command\]/);
    expect(result.stdout).toContain('--brokers');
  });

  it('prints the package version with --version', async () => {
    const result = await allmap(['--version']);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits non-zero naming the key when a config value is bad', async () => {
    const result = await allmap(['config'], { ALLMAP_ENGINE_PROVIDER: 'tpu' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("config key 'engine.provider' (from environment)");
  });

  it('reports a bad ALLMAP_LOG_LEVEL as a config error, not a crash', async () => {
    const result = await allmap(['config'], { ALLMAP_LOG_LEVEL: 'loud' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("config key 'logLevel' (from environment)");
  });

  it('exits non-zero on an unknown subcommand', async () => {
    const result = await allmap(['frobnicate']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  }, 20_000);
});
