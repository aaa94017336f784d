import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromEnvironment, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function configFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'allmap-config-')), name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('returns the defaults when no source sets anything', () => {
    const config = loadConfig();
    expect(config.kafka.brokers).toEqual([]);
    expect(config.engine.provider).toBe('cpu');
    expect(config.stream.batchSize).toBeGreaterThan(0);
  });

  it('layers flags over environment over file over defaults', () => {
    const file = configFile('c.yaml', 'kafka: {groupId: from-file, clientId: file-client}\n');
    const env = { ALLMAP_KAFKA_GROUP_ID: 'from-env', ALLMAP_KAFKA_BROKERS: 'a:1, b:2' };
    const config = loadConfig({ file, env, flags: { kafka: { groupId: 'from-flag' } } });

    expect(config.kafka.groupId).toBe('from-flag');
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.kafka.clientId).toBe('file-client');
  });

  it('reads the config file named by ALLMAP_CONFIG', () => {
    const file = configFile('c.json', JSON.stringify({ adapt: { steps: 3 } }));
    expect(loadConfig({ env: { ALLMAP_CONFIG: file } }).adapt.steps).toBe(3);
  });

  it('maps camel-case keys to upper snake case environment names', () => {
    expect(fromEnvironment({ ALLMAP_ENGINE_INTRA_OP_THREADS: '2' })).toEqual({
      engine: { intraOpThreads: '2' },
    });
  });

  it('names the bad key, what it expected and where the value came from', () => {
    const bad = () => loadConfig({ env: { ALLMAP_STREAM_BATCH_SIZE: '0' } });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow("config key 'stream.batchSize' (from environment): expected a number >= 1");
  });

  it('rejects a value outside an enumeration with the allowed values', () => {
    const bad = () => loadConfig({ flags: { engine: { provider: 'tpu' } } });
    expect(bad).toThrow(/'engine.provider' \(from command line\): expected one of "cpu", "cuda"/);
  });

  it('rejects an unknown key in a config file by its full path', () => {
    const file = configFile('c.json', JSON.stringify({ kafka: { brokerz: ['x:1'] } }));
    expect(() => loadConfig({ file })).toThrow(/'kafka.brokerz' \(from config file/);
  });

  it('reports an unreadable config file as a config error', () => {
    expect(() => loadConfig({ file: '/nonexistent/allmap.yaml' })).toThrow(
      /expected a readable JSON or YAML file, received "ENOENT/,
    );
  });
});

describe('loadConfig from the environment', () => {
  it('refuses a misspelt ALLMAP_ variable instead of ignoring it', () => {
    const bad = () => loadConfig({ env: { ALLMAP_STREAM_BATCHSIZE: '5' } });
    expect(bad).toThrow(/config key 'ALLMAP_STREAM_BATCHSIZE' \(from environment\)/);
  });

  it('accepts the ALLMAP_ variables that are read outside the config', () => {
    expect(() =>
      loadConfig({ env: { ALLMAP_DATA: '/data', ALLMAP_CACHE_DIR: '/c' } }),
    ).not.toThrow();
  });

  it('refuses a metrics port above 65535', () => {
    expect(() => loadConfig({ env: { ALLMAP_METRICS_PORT: '99999' } })).toThrow(
      /'metrics.port' \(from environment\): expected a number <= 65535/,
    );
  });
});
