import { createServer } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/log/logger.js';
import { LearnerMetrics } from '../../src/observability/metrics.js';
import { Readiness } from '../../src/observability/readiness.js';
import {
  type ObservabilityServer,
  ObservabilityServerError,
  startObservabilityServer,
} from '../../src/observability/server.js';

const started: ObservabilityServer[] = [];

// Each server logs the port it bound; that line is noise in a test run.
beforeAll(() => {
  createRootLogger({ level: 'warn' });
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.close()));
});

async function start(readiness = new Readiness()) {
  const metrics = new LearnerMetrics({ families: ['sinusoid'] });
  const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, readiness });
  started.push(server);
  const get = (path: string, init?: RequestInit) =>
    fetch(`http://127.0.0.1:${server.port}${path}`, init);
  return { metrics, readiness, server, get };
}

describe('observability server', () => {
  it('binds a free port when configured with port 0 and reports it', async () => {
    const { server } = await start();

    expect(server.port).toBeGreaterThan(0);
  });

  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const { metrics, get } = await start();
    metrics.recordConsumed('sinusoid', 4);

    const response = await get('/metrics');

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('# TYPE allmap_episodes_consumed_total counter');
    expect(text).toContain('allmap_episodes_consumed_total{family="sinusoid"} 4');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('answers /healthz with 200 while the process runs', async () => {
    const { get } = await start();

    const response = await get('/healthz');

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'alive' });
  });

  it('answers /readyz with 503 naming both missing conditions at first', async () => {
    const { get } = await start();

    const response = await get('/readyz');

    expect(response.status).toBe(503);
    const body = (await response.json()) as { isReady: boolean; missing: string[] };
    expect(body.isReady).toBe(false);
    expect(body.missing).toHaveLength(2);
    expect(body.missing[0]).toMatch(/^consuming: /);
    expect(body.missing[1]).toMatch(/^meta version: none is loaded and no cold start/);
  });

  it('stays not ready while consuming without a meta version or cold start', async () => {
    const { readiness, get } = await start();
    readiness.setConsuming(true);

    const response = await get('/readyz');

    expect(response.status).toBe(503);
    const body = (await response.json()) as { missing: string[] };
    expect(body.missing).toEqual(['meta version: none is loaded and no cold start was chosen']);
  });

  it('is ready once consuming with a loaded meta version', async () => {
    const { readiness, get } = await start();
    readiness.setMetaVersionLoaded('sinusoid', 7);
    readiness.setConsuming(true);

    const response = await get('/readyz');

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      isReady: true,
      missing: [],
      isConsuming: true,
      isColdStart: false,
      metaVersions: { sinusoid: 7 },
    });
  });

  it('is ready when consuming after a cold start, and not once consuming stops', async () => {
    const { readiness, get } = await start();
    readiness.setColdStart();
    readiness.setConsuming(true);

    expect((await get('/readyz')).status).toBe(200);

    readiness.setConsuming(false);
    expect((await get('/readyz')).status).toBe(503);
  });

  it('answers unknown paths with 404 and other methods with 405', async () => {
    const { get } = await start();

    expect((await get('/nothing')).status).toBe(404);
    const post = await get('/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('ignores query parameters on a scrape', async () => {
    const { get } = await start();

    expect((await get('/metrics?name[]=allmap_meta_version')).status).toBe(200);
  });

  it('refuses a port already in use with a typed error naming the setting to change', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    try {
      const starting = startObservabilityServer({
        port,
        host: '127.0.0.1',
        metrics: new LearnerMetrics({ families: [], collectProcessMetrics: false }),
        readiness: new Readiness(),
      });
      await expect(starting).rejects.toThrow(ObservabilityServerError);
      await expect(starting).rejects.toThrow(/EADDRINUSE.*set metrics\.port/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('closes with a scraper connection kept alive, and frees its port', async () => {
    const { server, get } = await start();
    await (await get('/metrics')).text();

    await server.close();
    await server.close();

    const reuse = createServer();
    await new Promise<void>((resolve, reject) => {
      reuse.once('error', reject);
      reuse.listen(server.port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => reuse.close(resolve));
  });
});
